/* SPDX-License-Identifier: MIT */
/*
 * The daemon's half of the heap door, as small as it can be, for the VM
 * tests that play the daemon themselves (test_heap_stub, heap_responder):
 * a page-granular first-fit placement over the region, CLEAR before every
 * answer, and the RELEASED events that give ranges back.
 */
#ifndef CMABUF_VM_HEAP_DOOR_H
#define CMABUF_VM_HEAP_DOOR_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "uio_cma.h"

#define HD_MAX_LIVE 4096

struct hd_live {
	uint64_t cookie, offset, size;
	bool released;
};

struct heap_door {
	int ctl;
	struct uio_cma_info info;
	uint8_t *used; /* per page */
	uint64_t pages;
	uint64_t next_cookie;
	struct hd_live live[HD_MAX_LIVE];
	int nlive;
	struct uio_cma_event stash[HD_MAX_LIVE]; /* HEAP_ALLOCs read early */
	int nstash;
};

/* Opens the control device and INFO; 0 or -errno. Does not SERVE. */
static inline int hd_open(struct heap_door *d, const char *dev)
{
	memset(d, 0, sizeof(*d));
	d->next_cookie = 1000;
	d->ctl = open(dev, O_RDWR | O_CLOEXEC);
	if (d->ctl < 0)
		return -errno;
	if (ioctl(d->ctl, UIO_CMA_IOC_INFO, &d->info) < 0)
		return -errno;
	d->pages = d->info.size / d->info.page_size;
	d->used = calloc(d->pages, 1);
	return d->used ? 0 : -ENOMEM;
}

static inline int hd_serve(struct heap_door *d)
{
	struct uio_cma_heap_serve s = {0};

	return ioctl(d->ctl, UIO_CMA_IOC_HEAP_SERVE, &s) < 0 ? -errno : 0;
}

/* Waits up to timeout_ms for one event; 1 if read, 0 if none, -errno. */
static inline int hd_read(struct heap_door *d, struct uio_cma_event *ev, int timeout_ms)
{
	struct pollfd p = {.fd = d->ctl, .events = POLLIN};
	ssize_t n;
	int ret;

	ret = poll(&p, 1, timeout_ms);
	if (ret <= 0)
		return ret < 0 ? -errno : 0;
	n = read(d->ctl, ev, sizeof(*ev));
	if (n < 0)
		return -errno;
	return n == sizeof(*ev) ? 1 : -EIO;
}

static inline struct hd_live *hd_find(struct heap_door *d, uint64_t cookie)
{
	for (int i = 0; i < d->nlive; i++)
		if (d->live[i].cookie == cookie)
			return &d->live[i];
	return NULL;
}

static inline void hd_released(struct heap_door *d, const struct uio_cma_event *ev)
{
	struct hd_live *l = hd_find(d, ev->cookie);

	if (!l || l->released)
		return;
	l->released = true;
	memset(d->used + l->offset / d->info.page_size, 0, l->size / d->info.page_size);
}

/* Handles one event: RELEASED frees, HEAP_ALLOC is stashed. */
static inline void hd_dispatch(struct heap_door *d, const struct uio_cma_event *ev)
{
	if (ev->type == UIO_CMA_EVENT_RELEASED)
		hd_released(d, ev);
	else if (ev->type == UIO_CMA_EVENT_HEAP_ALLOC && d->nstash < HD_MAX_LIVE)
		d->stash[d->nstash++] = *ev;
}

/* The next HEAP_ALLOC event within timeout_ms: 1, or 0 if none came. */
static inline int hd_take_alloc(struct heap_door *d, struct uio_cma_event *ev, int timeout_ms)
{
	int ret;

	for (;;) {
		if (d->nstash) {
			*ev = d->stash[0];
			memmove(d->stash, d->stash + 1, --d->nstash * sizeof(*ev));
			return 1;
		}
		ret = hd_read(d, ev, timeout_ms);
		if (ret <= 0)
			return ret;
		hd_dispatch(d, ev);
	}
}

/* Reads events until cookie's RELEASED has come (true) or timeout_ms passed. */
static inline bool hd_await_released(struct heap_door *d, uint64_t cookie, int timeout_ms)
{
	struct uio_cma_event ev;
	struct hd_live *l;

	for (;;) {
		l = hd_find(d, cookie);
		if (l && l->released)
			return true;
		if (hd_read(d, &ev, timeout_ms) <= 0)
			return false;
		hd_dispatch(d, &ev);
	}
}

/* First fit, page granular; the offset, or -1. */
static inline int64_t hd_place(struct heap_door *d, uint64_t size)
{
	uint64_t n = size / d->info.page_size, run = 0;

	for (uint64_t p = 0; p < d->pages; p++) {
		run = d->used[p] ? 0 : run + 1;
		if (run == n) {
			memset(d->used + p + 1 - n, 1, n);
			return (int64_t)((p + 1 - n) * d->info.page_size);
		}
	}
	return -1;
}

static inline int hd_clear(struct heap_door *d, uint64_t offset, uint64_t size)
{
	struct uio_cma_clear c = {.offset = offset, .size = size};

	return ioctl(d->ctl, UIO_CMA_IOC_CLEAR, &c) < 0 ? -errno : 0;
}

static inline int hd_answer_error(struct heap_door *d, uint64_t id, uint32_t error)
{
	struct uio_cma_heap_answer a = {.id = id, .error = error};

	return ioctl(d->ctl, UIO_CMA_IOC_HEAP_ANSWER, &a) < 0 ? -errno : 0;
}

/*
 * Places size bytes, clears them and answers request id with them; 0 (the
 * cookie in *cookie) or -errno (the range is given back).
 */
static inline struct hd_live *hd_slot(struct heap_door *d)
{
	for (int i = 0; i < d->nlive; i++)
		if (d->live[i].released)
			return &d->live[i];
	return d->nlive < HD_MAX_LIVE ? &d->live[d->nlive++] : NULL;
}

static inline int hd_answer(struct heap_door *d, uint64_t id, uint64_t size, const char *name,
			    uint64_t *cookie)
{
	struct uio_cma_heap_answer a = {.id = id, .size = size};
	int64_t off = hd_place(d, size);
	struct hd_live *slot;
	int ret;

	if (off < 0)
		return -ENOSPC;
	a.offset = (uint64_t)off;
	a.cookie = d->next_cookie++;
	snprintf(a.name, sizeof(a.name), "%s", name);
	ret = hd_clear(d, a.offset, size);
	if (!ret && ioctl(d->ctl, UIO_CMA_IOC_HEAP_ANSWER, &a) < 0)
		ret = -errno;
	if (ret == 0 && (slot = hd_slot(d))) {
		*slot = (struct hd_live){a.cookie, a.offset, size, false};
		if (cookie)
			*cookie = a.cookie;
		return 0;
	}
	/* Not exported (ENOENT: nothing was), or not recorded: the range is ours. */
	memset(d->used + a.offset / d->info.page_size, 0, size / d->info.page_size);
	return ret ? ret : -ENOMEM;
}

#endif
