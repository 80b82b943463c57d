/* SPDX-License-Identifier: MIT */
/* Request handlers shared between requests.c (the small ones), alloc.c and inspect.c. */
#ifndef CMABUF_REQUESTS_H
#define CMABUF_REQUESTS_H

#include <stdint.h>

#include "protocol.h"

struct client;

int may_learn_dev_addr(const struct client *c);

/* ALLOC: answered at once, or (while reclaim requests are out) when room appears. */
int handle_alloc(struct client *c, const struct cmabuf_msg *m);

#endif
