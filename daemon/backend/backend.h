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
#include <sys/types.h>

struct backend;

typedef void (*backend_released_fn)(void *ctx, uint64_t cookie);
/* A /dev/dma_heap caller waits for an answer to request id (len: bytes, page-rounded). */
typedef void (*backend_heap_alloc_fn)(void *ctx, uint64_t id, uint64_t len);

/* Who made a heap request, as the stub took it when the ALLOC arrived. */
struct backend_heap_caller {
	pid_t tgid; /* 0: not visible in cmabufd's pid namespace */
	pid_t tid;
	uid_t uid;
	gid_t gid;
	gid_t *groups; /* every supplementary group; malloc'd, the caller's to free */
	unsigned ngroups;
	uint64_t len;
	uint32_t fd_flags;
	char comm[16]; /* the calling thread's */
};

/* What the backend knows of a live buffer that the daemon does not. */
struct backend_query {
	uint32_t attached; /* device attachments */
	uint32_t vmapped;  /* kernel mappings */
	char name[32];	   /* as its holders named it since (DMA_BUF_SET_NAME), or "" */
};

/* Whether the region's /dev/dma_heap node is served (cmabufctl status). */
enum backend_heap_state {
	BACKEND_HEAP_NONE,	  /* this backend has no heap door (memfd) */
	BACKEND_HEAP_SERVED,	  /* heap_node's requests come to us */
	BACKEND_HEAP_NO_NODE,	  /* the stub offers no node for this region */
	BACKEND_HEAP_OLD_STUB,	  /* the stub is older than the heap door (ABI < 3) */
	BACKEND_HEAP_SERVE_FAILED /* HEAP_SERVE failed: see the log */
};

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
	/*
	 * The heap door (NULL without one). heap_caller: who made request id
	 * (-ENOENT: it left). heap_answer: export [offset, offset + size) under
	 * cookie and name for request id, or, error > 0, fail it with that errno;
	 * -ENOENT: the caller left and nothing was exported.
	 */
	int (*heap_caller)(struct backend *be, uint64_t id, struct backend_heap_caller *out);
	int (*heap_answer)(struct backend *be, uint64_t id, uint64_t offset, uint64_t size,
			   uint64_t cookie, const char *name, int error);
	/* A live buffer's name and users as the kernel knows them (NULL: unknown). */
	int (*query)(struct backend *be, uint64_t cookie, struct backend_query *out);
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
	backend_heap_alloc_fn on_heap_alloc; /* set by the wiring when it serves the heap door */
	void *heap_ctx;
	enum backend_heap_state heap_state;
	char heap_node[64]; /* "/dev/dma_heap/NAME" when known */
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
