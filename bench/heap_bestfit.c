/* SPDX-License-Identifier: MIT */
/*
 * The exact best fit baseline: what daemon/core/allocator.c placed until issue 8,
 * on the same structure -- each free extent a heap node in a by-offset and a
 * by-(size, offset) red-black tree -- so its ns/op compares with cmabuf's.
 * The smallest extent that holds the request, lowest address on ties, carved
 * at its bottom; coalescing on release. Page-aligned requests only, as the
 * heap interface asks.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "heap.h"
#include "rbtree.h"

struct bext {
	RB_ENTRY(bext) by_off;
	RB_ENTRY(bext) by_size;
	uint64_t off, size;
};

RB_HEAD(boff_tree, bext);
RB_HEAD(bsize_tree, bext);

struct best_heap {
	struct boff_tree by_off;
	struct bsize_tree by_size;
	uint64_t free;
};

static int cmp_u64(uint64_t x, uint64_t y)
{
	return (x > y) - (x < y);
}

static int boff_cmp(const struct bext *x, const struct bext *y)
{
	return cmp_u64(x->off, y->off);
}

static int bsize_cmp(const struct bext *x, const struct bext *y)
{
	int c = cmp_u64(x->size, y->size);

	return c ? c : cmp_u64(x->off, y->off);
}

RB_GENERATE_LOCAL(boff_tree, bext, by_off, boff_cmp)
RB_GENERATE_LOCAL(bsize_tree, bext, by_size, bsize_cmp)

static struct bext *bext_new(struct best_heap *b, uint64_t off, uint64_t size)
{
	struct bext *e = malloc(sizeof(*e));

	if (!e)
		abort(); /* a replay has no use for a half-done step */
	e->off = off;
	e->size = size;
	RB_INSERT(boff_tree, &b->by_off, e);
	RB_INSERT(bsize_tree, &b->by_size, e);
	return e;
}

static void bext_remove(struct best_heap *b, struct bext *e)
{
	RB_REMOVE(boff_tree, &b->by_off, e);
	RB_REMOVE(bsize_tree, &b->by_size, e);
	free(e);
}

/* New bounds that keep e's place in address order; only the size tree is re-keyed. */
static void bext_resize(struct best_heap *b, struct bext *e, uint64_t off, uint64_t size)
{
	RB_REMOVE(bsize_tree, &b->by_size, e);
	e->off = off;
	e->size = size;
	RB_INSERT(bsize_tree, &b->by_size, e);
}

static struct heap *best_create(uint64_t region_size)
{
	struct best_heap *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	RB_INIT(&b->by_off);
	RB_INIT(&b->by_size);
	bext_new(b, 0, region_size);
	b->free = region_size;
	return (struct heap *)b;
}

static void best_destroy(struct heap *h)
{
	struct best_heap *b = (struct best_heap *)h;
	struct bext *e;

	if (!b)
		return;
	while ((e = RB_ROOT(&b->by_off)))
		bext_remove(b, e);
	free(b);
}

static int best_alloc(struct heap *h, uint64_t size, uint64_t *offset)
{
	struct best_heap *b = (struct best_heap *)h;
	struct bext key = {.size = heap_pages(size) * HEAP_PAGE, .off = 0};
	struct bext *e = RB_NFIND(bsize_tree, &b->by_size, &key);

	if (!e)
		return -ENOMEM;
	*offset = e->off;
	if (e->size == key.size)
		bext_remove(b, e);
	else
		bext_resize(b, e, e->off + key.size, e->size - key.size);
	b->free -= key.size;
	return 0;
}

static void best_release(struct heap *h, uint64_t offset, uint64_t size)
{
	struct best_heap *b = (struct best_heap *)h;
	uint64_t end = offset + heap_pages(size) * HEAP_PAGE;
	struct bext key = {.off = offset};
	struct bext *next = RB_NFIND(boff_tree, &b->by_off, &key);
	struct bext *prev =
		next ? RB_PREV(boff_tree, &b->by_off, next) : RB_MAX(boff_tree, &b->by_off);
	bool join_prev = prev && prev->off + prev->size == offset;
	bool join_next = next && next->off == end;

	b->free += end - offset;
	if (join_prev && join_next) {
		end = next->off + next->size;
		bext_remove(b, next);
		bext_resize(b, prev, prev->off, end - prev->off);
	} else if (join_prev) {
		bext_resize(b, prev, prev->off, end - prev->off);
	} else if (join_next) {
		bext_resize(b, next, offset, next->off + next->size - offset);
	} else {
		bext_new(b, offset, end - offset);
	}
}

static uint64_t best_free_bytes(struct heap *h)
{
	return ((struct best_heap *)h)->free;
}

static uint64_t best_largest_free(struct heap *h)
{
	struct bext *e = RB_MAX(bsize_tree, &((struct best_heap *)h)->by_size);

	return e ? e->size : 0;
}

const struct heap_ops heap_bestfit = {
	.name = "exact best fit (before)",
	.create = best_create,
	.destroy = best_destroy,
	.alloc = best_alloc,
	.release = best_release,
	.free_bytes = best_free_bytes,
	.largest_free = best_largest_free,
};
