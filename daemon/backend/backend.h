/* SPDX-License-Identifier: MIT */
/*
 * What cmabufd needs from the memory behind it. A backend owns one region and
 * turns ranges of it into file descriptors; it never decides which ranges.
 *
 * The release rule: a range goes back to the allocator only when the backend
 * reports it released (on_released), which for a real dma-buf means its last
 * reference anywhere in the system is gone, not when a client says "free".
 */
#ifndef CMABUF_BACKEND_H
#define CMABUF_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct backend;

typedef void (*backend_released_fn)(void *ctx, uint64_t cookie);

/* A buffer the backend still has from before this daemon started. */
struct backend_live {
	uint64_t offset;
	uint64_t size;
	uint64_t cookie;
};

struct backend_ops {
	/*
	 * Makes [offset, offset + size) a buffer. Stores a new descriptor
	 * (O_CLOEXEC) for the client in *fd: the daemon sends it and closes its copy.
	 */
	int (*export_range)(struct backend *be, uint64_t offset, uint64_t size, uint64_t cookie,
			    const char *name, int *fd);
	/*
	 * The owner let go of the buffer (freed, or disconnected). The backend
	 * reports on_released now if nothing else can hold it, or later when the
	 * last reference goes.
	 */
	void (*unexport)(struct backend *be, uint64_t cookie);
	/*
	 * Takes the memory back from whoever holds the buffer (purge): on
	 * success the range is free at once and no release will be reported.
	 * -EBUSY if it cannot be taken back now (a device is using it).
	 */
	int (*revoke)(struct backend *be, uint64_t cookie);
	/* Descriptor to watch for release events, or -1; dispatch reads and reports them. */
	int (*event_fd)(struct backend *be);
	void (*dispatch)(struct backend *be);
	/*
	 * An allocation found no room: report every release that can be known
	 * now, without waiting for the event fd. NULL: dispatch does that.
	 */
	void (*collect)(struct backend *be);
	/*
	 * The daemon has nothing else to do: do, or start, a bounded piece of
	 * work that makes the next requests cheaper (memfd: make one buffer
	 * ahead). True if there is more for the loop to do;
	 * called again only when the daemon is idle again.
	 * NULL: nothing to do ahead.
	 */
	bool (*prepare)(struct backend *be);
	/*
	 * Buffers still alive from an earlier daemon: fills up to cap entries
	 * and returns how many exist (which may exceed cap), or a negative errno.
	 */
	int (*list_live)(struct backend *be, struct backend_live *out, size_t cap);
	/*
	 * Zeroes a range no buffer covers; called from the zeroing thread. NULL
	 * when every new buffer is zero by construction (memfd).
	 */
	int (*clear)(struct backend *be, uint64_t offset, uint64_t size);
	void (*destroy)(struct backend *be);
};

struct backend {
	const struct backend_ops *ops;
	const char *name; /* "memfd", "uio" */
	uint64_t base;	  /* device address of offset 0 */
	uint64_t size;	  /* bytes in the region */
	bool physical;	  /* base + offset is a real bus address */
	backend_released_fn on_released;
	void *released_ctx;
};

/* The emulated region: each buffer a sealed memfd of its size. */
int backend_memfd_create(uint64_t region_size, struct backend **out);
/*
 * A buffer an earlier daemon left in systemd's file-descriptor store, before
 * anything is exported; the backend owns fd from now on. Returns 1 if it is
 * still held (list_live reports it), 0 if every holder had already closed it
 * (dropped, and out of the store), -EINVAL if fd is not the memfd l describes
 * (*why says how; closed, never adopted), -EEXIST if l's buffer was adopted
 * already (closed; the store's entry is the adopted one's), or another negative
 * errno.
 */
int backend_memfd_adopt(struct backend *be, int fd, const struct backend_live *l, const char **why);

struct uio_region;
/* The uio_cma stub's region, through its control device. */
int backend_uio_create(const struct uio_region *r, struct backend **out);

#endif
