/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify_socket.h"
#include "scm.h"

/*
 * One non-blocking socket connected to $NOTIFY_SOCKET, so that poll() waits
 * for room in systemd's queue, not in our own, for NOTIFY_WAIT_MS at most.
 */
#define NOTIFY_WAIT_MS 100

static int notify_fd = -1;

static int notify_connect(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len = path ? strlen(path) : 0;

	if (len == 0 || len >= sizeof(sa.sun_path) || (path[0] != '/' && path[0] != '@'))
		return -EAFNOSUPPORT;
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@') /* the abstract namespace */
		sa.sun_path[0] = '\0';
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (notify_fd < 0)
		return -errno;
	if (connect(notify_fd, (struct sockaddr *)&sa,
		    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0) {
		int err = -errno;

		close(notify_fd);
		notify_fd = -1;
		return err;
	}
	return 0;
}

int notify_socket_send(const char *msg, int fd)
{
	union scm_one_fd ctl;
	struct iovec iov = {(void *)msg, strlen(msg)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct pollfd p = {.events = POLLOUT};
	int attempt, ret = 0;

	if (fd >= 0)
		scm_attach_fd(&mh, &ctl, fd);
	for (attempt = 0; attempt < 3; attempt++) {
		if (notify_fd < 0 && (ret = notify_connect()) < 0)
			return ret;
		if (sendmsg(notify_fd, &mh, MSG_NOSIGNAL) >= 0)
			return 0;
		ret = -errno;
		if (ret == -EAGAIN) { /* systemd is behind: wait a little for room */
			p.fd = notify_fd;
			if (poll(&p, 1, NOTIFY_WAIT_MS) <= 0)
				return -ETIMEDOUT;
		} else if (ret != -EINTR) { /* systemd re-executed, say: connect anew */
			close(notify_fd);
			notify_fd = -1;
		}
	}
	return ret;
}

int notify_socket_sendf(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return notify_socket_send(msg, -1);
}
