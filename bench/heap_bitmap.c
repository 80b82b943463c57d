/* SPDX-License-Identifier: MIT */
/*
 * The genalloc baseline: one bit per page and first fit from the start of the
 * region (gen_pool_first_fit → bitmap_find_next_zero_area), which is what TI
 * CMEM's heap and ION's carveout heap did.
 */
#include <errno.h>
#include <stdlib.h>

#include "heap.h"

struct bitmap_heap {
	uint64_t *map; /* bit set: page in use */
	uint64_t pages, words, free_pages;
};

static int test_bit(const struct bitmap_heap *b, uint64_t i)
{
	return (b->map[i / 64] >> (i % 64)) & 1;
}

static void set_range(struct bitmap_heap *b, uint64_t start, uint64_t n, int on)
{
	uint64_t i;

	for (i = start; i < start + n;) {
		if (i % 64 == 0 && start + n - i >= 64) { /* whole words at once */
			b->map[i / 64] = on ? ~0ull : 0;
			i += 64;
			continue;
		}
		if (on)
			b->map[i / 64] |= 1ull << (i % 64);
		else
			b->map[i / 64] &= ~(1ull << (i % 64));
		i++;
	}
}

/* First page at or after i whose bit equals want, or pages. */
static uint64_t find_next(const struct bitmap_heap *b, uint64_t i, int want)
{
	while (i < b->pages) {
		uint64_t w = want ? b->map[i / 64] : ~b->map[i / 64];

		w &= ~0ull << (i % 64);
		if (w) {
			i = (i & ~63ull) + (uint64_t)__builtin_ctzll(w);
			return i < b->pages ? i : b->pages;
		}
		i = (i & ~63ull) + 64;
	}
	return b->pages;
}

static struct heap *bitmap_create(uint64_t region_size)
{
	struct bitmap_heap *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->pages = region_size / HEAP_PAGE;
	b->words = (b->pages + 63) / 64;
	b->map = calloc(b->words, sizeof(uint64_t));
	if (!b->map) {
		free(b);
		return NULL;
	}
	/* Bits past the end read as used so scans stop there. */
	if (b->pages % 64)
		b->map[b->words - 1] = ~0ull << (b->pages % 64);
	b->free_pages = b->pages;
	return (struct heap *)b;
}

static void bitmap_destroy(struct heap *h)
{
	struct bitmap_heap *b = (struct bitmap_heap *)h;

	if (b)
		free(b->map);
	free(b);
}

static int bitmap_alloc(struct heap *h, uint64_t size, uint64_t *offset)
{
	struct bitmap_heap *b = (struct bitmap_heap *)h;
	uint64_t n = heap_pages(size), start = 0, end;

	for (;;) {
		start = find_next(b, start, 0);
		if (start + n > b->pages)
			return -ENOMEM;
		end = find_next(b, start, 1);
		if (end - start >= n)
			break;
		start = end;
	}
	set_range(b, start, n, 1);
	b->free_pages -= n;
	*offset = start * HEAP_PAGE;
	return 0;
}

static void bitmap_release(struct heap *h, uint64_t offset, uint64_t size)
{
	struct bitmap_heap *b = (struct bitmap_heap *)h;
	uint64_t n = heap_pages(size);

	if (!test_bit(b, offset / HEAP_PAGE))
		abort(); /* a replay bug, not a measurement */
	set_range(b, offset / HEAP_PAGE, n, 0);
	b->free_pages += n;
}

static uint64_t bitmap_free_bytes(struct heap *h)
{
	return ((struct bitmap_heap *)h)->free_pages * HEAP_PAGE;
}

static uint64_t bitmap_largest_free(struct heap *h)
{
	struct bitmap_heap *b = (struct bitmap_heap *)h;
	uint64_t i = 0, best = 0, end;

	while ((i = find_next(b, i, 0)) < b->pages) {
		end = find_next(b, i, 1);
		if (end - i > best)
			best = end - i;
		i = end;
	}
	return best * HEAP_PAGE;
}

const struct heap_ops heap_bitmap = {
	.name = "bitmap first fit",
	.create = bitmap_create,
	.destroy = bitmap_destroy,
	.alloc = bitmap_alloc,
	.release = bitmap_release,
	.free_bytes = bitmap_free_bytes,
	.largest_free = bitmap_largest_free,
};
