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
	uint64_t size;	  /* bytes; required (images: 0 or a minimum, e.g. V4L2's sizeimage) */
	uint64_t align;	  /* 0 = page size; otherwise a power of two */
	uint32_t flags;	  /* CMABUF_ALLOC_* */
	const char *pool; /* NULL = the client's default pool */
	const char *name; /* shown in cmabufctl and /proc/PID/fdinfo; NULL = "" */
	/*
	 * Images only (cmabuf_alloc_image, cmabuf_image_layout); cmabuf_alloc
	 * ignores them, so code written before they existed keeps working.
	 */
	uint32_t pitch_align; /* row pitch, bytes; 0 = CMABUF_DEFAULT_PITCH_ALIGN; a power of two */
	uint32_t plane_align; /* plane offsets; 0 = CMABUF_DEFAULT_PLANE_ALIGN; a power of two */
	uint32_t pitch; /* first plane's pitch, e.g. V4L2's bytesperline; 0 = from pitch_align */
};

/*
 * Defaults suit common display and codec blocks: 64 bytes is a cache line and
 * the AXI burst most scan-out and DMA engines want; and with 64-aligned pitches
 * every plane already ends 64-aligned, so the planes stay back to back exactly
 * as V4L2 single-planar formats lay them out. docs/media.md says more.
 */
#define CMABUF_DEFAULT_PITCH_ALIGN 64u
#define CMABUF_DEFAULT_PLANE_ALIGN 64u
#define CMABUF_MAX_PLANES	   4

struct cmabuf_plane {
	uint64_t offset; /* from the start of the buffer */
	uint32_t pitch;	 /* bytes per row */
	uint64_t size;	 /* pitch * rows */
};

/* socket_path NULL: $CMABUF_SOCKET, else the default (/run/cmabuf/cmabufd.sock). */
int cmabuf_connect(const char *socket_path, struct cmabuf **out);
void cmabuf_disconnect(struct cmabuf *cb);

int cmabuf_alloc(struct cmabuf *cb, const struct cmabuf_alloc_desc *desc,
		 struct cmabuf_buffer **out);
/*
 * Unmaps, closes the fd, tells the daemon and frees the handle (even if the
 * daemon is gone). It does not wait for an answer: 0 means the daemon was told,
 * a negative errno that it could not be (-ENOTCONN after a disconnect). This
 * connection's next request is handled after the FREE, so it sees the range
 * back; other connections see it as soon as the daemon has read the FREE.
 */
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
 * buffer keeps its handle but no memory: any access to its mapping faults
 * (SIGBUS; on memfd the file is cut to 0 bytes and cannot grow again). Free it
 * and allocate anew.
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

/*
 * Images. All planes live in one contiguous buffer, at the offsets and pitches
 * cmabuf_buffer_planes() reports. Formats are DRM fourccs (<drm_fourcc.h>):
 * NV12 NV21 NV16 NV24 P010 YUV420 YVU420 YUV422 YUYV UYVY RGB565 RGB888 BGR888
 * XRGB8888 ARGB8888 XBGR8888 ABGR8888, with DRM_FORMAT_MOD_LINEAR only. Odd
 * sizes round chroma up. An unknown format or modifier, or a size whose layout
 * does not fit in 64 bits, is -EINVAL, with the reason in cmabuf_last_error().
 * desc may be NULL (defaults; desc->size is then 0).
 */
int cmabuf_alloc_image(struct cmabuf *cb, uint32_t width, uint32_t height, uint32_t drm_fourcc,
		       uint64_t modifier, const struct cmabuf_alloc_desc *desc,
		       struct cmabuf_buffer **out);
/*
 * The layout alone, without allocating: fills up to max planes, stores the
 * bytes needed (at least desc->size) in *size, returns the plane count.
 */
int cmabuf_image_layout(uint32_t width, uint32_t height, uint32_t drm_fourcc, uint64_t modifier,
			const struct cmabuf_alloc_desc *desc, struct cmabuf_plane *planes, int max,
			uint64_t *size);
/* Copies up to max planes; returns the plane count (0 for a buffer that is not an image). */
int cmabuf_buffer_planes(const struct cmabuf_buffer *buf, struct cmabuf_plane *planes, int max);
/* The image's DRM fourcc, width and height (any may be NULL); -EINVAL if not an image. */
int cmabuf_buffer_format(const struct cmabuf_buffer *buf, uint32_t *drm_fourcc, uint32_t *width,
			 uint32_t *height);

/* V4L2 <-> DRM fourcc for the formats above (V4L2 single-planar codes); 0 if there is none. */
uint32_t cmabuf_fourcc_to_v4l2(uint32_t drm_fourcc);
uint32_t cmabuf_fourcc_from_v4l2(uint32_t v4l2_fourcc);

/*
 * Explicit sync: a sync_file fd for the fences on the buffer
 * (DMA_BUF_IOCTL_EXPORT_SYNC_FILE; flags CMABUF_SYNC_READ to wait for
 * writers, CMABUF_SYNC_WRITE for everyone), and the reverse: add a sync_file's
 * fence to the buffer so implicit-sync importers wait for it. -ENOTTY on a
 * kernel older than 6.0 or the memfd backend (nothing there to sync).
 */
int cmabuf_buffer_export_sync_file(const struct cmabuf_buffer *buf, unsigned flags,
				   int *sync_file_fd);
int cmabuf_buffer_import_sync_file(const struct cmabuf_buffer *buf, unsigned flags,
				   int sync_file_fd);

/*
 * V4L2 (V4L2_MEMORY_DMABUF). Declared with incomplete types so that this
 * header does not pull in <linux/videodev2.h>; include it yourself.
 */
struct v4l2_format;
struct v4l2_buffer;
struct v4l2_plane;
/*
 * Allocates an image buffer for a format the driver negotiated (after
 * VIDIOC_S_FMT/G_FMT): its pixelformat, size, bytesperline as the pitch, and
 * sizeimage honoured. Single-planar types, or _MPLANE with one memory plane.
 */
int cmabuf_v4l2_alloc_image(struct cmabuf *cb, const struct v4l2_format *fmt,
			    const struct cmabuf_alloc_desc *desc, struct cmabuf_buffer **out);
/*
 * Fills *vb (zeroing it first) for VIDIOC_QBUF of buf at index on a queue of
 * the given type; for _MPLANE types plane receives the one plane and
 * vb->m.planes points at it (plane may be NULL otherwise).
 */
int cmabuf_v4l2_fill_buffer(const struct cmabuf_buffer *buf, uint32_t type, uint32_t index,
			    struct v4l2_buffer *vb, struct v4l2_plane *plane);

/*
 * DRM (libdrm). cmabuf_drm_import gives a GEM handle on drm_fd for the buffer
 * (close it with drmCloseBufferHandle; importing one buffer twice on one fd
 * gives the same handle). cmabuf_drm_add_fb makes a KMS framebuffer of an image
 * buffer imported as handle (drmModeAddFB2WithModifiers, linear); remove it
 * with drmModeRmFB.
 */
int cmabuf_drm_import(int drm_fd, const struct cmabuf_buffer *buf, uint32_t *handle);
int cmabuf_drm_add_fb(int drm_fd, const struct cmabuf_buffer *buf, uint32_t handle,
		      uint32_t *fb_id);

#ifdef __cplusplus
}
#endif

#endif
