/* SPDX-License-Identifier: MIT */
/* A FUSE file whose close() never returns while the server lives (fuse_stall.c). Root only. */
#ifndef CMABUF_TEST_FUSE_STALL_H
#define CMABUF_TEST_FUSE_STALL_H

#include <sys/types.h>

#define FUSE_STALL_FILE "stall"

struct fuse_stall {
	char dir[64];  /* the mount point */
	char file[96]; /* dir/FUSE_STALL_FILE: open it, and its close() hangs */
	pid_t server;
	int report_fd; /* the server writes each FLUSH caller's pid here */
};

/* Mounts and starts serving: 0, or a negative errno (no /dev/fuse, not root). */
int fuse_stall_start(struct fuse_stall *fs);
/* How many FLUSH requests pid has sent so far (its close() calls of the file). */
int fuse_stall_flushes_by(struct fuse_stall *fs, pid_t pid);
/* Kills the server (every waiting close() then returns) and unmounts. */
void fuse_stall_stop(struct fuse_stall *fs);

#endif
