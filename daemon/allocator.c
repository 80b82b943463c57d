/* SPDX-License-Identifier: MIT */
/*
 * Contiguous-range allocator.
 *
 * Every free extent is one heap node linked into two red-black trees: by
 * offset (to find neighbours when coalescing and to validate release/reserve)
 * and by (size, offset) (for best fit, ties to the lowest address). Allocated
 * ranges have no node at all: the caller owns their (offset, size), which keeps
 * metadata proportional to fragmentation rather than to the number of buffers.
 *
 * Every operation that needs a new node allocates it before touching the
 * trees, so a failed malloc leaves the state exactly as it was.
 */
#include "allocator.h"

#include <errno.h>
#include <stdlib.h>

#include "rbtree.h"

/* Size-ordered candidates examined for an aligned request before falling back. */
#define ALIGN_SCAN_MAX 64

struct extent {
	RB_ENTRY(extent) by_off;
	RB_ENTRY(extent) by_size;
	uint64_t off;
	uint64_t size;
};

RB_HEAD(off_tree, extent);
RB_HEAD(size_tree, extent);

struct allocator {
	struct off_tree by_off;
	struct size_tree by_size;
	uint64_t size;
	uint64_t granule;
	uint64_t used;
	uint64_t free;
	uint32_t free_extents;
	uint32_t used_extents;
};

static int cmp_u64(uint64_t x, uint64_t y)
{
	return (x > y) - (x < y);
}

static int off_cmp(const struct extent *x, const struct extent *y)
{
	return cmp_u64(x->off, y->off);
}

/* Offset breaks ties so that equal-sized extents are distinct keys and best fit is lowest first. */
static int size_cmp(const struct extent *x, const struct extent *y)
{
	int c = cmp_u64(x->size, y->size);

	return c ? c : cmp_u64(x->off, y->off);
}

RB_GENERATE_LOCAL(off_tree, extent, by_off, off_cmp)
RB_GENERATE_LOCAL(size_tree, extent, by_size, size_cmp)

static bool is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

/* Rounds x up to a multiple of the power of two p; false if that overflows. */
static bool align_up(uint64_t x, uint64_t p, uint64_t *out)
{
	uint64_t mask = p - 1;

	if (x > UINT64_MAX - mask)
		return false;
	*out = (x + mask) & ~mask;
	return true;
}

static uint64_t extent_end(const struct extent *e)
{
	return e->off + e->size;
}

static void extent_insert(struct allocator *a, struct extent *e)
{
	RB_INSERT(off_tree, &a->by_off, e);
	RB_INSERT(size_tree, &a->by_size, e);
	a->free_extents++;
}

static void extent_remove(struct allocator *a, struct extent *e)
{
	RB_REMOVE(off_tree, &a->by_off, e);
	RB_REMOVE(size_tree, &a->by_size, e);
	a->free_extents--;
	free(e);
}

/*
 * Changes an extent's bounds. Only the size tree must be re-keyed: callers
 * never move an extent past a neighbour, so its position by offset holds.
 */
static void extent_resize(struct allocator *a, struct extent *e, uint64_t off, uint64_t size)
{
	RB_REMOVE(size_tree, &a->by_size, e);
	e->off = off;
	e->size = size;
	RB_INSERT(size_tree, &a->by_size, e);
}

static struct extent *extent_new(uint64_t off, uint64_t size)
{
	struct extent *e = malloc(sizeof(*e));

	if (e) {
		e->off = off;
		e->size = size;
	}
	return e;
}

struct allocator *allocator_new(uint64_t region_size, uint64_t granule)
{
	struct allocator *a;
	struct extent *e;

	if (!is_pow2(granule) || region_size < granule)
		return NULL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	RB_INIT(&a->by_off);
	RB_INIT(&a->by_size);
	a->granule = granule;
	a->size = region_size & ~(granule - 1);
	e = extent_new(0, a->size);
	if (!e) {
		free(a);
		return NULL;
	}
	extent_insert(a, e);
	a->free = a->size;
	return a;
}

void allocator_destroy(struct allocator *a)
{
	struct extent *e;

	if (!a)
		return;
	/* An in-order walk would climb through freed parents; unlink each node first. The
	 * size tree is discarded with the allocator, so it needs no upkeep. */
	while ((e = RB_ROOT(&a->by_off))) {
		RB_REMOVE(off_tree, &a->by_off, e);
		free(e);
	}
	free(a);
}

uint64_t allocator_granule(const struct allocator *a)
{
	return a->granule;
}

uint64_t allocator_round(const struct allocator *a, uint64_t size)
{
	uint64_t r;

	return align_up(size, a->granule, &r) ? r : 0;
}

/*
 * Takes [off, off + size) out of free extent e, which contains it. At most one
 * new node is needed (when both a leading and a trailing leftover remain); it
 * is allocated first so that -ENOMEM changes nothing.
 */
static int carve(struct allocator *a, struct extent *e, uint64_t off, uint64_t size)
{
	uint64_t lead = off - e->off;
	uint64_t trail = extent_end(e) - (off + size);
	struct extent *t;

	if (lead && trail) {
		t = extent_new(off + size, trail);
		if (!t)
			return -ENOMEM;
		extent_resize(a, e, e->off, lead);
		extent_insert(a, t);
	} else if (lead) {
		extent_resize(a, e, e->off, lead);
	} else if (trail) {
		extent_resize(a, e, off + size, trail);
	} else {
		extent_remove(a, e);
	}
	a->used += size;
	a->free -= size;
	a->used_extents++;
	return 0;
}

/* Where an aligned block of size bytes starts inside e, or false if it does not fit. */
static bool fit_in(const struct extent *e, uint64_t size, uint64_t align, uint64_t *start)
{
	uint64_t s;

	if (!align_up(e->off, align, &s) || s - e->off > e->size || e->size - (s - e->off) < size)
		return false;
	*start = s;
	return true;
}

/*
 * Smallest free extent that can hold size bytes at the given alignment.
 * Extents of at least size + align - granule bytes always fit (starts are
 * granule-aligned, so aligning up skips at most align - granule), so only
 * smaller ones need an explicit check; those are scanned in size order, with a
 * bound so that a pathological free list cannot make allocation linear.
 */
static struct extent *best_fit(struct allocator *a, uint64_t size, uint64_t align, uint64_t *start)
{
	uint64_t slack = align - a->granule;
	uint64_t sure = slack > UINT64_MAX - size ? UINT64_MAX : size + slack;
	struct extent key = {.size = size, .off = 0};
	struct extent *e = RB_NFIND(size_tree, &a->by_size, &key);
	int n;

	for (n = 0; e && e->size < sure && n < ALIGN_SCAN_MAX; n++) {
		if (fit_in(e, size, align, start))
			return e;
		e = RB_NEXT(size_tree, &a->by_size, e);
	}
	key.size = sure;
	e = RB_NFIND(size_tree, &a->by_size, &key);
	if (e && fit_in(e, size, align, start))
		return e;
	return NULL;
}

int allocator_alloc(struct allocator *a, uint64_t size, uint64_t align, uint64_t *offset)
{
	uint64_t rsize = allocator_round(a, size);
	uint64_t start;
	struct extent *e;
	int ret;

	if (!rsize || rsize > a->size || (align && !is_pow2(align)))
		return -EINVAL;
	if (align < a->granule)
		align = a->granule;
	e = best_fit(a, rsize, align, &start);
	if (!e)
		return -ENOMEM;
	ret = carve(a, e, start, rsize);
	if (ret == 0)
		*offset = start;
	return ret;
}

/* Rounds *size; [offset, offset + *size) must be a non-empty, aligned part of the region. */
static int check_range(const struct allocator *a, uint64_t offset, uint64_t *size)
{
	uint64_t rsize = allocator_round(a, *size);

	if (!rsize || offset & (a->granule - 1) || offset > a->size || rsize > a->size - offset)
		return -EINVAL;
	*size = rsize;
	return 0;
}

/* The free extent with the highest offset <= off, or NULL. */
static struct extent *find_at_or_before(struct allocator *a, uint64_t off)
{
	struct extent key = {.off = off};
	struct extent *e = RB_NFIND(off_tree, &a->by_off, &key);

	if (e && e->off == off)
		return e;
	return e ? RB_PREV(off_tree, &a->by_off, e) : RB_MAX(off_tree, &a->by_off);
}

int allocator_reserve(struct allocator *a, uint64_t offset, uint64_t size)
{
	struct extent *e;
	int ret = check_range(a, offset, &size);

	if (ret)
		return ret;
	e = find_at_or_before(a, offset);
	if (!e || extent_end(e) < offset + size)
		return -EBUSY;
	return carve(a, e, offset, size);
}

/*
 * Inserts the free range [off, end) between its free neighbours prev and next
 * (either may be NULL), merging with those that touch it. Only the no-merge
 * case needs a node, and it is allocated before anything changes.
 */
static int insert_free(struct allocator *a, struct extent *prev, struct extent *next, uint64_t off,
		       uint64_t end)
{
	bool join_prev = prev && extent_end(prev) == off;
	bool join_next = next && next->off == end;
	struct extent *e;

	if (join_prev && join_next) {
		end = extent_end(next);
		extent_remove(a, next);
		extent_resize(a, prev, prev->off, end - prev->off);
	} else if (join_prev) {
		extent_resize(a, prev, prev->off, end - prev->off);
	} else if (join_next) {
		extent_resize(a, next, off, extent_end(next) - off);
	} else {
		e = extent_new(off, end - off);
		if (!e)
			return -ENOMEM;
		extent_insert(a, e);
	}
	return 0;
}

int allocator_release(struct allocator *a, uint64_t offset, uint64_t size)
{
	struct extent key = {.off = offset};
	struct extent *prev, *next;
	int ret = check_range(a, offset, &size);

	if (ret)
		return ret;
	/* Any overlap with free space would be the next extent starting inside
	 * the range or the previous one reaching into it. */
	next = RB_NFIND(off_tree, &a->by_off, &key);
	if (next && next->off < offset + size)
		return -EINVAL;
	prev = next ? RB_PREV(off_tree, &a->by_off, next) : RB_MAX(off_tree, &a->by_off);
	if (prev && extent_end(prev) > offset)
		return -EINVAL;
	ret = insert_free(a, prev, next, offset, offset + size);
	if (ret)
		return ret;
	a->used -= size;
	a->free += size;
	/* A release may cover part of one allocation or several; the count
	 * follows calls and must not wrap. */
	if (a->used_extents)
		a->used_extents--;
	return 0;
}

void allocator_get_stats(const struct allocator *a, struct allocator_stats *st)
{
	/* The generated tree functions take non-const heads but only read here. */
	struct extent *max = RB_MAX(size_tree, (struct size_tree *)&a->by_size);

	st->size = a->size;
	st->used = a->used;
	st->free = a->free;
	st->largest_free = max ? max->size : 0;
	st->free_extents = a->free_extents;
	st->used_extents = a->used_extents;
}

int allocator_for_each_free(const struct allocator *a, allocator_extent_fn fn, void *ctx)
{
	/* The generated tree functions take non-const heads but only read here. */
	struct off_tree *t = (struct off_tree *)&a->by_off;
	struct extent *e;
	int ret;

	/* fn must not modify the allocator: the walk holds a pointer into the tree. */
	for (e = RB_MIN(off_tree, t); e; e = RB_NEXT(off_tree, t, e)) {
		ret = fn(e->off, e->size, ctx);
		if (ret)
			return ret;
	}
	return 0;
}
