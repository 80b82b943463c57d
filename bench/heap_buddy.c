/* SPDX-License-Identifier: MIT */
/*
 * The buddy baseline: blocks of 2^k pages, naturally aligned, split on
 * allocation and merged with their buddy on release. Requests round up to a
 * power of two (a 1080p NV12 frame takes 4 MiB for 2.97 MiB). Orders go up to
 * the region, unlike the kernel's MAX_ORDER, so that 4K frames fit at all.
 */
#include <errno.h>
#include <stdlib.h>

#include "heap.h"

#define MAX_ORDERS 40
#define NONE	   UINT64_MAX

struct buddy_heap {
	uint64_t pages, free_pages;
	uint64_t head[MAX_ORDERS]; /* first free block of each order, or NONE */
	uint64_t *next, *prev;	   /* free-list links, indexed by a block's first page */
	int8_t *order;		   /* order of the free block starting here, or -1 */
	int max_order;
};

static void push(struct buddy_heap *b, uint64_t p, int k)
{
	b->order[p] = (int8_t)k;
	b->prev[p] = NONE;
	b->next[p] = b->head[k];
	if (b->head[k] != NONE)
		b->prev[b->head[k]] = p;
	b->head[k] = p;
}

static void unlink_block(struct buddy_heap *b, uint64_t p, int k)
{
	if (b->prev[p] != NONE)
		b->next[b->prev[p]] = b->next[p];
	else
		b->head[k] = b->next[p];
	if (b->next[p] != NONE)
		b->prev[b->next[p]] = b->prev[p];
	b->order[p] = -1;
}

static int order_for(uint64_t pages)
{
	int k = 0;

	while ((1ull << k) < pages)
		k++;
	return k;
}

static struct heap *buddy_create(uint64_t region_size)
{
	struct buddy_heap *b = calloc(1, sizeof(*b));
	uint64_t p = 0;
	int k;

	if (!b)
		return NULL;
	b->pages = region_size / HEAP_PAGE;
	b->next = malloc(b->pages * sizeof(uint64_t));
	b->prev = malloc(b->pages * sizeof(uint64_t));
	b->order = malloc(b->pages);
	if (!b->next || !b->prev || !b->order) {
		free(b->next);
		free(b->prev);
		free(b->order);
		free(b);
		return NULL;
	}
	for (k = 0; k < MAX_ORDERS; k++)
		b->head[k] = NONE;
	for (p = 0; p < b->pages; p++)
		b->order[p] = -1;
	b->max_order = order_for(b->pages);
	/* A region that is not a power of two starts as the largest aligned blocks that fit. */
	for (p = 0; p < b->pages;) {
		for (k = b->max_order; k > 0; k--)
			if (p % (1ull << k) == 0 && p + (1ull << k) <= b->pages)
				break;
		push(b, p, k);
		p += 1ull << k;
	}
	b->free_pages = b->pages;
	return (struct heap *)b;
}

static void buddy_destroy(struct heap *h)
{
	struct buddy_heap *b = (struct buddy_heap *)h;

	if (!b)
		return;
	free(b->next);
	free(b->prev);
	free(b->order);
	free(b);
}

static int buddy_alloc(struct heap *h, uint64_t size, uint64_t *offset)
{
	struct buddy_heap *b = (struct buddy_heap *)h;
	int want = order_for(heap_pages(size)), k;
	uint64_t p;

	for (k = want; k <= b->max_order && b->head[k] == NONE; k++)
		;
	if (k > b->max_order)
		return -ENOMEM;
	p = b->head[k];
	unlink_block(b, p, k);
	while (k > want) { /* split, keeping the lower half */
		k--;
		push(b, p + (1ull << k), k);
	}
	b->free_pages -= 1ull << want;
	*offset = p * HEAP_PAGE;
	return 0;
}

static void buddy_release(struct heap *h, uint64_t offset, uint64_t size)
{
	struct buddy_heap *b = (struct buddy_heap *)h;
	int k = order_for(heap_pages(size));
	uint64_t p = offset / HEAP_PAGE;

	b->free_pages += 1ull << k;
	while (k < b->max_order) {
		uint64_t q = p ^ (1ull << k);

		if (q + (1ull << k) > b->pages || b->order[q] != k)
			break;
		unlink_block(b, q, k);
		p = p < q ? p : q;
		k++;
	}
	push(b, p, k);
}

static uint64_t buddy_free_bytes(struct heap *h)
{
	return ((struct buddy_heap *)h)->free_pages * HEAP_PAGE;
}

static uint64_t buddy_largest_free(struct heap *h)
{
	struct buddy_heap *b = (struct buddy_heap *)h;
	int k;

	for (k = b->max_order; k >= 0; k--)
		if (b->head[k] != NONE)
			return (1ull << k) * HEAP_PAGE;
	return 0;
}

const struct heap_ops heap_buddy = {
	.name = "binary buddy",
	.create = buddy_create,
	.destroy = buddy_destroy,
	.alloc = buddy_alloc,
	.release = buddy_release,
	.free_bytes = buddy_free_bytes,
	.largest_free = buddy_largest_free,
};
