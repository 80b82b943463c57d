/* SPDX-License-Identifier: MIT */
/*
 * One descriptor attached to a message as SCM_RIGHTS: what the daemon's
 * replies, its notes to systemd, the benchmarks' floor and the tests' fd
 * passing all need. Header-only; not part of the public API.
 */
#ifndef CMABUF_SCM_H
#define CMABUF_SCM_H

#include <string.h>
#include <sys/socket.h>

/* Control space for one descriptor, aligned as cmsghdr requires. */
union scm_one_fd {
	char space[CMSG_SPACE(sizeof(int))];
	struct cmsghdr align;
};

/* Points mh's control data at ctl, which must outlive the sendmsg(), holding fd. */
static inline void scm_attach_fd(struct msghdr *mh, union scm_one_fd *ctl, int fd)
{
	struct cmsghdr *cm;

	memset(ctl, 0, sizeof(*ctl)); /* no uninitialised padding reaches the kernel */
	mh->msg_control = ctl->space;
	mh->msg_controllen = sizeof(ctl->space);
	cm = CMSG_FIRSTHDR(mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
}

#endif
