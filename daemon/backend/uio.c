/* SPDX-License-Identifier: MIT */
/*
 * The uio backend: the uio_cma kernel stub's carve-out. Physically contiguous,
 * device addresses are real, every mapping is write-combined. The stub tells
 * us through RELEASED events when a dma-buf's last reference is gone; only
 * then does the range go back to the allocator.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
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

static int uio_heap_answer(struct backend *be, uint64_t id, uint64_t offset, uint64_t size,
			   uint64_t cookie, const char *name, int error);

static void dispatch_one(struct backend *be, const struct uio_cma_event *ev)
{
	/* A revoke's range was handled when we asked for it. */
	if (ev->type == UIO_CMA_EVENT_RELEASED && !(ev->flags & UIO_CMA_EVENT_REVOKED))
		be->on_released(be->released_ctx, ev->cookie);
	else if (ev->type == UIO_CMA_EVENT_HEAP_ALLOC && be->on_heap_alloc)
		be->on_heap_alloc(be->heap_ctx, ev->cookie, ev->size);
	else if (ev->type ==
		 UIO_CMA_EVENT_HEAP_ALLOC) /* nobody to decide: never leave it hanging */
		uio_heap_answer(be, ev->cookie, 0, 0, 0, "", ENODEV);
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
		for (i = 0; i < (size_t)n / sizeof(ev[0]); i++)
			dispatch_one(be, &ev[i]);
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

/* Every supplementary group: called again with room for as many as the stub says. */
static int uio_heap_caller(struct backend *be, uint64_t id, struct backend_heap_caller *out)
{
	struct uio_cma_heap_caller c;
	__u32 cap = 64, *groups = NULL;

	for (;;) {
		__u32 *g = realloc(groups, cap * sizeof(*g));

		if (!g) {
			free(groups);
			return -ENOMEM;
		}
		groups = g;
		memset(&c, 0, sizeof(c));
		c.id = id;
		c.groups = (uintptr_t)groups;
		c.groups_cap = cap;
		if (ioctl(to_uio(be)->ctl, UIO_CMA_IOC_HEAP_CALLER, &c) < 0) {
			int ret = -errno;

			free(groups);
			return ret;
		}
		if (c.ngroups <= cap)
			break;
		cap = c.ngroups;
	}
	memset(out, 0, sizeof(*out));
	out->tgid = (pid_t)c.tgid;
	out->tid = (pid_t)c.tid;
	out->uid = (uid_t)c.uid;
	out->gid = (gid_t)c.gid;
	out->groups = (gid_t *)groups; /* __u32 and gid_t are one type on Linux */
	out->ngroups = c.ngroups;
	out->len = c.len;
	out->fd_flags = c.fd_flags;
	memcpy(out->comm, c.comm, sizeof(out->comm));
	out->comm[sizeof(out->comm) - 1] = '\0';
	return 0;
}

static int uio_heap_answer(struct backend *be, uint64_t id, uint64_t offset, uint64_t size,
			   uint64_t cookie, const char *name, int error)
{
	struct uio_cma_heap_answer a;

	memset(&a, 0, sizeof(a));
	a.id = id;
	a.error = (__u32)error;
	if (error == 0) {
		a.offset = offset;
		a.size = size;
		a.cookie = cookie;
		copy_whole_characters(a.name, sizeof(a.name), name ? name : "");
	}
	while (ioctl(to_uio(be)->ctl, UIO_CMA_IOC_HEAP_ANSWER, &a) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

static int uio_query(struct backend *be, uint64_t cookie, struct backend_query *out)
{
	struct uio_cma_query q;

	memset(&q, 0, sizeof(q));
	q.cookie = cookie;
	if (ioctl(to_uio(be)->ctl, UIO_CMA_IOC_QUERY, &q) < 0)
		return -errno;
	out->attached = q.attached;
	out->vmapped = q.vmapped;
	memcpy(out->name, q.name, sizeof(out->name));
	out->name[sizeof(out->name) - 1] = '\0';
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
	.heap_caller = uio_heap_caller,
	.heap_answer = uio_heap_answer,
	.query = uio_query,
	.destroy = uio_destroy,
};

/* The oldest stub this cmabufd drives: ABI 2's rules (see uio_cma.h); 3 adds the heap door. */
#define UIO_ABI_MIN	  2
#define UIO_ABI_HEAP_DOOR 3

/* The stub's ABI version, or a negative errno for one too old. */
static int check_abi(int ctl, const struct uio_region *r)
{
	struct uio_cma_info info;

	if (ioctl(ctl, UIO_CMA_IOC_INFO, &info) < 0)
		return -errno;
	if (info.abi_version < UIO_ABI_MIN) { /* a stub serves older ABIs too */
		log_error("%s speaks uio_cma ABI %u, this cmabufd needs %u or later: install "
			  "matching versions",
			  r->ctl_path, info.abi_version, UIO_ABI_MIN);
		return -EPROTO;
	}
	return (int)info.abi_version;
}

/* DEVNAME=dma_heap/NAME in a misc device's uevent: 1 with the node in node, else 0. */
static int heap_devname(const char *uevent, char *node, size_t cap)
{
	FILE *f = fopen(uevent, "re");
	char line[128];
	int found = 0;

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		/* 64 bytes hold "/dev/" and the stub's longest node name ("dma_heap/" + 53) */
		if (!strncmp(line, "DEVNAME=dma_heap/", 17) && strlen(line + 8) + 6 <= cap) {
			memcpy(node, "/dev/", 5);
			memcpy(node + 5, line + 8, strlen(line + 8) + 1);
			found = 1;
		}
	}
	fclose(f);
	return found;
}

/*
 * The node's name, as the kernel made it: the stub registers the node as a
 * misc device whose parent is the region's device, so it is the one of
 * /sys/class/uio/uioN/device/misc/ that names a dma_heap/ node.
 */
static void find_heap_node(struct backend *be, const struct uio_region *r)
{
	char dir[160], uevent[512];
	struct dirent *e;
	DIR *d;

	snprintf(be->heap_node, sizeof(be->heap_node), "/dev/dma_heap/(unknown name)");
	snprintf(dir, sizeof(dir), "/sys/class/uio/%s/device/misc", r->uio_name);
	d = opendir(dir);
	if (!d)
		return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(uevent, sizeof(uevent), "%s/%s/uevent", dir, e->d_name);
		if (heap_devname(uevent, be->heap_node, sizeof(be->heap_node)))
			break;
	}
	closedir(d);
}

/*
 * From now on the stub forwards its /dev/dma_heap node's ALLOCs to us; a
 * stub without the heap door (ABI 2), or a region without a node, is served
 * without one.
 */
static void serve_heap(struct backend *be, int ctl, int abi, const struct uio_region *r)
{
	struct uio_cma_heap_serve hs;

	if (abi < UIO_ABI_HEAP_DOOR) {
		be->heap_state = BACKEND_HEAP_OLD_STUB;
		log_info("the uio_cma stub speaks ABI %d: no /dev/dma_heap door (ABI %d has one)",
			 abi, UIO_ABI_HEAP_DOOR);
		return;
	}
	memset(&hs, 0, sizeof(hs));
	if (ioctl(ctl, UIO_CMA_IOC_HEAP_SERVE, &hs) == 0) {
		be->heap_state = BACKEND_HEAP_SERVED;
		find_heap_node(be, r);
		return;
	}
	if (errno == ENODEV) {
		be->heap_state = BACKEND_HEAP_NO_NODE;
		return;
	}
	be->heap_state = BACKEND_HEAP_SERVE_FAILED;
	log_error("cannot serve the dma-heap node of %s: HEAP_SERVE: %s; socket clients are "
		  "served, heap callers get ENODEV",
		  r->ctl_path, strerror(errno));
}

int backend_uio_create(const struct uio_region *r, struct backend **out)
{
	struct uio_backend *u;
	int ctl = open(r->ctl_path, O_RDWR | O_CLOEXEC | O_NONBLOCK), abi;

	if (ctl < 0) {
		int ret = -errno;

		log_error("cannot open %s: %s%s", r->ctl_path, strerror(errno),
			  errno == EBUSY ? " (another cmabufd holds it)" : "");
		return ret;
	}
	abi = check_abi(ctl, r);
	u = abi >= 0 ? calloc(1, sizeof(*u)) : NULL;
	if (!u) {
		close(ctl);
		return abi < 0 ? abi : -ENOMEM;
	}
	u->ctl = ctl;
	u->be.ops = &uio_ops;
	u->be.name = "uio";
	u->be.base = r->base;
	u->be.size = r->size;
	u->be.physical = true;
	serve_heap(&u->be, ctl, abi, r);
	*out = &u->be;
	return 0;
}
