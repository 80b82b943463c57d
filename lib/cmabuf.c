/* SPDX-License-Identifier: MIT */
/* libcmabuf: the public client API in cmabuf.h, over connection.c. */
#include <errno.h>
#include <linux/dma-buf.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cmabuf.h"
#include "connection.h"
#include "internal.h"

struct cmabuf {
	pthread_mutex_t lock; /* one request/reply exchange at a time; the buffer list */
	struct cmabuf_conn conn;
	int refs;		       /* the connection plus every live buffer */
	struct cmabuf_buffer *buffers; /* live handles, to resolve reclaim requests */
	cmabuf_reclaim_fn on_reclaim;
	void *reclaim_data;
	int epfd; /* what cmabuf_get_fd() returns */
};

struct cmabuf_buffer {
	struct cmabuf *cb;
	struct cmabuf_buffer *prev, *next;
	uint64_t id;
	uint64_t size;
	uint64_t dev_addr;
	uint32_t flags; /* CMABUF_BUFFER_* from the reply */
	int fd;
	void *map;
	struct cmabuf_image image; /* the plane layout of an image buffer (image.c) */
};

/* Buffers keep their connection alive, so freeing after disconnect is safe. */
static void cb_unref(struct cmabuf *cb)
{
	int last;

	pthread_mutex_lock(&cb->lock);
	last = --cb->refs == 0;
	pthread_mutex_unlock(&cb->lock);
	if (!last)
		return;
	cmabuf_conn_close(&cb->conn);
	close(cb->epfd);
	pthread_mutex_destroy(&cb->lock);
	free(cb);
}

/*
 * cmabuf_get_fd() is an epoll fd over the socket and an eventfd, because an
 * event may already have been read off the socket (while a request waited for
 * its reply): then only the eventfd says that dispatch has work.
 */
static int setup_event_fd(struct cmabuf *cb)
{
	struct epoll_event ev = {.events = EPOLLIN};

	cb->conn.event_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	cb->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (cb->conn.event_efd < 0 || cb->epfd < 0)
		return -errno;
	if (epoll_ctl(cb->epfd, EPOLL_CTL_ADD, cb->conn.fd, &ev) < 0 ||
	    epoll_ctl(cb->epfd, EPOLL_CTL_ADD, cb->conn.event_efd, &ev) < 0)
		return -errno;
	return 0;
}

EXPORT int cmabuf_connect(const char *socket_path, struct cmabuf **out)
{
	struct cmabuf *cb;
	int ret;

	if (!out)
		return -EINVAL;
	cb = calloc(1, sizeof(*cb));
	if (!cb)
		return -ENOMEM;
	cb->epfd = -1;
	ret = cmabuf_conn_open(&cb->conn, socket_path);
	if (ret == 0)
		ret = setup_event_fd(cb);
	if (ret < 0) {
		cmabuf_conn_close(&cb->conn);
		if (cb->epfd >= 0)
			close(cb->epfd);
		free(cb);
		return ret;
	}
	pthread_mutex_init(&cb->lock, NULL);
	cb->refs = 1;
	*out = cb;
	return 0;
}

EXPORT void cmabuf_disconnect(struct cmabuf *cb)
{
	if (!cb)
		return;
	pthread_mutex_lock(&cb->lock);
	/* Closing tells the daemon; buffers still held keep working as fds. */
	cmabuf_conn_close(&cb->conn);
	pthread_mutex_unlock(&cb->lock);
	cb_unref(cb);
}

static int request(struct cmabuf *cb, uint16_t type, const void *payload, size_t len,
		   struct cmabuf_msg *reply, int *fd_out)
{
	int ret;

	pthread_mutex_lock(&cb->lock);
	ret = cmabuf_conn_request(&cb->conn, type, payload, len, reply, fd_out);
	pthread_mutex_unlock(&cb->lock);
	return ret;
}

static int fill_alloc_request(const struct cmabuf_alloc_desc *d, struct cmabuf_msg_alloc *m)
{
	memset(m, 0, sizeof(*m));
	m->size = d->size;
	m->align = d->align;
	m->flags = d->flags;
	cmabuf_copy_name(m->pool, sizeof(m->pool), d->pool);
	cmabuf_copy_name(m->name, sizeof(m->name), d->name);
	return 0;
}

EXPORT int cmabuf_alloc(struct cmabuf *cb, const struct cmabuf_alloc_desc *desc,
			struct cmabuf_buffer **out)
{
	struct cmabuf_msg_alloc req;
	struct cmabuf_msg reply;
	struct cmabuf_buffer *buf;
	int ret, fd = -1;

	if (!cb || !desc || !out)
		return -EINVAL;
	if (cmabuf_name_problem(desc->name)) {
		cmabuf_set_error(cb, "buffer name %s", cmabuf_name_problem(desc->name));
		return -EINVAL;
	}
	if (cmabuf_label_problem(desc->pool, CMABUF_POOL_LEN)) {
		cmabuf_set_error(cb, "pool name %s",
				 cmabuf_label_problem(desc->pool, CMABUF_POOL_LEN));
		return -EINVAL;
	}
	buf = calloc(1, sizeof(*buf));
	if (!buf)
		return -ENOMEM;
	fill_alloc_request(desc, &req);
	ret = request(cb, CMABUF_MSG_ALLOC, &req, sizeof(req), &reply, &fd);
	if (ret == 0 && (reply.hdr.type != CMABUF_MSG_ALLOC_REPLY || fd < 0))
		ret = -EPROTO;
	if (ret < 0) {
		if (fd >= 0)
			close(fd);
		free(buf);
		return ret;
	}
	buf->cb = cb;
	buf->id = reply.u.alloc_reply.id;
	buf->size = reply.u.alloc_reply.size;
	buf->dev_addr = reply.u.alloc_reply.dev_addr;
	buf->flags = reply.u.alloc_reply.flags;
	buf->fd = fd;
	pthread_mutex_lock(&cb->lock);
	cb->refs++;
	buf->next = cb->buffers;
	if (cb->buffers)
		cb->buffers->prev = buf;
	cb->buffers = buf;
	pthread_mutex_unlock(&cb->lock);
	*out = buf;
	return 0;
}

EXPORT int cmabuf_free(struct cmabuf_buffer *buf)
{
	struct cmabuf_msg_free req;
	int ret;

	if (!buf)
		return 0;
	/*
	 * Our references go first, so that a backend asked about the buffer when
	 * the FREE arrives can already tell whether anyone else holds it (the
	 * memfd backend then releases it at once; the stub may even report the
	 * release first, which the daemon handles by ignoring the FREE). No reply
	 * to wait for: that would double the cost of an alloc/free pair, and the
	 * daemon reads this connection in order, so our next ALLOC sees the range.
	 */
	if (buf->map)
		munmap(buf->map, buf->size);
	close(buf->fd);
	memset(&req, 0, sizeof(req));
	req.id = buf->id;
	pthread_mutex_lock(&buf->cb->lock);
	ret = cmabuf_conn_send(&buf->cb->conn, CMABUF_MSG_FREE_NOREPLY, &req, sizeof(req));
	if (buf->prev)
		buf->prev->next = buf->next;
	else
		buf->cb->buffers = buf->next;
	if (buf->next)
		buf->next->prev = buf->prev;
	pthread_mutex_unlock(&buf->cb->lock);
	cb_unref(buf->cb);
	free(buf);
	return ret;
}

EXPORT int cmabuf_buffer_fd(const struct cmabuf_buffer *buf)
{
	return buf ? buf->fd : -EINVAL;
}

EXPORT uint64_t cmabuf_buffer_size(const struct cmabuf_buffer *buf)
{
	return buf ? buf->size : 0;
}

EXPORT uint64_t cmabuf_buffer_id(const struct cmabuf_buffer *buf)
{
	return buf ? buf->id : 0;
}

EXPORT int cmabuf_buffer_dev_addr(const struct cmabuf_buffer *buf, uint64_t *addr)
{
	if (!buf || !addr)
		return -EINVAL;
	if (!(buf->flags & CMABUF_BUFFER_DEV_ADDR_VALID))
		return -EPERM;
	*addr = buf->dev_addr;
	return 0;
}

EXPORT void *cmabuf_map(struct cmabuf_buffer *buf)
{
	void *p;

	if (!buf)
		return NULL;
	if (buf->map)
		return buf->map;
	/* The exporter decides the attributes: write-combined for uio, shared pages for memfd. */
	p = mmap(NULL, buf->size, PROT_READ | PROT_WRITE, MAP_SHARED, buf->fd, 0);
	if (p == MAP_FAILED)
		return NULL;
	buf->map = p;
	return p;
}

static int sync_ioctl(struct cmabuf_buffer *buf, unsigned flags, uint64_t phase)
{
	struct dma_buf_sync s = {.flags = phase};

	if (!buf || !flags || (flags & ~(CMABUF_SYNC_READ | CMABUF_SYNC_WRITE)))
		return -EINVAL;
	if (flags & CMABUF_SYNC_READ)
		s.flags |= DMA_BUF_SYNC_READ;
	if (flags & CMABUF_SYNC_WRITE)
		s.flags |= DMA_BUF_SYNC_WRITE;
	while (ioctl(buf->fd, DMA_BUF_IOCTL_SYNC, &s) < 0) {
		if (errno == EINTR || errno == EAGAIN)
			continue;
		/* A memfd is not a dma-buf: ordinary shared memory needs no sync. */
		return errno == ENOTTY ? 0 : -errno;
	}
	return 0;
}

EXPORT int cmabuf_sync_begin(struct cmabuf_buffer *buf, unsigned flags)
{
	return sync_ioctl(buf, flags, DMA_BUF_SYNC_START);
}

EXPORT int cmabuf_sync_end(struct cmabuf_buffer *buf, unsigned flags)
{
	return sync_ioctl(buf, flags, DMA_BUF_SYNC_END);
}

EXPORT int cmabuf_set_purgeable(struct cmabuf_buffer *buf, bool purgeable, bool *was_purged)
{
	struct cmabuf_msg_set_purgeable req;
	struct cmabuf_msg reply;
	int ret;

	if (!buf)
		return -EINVAL;
	memset(&req, 0, sizeof(req));
	req.id = buf->id;
	req.purgeable = purgeable;
	ret = request(buf->cb, CMABUF_MSG_SET_PURGEABLE, &req, sizeof(req), &reply, NULL);
	if (ret == 0 && reply.hdr.type != CMABUF_MSG_PURGEABLE_REPLY)
		ret = -EPROTO;
	if (ret == 0 && was_purged)
		*was_purged = reply.u.purgeable_reply.was_purged;
	return ret;
}

EXPORT void cmabuf_set_reclaim_handler(struct cmabuf *cb, cmabuf_reclaim_fn fn, void *userdata)
{
	if (!cb)
		return;
	pthread_mutex_lock(&cb->lock);
	cb->on_reclaim = fn;
	cb->reclaim_data = userdata;
	pthread_mutex_unlock(&cb->lock);
}

EXPORT int cmabuf_get_fd(struct cmabuf *cb)
{
	return cb && cb->conn.fd >= 0 ? cb->epfd : -ENOTCONN;
}

static struct cmabuf_buffer *find_buffer(struct cmabuf *cb, uint64_t id)
{
	struct cmabuf_buffer *b;

	for (b = cb->buffers; b && b->id != id; b = b->next)
		;
	return b;
}

/* Takes the queued events, after reading whatever else the socket holds. */
static unsigned take_events(struct cmabuf *cb, struct cmabuf_msg_reclaim *events, int *ret)
{
	uint64_t count;
	unsigned n;

	pthread_mutex_lock(&cb->lock);
	if (read(cb->conn.event_efd, &count, sizeof(count)) < 0) {
		/* EAGAIN: nothing was queued during a request */
	}
	*ret = cmabuf_conn_poll_events(&cb->conn);
	n = cb->conn.nevents;
	memcpy(events, cb->conn.events, n * sizeof(events[0]));
	cb->conn.nevents = 0;
	pthread_mutex_unlock(&cb->lock);
	return n;
}

EXPORT int cmabuf_dispatch(struct cmabuf *cb)
{
	struct cmabuf_msg_reclaim events[CMABUF_CONN_EVENTS_MAX];
	unsigned i, n;
	int ret = 0, total = 0;

	if (!cb)
		return -EINVAL;
	/* Handlers free buffers; events that arrive meanwhile are handled here too. */
	while (ret == 0 && (n = take_events(cb, events, &ret)) > 0) {
		for (i = 0; i < n; i++) { /* unlocked: handlers call cmabuf_free() */
			struct cmabuf_buffer *b;

			pthread_mutex_lock(&cb->lock);
			b = find_buffer(cb, events[i].id);
			pthread_mutex_unlock(&cb->lock);
			if (b && cb->on_reclaim)
				cb->on_reclaim(cb, b, events[i].deadline_ms, cb->reclaim_data);
		}
		total += (int)n;
	}
	return ret < 0 ? ret : total;
}

EXPORT const char *cmabuf_last_error(struct cmabuf *cb)
{
	return cb ? cb->conn.last_error : "no connection";
}

/* ---- for image.c, v4l2.c and drm.c (internal.h) ---- */

const struct cmabuf_image *cmabuf_buffer_image(const struct cmabuf_buffer *buf)
{
	return &buf->image;
}

void cmabuf_buffer_set_image(struct cmabuf_buffer *buf, const struct cmabuf_image *img)
{
	buf->image = *img;
}

void cmabuf_set_error(struct cmabuf *cb, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&cb->lock);
	va_start(ap, fmt);
	vsnprintf(cb->conn.last_error, sizeof(cb->conn.last_error), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&cb->lock);
}
