/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "hangup.h"
#include "hello_timer.h"
#include "identity_take.h"
#include "log.h"
#include "requests.h"
#include "scm.h"
#include "server.h"

static void on_readable(evutil_socket_t fd, short what, void *arg);
static void on_writable(evutil_socket_t fd, short what, void *arg);

static void on_deadline(evutil_socket_t fd, short what, void *arg);

static void free_events(struct client *c)
{
	hello_timer_stop(c);
	if (c->ev_read)
		event_free(c->ev_read);
	if (c->ev_write)
		event_free(c->ev_write);
	if (c->ev_deadline)
		event_free(c->ev_deadline);
}

int client_create(struct server *s, int fd)
{
	struct client *c = calloc(1, sizeof(*c));
	struct peer_identity id;

	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->srv = s;
	c->fd = fd;
	/* Identity comes from the kernel at accept, never from what the client says. */
	if (identity_take(fd, &id) < 0) {
		close(fd);
		free(c);
		return -ENOMEM;
	}
	core_owner_init(&c->owner, &id, &client_door_ops, c); /* it owns id's groups now */
	c->ev_read = event_new(s->base, fd, EV_READ | EV_PERSIST, on_readable, c);
	c->ev_write = event_new(s->base, fd, EV_WRITE | EV_PERSIST, on_writable, c);
	c->ev_deadline = evtimer_new(s->base, on_deadline, c);
	if (!c->ev_read || !c->ev_write || !c->ev_deadline || event_add(c->ev_read, NULL) < 0 ||
	    hello_timer_start(c) < 0) {
		free_events(c);
		identity_release(&c->owner.id);
		close(fd);
		free(c);
		return -ENOMEM;
	}
	core_owner_add(s->core, &c->owner);
	TAILQ_INSERT_TAIL(&s->clients, c, link);
	s->nclients++;
	log_debug("client pid %d uid %u connected", (int)id.pid, (unsigned)id.uid);
	return 0;
}

/* Its parked ALLOC's time is up: the wiring refuses it. */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;

	c->srv->hooks->deadline(c->srv->hooks_ctx, &c->parked);
}

void client_destroy(struct client *c)
{
	if (!c)
		return;
	event_del(c->ev_deadline);
	log_client_flush(c);
	/* Lets go of every buffer; pending ones outlive the client. */
	c->srv->hooks->leave(c->srv->hooks_ctx, &c->owner);
	while (c->outq_len) {
		struct outmsg *m = c->outq[c->outq_head];

		if (m->fd >= 0)
			close(m->fd);
		free(m);
		c->outq_head = (c->outq_head + 1) % CLIENT_OUTQ_MAX;
		c->outq_len--;
	}
	free_events(c);
	hangup_close(c->fd); /* what was sent stays readable: no reset (hangup.c) */
	identity_release(&c->owner.id);
	free(c);
}

static void client_drop(struct client *c, const char *why)
{
	log_debug("client pid %d disconnected: %s", (int)c->owner.id.pid, why);
	TAILQ_REMOVE(&c->srv->clients, c, link);
	c->srv->nclients--;
	client_destroy(c);
}

void client_close_after(struct client *c, const char *why)
{
	c->closing = true;
	if (c->outq_len == 0)
		client_drop(c, why);
	else
		event_del(c->ev_read);
}

/* Returns 1 if sent, 0 if the socket is full, < 0 on a dead connection. */
static int send_now(struct client *c, const void *data, size_t len, int fd)
{
	union scm_one_fd ctl;
	struct iovec iov = {(void *)data, len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

	if (fd >= 0)
		scm_attach_fd(&mh, &ctl, fd);
	while (sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		if (errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	}
	return 1;
}

static int enqueue(struct client *c, const void *data, size_t len, int fd)
{
	struct outmsg *m;

	if (c->outq_len == CLIENT_OUTQ_MAX)
		return -ENOBUFS;
	m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	memcpy(m->data, data, len);
	m->len = (uint32_t)len;
	m->fd = fd;
	c->outq[(c->outq_head + c->outq_len) % CLIENT_OUTQ_MAX] = m;
	if (c->outq_len++ == 0)
		event_add(c->ev_write, NULL);
	return 0;
}

int client_send(struct client *c, uint16_t type, uint32_t seq, const void *payload, size_t len,
		int fd)
{
	unsigned char buf[CMABUF_MSG_MAX];
	long n = cmabuf_msg_encode(buf, sizeof(buf), type, seq, payload, len, fd >= 0 ? 1 : 0);
	int ret = n < 0 ? (int)n : 0;

	if (ret == 0 && c->outq_len == 0)
		ret = send_now(c, buf, (size_t)n, fd);
	if (ret == 0) /* keep order: once anything waits, everything waits */
		ret = enqueue(c, buf, (size_t)n, fd);
	else if (ret == 1 && fd >= 0)
		close(fd);
	if (ret < 0) {
		if (fd >= 0)
			close(fd);
		log_client(LOG_WARNING, c, NULL, 0, "cannot send %s (%s); disconnecting",
			   cmabuf_msg_type_name(type),
			   ret == -ENOBUFS ? "it does not read its replies" : strerror(-ret));
		/* Nothing more can reach it: waiting to flush would wait forever. */
		c->dead = true;
		/* Dropped from the loop, not here: the caller may still use c. */
		event_active(c->ev_write, EV_WRITE, 1);
		return ret;
	}
	return 0;
}

int client_send_error(struct client *c, uint32_t seq, uint16_t request_type, int err,
		      const char *fmt, ...)
{
	struct cmabuf_msg_error e;
	va_list ap;

	memset(&e, 0, sizeof(e));
	e.error = err < 0 ? err : -EIO;
	e.request_type = request_type;
	va_start(ap, fmt);
	vsnprintf(e.reason, sizeof(e.reason), fmt, ap);
	va_end(ap);
	return client_send(c, CMABUF_MSG_ERROR, seq, &e, sizeof(e), -1);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;

	if (c->dead) {
		client_drop(c, "cannot be sent to");
		return;
	}
	while (c->outq_len) {
		struct outmsg *m = c->outq[c->outq_head];
		int ret = send_now(c, m->data, m->len, m->fd);

		if (ret == 0)
			return;
		if (ret < 0) {
			client_drop(c, "send failed");
			return;
		}
		if (m->fd >= 0)
			close(m->fd);
		free(m);
		c->outq_head = (c->outq_head + 1) % CLIENT_OUTQ_MAX;
		c->outq_len--;
	}
	event_del(c->ev_write);
	if (c->closing)
		client_drop(c, "protocol error");
}

/*
 * Up to this many datagrams are read per wake-up, in one recvmmsg(): a client
 * that frees a buffer and asks for the next sends two at once (FREE_NOREPLY,
 * then ALLOC), and reading them together saves a system call and a turn of
 * the loop per pair. More would let one client delay the others.
 */
#define READ_BATCH 4

struct datagrams {
	struct mmsghdr mh[READ_BATCH];
	struct iovec iov[READ_BATCH];
	unsigned char buf[READ_BATCH][CMABUF_MSG_MAX];
};

/*
 * Reads what is queued, up to READ_BATCH datagrams: how many, or -1 with errno.
 *
 * No request carries a descriptor, so there is no control buffer at all: a
 * descriptor sent anyway is never installed in the daemon (the kernel drops
 * it and sets MSG_CTRUNC), so the daemon never close()s a client's file on
 * the loop. Such a close can block for as long as the file's owner likes: a
 * FUSE file's FLUSH waits for its server's answer, uninterruptibly. Kernels
 * with SO_PASSRIGHTS refuse the descriptor at the sender already (server.c).
 */
static int read_datagrams(struct client *c, struct datagrams *in)
{
	int i, n;

	for (i = 0; i < READ_BATCH; i++) {
		in->iov[i] = (struct iovec){in->buf[i], sizeof(in->buf[i])};
		in->mh[i].msg_hdr = (struct msghdr){.msg_iov = &in->iov[i], .msg_iovlen = 1};
	}
	do
		n = recvmmsg(c->fd, in->mh, READ_BATCH, MSG_DONTWAIT, NULL);
	while (n < 0 && errno == EINTR);
	return n;
}

/* Handles datagram i; false once the connection is to be dropped or closed. */
static bool handle_datagram(struct client *c, struct datagrams *in, int i)
{
	struct cmabuf_msg msg;
	size_t n = in->mh[i].msg_len;
	int flags = in->mh[i].msg_hdr.msg_flags, ret;

	/* MSG_CTRUNC: descriptors came, which no request carries; the kernel dropped them. */
	if (flags & MSG_TRUNC)
		ret = -EMSGSIZE;
	else if (flags & MSG_CTRUNC)
		ret = -EBADMSG;
	else
		ret = cmabuf_msg_decode(in->buf[i], n, 0, CMABUF_TO_SERVER, &msg);
	if (ret < 0) {
		log_client(LOG_WARNING, c, NULL, 0,
			   "malformed message (%s, %zu bytes%s); disconnecting", strerror(-ret), n,
			   flags & MSG_CTRUNC ? ", with descriptors, which were not taken" : "");
		client_send_error(c, 0, 0, ret, "malformed message (%s); closing the connection",
				  strerror(-ret));
		c->closing = true;
	} else if (client_handle(c, &msg) < 0) {
		c->closing = true;
	}
	return !c->closing && !c->dead;
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	struct datagrams in;
	int n = read_datagrams(c, &in), i;

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	/* A hang-up reads as an empty datagram (after any that came before it). */
	for (i = 0; i < n && in.mh[i].msg_len > 0 && !c->closing; i++)
		if (!handle_datagram(c, &in, i))
			break;
	if (c->dead)
		client_drop(c, "cannot be sent to");
	else if (n < 0)
		client_drop(c, "read error");
	else if (i < n && in.mh[i].msg_len == 0 && !c->closing)
		client_drop(c, "hung up");
	else if (c->closing && c->outq_len == 0)
		client_drop(c, "protocol error");
	else if (c->closing)
		event_del(c->ev_read);
}
