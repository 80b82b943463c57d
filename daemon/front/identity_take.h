/* SPDX-License-Identifier: MIT */
/* Taking a client's identity at accept (identity.c). */
#ifndef CMABUF_IDENTITY_TAKE_H
#define CMABUF_IDENTITY_TAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "identity.h"

struct config;

/*
 * Fills id from the connection fd: SO_PEERCRED, SO_PEERGROUPS (all of them),
 * and the connecting process's units (unit_known false when they cannot be
 * established). 0, or a negative errno (id then holds nothing to release).
 */
int identity_take(int fd, struct peer_identity *id);
void identity_release(struct peer_identity *id);
/*
 * A dma-heap caller's identity: the credentials the stub took (groups is
 * taken over: freed or kept), and the units of tgid read now, which are the
 * caller's as long as its request is pending (uio_cma.h, "The heap door").
 * 0, or -ENOMEM (id then holds nothing to release).
 */
int identity_of_caller(pid_t tgid, uid_t uid, gid_t gid, gid_t *groups, unsigned ngroups,
		       struct peer_identity *id);
/* Field 22 of /proc/PID/stat: tells a process from a later one with its pid (0: none). */
unsigned long long identity_start_time(pid_t pid);
/* Tests only: false takes the path of kernels before 6.5 (no SO_PEERPIDFD). */
void identity_use_peer_pidfd(bool use);

/*
 * At HELLO: 0, or -EACCES with the reason in why when cfg classes by unit and
 * the units of id could not be established (fail closed, never "no unit").
 */
int identity_check(const struct peer_identity *id, const struct config *cfg, const char *path,
		   char *why, size_t cap);

#endif
