/* SPDX-License-Identifier: MIT */
/*
 * The contiguous allocator: page-granular, address-ordered free extents,
 * power-of-two alignment and coalescing, O(log n) per operation in the number
 * of free extents and live buffers. Placement: right next to a live buffer of
 * the same size if there is room (frames of a pool sit together and free
 * whole runs at once); otherwise small requests from the top of the region
 * and large ones first fit from the bottom, so short-lived bitstream buffers
 * do not fragment the space frames need (allocator.c says why and what it was
 * measured against). Metadata lives in ordinary heap memory, never in the
 * region it manages.
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
 * -ENOMEM: no free extent can hold it, or no memory for the metadata.
 * *offset is untouched on failure.
 * With the granule as alignment it fails only if no free extent is large
 * enough; an aligned request fails only if no extent of size + align -
 * granule bytes exists and a bounded number of smaller candidates do not fit.
 */
int allocator_alloc(struct allocator *a, uint64_t size, uint64_t align, uint64_t *offset);

/*
 * The same for a buffer of a group: buffers allocated together and freed
 * together (a V4L2 queue, a codec's pool, a swapchain), named by any non-zero
 * id the caller chooses. A block goes right beside the group's last one if
 * there is room; a new group's first block starts where several blocks of its
 * size fit, so the rest of the group can follow it; otherwise, and for group
 * 0 always, exactly as allocator_alloc. Same errors.
 */
int allocator_alloc_group(struct allocator *a, uint64_t size, uint64_t align, uint64_t group,
			  uint64_t *offset);

/*
 * Claims exactly [offset, offset + size) (rounded to the granule), which must
 * lie wholly inside one free extent: used to rebuild state after a restart.
 * -EINVAL out of range or unaligned, -EBUSY if any part is not free, -ENOMEM
 * if there is no memory for the metadata.
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

/*
 * Requests of up to this many bytes (after rounding) are "small": placed in
 * the highest-addressed free extent that holds them, at its top; larger ones
 * in the lowest-addressed extent, at its bottom (unless a place next to a
 * buffer of their own size comes first: the highest one for small requests,
 * the lowest for large). It scales with the region
 * (1 MiB for 32-64 MiB, 2 MiB for 128-256 MiB, 4 MiB for 512 MiB-1 GiB, at
 * most 8 MiB); allocator.c says why.
 */
uint64_t allocator_small_max(const struct allocator *a);

/* Calls fn for each free extent in address order; stops early if fn returns non-zero. */
typedef int (*allocator_extent_fn)(uint64_t offset, uint64_t size, void *ctx);
int allocator_for_each_free(const struct allocator *a, allocator_extent_fn fn, void *ctx);
/* The same from the first free extent that starts at or after offset: O(log n) to get there. */
int allocator_for_each_free_from(const struct allocator *a, uint64_t offset, allocator_extent_fn fn,
				 void *ctx);

/* Verifies every internal invariant in O(n log n): 0, or -EUCLEAN if broken. For tests. */
int allocator_check(const struct allocator *a);

#endif
