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
#include "rbtree.h"

#define SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

/* The daemon keeps one reference per buffer so that it can drop the pages (purge). */
struct memfd_buffer {
	uint64_t cookie;
	uint64_t size;
	int fd;
	RB_ENTRY(memfd_buffer) link;
};

RB_HEAD(memfd_tree, memfd_buffer);

struct memfd_backend {
	struct backend be;
	struct memfd_tree buffers;
};

static int memfd_cmp(const struct memfd_buffer *a, const struct memfd_buffer *b)
{
	return a->cookie < b->cookie ? -1 : a->cookie > b->cookie;
}

RB_GENERATE_LOCAL(memfd_tree, memfd_buffer, link, memfd_cmp)

static struct memfd_backend *to_memfd(struct backend *be)
{
	return (struct memfd_backend *)be;
}

static struct memfd_buffer *lookup(struct backend *be, uint64_t cookie)
{
	struct memfd_buffer key = {.cookie = cookie};

	return RB_FIND(memfd_tree, &to_memfd(be)->buffers, &key);
}

static int new_memfd(const char *name, uint64_t size)
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
	return fd;
}

static int memfd_export(struct backend *be, uint64_t offset, uint64_t size, uint64_t cookie,
			const char *name, int *fd_out)
{
	struct memfd_buffer *mb = calloc(1, sizeof(*mb));
	int fd = mb ? new_memfd(name, size) : -ENOMEM;

	if (fd < 0) {
		free(mb);
		return fd;
	}
	mb->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (mb->fd < 0) {
		close(fd);
		free(mb);
		return -errno;
	}
	mb->cookie = cookie;
	mb->size = size;
	RB_INSERT(memfd_tree, &to_memfd(be)->buffers, mb);
	*fd_out = fd;
	return 0;
}

static void forget(struct backend *be, struct memfd_buffer *mb)
{
	RB_REMOVE(memfd_tree, &to_memfd(be)->buffers, mb);
	close(mb->fd);
	free(mb);
}

static void memfd_unexport(struct backend *be, uint64_t cookie)
{
	struct memfd_buffer *mb = lookup(be, cookie);

	if (mb)
		forget(be, mb);
	be->on_released(be->released_ctx, cookie);
}

/* Drops the pages: holders read zeros from now on, and the range is free. */
static int memfd_revoke(struct backend *be, uint64_t cookie)
{
	struct memfd_buffer *mb = lookup(be, cookie);

	if (!mb)
		return -ENOENT;
	if (fallocate(mb->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)mb->size) < 0)
		return -errno;
	forget(be, mb);
	return 0;
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
	struct memfd_buffer *mb;

	while ((mb = RB_MIN(memfd_tree, &to_memfd(be)->buffers)))
		forget(be, mb);
	free(to_memfd(be));
}

static const struct backend_ops memfd_ops = {
	.export_range = memfd_export,
	.unexport = memfd_unexport,
	.revoke = memfd_revoke,
	.event_fd = memfd_event_fd,
	.dispatch = memfd_dispatch,
	.list_live = memfd_list_live,
	.destroy = memfd_destroy,
};

int backend_memfd_create(uint64_t region_size, struct backend **out)
{
	struct memfd_backend *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	RB_INIT(&m->buffers);
	m->be.ops = &memfd_ops;
	m->be.name = "memfd";
	m->be.base = 0;
	m->be.size = region_size;
	m->be.physical = false;
	*out = &m->be;
	return 0;
}
