/* SPDX-License-Identifier: MIT */
/* Request handlers shared between requests.c (the small ones) and alloc.c. */
#ifndef CMABUF_REQUESTS_H
#define CMABUF_REQUESTS_H

#include <stdint.h>

#include "protocol.h"

struct client;
struct daemon;

int may_learn_dev_addr(const struct client *c);

/* ALLOC: answered at once, or (while reclaim requests are out) when room appears. */
int handle_alloc(struct client *c, const struct cmabuf_msg *m);
/* A range came back: retry allocations waiting for room. */
void pending_allocs_retry(struct daemon *d);
/* The client is going away: drop its waiting allocation, if any. */
void pending_alloc_cancel(struct client *c);

#endif
