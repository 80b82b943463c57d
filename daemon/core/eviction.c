/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "allocator.h"
#include "eviction.h"
#include "ledger.h"
#include "owner.h"

/* The region in address order: free extents and placed buffers. */
struct segment {
	uint64_t start, end;
	struct buffer *b; /* NULL for a free extent */
};

struct segments {
	struct segment *v;
	size_t n, cap;
};

static int add_segment(struct segments *s, uint64_t start, uint64_t size, struct buffer *b)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct segment *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = (struct segment){start, start + size, b};
	return 0;
}

static int add_free(uint64_t offset, uint64_t size, void *ctx)
{
	return add_segment(ctx, offset, size, NULL);
}

static int by_start(const void *a, const void *b)
{
	const struct segment *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static int collect(const struct allocator *a, struct ledger *l, struct segments *s)
{
	struct buffer *b;
	int ret = allocator_for_each_free(a, add_free, s);

	for (b = ledger_next_after(l, 0); b && ret == 0; b = ledger_next(l, b)) {
		if (!b->purged)
			ret = add_segment(s, b->offset, b->size, b);
	}
	if (ret == 0 && s->n) /* nothing free or placed (all zeroing): v is NULL */
		qsort(s->v, s->n, sizeof(*s->v), by_start);
	return ret;
}

enum verdict { TAKE_FREE, TAKE_PURGE, TAKE_RECLAIM, BLOCKED };

static enum verdict judge(const struct segment *s, int priority)
{
	const struct buffer *b = s->b;

	if (!b)
		return TAKE_FREE;
	/* Pending release, or a heap caller's, who cannot be asked: not ours to take. */
	if (!b->owner || b->let_go)
		return BLOCKED;
	if (b->purgeable && !b->unrevocable)
		return TAKE_PURGE;
	if (b->reclaimable && b->owner->priority < priority)
		return TAKE_RECLAIM;
	return BLOCKED;
}

struct blocker {
	const struct buffer *b;
	uint64_t reach; /* bytes of the window before it */
};

struct cost {
	unsigned reclaims;
	uint64_t newest_use; /* the most recently used victim: older windows win */
	uint64_t bytes;
};

static bool cheaper(const struct cost *a, const struct cost *b)
{
	if (a->reclaims != b->reclaims)
		return a->reclaims < b->reclaims;
	if (a->newest_use != b->newest_use)
		return a->newest_use < b->newest_use;
	return a->bytes < b->bytes;
}

/*
 * Tries the window that starts in segment i. Returns true and fills plan/cost
 * if segments i.. can hold [aligned start, + size) without crossing a blocker.
 */
static bool try_window(const struct segments *s, size_t i, uint64_t size, uint64_t align,
		       int priority, struct eviction_plan *plan, struct cost *cost,
		       struct blocker *blk)
{
	uint64_t start = (s->v[i].start + align - 1) & ~(align - 1), end = start + size;
	size_t j;

	if (start >= s->v[i].end || end < start)
		return false;
	plan->start = start;
	plan->nvictims = plan->nreclaims = 0;
	*cost = (struct cost){0, 0, 0};
	for (j = i; j < s->n && s->v[j].start < end; j++) {
		enum verdict v = judge(&s->v[j], priority);
		const struct buffer *b = s->v[j].b;

		if (j > i && s->v[j].start != s->v[j - 1].end) /* a range being zeroed */
			return false;
		if (v == BLOCKED || (v != TAKE_FREE && plan->nvictims == EVICTION_MAX)) {
			/* Remember what stopped the window that got furthest. */
			if (b && s->v[j].start - start >= blk->reach) {
				blk->reach = s->v[j].start - start;
				blk->b = b;
			}
			return false;
		}
		if (v == TAKE_FREE)
			continue;
		plan->victims[plan->nvictims++] = s->v[j].b;
		plan->nreclaims += v == TAKE_RECLAIM;
		cost->reclaims += v == TAKE_RECLAIM;
		cost->bytes += b->size;
		if (b->last_used_ms > cost->newest_use)
			cost->newest_use = b->last_used_ms;
	}
	return j > i && s->v[j - 1].end >= end;
}

static void describe_blocker(const struct buffer *b, char *why, size_t cap)
{
	const char *kind = "pinned";

	if (!b) {
		snprintf(why, cap, "no purgeable or reclaimable buffer to evict");
		return;
	}
	if (b->handed_over)
		kind = "dma-heap caller's (not reclaimable)";
	else if (!b->owner || b->let_go)
		kind = "freed but still held";
	else if (b->purgeable)
		kind = "purgeable but device-held";
	else if (b->reclaimable)
		kind = "reclaimable, equal or higher priority,";
	snprintf(why, cap, "eviction blocked by %s buffer %" PRIu64 " '%s' of pid %d", kind, b->id,
		 b->name, (int)b->pid);
}

int eviction_plan(const struct allocator *a, struct ledger *l, uint64_t size, uint64_t align,
		  int priority, struct eviction_plan *plan, char *why, size_t cap)
{
	struct segments s = {NULL, 0, 0};
	struct eviction_plan trial;
	struct blocker blk = {NULL, 0};
	struct cost best = {0, 0, 0}, c;
	bool found = false;
	size_t i;
	int ret = collect(a, l, &s);

	for (i = 0; ret == 0 && i < s.n; i++) {
		if (!try_window(&s, i, size, align ? align : allocator_granule(a), priority, &trial,
				&c, &blk) ||
		    trial.nvictims == 0)
			continue;
		if (!found || cheaper(&c, &best)) {
			*plan = trial;
			best = c;
			found = true;
		}
	}
	free(s.v);
	if (ret < 0)
		return ret;
	if (!found) {
		describe_blocker(blk.b, why, cap);
		return -ENOMEM;
	}
	return 0;
}
