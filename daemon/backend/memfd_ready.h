/* SPDX-License-Identifier: MIT */
/*
 * memfd buffers made before they are asked for. Making one (memfd_create,
 * ftruncate, seals, the reopen of the client's description) is five system
 * calls before the reply can go; made ahead by a worker thread, the next
 * request of that size and name costs none of them. This is the memfd
 * backend's counterpart of the uio backend's pre-zeroed memory: work moved off
 * the request path (and, under load, off the loop's CPU), not saved.
 */
#ifndef CMABUF_MEMFD_READY_H
#define CMABUF_MEMFD_READY_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>

/* At most this many (size, name) kinds are remembered, the least recently asked for go first. */
#define MEMFD_READY_KINDS 8
/*
 * At most this many buffers wait made, in all (two descriptors each, and no
 * pages). 16 left a kind with none when five were in use, two at a time each
 * (bench/RESULTS.md, section 1).
 */
#define MEMFD_READY_MAX 32

/*
 * The seals every buffer gets; adopting a stored one checks for them too. Not
 * F_SEAL_SHRINK: a purge cuts the file to 0 bytes, the one way the kernel
 * takes pages back from a holder's mapping for good (memfd.c, memfd_revoke).
 */
#define MEMFD_SEALS (F_SEAL_GROW | F_SEAL_SEAL)

/*
 * A sealed memfd of size bytes named "cmabuf:NAME": *own is memfd_create()'s
 * description, *client a second one for the client, opened through
 * /proc/self/fd when counted (the kernel counts it as a writer, which the
 * release probe needs), else a dup. 0 or a negative errno.
 */
int memfd_pair_make(const char *name, uint64_t size, bool counted, int *own, int *client);

struct memfd_ready;

/*
 * memfd_ready_fill() makes them, one per call, on the loop's idle turns.
 * threaded: a worker thread too, woken only when a request found none of its
 * kind waiting (the idle turns did not keep up: a burst, or a loop too busy to
 * be idle), never after an ordinary request, so that serving one client wakes
 * no other thread. All calls are thread-safe.
 */
struct memfd_ready *memfd_ready_new(bool counted, bool threaded);
void memfd_ready_destroy(struct memfd_ready *r); /* closes what is still waiting; NULL-tolerant */

/*
 * A made buffer of exactly this size and name: 0 with both descriptors, or
 * -ENOENT. Either way the request is remembered, so that memfd_ready_fill()
 * makes the next one: as many ahead as were asked for back to back.
 */
int memfd_ready_take(struct memfd_ready *r, uint64_t size, const char *name, int *own, int *client);

/* The loop is idle: makes one buffer, on the caller; true if more are wanted. */
bool memfd_ready_fill(struct memfd_ready *r);

/* Closes every waiting buffer (out of descriptors: they are better spent on requests). */
void memfd_ready_drop(struct memfd_ready *r);

/* How many buffers wait made. */
unsigned memfd_ready_count(struct memfd_ready *r);

#endif
