/* SPDX-License-Identifier: MIT */
/*
 * Requests that look inside the daemon, for cmabufctl metrics, clients, map
 * and why. Like LIST_BUFFERS, a client that may not learn device addresses
 * sees only its own uid's clients, refusals and per-uid usage; totals,
 * counters, per-class usage and free extents are for everyone (STATUS already
 * tells everyone the region's used and free bytes).
 */
#ifndef CMABUF_INSPECT_H
#define CMABUF_INSPECT_H

#include "protocol.h"

struct client;

int handle_metrics(struct client *c, const struct cmabuf_msg *m);
int handle_list_clients(struct client *c, const struct cmabuf_msg *m);
int handle_list_extents(struct client *c, const struct cmabuf_msg *m);
int handle_list_refusals(struct client *c, const struct cmabuf_msg *m);

#endif
