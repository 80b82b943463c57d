/* SPDX-License-Identifier: MIT */
/*
 * The contiguous allocator: page-granular, address-ordered free extents with
 * exact best fit, power-of-two alignment and coalescing. Metadata lives in
 * ordinary heap memory, never in the region it manages.
 */
#ifndef CMABUF_ALLOCATOR_H
#define CMABUF_ALLOCATOR_H

#include <stdbool.h>
#include <stdint.h>

struct allocator;

struct allocator_stats {
	uint64_t size;	       /* bytes managed (region size rounded down to the granule) */
	uint64_t used;	       /* bytes in allocated extents */
	uint64_t free;	       /* bytes in free extents */
	uint64_t largest_free; /* size of the largest free extent */
	uint32_t free_extents; /* number of free extents */
	uint32_t used_extents; /* number of allocated extents */
};

/* granule: a power of two (the page size); region_size >= granule. NULL on ENOMEM/EINVAL. */
struct allocator *allocator_new(uint64_t region_size, uint64_t granule);
void allocator_destroy(struct allocator *a); /* NULL-tolerant */

uint64_t allocator_granule(const struct allocator *a);
/* size rounded up to the granule; 0 when that would overflow. */
uint64_t allocator_round(const struct allocator *a, uint64_t size);

/*
 * Places size bytes (rounded up to the granule) at an offset that is a
 * multiple of align (0 means the granule; otherwise a power of two, raised to
 * the granule if smaller). On success stores the offset and returns 0.
 * -EINVAL: size 0, align not a power of two, size larger than the region.
 * -ENOMEM: no free extent can hold it. *offset is untouched on failure.
 */
int allocator_alloc(struct allocator *a, uint64_t size, uint64_t align, uint64_t *offset);

/*
 * Claims exactly [offset, offset + size) (rounded to the granule), which must
 * lie wholly inside one free extent: used to rebuild state after a restart.
 * -EINVAL out of range or unaligned, -EBUSY if any part is not free.
 */
int allocator_reserve(struct allocator *a, uint64_t offset, uint64_t size);

/*
 * Returns [offset, offset + size) to the free pool, coalescing with its
 * neighbours. The range must be exactly what one alloc/reserve returned or
 * at least wholly allocated: -EINVAL if any part of it is already free or out
 * of range (a double free is refused, never corrupts state).
 */
int allocator_release(struct allocator *a, uint64_t offset, uint64_t size);

void allocator_get_stats(const struct allocator *a, struct allocator_stats *st);

/* Calls fn for each free extent in address order; stops early if fn returns non-zero. */
typedef int (*allocator_extent_fn)(uint64_t offset, uint64_t size, void *ctx);
int allocator_for_each_free(const struct allocator *a, allocator_extent_fn fn, void *ctx);

#endif
