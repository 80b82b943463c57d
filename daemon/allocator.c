/* SPDX-License-Identifier: MIT */
/*
 * Contiguous-range allocator.
 *
 * Every free extent is one heap node linked into two red-black trees: by
 * offset (to find neighbours when coalescing, to validate release/reserve, and
 * -- augmented with the largest extent size in each subtree -- to find the
 * lowest- or highest-addressed extent of at least a given size in O(log n)),
 * and by (size, offset) (for exact-size lookups and the largest extent).
 * Allocated ranges have no node at all: the caller owns their (offset, size),
 * which keeps metadata proportional to fragmentation rather than to the
 * number of buffers.
 *
 * Placement (allocator_alloc), in order:
 *  1. An extent of exactly the rounded size, lowest address first: media
 *     pools free and re-request the same sizes, so a freed 1080p frame's hole
 *     is taken whole by the next 1080p request and leaves no sliver.
 *  2. Small requests (<= small_max, which scales with the region: see
 *     SMALL_UNIT_LOG2; bitstreams, small frames) from the highest-addressed
 *     extent that holds them, carved at its top.
 *  3. Larger requests (frames) first fit from the bottom: the lowest-addressed
 *     extent that holds them, carved at its bottom.
 * Short-lived small buffers thus collect at the top of the region and frames
 * at the bottom, so a bitstream no longer lands in the gap between two frames
 * and keeps the hole from coalescing when the frames go. On the media-churn
 * trace (bench/trace.c, bench/RESULTS.md section 4) this fails far less often
 * than exact best fit, which fills exactly those gaps, and than plain first fit.
 *
 * Every operation that needs a new node allocates it before touching the
 * trees, so a failed malloc leaves the state exactly as it was.
 */
#include "allocator.h"

#include <errno.h>
#include <stdlib.h>

#include "rbtree.h"

/*
 * The small/large split. Bitstream (coded-data) buffers -- 64 KiB to 2 MiB,
 * short-lived and numerous -- must be small so that they gather at the top and
 * stop landing between frames; 1440p and 4K frames, the requests that need
 * the largest holes, must be large. Where mid-size frames (720p 1.3 MiB,
 * 1080p 2.97 MiB) belong depends on the region: in a 32 MiB region a 1080p
 * frame is a tenth of the space and mixing it into the churn at the top
 * fragments what the bottom needs; in a 1 GiB region it is under 0.3% of the
 * space and packs best with them.
 * So a fixed 2 MiB is right only near 256 MiB: replaying bench/trace.c with
 * thresholds of 256 KiB-8 MiB in regions of 32 MiB-2 GiB, the threshold with
 * the fewest failures is about the geometric mean of the region and 16 KiB,
 * rounded up to a power of two -- 1 MiB for 32-64 MiB, 2 MiB for 128-256 MiB,
 * 4 MiB for 512 MiB-1 GiB, 8 MiB for 2 GiB -- and a fixed 2 MiB fails more
 * often than plain first fit at 1-2 GiB and than best fit at 32 MiB (numbers
 * in bench/RESULTS.md section 4). Capped at the largest value measured, which
 * keeps 4K frames (11.9 MiB) large in any region.
 */
#define SMALL_UNIT_LOG2 14 /* 16 KiB */
#define SMALL_MAX_CAP	(8ULL << 20)

/* Candidates examined for an aligned request before falling back (see find_fit). */
#define ALIGN_SCAN_MAX 64

struct extent {
	RB_ENTRY(extent) by_off;
	RB_ENTRY(extent) by_size;
	uint64_t off;
	uint64_t size;
	uint64_t max; /* largest size in this node's by_off subtree, itself included */
};

RB_HEAD(off_tree, extent);
RB_HEAD(size_tree, extent);

struct allocator {
	struct off_tree by_off;
	struct size_tree by_size;
	uint64_t size;
	uint64_t granule;
	uint64_t small_max; /* see SMALL_UNIT_LOG2 */
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

/* Offset breaks ties so that equal-sized extents are distinct keys, lowest address first. */
static int size_cmp(const struct extent *x, const struct extent *y)
{
	int c = cmp_u64(x->size, y->size);

	return c ? c : cmp_u64(x->off, y->off);
}

/* ---- the by-offset tree, augmented with subtree maxima ------------------ */

static struct extent *child(const struct extent *e, bool right)
{
	return right ? RB_RIGHT(e, by_off) : RB_LEFT(e, by_off);
}

static uint64_t sub_max(const struct extent *e)
{
	return e ? e->max : 0;
}

static uint64_t max_u64(uint64_t x, uint64_t y)
{
	return x > y ? x : y;
}

/* Recomputes e->max from e and its children, whose own values must be right. */
static void off_augment(struct extent *e)
{
	e->max = max_u64(e->size,
			 max_u64(sub_max(RB_LEFT(e, by_off)), sub_max(RB_RIGHT(e, by_off))));
}

/*
 * After e's size changed in a tree that was right before: recomputes e and its
 * ancestors, stopping where a maximum does not change (nothing above can).
 */
static void augment_up(struct extent *e)
{
	uint64_t old;

	for (; e; e = RB_PARENT(e, by_off)) {
		old = e->max;
		off_augment(e);
		if (e->max == old)
			return;
	}
}

/*
 * libbsd's tree.h calls RB_AUGMENT(x) on every node whose children a rotation
 * changes and, on removal, on the nodes it relinks; it does not update the
 * other ancestors on insert nor on a one-child removal. off_insert and
 * off_remove below make those ancestors right first, so each RB_AUGMENT only
 * has to recompute a node from correct children. The hook is defined for the
 * by-offset tree alone: the size tree has nothing to maintain.
 */
#undef RB_AUGMENT
#define RB_AUGMENT(x) off_augment(x)
RB_GENERATE_LOCAL(off_tree, extent, by_off, off_cmp)
#undef RB_AUGMENT
#define RB_AUGMENT(x) ((void)0)
RB_GENERATE_LOCAL(size_tree, extent, by_size, size_cmp)

/* Every node on e's future path already counts e's size, so rotations see right children. */
static void off_insert(struct allocator *a, struct extent *e)
{
	struct extent *n = RB_ROOT(&a->by_off);

	while (n) {
		n->max = max_u64(n->max, e->size);
		n = child(n, e->off > n->off);
	}
	e->max = e->size;
	RB_INSERT(off_tree, &a->by_off, e);
}

/* With e weighing nothing, its ancestors are right before and after it leaves. */
static void off_remove(struct allocator *a, struct extent *e)
{
	e->size = 0;
	augment_up(e);
	RB_REMOVE(off_tree, &a->by_off, e);
}

/*
 * The extent of at least s bytes in subtree n nearest to its low end (high
 * false) or its high end (high true); NULL if none. One descent: O(log n).
 */
static struct extent *subtree_first(struct extent *n, uint64_t s, bool high)
{
	if (sub_max(n) < s)
		return NULL;
	while (n) { /* never NULL while the maxima are right; no crash if they were not */
		if (sub_max(child(n, high)) >= s)
			n = child(n, high);
		else if (n->size >= s)
			return n;
		else
			n = child(n, !high);
	}
	return NULL;
}

/*
 * The next extent of at least s bytes after e, going up in address (high
 * false) or down (high true). Climbs once towards the root; every subtree
 * looked at on the way costs O(1) unless it holds the answer: O(log n).
 */
static struct extent *next_at_least(struct extent *e, uint64_t s, bool high)
{
	struct extent *r = subtree_first(child(e, !high), s, high), *p;

	for (p = RB_PARENT(e, by_off); !r && p; e = p, p = RB_PARENT(p, by_off)) {
		if (child(p, high) != e)
			continue; /* p and its other side were passed already */
		r = p->size >= s ? p : subtree_first(child(p, !high), s, high);
	}
	return r;
}

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
	off_insert(a, e);
	RB_INSERT(size_tree, &a->by_size, e);
	a->free_extents++;
}

static void extent_remove(struct allocator *a, struct extent *e)
{
	RB_REMOVE(size_tree, &a->by_size, e); /* first: off_remove zeroes the size key */
	off_remove(a, e);
	a->free_extents--;
	free(e);
}

/*
 * Changes an extent's bounds. The size tree is re-keyed and the subtree
 * maxima above e recomputed; callers never move an extent past a neighbour,
 * so its position by offset holds.
 */
static void extent_resize(struct allocator *a, struct extent *e, uint64_t off, uint64_t size)
{
	RB_REMOVE(size_tree, &a->by_size, e);
	e->off = off;
	e->size = size;
	RB_INSERT(size_tree, &a->by_size, e);
	augment_up(e);
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

/* 2^ceil(log2(sqrt(size * 16 KiB))) with log2(size) rounded down, capped. */
static uint64_t small_max_for(uint64_t size)
{
	unsigned l = 63 - (unsigned)__builtin_clzll(size);
	uint64_t m = 1ULL << ((l + SMALL_UNIT_LOG2 + 1) / 2);

	return m < SMALL_MAX_CAP ? m : SMALL_MAX_CAP;
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
	a->small_max = small_max_for(a->size);
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

uint64_t allocator_small_max(const struct allocator *a)
{
	return a->small_max;
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

/*
 * Where an aligned block of size bytes starts inside e -- its lowest aligned
 * start, or its highest when high is set -- or false if it does not fit.
 */
static bool fit_in(const struct extent *e, uint64_t size, uint64_t align, bool high,
		   uint64_t *start)
{
	uint64_t s;

	if (!align_up(e->off, align, &s) || s - e->off > e->size || e->size - (s - e->off) < size)
		return false;
	/* Not below s: s is aligned and s + size fits under the end. */
	*start = high ? (extent_end(e) - size) & ~(align - 1) : s;
	return true;
}

/*
 * An extent of exactly size bytes that starts aligned, lowest address first:
 * taken whole, it leaves no sliver. Unaligned requests take the first one;
 * aligned ones look at a bounded number, being free to fall back.
 */
static struct extent *exact_fit(struct allocator *a, uint64_t size, uint64_t align, uint64_t *start)
{
	struct extent key = {.size = size, .off = 0};
	struct extent *e = RB_NFIND(size_tree, &a->by_size, &key);
	int n;

	for (n = 0; e && e->size == size && n < ALIGN_SCAN_MAX; n++) {
		if (fit_in(e, size, align, false, start))
			return e;
		e = RB_NEXT(size_tree, &a->by_size, e);
	}
	return NULL;
}

/*
 * Extents of at least sure = size + align - granule bytes always hold an
 * aligned block (starts are granule-aligned, so aligning up skips at most
 * align - granule); smaller ones need a look.
 */
static uint64_t sure_size(const struct allocator *a, uint64_t size, uint64_t align)
{
	uint64_t slack = align - a->granule;

	return slack > UINT64_MAX - size ? UINT64_MAX : size + slack;
}

/*
 * The smallest extent holding the block, by a bounded scan in size order: the
 * placement this allocator used to make, kept as the last resort so that
 * every aligned request it placed is still placed.
 */
static struct extent *smallest_fit(struct allocator *a, uint64_t size, uint64_t align, bool high,
				   uint64_t *start)
{
	struct extent key = {.size = size, .off = 0};
	struct extent *e = RB_NFIND(size_tree, &a->by_size, &key);
	int n;

	for (n = 0; e && n < ALIGN_SCAN_MAX; n++) {
		if (fit_in(e, size, align, high, start))
			return e;
		e = RB_NEXT(size_tree, &a->by_size, e);
	}
	return NULL;
}

/*
 * The lowest-addressed extent that holds the block (high false) or the
 * highest (high true). An unaligned request takes the first extent of size
 * bytes: one O(log n) descent. An aligned one walks extents of size bytes in
 * that order, at most ALIGN_SCAN_MAX of them (each step O(log n)), then takes
 * the first of sure_size() bytes, then tries the smallest few. So it fails
 * only if no extent of sure_size() bytes exists and none of the first
 * ALIGN_SCAN_MAX candidates in address order nor in size order fits.
 */
static struct extent *find_fit(struct allocator *a, uint64_t size, uint64_t align, bool high,
			       uint64_t *start)
{
	struct extent *e = subtree_first(RB_ROOT(&a->by_off), size, high);
	int n;

	for (n = 0; e && n < ALIGN_SCAN_MAX; n++) {
		if (fit_in(e, size, align, high, start))
			return e;
		e = next_at_least(e, size, high);
	}
	if (!e)
		return NULL; /* every extent of size bytes was looked at */
	e = subtree_first(RB_ROOT(&a->by_off), sure_size(a, size, align), high);
	if (e && fit_in(e, size, align, high, start))
		return e;
	return smallest_fit(a, size, align, high, start);
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
	e = exact_fit(a, rsize, align, &start);
	if (!e)
		e = find_fit(a, rsize, align, rsize <= a->small_max, &start);
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

/* ---- consistency check (tests) ------------------------------------------ */

struct check {
	const struct allocator *a;
	uint64_t next_off; /* lowest offset the next extent may start at */
	uint64_t bytes;
	uint32_t n;
};

/*
 * Checks subtree n in address order: parent links, granule-aligned non-empty
 * extents inside the region, strictly increasing and never touching (touching
 * extents should have been coalesced), and each node's subtree maximum.
 * Returns the subtree's true maximum, or UINT64_MAX on a violation.
 */
static uint64_t check_subtree(struct check *c, const struct extent *n, const struct extent *parent)
{
	const uint64_t bad = UINT64_MAX, mask = c->a->granule - 1;
	uint64_t l, r;

	if (!n)
		return 0;
	if (RB_PARENT(n, by_off) != parent)
		return bad;
	l = check_subtree(c, RB_LEFT(n, by_off), n);
	if (l == bad || !n->size || (n->off | n->size) & mask || n->off < c->next_off ||
	    n->size > c->a->size - n->off)
		return bad;
	c->next_off = extent_end(n) + 1;
	c->bytes += n->size;
	c->n++;
	r = check_subtree(c, RB_RIGHT(n, by_off), n);
	if (r == bad || n->max != max_u64(n->size, max_u64(l, r)))
		return bad;
	return n->max;
}

/* Every size-tree node, in (size, offset) order, is a node of the offset tree. */
static bool check_size_tree(const struct allocator *a, uint32_t n)
{
	struct size_tree *t = (struct size_tree *)&a->by_size;
	struct off_tree *o = (struct off_tree *)&a->by_off;
	struct extent *e, *prev = NULL;
	uint32_t k = 0;

	for (e = RB_MIN(size_tree, t); e; prev = e, e = RB_NEXT(size_tree, t, e), k++)
		if ((prev && size_cmp(prev, e) >= 0) || RB_FIND(off_tree, o, e) != e)
			return false;
	return k == n;
}

int allocator_check(const struct allocator *a)
{
	struct check c = {.a = a};

	if (check_subtree(&c, RB_ROOT(&a->by_off), NULL) == UINT64_MAX)
		return -EUCLEAN;
	if (c.n != a->free_extents || c.bytes != a->free || a->used + a->free != a->size ||
	    !check_size_tree(a, c.n))
		return -EUCLEAN;
	return 0;
}
