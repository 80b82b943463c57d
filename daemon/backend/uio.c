/* SPDX-License-Identifier: MIT */
/*
 * The uio backend: the uio_cma kernel stub's carve-out. Physically contiguous,
 * device addresses are real, every mapping is write-combined. The stub tells
 * us through RELEASED events when a dma-buf's last reference is gone; only
 * then does the range go back to the allocator.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "backend.h"
#include "log.h"
#include "uio_cma.h"
#include "uio_locate.h"

struct uio_backend {
	struct backend be;
	int ctl;
};

static struct uio_backend *to_uio(struct backend *be)
{
	return (struct uio_backend *)be;
}

/*
 * The kernel's name field is shorter than ours: cut at a character boundary
 * so that fdinfo never shows half a UTF-8 sequence.
 */
static void copy_whole_characters(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);

	if (src[n] != '\0')
		while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
			n--; /* src[n] continues a sequence: cut before its lead byte */
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static int uio_export(struct backend *be, uint64_t offset, uint64_t size, uint64_t cookie,
		      const char *name, int *fd_out)
{
	struct uio_cma_export ex;
	int fd;

	memset(&ex, 0, sizeof(ex));
	ex.offset = offset;
	ex.size = size;
	ex.cookie = cookie;
	copy_whole_characters(ex.name, sizeof(ex.name), name ? name : "");
	fd = ioctl(to_uio(be)->ctl, UIO_CMA_IOC_EXPORT, &ex);
	if (fd < 0)
		return -errno;
	*fd_out = fd;
	return 0;
}

/* Nothing to do: the daemon holds no reference, so the stub reports the release. */
static void uio_unexport(struct backend *be, uint64_t cookie)
{
}

static int uio_revoke(struct backend *be, uint64_t cookie)
{
	struct uio_cma_revoke r = {.cookie = cookie};

	return ioctl(to_uio(be)->ctl, UIO_CMA_IOC_REVOKE, &r) < 0 ? -errno : 0;
}

static int uio_event_fd(struct backend *be)
{
	return to_uio(be)->ctl;
}

static void uio_dispatch(struct backend *be)
{
	struct uio_cma_event ev[64];
	ssize_t n;
	size_t i;

	for (;;) {
		n = read(to_uio(be)->ctl, ev, sizeof(ev));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (i = 0; i < (size_t)n / sizeof(ev[0]); i++) {
			/* A revoke's range was handled when we asked for it. */
			if (ev[i].type == UIO_CMA_EVENT_RELEASED &&
			    !(ev[i].flags & UIO_CMA_EVENT_REVOKED))
				be->on_released(be->released_ctx, ev[i].cookie);
		}
		/*
		 * The stub hands over every queued event that fits: a short read
		 * emptied the queue, and asking again would only return EAGAIN (one
		 * more system call per release). One that comes later makes the
		 * descriptor readable again, and the loop calls us back.
		 */
		if ((size_t)n < sizeof(ev))
			return;
	}
	if (n < 0 && errno != EAGAIN)
		log_error("reading release events from the stub: %s", strerror(errno));
}

static int uio_list_live(struct backend *be, struct backend_live *out, size_t cap)
{
	struct uio_cma_list_entry *e = calloc(cap ? cap : 1, sizeof(*e));
	struct uio_cma_list l = {.entries = (uintptr_t)e, .capacity = (uint32_t)cap};
	size_t i;
	int ret;

	if (!e)
		return -ENOMEM;
	ret = ioctl(to_uio(be)->ctl, UIO_CMA_IOC_LIST, &l);
	if (ret < 0) {
		ret = -errno;
		free(e);
		return ret;
	}
	for (i = 0; i < l.count && i < cap; i++) {
		out[i].offset = e[i].offset;
		out[i].size = e[i].size;
		out[i].cookie = e[i].cookie;
	}
	free(e);
	return (int)l.count;
}

static int uio_clear(struct backend *be, uint64_t offset, uint64_t size)
{
	struct uio_cma_clear c = {.offset = offset, .size = size};

	while (ioctl(to_uio(be)->ctl, UIO_CMA_IOC_CLEAR, &c) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

static void uio_destroy(struct backend *be)
{
	close(to_uio(be)->ctl);
	free(to_uio(be));
}

static const struct backend_ops uio_ops = {
	.export_range = uio_export,
	.unexport = uio_unexport,
	.revoke = uio_revoke,
	.event_fd = uio_event_fd,
	.dispatch = uio_dispatch,
	.list_live = uio_list_live,
	.clear = uio_clear,
	.destroy = uio_destroy,
};

static int check_abi(int ctl, const struct uio_region *r)
{
	struct uio_cma_info info;

	if (ioctl(ctl, UIO_CMA_IOC_INFO, &info) < 0)
		return -errno;
	if (info.abi_version < UIO_CMA_ABI_VERSION) { /* a stub serves older ABIs too */
		log_error("%s speaks uio_cma ABI %u, this cmabufd %u: install matching versions",
			  r->ctl_path, info.abi_version, UIO_CMA_ABI_VERSION);
		return -EPROTO;
	}
	return 0;
}

int backend_uio_create(const struct uio_region *r, struct backend **out)
{
	struct uio_backend *u;
	int ctl = open(r->ctl_path, O_RDWR | O_CLOEXEC | O_NONBLOCK), ret;

	if (ctl < 0) {
		ret = -errno;
		log_error("cannot open %s: %s%s", r->ctl_path, strerror(errno),
			  errno == EBUSY ? " (another cmabufd holds it)" : "");
		return ret;
	}
	ret = check_abi(ctl, r);
	u = ret == 0 ? calloc(1, sizeof(*u)) : NULL;
	if (!u) {
		close(ctl);
		return ret < 0 ? ret : -ENOMEM;
	}
	u->ctl = ctl;
	u->be.ops = &uio_ops;
	u->be.name = "uio";
	u->be.base = r->base;
	u->be.size = r->size;
	u->be.physical = true;
	*out = &u->be;
	return 0;
}
