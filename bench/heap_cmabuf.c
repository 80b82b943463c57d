/* SPDX-License-Identifier: MIT */
/* cmabufd's allocator itself, compiled from daemon/core/allocator.c, behind the heap interface. */
#include <stdio.h>
#include <stdlib.h>

#include "allocator.h"
#include "heap.h"

static struct heap *cmabuf_create(uint64_t region_size)
{
	return (struct heap *)allocator_new(region_size, HEAP_PAGE);
}

static void cmabuf_destroy(struct heap *h)
{
	allocator_destroy((struct allocator *)h);
}

static int cmabuf_alloc(struct heap *h, uint64_t size, uint64_t *offset)
{
	return allocator_alloc((struct allocator *)h, size, 0, offset);
}

static int cmabuf_alloc_group(struct heap *h, uint64_t size, uint32_t group, uint64_t *offset)
{
	return allocator_alloc_group((struct allocator *)h, size, 0, group, offset);
}

static void cmabuf_release(struct heap *h, uint64_t offset, uint64_t size)
{
	if (allocator_release((struct allocator *)h, offset, size) < 0) {
		fprintf(stderr, "allocator_release refused a valid range\n");
		abort();
	}
}

static uint64_t cmabuf_free_bytes(struct heap *h)
{
	struct allocator_stats st;

	allocator_get_stats((struct allocator *)h, &st);
	return st.free;
}

static uint64_t cmabuf_largest_free(struct heap *h)
{
	struct allocator_stats st;

	allocator_get_stats((struct allocator *)h, &st);
	return st.largest_free;
}

const struct heap_ops heap_cmabuf = {
	.name = "cmabuf (affine, 2-ended)",
	.create = cmabuf_create,
	.destroy = cmabuf_destroy,
	.alloc = cmabuf_alloc,
	.release = cmabuf_release,
	.free_bytes = cmabuf_free_bytes,
	.largest_free = cmabuf_largest_free,
};

/* The same allocator told each buffer's stream (allocator_alloc_group). */
const struct heap_ops heap_cmabuf_grouped = {
	.name = "cmabuf grouped",
	.create = cmabuf_create,
	.destroy = cmabuf_destroy,
	.alloc = cmabuf_alloc,
	.alloc_group = cmabuf_alloc_group,
	.release = cmabuf_release,
	.free_bytes = cmabuf_free_bytes,
	.largest_free = cmabuf_largest_free,
};
