/* SPDX-License-Identifier: MIT */
/*
 * Zeroing off the allocation path. A released range may hold its last
 * owner's data; it is cleared by a worker thread before it rejoins the
 * allocator, so allocations are served from memory that is already zero.
 * Only when nothing zeroed fits does an allocation wait for the worker.
 */
#ifndef CMABUF_ZEROING_H
#define CMABUF_ZEROING_H

#include <stdint.h>

struct zeroing;
struct event_base;

/* Clears one range; runs on the worker thread. Returns 0 or a negative errno. */
typedef int (*zeroing_clear_fn)(void *ctx, uint64_t offset, uint64_t size);
/* A range is zero (or could not be zeroed: err < 0); runs on the event loop. */
typedef void (*zeroing_done_fn)(void *ctx, uint64_t offset, uint64_t size, int err);

struct zeroing *zeroing_new(struct event_base *base, zeroing_clear_fn clear, zeroing_done_fn done,
			    void *ctx);
void zeroing_free(struct zeroing *z); /* NULL-tolerant; waits for the range in progress */

/* Queues [offset, offset + size) in chunks, so that zeroed memory comes back early. */
int zeroing_submit(struct zeroing *z, uint64_t offset, uint64_t size);
/* Blocks until everything queued is zero and reported through done. */
void zeroing_wait_all(struct zeroing *z);
/*
 * Blocks until at least one more range is zero and reported through done
 * (returns at once if one already is, or if nothing is queued), so that a
 * request can retry as soon as enough memory is back instead of waiting for
 * everything queued. Returns the bytes still pending.
 */
uint64_t zeroing_wait_some(struct zeroing *z);
/* Bytes queued or being cleared. */
uint64_t zeroing_pending(const struct zeroing *z);

#endif
