/* SPDX-License-Identifier: MIT */
/*
 * memfd buffers made before they are asked for. Making one (memfd_create,
 * ftruncate, seals, the reopen of the client's description) is five system
 * calls before the reply can go; made while the daemon has nothing else to
 * do, the next request of that size and name costs none of them. This is the
 * memfd backend's counterpart of the uio backend's pre-zeroed memory: work
 * moved off the request path, not saved.
 */
#ifndef CMABUF_MEMFD_READY_H
#define CMABUF_MEMFD_READY_H

#include <stdbool.h>
#include <stdint.h>

/* At most this many (size, name) kinds are remembered, the least recently asked for go first. */
#define MEMFD_READY_KINDS 8
/* At most this many buffers wait made, in all (two descriptors each). */
#define MEMFD_READY_MAX 16

/*
 * A sealed memfd of size bytes named "cmabuf:NAME": *own is memfd_create()'s
 * description, *client a second one for the client, opened through
 * /proc/self/fd when counted (the kernel counts it as a writer, which the
 * release probe needs), else a dup. 0 or a negative errno.
 */
int memfd_pair_make(const char *name, uint64_t size, bool counted, int *own, int *client);

struct memfd_ready;

struct memfd_ready *memfd_ready_new(bool counted);
void memfd_ready_destroy(struct memfd_ready *r); /* closes what is still waiting; NULL-tolerant */

/*
 * A made buffer of exactly this size and name: 0 with both descriptors, or
 * -ENOENT. Either way the request is remembered, so that memfd_ready_fill()
 * makes the next one: as many ahead as were asked for back to back.
 */
int memfd_ready_take(struct memfd_ready *r, uint64_t size, const char *name, int *own,
		     int *client);

/* Makes one buffer that is wanted. True if more are wanted (call again when idle). */
bool memfd_ready_fill(struct memfd_ready *r);

/* Closes every waiting buffer (out of descriptors: they are better spent on requests). */
void memfd_ready_drop(struct memfd_ready *r);

/* How many buffers wait made. */
unsigned memfd_ready_count(const struct memfd_ready *r);

#endif
