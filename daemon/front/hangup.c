/* SPDX-License-Identifier: MIT */
#include <sys/socket.h>
#include <unistd.h>

#include "hangup.h"

#define DRAIN_BATCH 64

void hangup_close(int fd)
{
	struct mmsghdr mh[DRAIN_BATCH];
	struct iovec iov[DRAIN_BATCH];
	unsigned char byte[DRAIN_BATCH];
	int i, n;

	/*
	 * SHUT_RD makes the peer's sends fail (EPIPE), so the drain is bounded
	 * by what is queued already: at most the peer's send buffer. Each
	 * datagram is discarded whole (MSG_TRUNC), and with no control buffer a
	 * descriptor riding on one is never installed here (client.c).
	 */
	shutdown(fd, SHUT_RD);
	do {
		for (i = 0; i < DRAIN_BATCH; i++) {
			iov[i] = (struct iovec){&byte[i], 1};
			mh[i].msg_hdr = (struct msghdr){.msg_iov = &iov[i], .msg_iovlen = 1};
		}
		n = recvmmsg(fd, mh, DRAIN_BATCH, MSG_DONTWAIT | MSG_TRUNC, NULL);
		/* An empty datagram is the end (SHUT_RD's EOF); anything else is thrown away. */
		for (i = 0; i < n && mh[i].msg_len > 0; i++)
			;
	} while (n == DRAIN_BATCH && i == n);
	close(fd);
}
