/* SPDX-License-Identifier: MIT */
/*
 * The memfd backend: an emulated region whose addresses are offsets, and each
 * buffer a sealed memfd of its size. It needs no kernel support, so it is the
 * default for a first run and for tests. Nothing here is physically
 * contiguous; device addresses are not real (backend.physical is false).
 *
 * A memfd gives no notice when its last reference closes, so a buffer counts
 * as released as soon as its owner lets go. That is safe here because every
 * buffer has its own pages: reusing its range in the emulated region can never
 * make two owners share memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backend.h"

#define SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

static int memfd_export(struct backend *be, uint64_t offset, uint64_t size, uint64_t cookie,
			const char *name, int *fd_out)
{
	char label[80];
	int fd;

	snprintf(label, sizeof(label), "cmabuf:%s", name && *name ? name : "buffer");
	fd = memfd_create(label, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	/* Pages come zeroed from the kernel and are allocated on first touch. */
	if (ftruncate(fd, (off_t)size) < 0 || fcntl(fd, F_ADD_SEALS, SEALS) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	*fd_out = fd;
	return 0;
}

static void memfd_unexport(struct backend *be, uint64_t cookie)
{
	be->on_released(be->released_ctx, cookie);
}

static int memfd_event_fd(struct backend *be)
{
	return -1;
}

static void memfd_dispatch(struct backend *be)
{
}

/* memfd buffers die with the daemon that made them: nothing survives to list. */
static int memfd_list_live(struct backend *be, struct backend_live *out, size_t cap)
{
	return 0;
}

static void memfd_destroy(struct backend *be)
{
	free(be);
}

static const struct backend_ops memfd_ops = {
	.export_range = memfd_export,
	.unexport = memfd_unexport,
	.event_fd = memfd_event_fd,
	.dispatch = memfd_dispatch,
	.list_live = memfd_list_live,
	.destroy = memfd_destroy,
};

int backend_memfd_create(uint64_t region_size, struct backend **out)
{
	struct backend *be = calloc(1, sizeof(*be));

	if (!be)
		return -ENOMEM;
	be->ops = &memfd_ops;
	be->name = "memfd";
	be->base = 0;
	be->size = region_size;
	be->physical = false;
	*out = be;
	return 0;
}
