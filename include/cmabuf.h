/* SPDX-License-Identifier: MIT */
/*
 * libcmabuf — physically contiguous, coherent dma-buf buffers from cmabufd.
 *
 * Conventions: functions return 0 (or a count) on success and a negative errno
 * on failure; out-parameters are untouched on failure; handles are opaque;
 * destructors accept NULL; the library never prints. After a failure,
 * cmabuf_last_error() gives the daemon's reason in words.
 *
 * Threads: a struct cmabuf serialises its requests internally, so one
 * connection may be shared by several threads. A buffer may be used from any
 * thread, but one buffer must not be freed while another thread still uses it.
 * cmabuf_last_error() reports the last failure on the connection, whichever
 * thread caused it: with several threads, prefer the return codes.
 */
#ifndef CMABUF_H
#define CMABUF_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cmabuf;
struct cmabuf_buffer;

/* Allocation flags (struct cmabuf_alloc_desc.flags). */
#define CMABUF_ALLOC_PURGEABLE	 (1u << 0) /* contents may be discarded while unpinned */
#define CMABUF_ALLOC_RECLAIMABLE (1u << 1) /* the holder releases it when asked */

/* cmabuf_sync_begin/end flags. */
#define CMABUF_SYNC_READ  (1u << 0)
#define CMABUF_SYNC_WRITE (1u << 1)

struct cmabuf_alloc_desc {
	uint64_t size;	  /* bytes; required */
	uint64_t align;	  /* 0 = page size; otherwise a power of two */
	uint32_t flags;	  /* CMABUF_ALLOC_* */
	const char *pool; /* NULL = the client's default pool */
	const char *name; /* shown in cmabufctl and /proc/PID/fdinfo; NULL = "" */
};

struct cmabuf_plane {
	uint64_t offset;
	uint32_t pitch;
	uint64_t size;
};

/* socket_path NULL: $CMABUF_SOCKET, else the default (/run/cmabuf/cmabufd.sock). */
int cmabuf_connect(const char *socket_path, struct cmabuf **out);
void cmabuf_disconnect(struct cmabuf *cb);

int cmabuf_alloc(struct cmabuf *cb, const struct cmabuf_alloc_desc *desc,
		 struct cmabuf_buffer **out);
/* Tells the daemon, unmaps, closes the fd and frees the handle (even if the daemon is gone). */
int cmabuf_free(struct cmabuf_buffer *buf);

int cmabuf_buffer_fd(const struct cmabuf_buffer *buf); /* the dma-buf; dup it to keep it */
uint64_t cmabuf_buffer_size(const struct cmabuf_buffer *buf);
uint64_t cmabuf_buffer_id(const struct cmabuf_buffer *buf);
/* The address devices use; -EPERM unless the daemon granted it to this client. */
int cmabuf_buffer_dev_addr(const struct cmabuf_buffer *buf, uint64_t *addr);

/* A coherent (write-combined or uncached) mapping of the whole buffer; NULL on failure. */
void *cmabuf_map(struct cmabuf_buffer *buf);
int cmabuf_sync_begin(struct cmabuf_buffer *buf, unsigned flags);
int cmabuf_sync_end(struct cmabuf_buffer *buf, unsigned flags);

/*
 * Purgeable buffers: while purgeable, the daemon may take the memory back for
 * a request that cannot otherwise be placed. Pin (purgeable = false) before
 * using the contents; *was_purged then says whether they are gone. A purged
 * buffer keeps its handle but no memory: on the uio backend any access to its
 * mapping faults (SIGBUS), on memfd it reads zeros. Free it and allocate anew.
 */
int cmabuf_set_purgeable(struct cmabuf_buffer *buf, bool purgeable, bool *was_purged);

/*
 * Reclaimable buffers (CMABUF_ALLOC_RECLAIMABLE): when a client of higher
 * priority needs the space, the daemon asks this connection to give the
 * buffer back within deadline_ms. Watch cmabuf_get_fd() for POLLIN and call
 * cmabuf_dispatch(); it calls the handler for each request, and the handler
 * should stop using the buffer and cmabuf_free() it (now or soon).
 */
typedef void (*cmabuf_reclaim_fn)(struct cmabuf *cb, struct cmabuf_buffer *buf,
				  uint32_t deadline_ms, void *userdata);
void cmabuf_set_reclaim_handler(struct cmabuf *cb, cmabuf_reclaim_fn fn, void *userdata);
int cmabuf_get_fd(struct cmabuf *cb);
/* Handles pending daemon events without blocking; returns how many, or a negative errno. */
int cmabuf_dispatch(struct cmabuf *cb);

/* The daemon's reason for the last failure on this connection, for humans. */
const char *cmabuf_last_error(struct cmabuf *cb);

#ifdef __cplusplus
}
#endif

#endif
