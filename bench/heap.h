/* SPDX-License-Identifier: MIT */
/*
 * One interface over the allocators the trace replay compares: cmabuf's own
 * (daemon/core/allocator.c) and the baselines implemented here. Offsets and sizes
 * are bytes; every heap works in pages of HEAP_PAGE bytes and keeps its
 * metadata outside the region, as cmabufd must.
 */
#ifndef BENCH_HEAP_H
#define BENCH_HEAP_H

#include <stdint.h>

#define HEAP_PAGE 4096u

struct heap;

struct heap_ops {
	const char *name;
	struct heap *(*create)(uint64_t region_size); /* a multiple of HEAP_PAGE */
	void (*destroy)(struct heap *h);
	/* Page-aligned placement; 0 or -ENOMEM. */
	int (*alloc)(struct heap *h, uint64_t size, uint64_t *offset);
	/* Optional: the same with the stream (group) the buffer belongs to; NULL: alloc is used. */
	int (*alloc_group)(struct heap *h, uint64_t size, uint32_t group, uint64_t *offset);
	/* Exactly what one alloc returned, with the size that was asked for. */
	void (*release)(struct heap *h, uint64_t offset, uint64_t size);
	uint64_t (*free_bytes)(struct heap *h);
	/* The largest block one alloc could still return. */
	uint64_t (*largest_free)(struct heap *h);
};

extern const struct heap_ops heap_cmabuf;	  /* cmabuf itself (daemon/core/allocator.c) */
extern const struct heap_ops heap_cmabuf_grouped; /* the same, told each buffer's group */
extern const struct heap_ops heap_bestfit; /* exact best fit: cmabuf's placement before issue 8 */
extern const struct heap_ops heap_bitmap;  /* genalloc-style bitmap first fit */
extern const struct heap_ops heap_buddy;   /* binary buddy */
extern const struct heap_ops heap_tlsf;	   /* TLSF, good fit without an exact-size scan */

static inline uint64_t heap_pages(uint64_t bytes)
{
	return (bytes + HEAP_PAGE - 1) / HEAP_PAGE;
}

#endif
