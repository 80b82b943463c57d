/* SPDX-License-Identifier: MIT */
/*
 * Contiguous-range allocator.
 *
 * Every free extent is one heap node linked into two red-black trees: by
 * offset (to find neighbours when coalescing, to validate release/reserve, and
 * -- augmented with the largest extent size in each subtree -- to find the
 * lowest- or highest-addressed extent of at least a given size in O(log n)),
 * and by (size, offset) (for the largest extent and the aligned fallback).
 * Every allocated block has a small record too, by offset, and by (size,
 * offset) while a free extent beside it could hold another block of its size:
 * used only to place a request next to a block of its own size (the caller
 * still owns the (offset, size) it was given). Metadata is thus proportional to
 * the number of buffers as well as to fragmentation.
 *
 * Placement (allocator_alloc), in order:
 *  1. Size-class affinity: right above or right below an allocated block of
 *     exactly the rounded size, if the free extent there holds the request.
 *     Frames of a pool are allocated together and freed together, and pools
 *     of one resolution come and go, so frames of one size kept side by side
 *     free whole runs at once; a freed frame between two of its size is
 *     refilled whole by the next request of that size.
 *  2. Small requests (<= small_max, which scales with the region: see
 *     SMALL_UNIT_LOG2; bitstreams, small frames) from the highest-addressed
 *     extent that holds them, carved at its top.
 *  3. Larger requests (frames) first fit from the bottom: the lowest-addressed
 *     extent that holds them, carved at its bottom.
 * Among the places of step 1, small requests also take the highest and large
 * ones the lowest. Short-lived small buffers thus collect at the top of the
 * region and frames at the bottom, so a bitstream no longer lands in the gap
 * between two frames and keeps the hole from coalescing when the frames go.
 * On the media-churn trace (bench/trace.c, bench/RESULTS.md section 4) steps
 * 2-3 fail far less often than exact best fit, which fills exactly those
 * gaps, and than plain first fit; step 1 took the place of an exact-size step
 * (an extent of exactly the size, lowest first), and fails less again in
 * regions of 256 MiB and more (about the same at 32-128 MiB).
 *
 * allocator_alloc_group adds two steps before these for a caller that names
 * the group a buffer belongs to (buffers allocated together, freed together):
 *  0a. right beside the group's last block, if the free extent there holds it;
 *  0b. a new group's first large block at the bottom of the lowest extent
 *      that holds 8 blocks of its size (else 4, else 2), so the rest of the
 *      group lands beside it instead of in a hole that held only one.
 * Group 0 is allocator_alloc exactly. Nothing is reserved: a group whose
 * blocks are requested interleaved with another new group's may find its
 * neighbour taken, and continues by steps 1-3.
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

/*
 * Open blocks of the requested size an aligned request looks at for an
 * aligned place beside one (affine_fit); unaligned requests need only the
 * first. Reaching the bound only skips the affinity step.
 */
#define AFFINITY_SCAN_MAX 64

/*
 * A new group's first block looks for room for this many blocks of its size,
 * then for fewer (see run_fit); 0 ends the list. On bench/trace.c at 256 MiB
 * 8/4/2 fails 110/795 times at 80/85% occupancy against 251/1,210 without
 * groups; other lists tried (bench/RESULTS.md section 4) were within ~15%.
 */
static const unsigned group_runs[] = {8, 4, 2, 0};

struct extent {
	RB_ENTRY(extent) by_off;
	RB_ENTRY(extent) by_size;
	uint64_t off;
	uint64_t size;
	uint64_t max; /* largest size in this node's by_off subtree, itself included */
};

RB_HEAD(off_tree, extent);
RB_HEAD(size_tree, extent);

/*
 * An allocated block: a placement hint, never consulted for correctness.
 * room_below / room_above: the free extent right below / above it holds
 * another block of its size. Blocks with room on either side are "open";
 * only open blocks are in the by-size tree, so affinity finds one in a single
 * descent and closed ones (most frames of a full pool) cost nothing there.
 */
struct block {
	RB_ENTRY(block) by_off;
	RB_ENTRY(block) by_size;
	uint64_t off;
	uint64_t size;
	struct group *grp; /* NULL: placed without a group hint */
	bool room_below;
	bool room_above;
};

/*
 * A group with live blocks (allocator_alloc_group): how many, and the one its
 * next block goes beside -- the last placed, or a neighbour of its own group
 * when that one is released.
 */
struct group {
	RB_ENTRY(group) by_id;
	uint64_t id;
	uint32_t live;
	struct block *last; /* NULL when no live block of the group is known to be one */
};

RB_HEAD(group_tree, group);

RB_HEAD(block_off_tree, block);
RB_HEAD(block_size_tree, block);

struct allocator {
	struct off_tree by_off;
	struct size_tree by_size;
	struct block_off_tree blocks_by_off;
	struct block_size_tree blocks_by_size;
	struct group_tree groups;
	uint32_t blocks;
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

static int block_off_cmp(const struct block *x, const struct block *y)
{
	return cmp_u64(x->off, y->off);
}

static bool block_open(const struct block *b)
{
	return b->room_below || b->room_above;
}

static int block_size_cmp(const struct block *x, const struct block *y)
{
	int c = cmp_u64(x->size, y->size);

	return c ? c : cmp_u64(x->off, y->off);
}

RB_GENERATE_LOCAL(block_off_tree, block, by_off, block_off_cmp)
RB_GENERATE_LOCAL(block_size_tree, block, by_size, block_size_cmp)

static int group_cmp(const struct group *x, const struct group *y)
{
	return cmp_u64(x->id, y->id);
}

RB_GENERATE_LOCAL(group_tree, group, by_id, group_cmp)

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

/* The free extent with the highest offset <= off, or NULL. */
static struct extent *find_at_or_before(struct allocator *a, uint64_t off)
{
	struct extent key = {.off = off};
	struct extent *e = RB_NFIND(off_tree, &a->by_off, &key);

	if (e && e->off == off)
		return e;
	return e ? RB_PREV(off_tree, &a->by_off, e) : RB_MAX(off_tree, &a->by_off);
}

/* ---- allocated blocks: placement hints ----------------------------------- */

static uint64_t block_end(const struct block *b)
{
	return b->off + b->size;
}

/* The free extent ending exactly at off, or NULL. */
static struct extent *extent_ending_at(struct allocator *a, uint64_t off)
{
	struct extent *e = off ? find_at_or_before(a, off - 1) : NULL;

	return e && extent_end(e) == off ? e : NULL;
}

static struct extent *extent_starting_at(struct allocator *a, uint64_t off)
{
	struct extent key = {.off = off};

	return RB_FIND(off_tree, &a->by_off, &key);
}

static struct block *block_starting_at(struct allocator *a, uint64_t off)
{
	struct block key = {.off = off};

	return RB_FIND(block_off_tree, &a->blocks_by_off, &key);
}

/* The block with the highest offset below off, or NULL: one descent. */
static struct block *block_below(struct allocator *a, uint64_t off)
{
	struct block *n = RB_ROOT(&a->blocks_by_off), *best = NULL;

	while (n) {
		if (n->off < off) {
			best = n;
			n = RB_RIGHT(n, by_off);
		} else {
			n = RB_LEFT(n, by_off);
		}
	}
	return best;
}

static struct block *block_ending_at(struct allocator *a, uint64_t off)
{
	struct block *b = block_below(a, off);

	return b && block_end(b) == off ? b : NULL;
}

/* Sets b's room flags, adding it to or taking it out of the size tree if that opens or
 * closes it. */
static void block_set_room(struct allocator *a, struct block *b, bool below, bool above)
{
	bool was_open = block_open(b);

	b->room_below = below;
	b->room_above = above;
	if (was_open && !block_open(b))
		RB_REMOVE(block_size_tree, &a->blocks_by_size, b);
	else if (!was_open && block_open(b))
		RB_INSERT(block_size_tree, &a->blocks_by_size, b);
}

/* Whether free extent e (or none) holds another block of b's size. */
static bool room_for(const struct extent *e, const struct block *b)
{
	return e && e->size >= b->size;
}

/*
 * [lo, hi) is now exactly the free space between two neighbours (an extent,
 * or nothing when lo == hi): tells the blocks on either side whether it holds
 * another of their size.
 */
static void note_gap(struct allocator *a, uint64_t lo, uint64_t hi)
{
	struct block *l = block_ending_at(a, lo), *u = block_starting_at(a, hi);

	if (l)
		block_set_room(a, l, l->room_below, hi - lo >= l->size);
	if (u)
		block_set_room(a, u, hi - lo >= u->size, u->room_above);
}

/* Records [off, off + size), which was free, with the room around it. */
static void block_insert(struct allocator *a, struct block *b, uint64_t off, uint64_t size,
			 bool below, bool above)
{
	b->off = off;
	b->size = size;
	b->room_below = below;
	b->room_above = above;
	b->grp = NULL;
	RB_INSERT(block_off_tree, &a->blocks_by_off, b);
	if (block_open(b))
		RB_INSERT(block_size_tree, &a->blocks_by_size, b);
	a->blocks++;
}

/* b leaves its group: the group's next block goes beside a neighbour of its own instead. */
static void group_leave(struct allocator *a, struct block *b)
{
	struct group *g = b->grp;
	struct block *n;

	if (!g)
		return;
	if (--g->live == 0) {
		RB_REMOVE(group_tree, &a->groups, g);
		free(g);
		return;
	}
	if (g->last != b)
		return;
	n = block_starting_at(a, block_end(b));
	if (!n || n->grp != g)
		n = block_ending_at(a, b->off);
	g->last = n && n->grp == g ? n : NULL;
}

static void block_remove(struct allocator *a, struct block *b)
{
	group_leave(a, b);
	if (block_open(b))
		RB_REMOVE(block_size_tree, &a->blocks_by_size, b);
	RB_REMOVE(block_off_tree, &a->blocks_by_off, b);
	a->blocks--;
	free(b);
}

/* Shrinks b to [off, off + size) inside itself (its place by offset holds) and
 * looks its room up again: the extents around it must be final. */
static void block_resize(struct allocator *a, struct block *b, uint64_t off, uint64_t size)
{
	if (block_open(b))
		RB_REMOVE(block_size_tree, &a->blocks_by_size, b);
	b->off = off;
	b->size = size;
	b->room_below = room_for(extent_ending_at(a, off), b);
	b->room_above = room_for(extent_starting_at(a, off + size), b);
	if (block_open(b))
		RB_INSERT(block_size_tree, &a->blocks_by_size, b);
}

/*
 * [off, end) was released and the extents are final: drops the records inside
 * it and trims those it cuts. A release normally matches one record exactly.
 * One cut in the middle keeps only its lower part; the upper part goes
 * unrecorded, which costs that block its affinity, nothing else, and needs no
 * node (so release cannot fail here).
 */
static void block_forget(struct allocator *a, uint64_t off, uint64_t end)
{
	struct block key = {.off = off};
	struct block *b = RB_FIND(block_off_tree, &a->blocks_by_off, &key), *next, *prev;

	if (b && block_end(b) == end) { /* the usual case: exactly one block */
		block_remove(a, b);
		return;
	}
	b = RB_NFIND(block_off_tree, &a->blocks_by_off, &key);
	prev = b ? RB_PREV(block_off_tree, &a->blocks_by_off, b)
		 : RB_MAX(block_off_tree, &a->blocks_by_off);
	if (prev && block_end(prev) > off)
		block_resize(a, prev, prev->off, off - prev->off);
	for (; b && b->off < end; b = next) {
		next = RB_NEXT(block_off_tree, &a->blocks_by_off, b);
		if (block_end(b) <= end)
			block_remove(a, b);
		else
			block_resize(a, b, end, block_end(b) - end);
	}
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
	RB_INIT(&a->blocks_by_off);
	RB_INIT(&a->blocks_by_size);
	RB_INIT(&a->groups);
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
	struct block *b;
	struct group *g;

	if (!a)
		return;
	/* An in-order walk would climb through freed parents; unlink each node first. The
	 * size tree is discarded with the allocator, so it needs no upkeep. */
	while ((e = RB_ROOT(&a->by_off))) {
		RB_REMOVE(off_tree, &a->by_off, e);
		free(e);
	}
	while ((b = RB_ROOT(&a->blocks_by_off))) {
		RB_REMOVE(block_off_tree, &a->blocks_by_off, b);
		free(b);
	}
	while ((g = RB_ROOT(&a->groups))) {
		RB_REMOVE(group_tree, &a->groups, g);
		free(g);
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

/* The free extent right above block b, if it holds size bytes starting aligned. */
static struct extent *fit_above(struct allocator *a, const struct block *b, uint64_t size,
				uint64_t align, uint64_t *start)
{
	struct extent key = {.off = block_end(b)};
	struct extent *e = RB_FIND(off_tree, &a->by_off, &key);

	if (!e || e->size < size || e->off & (align - 1))
		return NULL;
	*start = e->off;
	return e;
}

/* The free extent right below block b, if it holds size bytes ending at b, aligned. */
static struct extent *fit_below(struct allocator *a, const struct block *b, uint64_t size,
				uint64_t align, uint64_t *start)
{
	struct extent *e = b->off ? find_at_or_before(a, b->off - 1) : NULL;

	if (!e || extent_end(e) != b->off || e->size < size || (b->off - size) & (align - 1))
		return NULL;
	*start = b->off - size;
	return e;
}

/*
 * A place right next to an allocated block of exactly size bytes: the highest
 * (high) or the lowest such place. Only open blocks of that size are visited,
 * in address order from that end; the side of a block nearer that end is tried
 * first, so the first place found is the best. For an unaligned request the
 * first open block has one: a single O(log n) descent. An aligned one may need
 * an aligned start and looks at up to AFFINITY_SCAN_MAX blocks.
 */
static struct extent *affine_fit(struct allocator *a, uint64_t size, uint64_t align, bool high,
				 uint64_t *start)
{
	struct block key = {.size = size, .off = high ? UINT64_MAX : 0};
	struct block *b = RB_NFIND(block_size_tree, &a->blocks_by_size, &key);
	struct extent *e = NULL;
	int n;

	if (high) /* b is the first block past those of this size: step back into them */
		b = b ? RB_PREV(block_size_tree, &a->blocks_by_size, b)
		      : RB_MAX(block_size_tree, &a->blocks_by_size);
	for (n = 0; !e && b && b->size == size && n < AFFINITY_SCAN_MAX; n++) {
		e = high ? fit_above(a, b, size, align, start)
			 : fit_below(a, b, size, align, start);
		if (!e)
			e = high ? fit_below(a, b, size, align, start)
				 : fit_above(a, b, size, align, start);
		b = high ? RB_PREV(block_size_tree, &a->blocks_by_size, b)
			 : RB_NEXT(block_size_tree, &a->blocks_by_size, b);
	}
	return e;
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

/*
 * Carves [off, off + size) out of e and records the block in b (or frees b);
 * then the blocks that bordered e learn what is left beside them.
 */
static int carve_block(struct allocator *a, struct extent *e, struct block *b, uint64_t off,
		       uint64_t size)
{
	uint64_t lo = e->off, hi = extent_end(e);
	struct block *l, *u;
	int ret = carve(a, e, off, size);

	if (ret) {
		free(b);
		return ret;
	}
	block_insert(a, b, off, size, off - lo >= size, hi - (off + size) >= size);
	l = block_ending_at(a, lo);
	u = block_starting_at(a, hi);
	if (l)
		block_set_room(a, l, l->room_below, off - lo >= l->size);
	if (u)
		block_set_room(a, u, hi - (off + size) >= u->size, u->room_above);
	return 0;
}

/* Validates and rounds a request: 0, or -EINVAL. */
static int check_request(const struct allocator *a, uint64_t size, uint64_t *rsize, uint64_t *align)
{
	*rsize = allocator_round(a, size);
	if (!*rsize || *rsize > a->size || (*align && !is_pow2(*align)))
		return -EINVAL;
	if (*align < a->granule)
		*align = a->granule;
	return 0;
}

/* Where an ungrouped request goes: beside a block of its size, else the two-ended rule. */
static struct extent *ungrouped_fit(struct allocator *a, uint64_t rsize, uint64_t align, bool high,
				    uint64_t *start)
{
	struct extent *e = affine_fit(a, rsize, align, high, start);

	return e ? e : find_fit(a, rsize, align, high, start);
}

/* Carves the block at start out of e and records it; *out: the record (NULL on failure). */
static int place(struct allocator *a, struct extent *e, uint64_t start, uint64_t rsize,
		 struct block **out)
{
	struct block *b = malloc(sizeof(*b)); /* before anything changes: ENOMEM leaves no trace */
	int ret;

	*out = NULL;
	if (!b)
		return -ENOMEM;
	ret = carve_block(a, e, b, start, rsize);
	if (ret == 0)
		*out = b;
	return ret;
}

int allocator_alloc(struct allocator *a, uint64_t size, uint64_t align, uint64_t *offset)
{
	uint64_t rsize, start;
	struct extent *e;
	struct block *b;
	int ret = check_request(a, size, &rsize, &align);

	if (ret)
		return ret;
	e = ungrouped_fit(a, rsize, align, rsize <= a->small_max, &start);
	if (!e)
		return -ENOMEM;
	ret = place(a, e, start, rsize, &b);
	if (ret == 0)
		*offset = start;
	return ret;
}

static struct group *group_find(struct allocator *a, uint64_t id)
{
	struct group key = {.id = id};

	return RB_FIND(group_tree, &a->groups, &key);
}

/* Right beside the group's last block: above it first for large requests, below for small. */
static struct extent *group_fit(struct allocator *a, const struct group *g, uint64_t rsize,
				uint64_t align, bool high, uint64_t *start)
{
	struct extent *e;

	if (!g->last)
		return NULL;
	e = high ? fit_below(a, g->last, rsize, align, start)
		 : fit_above(a, g->last, rsize, align, start);
	if (!e)
		e = high ? fit_above(a, g->last, rsize, align, start)
			 : fit_below(a, g->last, rsize, align, start);
	return e;
}

/*
 * A new group's first large block: at the bottom of the lowest extent that
 * holds group_runs[0] blocks of its size, so the ones that follow fit beside
 * it; else of one that holds fewer, down to two. Small requests (bitstreams)
 * skip it: reserving runs at the top for them failed twice as often.
 * Unaligned requests only (an aligned block need not fit at a run's top).
 */
static struct extent *run_fit(struct allocator *a, uint64_t rsize, uint64_t align, uint64_t *start)
{
	struct extent *e;
	unsigned i, k;

	if (align != a->granule)
		return NULL;
	for (i = 0; (k = group_runs[i]) > 1; i++) {
		if (rsize > a->size / k)
			continue;
		e = find_fit(a, rsize * k, align, false, start);
		if (e)
			return e;
	}
	return NULL;
}

int allocator_alloc_group(struct allocator *a, uint64_t size, uint64_t align, uint64_t group,
			  uint64_t *offset)
{
	uint64_t rsize, start;
	struct group *g, *fresh = NULL;
	struct extent *e = NULL;
	struct block *b;
	bool high;
	int ret;

	if (!group)
		return allocator_alloc(a, size, align, offset);
	ret = check_request(a, size, &rsize, &align);
	if (ret)
		return ret;
	high = rsize <= a->small_max;
	g = group_find(a, group);
	if (g)
		e = group_fit(a, g, rsize, align, high, &start);
	else if (!(fresh = g = calloc(1, sizeof(*g))))
		return -ENOMEM;
	if (!e && fresh && !high)
		e = run_fit(a, rsize, align, &start);
	if (!e)
		e = ungrouped_fit(a, rsize, align, high, &start);
	ret = e ? place(a, e, start, rsize, &b) : -ENOMEM;
	if (ret) {
		free(fresh);
		return ret;
	}
	if (fresh) {
		fresh->id = group;
		RB_INSERT(group_tree, &a->groups, fresh);
	}
	b->grp = g;
	g->live++;
	g->last = b;
	*offset = start;
	return 0;
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

int allocator_reserve(struct allocator *a, uint64_t offset, uint64_t size)
{
	struct extent *e;
	struct block *b;
	int ret = check_range(a, offset, &size);

	if (ret)
		return ret;
	e = find_at_or_before(a, offset);
	if (!e || extent_end(e) < offset + size)
		return -EBUSY;
	b = malloc(sizeof(*b));
	if (!b)
		return -ENOMEM;
	return carve_block(a, e, b, offset, size);
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
	uint64_t lo, hi;
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
	/* The bounds of the extent the range joins, before insert_free frees next. */
	lo = prev && extent_end(prev) == offset ? prev->off : offset;
	hi = next && next->off == offset + size ? extent_end(next) : offset + size;
	ret = insert_free(a, prev, next, offset, offset + size);
	if (ret)
		return ret;
	block_forget(a, offset, offset + size);
	note_gap(a, lo, hi);
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
	return allocator_for_each_free_from(a, 0, fn, ctx);
}

int allocator_for_each_free_from(const struct allocator *a, uint64_t offset, allocator_extent_fn fn,
				 void *ctx)
{
	/* The generated tree functions take non-const heads but only read here. */
	struct off_tree *t = (struct off_tree *)&a->by_off;
	struct extent key = {.off = offset}, *e;
	int ret;

	/* fn must not modify the allocator: the walk holds a pointer into the tree. */
	for (e = RB_NFIND(off_tree, t, &key); e; e = RB_NEXT(off_tree, t, e)) {
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

/*
 * Every grouped block's group is in the group tree; the groups' live counts
 * add up to the grouped blocks, none is zero, and each last block is a live
 * block of its own group.
 */
static bool check_groups(const struct allocator *a)
{
	struct block_off_tree *t = (struct block_off_tree *)&a->blocks_by_off;
	struct group_tree *gt = (struct group_tree *)&a->groups;
	uint64_t grouped = 0, live = 0;
	struct group *g;
	struct block *b;

	for (b = RB_MIN(block_off_tree, t); b; b = RB_NEXT(block_off_tree, t, b)) {
		if (b->grp && RB_FIND(group_tree, gt, b->grp) != b->grp)
			return false;
		grouped += b->grp != NULL;
	}
	for (g = RB_MIN(group_tree, gt); g; g = RB_NEXT(group_tree, gt, g)) {
		if (!g->live || (g->last && (g->last->grp != g ||
					     RB_FIND(block_off_tree, t, g->last) != g->last)))
			return false;
		live += g->live;
	}
	return live == grouped;
}

/*
 * Block records, in address order: granule-aligned, non-empty, inside the
 * region, never overlapping each other nor a free extent, room flags that
 * match the extents beside them, at most the used bytes in all; the size tree
 * holds exactly the open ones.
 */
static bool check_blocks(const struct allocator *a)
{
	struct block_off_tree *t = (struct block_off_tree *)&a->blocks_by_off;
	struct block_size_tree *st = (struct block_size_tree *)&a->blocks_by_size;
	struct allocator *w = (struct allocator *)a; /* find_at_or_before only reads */
	const uint64_t mask = a->granule - 1;
	uint64_t next_off = 0, bytes = 0;
	uint32_t n = 0, k = 0, open = 0;
	struct extent *e;
	struct block *b;

	for (b = RB_MIN(block_off_tree, t); b; b = RB_NEXT(block_off_tree, t, b), n++) {
		if (!b->size || (b->off | b->size) & mask || b->off < next_off ||
		    b->size > a->size - b->off ||
		    (RB_FIND(block_size_tree, st, b) == b) != block_open(b))
			return false;
		e = find_at_or_before(w, block_end(b) - 1); /* the one that could overlap */
		if ((e && extent_end(e) > b->off) ||
		    b->room_below != room_for(extent_ending_at(w, b->off), b) ||
		    b->room_above != room_for(extent_starting_at(w, block_end(b)), b))
			return false;
		next_off = block_end(b);
		bytes += b->size;
		open += block_open(b);
	}
	for (b = RB_MIN(block_size_tree, st); b; b = RB_NEXT(block_size_tree, st, b))
		k++;
	return n == a->blocks && k == open && bytes <= a->used && check_groups(a);
}

int allocator_check(const struct allocator *a)
{
	struct check c = {.a = a};

	if (check_subtree(&c, RB_ROOT(&a->by_off), NULL) == UINT64_MAX)
		return -EUCLEAN;
	if (c.n != a->free_extents || c.bytes != a->free || a->used + a->free != a->size ||
	    !check_size_tree(a, c.n) || !check_blocks(a))
		return -EUCLEAN;
	return 0;
}
