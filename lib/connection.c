/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "connection.h"

static int fail(struct cmabuf_conn *c, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct cmabuf_conn *c, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->last_error, sizeof(c->last_error), fmt, ap);
	va_end(ap);
	return err;
}

const char *cmabuf_conn_socket_path(const char *path)
{
	const char *env;

	if (path && *path)
		return path;
	env = getenv("CMABUF_SOCKET");
	return env && *env ? env : CMABUF_DEFAULT_SOCKET;
}

static int send_msg(struct cmabuf_conn *c, uint16_t type, const void *payload, size_t len,
		    uint32_t seq)
{
	char buf[CMABUF_MSG_MAX];
	long n = cmabuf_msg_encode(buf, sizeof(buf), type, seq, payload, len, 0);

	if (n < 0)
		return fail(c, (int)n, "cannot encode %s", cmabuf_msg_type_name(type));
	while (send(c->fd, buf, (size_t)n, MSG_NOSIGNAL) < 0) {
		if (errno != EINTR)
			return fail(c, -errno, "send to cmabufd: %s", strerror(errno));
	}
	return 0;
}

/* Receives one datagram; at most one descriptor is kept, any others are closed. */
static int recv_msg(struct cmabuf_conn *c, struct cmabuf_msg *msg, int *fd_out)
{
	char buf[CMABUF_MSG_MAX];
	union {
		char space[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {buf, sizeof(buf)};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.space,
			    .msg_controllen = sizeof(ctl.space)};
	struct cmsghdr *cm;
	int fds[4], nfds = 0, ret, i;
	ssize_t n;

	do
		n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	/*
	 * A daemon that closes with our request unread makes the kernel report
	 * ECONNRESET before the datagrams it sent last (a refusal's reason).
	 */
	if (n < 0 && errno == ECONNRESET) {
		n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0)
			errno = ECONNRESET;
	}
	if (n < 0)
		return fail(c, -errno, "receive from cmabufd: %s", strerror(errno));
	if (n == 0)
		return fail(c, -ECONNRESET, "cmabufd closed the connection");
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (i = 0; i < (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int)) && nfds < 4; i++)
			memcpy(&fds[nfds++], CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
	}
	ret = (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		      ? -EMSGSIZE
		      : cmabuf_msg_decode(buf, (size_t)n, (unsigned)nfds, CMABUF_TO_CLIENT, msg);
	if (ret == 0 && nfds == 1 && fd_out) {
		*fd_out = fds[0];
		return 0;
	}
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	if (ret < 0)
		return fail(c, ret, "malformed message from cmabufd (%s)", strerror(-ret));
	return nfds ? fail(c, -EPROTO, "unexpected descriptor from cmabufd") : 0;
}

static void keep_event(struct cmabuf_conn *c, const struct cmabuf_msg *m)
{
	/* Overflow drops the event: the daemon's deadline still expires cleanly. */
	uint64_t one = 1;

	if (m->hdr.type != CMABUF_MSG_RECLAIM || c->nevents == CMABUF_CONN_EVENTS_MAX)
		return;
	c->events[c->nevents++] = m->u.reclaim;
	/* The socket no longer shows it: make the caller's poll wake all the same. */
	if (c->event_efd >= 0 && write(c->event_efd, &one, sizeof(one)) < 0) {
		/* the counter cannot overflow in practice */
	}
}

int cmabuf_conn_poll_events(struct cmabuf_conn *c)
{
	struct cmabuf_msg m;
	int ret, avail;

	if (c->fd < 0)
		return -ENOTCONN;
	for (;;) {
		struct pollfd p = {.fd = c->fd, .events = POLLIN};

		avail = poll(&p, 1, 0);
		if (avail <= 0)
			return avail < 0 && errno != EINTR ? -errno : 0;
		ret = recv_msg(c, &m, NULL);
		if (ret < 0)
			return ret;
		keep_event(c, &m);
	}
}

/* A daemon that refused us at once has closed already; its reason may still be queued. */
static int last_word(struct cmabuf_conn *c, struct cmabuf_msg *m, int err)
{
	struct pollfd p = {.fd = c->fd, .events = POLLIN};
	char why[sizeof(c->last_error)];

	memcpy(why, c->last_error, sizeof(why));
	if (poll(&p, 1, 0) == 1 && recv_msg(c, m, NULL) == 0 && m->hdr.type == CMABUF_MSG_ERROR)
		return fail(c, m->u.error.error, "%s", m->u.error.reason);
	return fail(c, err, "%s", why);
}

/* The next request's sequence number; 0 is for events. */
static uint32_t take_seq(struct cmabuf_conn *c)
{
	return ++c->next_seq ? c->next_seq : ++c->next_seq;
}

int cmabuf_conn_request(struct cmabuf_conn *c, uint16_t type, const void *payload, size_t len,
			struct cmabuf_msg *reply, int *fd_out)
{
	uint32_t seq = take_seq(c);
	int ret, fd = -1;

	if (c->fd < 0)
		return fail(c, -ENOTCONN, "not connected to cmabufd");
	ret = send_msg(c, type, payload, len, seq);
	if (ret == -EPIPE || ret == -ECONNRESET)
		return last_word(c, reply, ret);
	if (ret < 0)
		return ret;
	for (;;) {
		ret = recv_msg(c, reply, &fd);
		if (ret < 0)
			return ret;
		/* An ERROR with seq 0 is the daemon refusing what it could not parse. */
		if (reply->hdr.seq == seq ||
		    (reply->hdr.seq == 0 && reply->hdr.type == CMABUF_MSG_ERROR))
			break;
		keep_event(c, reply);
		if (fd >= 0) /* no event carries one */
			close(fd);
		fd = -1;
	}
	if (reply->hdr.type == CMABUF_MSG_ERROR)
		return fail(c, reply->u.error.error, "%s", reply->u.error.reason);
	if (fd_out)
		*fd_out = fd;
	else if (fd >= 0)
		close(fd);
	return 0;
}

int cmabuf_conn_send(struct cmabuf_conn *c, uint16_t type, const void *payload, size_t len)
{
	uint32_t seq = take_seq(c);

	if (c->fd < 0)
		return fail(c, -ENOTCONN, "not connected to cmabufd");
	return send_msg(c, type, payload, len, seq);
}

static int say_hello(struct cmabuf_conn *c)
{
	struct cmabuf_msg_hello hello = {.version = CMABUF_PROTOCOL_VERSION};
	struct cmabuf_msg reply;
	int ret = cmabuf_conn_request(c, CMABUF_MSG_HELLO, &hello, sizeof(hello), &reply, NULL);

	if (ret < 0)
		return ret;
	if (reply.hdr.type != CMABUF_MSG_HELLO_REPLY)
		return fail(c, -EPROTO, "cmabufd answered HELLO with %s",
			    cmabuf_msg_type_name(reply.hdr.type));
	if (reply.u.hello_reply.version != CMABUF_PROTOCOL_VERSION)
		return fail(c, -EPROTONOSUPPORT,
			    "cmabufd speaks protocol version %u, this library %u",
			    reply.u.hello_reply.version, CMABUF_PROTOCOL_VERSION);
	c->server = reply.u.hello_reply;
	return 0;
}

/* What a person can do about a failed connect(). */
static const char *connect_hint(int err)
{
	if (err == EACCES || err == EPERM)
		return "only the socket's owner and group may allocate: ls -l the socket, and an "
		       "administrator can add you to its group";
	if (err == ENOENT || err == ECONNREFUSED)
		return "is cmabufd running? Start it: dev/serve in a source tree, or "
		       "systemctl start cmabufd.socket where the package is installed";
	return "is cmabufd running?";
}

int cmabuf_conn_open(struct cmabuf_conn *c, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int ret;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->event_efd = -1;
	path = cmabuf_conn_socket_path(path);
	if (strlen(path) >= sizeof(sa.sun_path))
		return fail(c, -ENAMETOOLONG, "socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return fail(c, -errno, "socket: %s", strerror(errno));
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = fail(c, -errno, "cannot connect to cmabufd at %s: %s (%s)", path,
			   strerror(errno), connect_hint(errno));
		cmabuf_conn_close(c);
		return ret;
	}
	ret = say_hello(c);
	if (ret < 0)
		cmabuf_conn_close(c);
	return ret;
}

void cmabuf_conn_close(struct cmabuf_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	if (c->event_efd >= 0)
		close(c->event_efd);
	c->fd = -1;
	c->event_efd = -1;
}
