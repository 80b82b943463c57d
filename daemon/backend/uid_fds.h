/* SPDX-License-Identifier: MIT */
/*
 * Descriptors the daemon holds on behalf of each uid (a memfd buffer costs
 * one for as long as anyone holds it), so that one user cannot take them all:
 * each uid but root gets at most a quarter of RLIMIT_NOFILE (uid_fds.c).
 */
#ifndef CMABUF_UID_FDS_H
#define CMABUF_UID_FDS_H

#include <stdbool.h>
#include <sys/types.h>

struct uid_fds;

struct uid_fds *uid_fds_new(void);
void uid_fds_free(struct uid_fds *u);

/* The share of one uid now: RLIMIT_NOFILE's soft limit / 4, at least UID_FDS_MIN. */
#define UID_FDS_MIN 64
unsigned uid_fds_share(void);

/*
 * Counts one more descriptor for uid: 0, or -EMFILE when uid holds its share
 * already (root never does; force counts it anyway: buffers adopted at restart).
 */
int uid_fds_take(struct uid_fds *u, uid_t uid, bool force);
void uid_fds_put(struct uid_fds *u, uid_t uid);
/* How many uid holds (tests, logs). */
unsigned uid_fds_held(const struct uid_fds *u, uid_t uid);

#endif
