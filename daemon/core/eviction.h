/* SPDX-License-Identifier: MIT */
/*
 * Making room: when a request cannot be placed, find the cheapest contiguous
 * window whose buffers may be taken back (purgeable ones, and reclaimable ones
 * of lower priority than the requester), so that removing them leaves a hole
 * of the requested size and alignment.
 */
#ifndef CMABUF_EVICTION_H
#define CMABUF_EVICTION_H

#include <stddef.h>
#include <stdint.h>

struct allocator;
struct buffer;
struct ledger;

#define EVICTION_MAX 64 /* buffers taken back for one request */

struct eviction_plan {
	uint64_t start; /* the hole that will appear */
	struct buffer *victims[EVICTION_MAX];
	unsigned nvictims;
	unsigned nreclaims; /* victims that must be asked for (reclaimable, not purgeable) */
};

/*
 * Finds the cheapest window: fewest reclaim requests, then the least recently
 * used, then the fewest bytes. Returns 0 with a plan, or -ENOMEM with a reason
 * naming what blocks every window.
 */
int eviction_plan(const struct allocator *a, struct ledger *l, uint64_t size, uint64_t align,
		  int priority, struct eviction_plan *plan, char *why, size_t cap);

#endif
