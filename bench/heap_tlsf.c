/* SPDX-License-Identifier: MIT */
/*
 * The TLSF baseline (Masmano et al.): free blocks in segregated lists by
 * (log2 size, 16 linear subdivisions), found in O(1) with two bitmap levels.
 * A request is rounded up to the next class boundary so that any block of the
 * class found fits: good fit, not best fit, and with no scan of the request's
 * own class a freed hole of exactly the requested size is passed over.
 * Block headers live in the heap, not in the region.
 */
#include <errno.h>
#include <stdlib.h>

#include "heap.h"

#define SL_LOG2 4
#define SL_N	(1 << SL_LOG2)
#define FL_N	48

struct tblock {
	uint64_t start, pages;
	struct tblock *phys_prev, *phys_next; /* address order, for coalescing */
	struct tblock *free_prev, *free_next; /* the segregated list, when free */
	int free;
};

struct tlsf_heap {
	uint64_t pages, free_pages;
	uint64_t fl_map;
	uint32_t sl_map[FL_N];
	struct tblock *lists[FL_N][SL_N];
	struct tblock **at; /* block starting at each page, to find it on release */
};

static int flog2(uint64_t x)
{
	return 63 - __builtin_clzll(x);
}

static void mapping(uint64_t pages, int *fl, int *sl)
{
	int f;

	if (pages < SL_N) {
		*fl = 0;
		*sl = (int)pages;
		return;
	}
	f = flog2(pages);
	*sl = (int)((pages >> (f - SL_LOG2)) & (SL_N - 1));
	*fl = f - SL_LOG2 + 1;
}

static void insert_free(struct tlsf_heap *t, struct tblock *b)
{
	int fl, sl;

	mapping(b->pages, &fl, &sl);
	b->free = 1;
	b->free_prev = NULL;
	b->free_next = t->lists[fl][sl];
	if (b->free_next)
		b->free_next->free_prev = b;
	t->lists[fl][sl] = b;
	t->fl_map |= 1ull << fl;
	t->sl_map[fl] |= 1u << sl;
}

static void remove_free(struct tlsf_heap *t, struct tblock *b)
{
	int fl, sl;

	mapping(b->pages, &fl, &sl);
	if (b->free_prev)
		b->free_prev->free_next = b->free_next;
	else
		t->lists[fl][sl] = b->free_next;
	if (b->free_next)
		b->free_next->free_prev = b->free_prev;
	if (!t->lists[fl][sl]) {
		t->sl_map[fl] &= ~(1u << sl);
		if (!t->sl_map[fl])
			t->fl_map &= ~(1ull << fl);
	}
	b->free = 0;
}

/* First block of the first non-empty class at or above (fl, sl). */
static struct tblock *find_suitable(struct tlsf_heap *t, int fl, int sl)
{
	uint32_t sm = t->sl_map[fl] & (~0u << sl);
	uint64_t fm;

	if (!sm) {
		fm = fl + 1 < FL_N ? t->fl_map & (~0ull << (fl + 1)) : 0;
		if (!fm)
			return NULL;
		fl = __builtin_ctzll(fm);
		sm = t->sl_map[fl];
	}
	return t->lists[fl][__builtin_ctz(sm)];
}

static struct heap *tlsf_create(uint64_t region_size)
{
	struct tlsf_heap *t = calloc(1, sizeof(*t));
	struct tblock *b = calloc(1, sizeof(*b));

	if (t)
		t->pages = region_size / HEAP_PAGE;
	if (t)
		t->at = calloc(t->pages, sizeof(*t->at));
	if (!t || !b || !t->at) {
		if (t)
			free(t->at);
		free(t);
		free(b);
		return NULL;
	}
	b->pages = t->pages;
	t->at[0] = b;
	insert_free(t, b);
	t->free_pages = t->pages;
	return (struct heap *)t;
}

static void tlsf_destroy(struct heap *h)
{
	struct tlsf_heap *t = (struct tlsf_heap *)h;
	struct tblock *b, *n;

	if (!t)
		return;
	for (b = t->at[0]; b; b = n) {
		n = b->phys_next;
		free(b);
	}
	free(t->at);
	free(t);
}

static int tlsf_alloc(struct heap *h, uint64_t size, uint64_t *offset)
{
	struct tlsf_heap *t = (struct tlsf_heap *)h;
	uint64_t need = heap_pages(size), rounded = need;
	struct tblock *b, *rest;
	int fl, sl;

	/* Round up to the next class so that whatever the class holds is big enough. */
	if (need >= SL_N)
		rounded += (1ull << (flog2(need) - SL_LOG2)) - 1;
	mapping(rounded, &fl, &sl);
	if (fl >= FL_N)
		return -ENOMEM;
	b = find_suitable(t, fl, sl);
	if (!b)
		return -ENOMEM;
	remove_free(t, b);
	if (b->pages > need) {
		rest = calloc(1, sizeof(*rest));
		if (!rest) {
			insert_free(t, b);
			return -ENOMEM;
		}
		rest->start = b->start + need;
		rest->pages = b->pages - need;
		rest->phys_prev = b;
		rest->phys_next = b->phys_next;
		if (b->phys_next)
			b->phys_next->phys_prev = rest;
		b->phys_next = rest;
		b->pages = need;
		t->at[rest->start] = rest;
		insert_free(t, rest);
	}
	t->free_pages -= need;
	*offset = b->start * HEAP_PAGE;
	return 0;
}

/* Folds b's successor into b. */
static void absorb_next(struct tlsf_heap *t, struct tblock *b)
{
	struct tblock *n = b->phys_next;

	b->pages += n->pages;
	b->phys_next = n->phys_next;
	if (n->phys_next)
		n->phys_next->phys_prev = b;
	t->at[n->start] = NULL;
	free(n);
}

static void tlsf_release(struct heap *h, uint64_t offset, uint64_t size)
{
	struct tlsf_heap *t = (struct tlsf_heap *)h;
	struct tblock *b = t->at[offset / HEAP_PAGE];

	if (!b || b->free)
		abort(); /* a replay bug, not a measurement */
	t->free_pages += b->pages;
	if (b->phys_next && b->phys_next->free) {
		remove_free(t, b->phys_next);
		absorb_next(t, b);
	}
	if (b->phys_prev && b->phys_prev->free) {
		b = b->phys_prev;
		remove_free(t, b);
		absorb_next(t, b);
	}
	insert_free(t, b);
}

static uint64_t tlsf_free_bytes(struct heap *h)
{
	return ((struct tlsf_heap *)h)->free_pages * HEAP_PAGE;
}

static uint64_t tlsf_largest_free(struct heap *h)
{
	struct tlsf_heap *t = (struct tlsf_heap *)h;
	struct tblock *b;
	uint64_t best = 0;
	int fl, sl;

	if (!t->fl_map)
		return 0;
	/* Every block of the highest non-empty class is larger than any below it. */
	fl = flog2(t->fl_map);
	sl = 31 - __builtin_clz(t->sl_map[fl]);
	for (b = t->lists[fl][sl]; b; b = b->free_next)
		if (b->pages > best)
			best = b->pages;
	return best * HEAP_PAGE;
}

const struct heap_ops heap_tlsf = {
	.name = "TLSF (no exact scan)",
	.create = tlsf_create,
	.destroy = tlsf_destroy,
	.alloc = tlsf_alloc,
	.release = tlsf_release,
	.free_bytes = tlsf_free_bytes,
	.largest_free = tlsf_largest_free,
};
