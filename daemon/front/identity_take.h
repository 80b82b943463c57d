/* SPDX-License-Identifier: MIT */
/* Taking a client's identity at accept (identity.c). */
#ifndef CMABUF_IDENTITY_TAKE_H
#define CMABUF_IDENTITY_TAKE_H

#include <stdbool.h>
#include <stddef.h>

#include "identity.h"

struct config;

/*
 * Fills id from the connection fd: SO_PEERCRED, SO_PEERGROUPS (all of them),
 * and the connecting process's units (unit_known false when they cannot be
 * established). 0, or a negative errno (id then holds nothing to release).
 */
int identity_take(int fd, struct peer_identity *id);
void identity_release(struct peer_identity *id);
/* Tests only: false takes the path of kernels before 6.5 (no SO_PEERPIDFD). */
void identity_use_peer_pidfd(bool use);

/*
 * At HELLO: 0, or -EACCES with the reason in why when cfg classes by unit and
 * the units of id could not be established (fail closed, never "no unit").
 */
int identity_check(const struct peer_identity *id, const struct config *cfg, const char *path,
		   char *why, size_t cap);

#endif
