/* SPDX-License-Identifier: MIT */
/*
 * A private cmabufd per test: started the way users start it (the real binary,
 * command-line options), on a socket in a fresh temporary directory.
 * $CMABUFD names the binary; $CMABUF_TEST_BACKEND picks the backend (memfd by
 * default; the VM suite runs the same tests with uio).
 */
#ifndef CMABUF_TEST_HARNESS_H
#define CMABUF_TEST_HARNESS_H

#include <stdint.h>
#include <sys/types.h>

#include "connection.h"

struct test_daemon {
	pid_t pid;
	char dir[64];
	char socket[128];
	uint64_t region_size;
	char log[160]; /* "" or where the daemon's stderr goes (test_daemon_start_logged) */
};

/* Starts cmabufd with the given memfd region size plus extra arguments (NULL-terminated). */
int test_daemon_start(struct test_daemon *td, uint64_t region_size, const char *const *extra);
/* The same, with the daemon's stderr in td->log (in td's directory, removed by stop). */
int test_daemon_start_logged(struct test_daemon *td, uint64_t region_size,
			     const char *const *extra);
/* Lines in td->log containing text (all lines for NULL), or a negative errno. */
int test_daemon_log_lines(const struct test_daemon *td, const char *text);
/* kill -9, then a new daemon with the same options on the same socket. */
int test_daemon_crash_and_restart(struct test_daemon *td, const char *const *extra);
/* SIGTERM, and the exit status must be 0. Returns the exit status or -1. */
int test_daemon_stop(struct test_daemon *td);

/* The daemon's status, through a short-lived connection. */
int test_daemon_status(const struct test_daemon *td, struct cmabuf_msg_status_reply *st);
/* Polls until the daemon holds exactly n buffers and zeroes nothing (5 s at most). */
int test_daemon_wait_buffers(const struct test_daemon *td, uint32_t n);
/*
 * Number of open descriptors in the daemon process, not counting buffers the
 * memfd backend made ahead (at most MEMFD_READY_MAX, two descriptors each;
 * -EOVERFLOW if more), or a negative errno: two failures compare equal, so
 * check it before comparing counts.
 */
int test_daemon_fd_count(const struct test_daemon *td);
/* How many buffers the memfd backend holds made ahead, or a negative errno. */
int test_daemon_made_ahead(const struct test_daemon *td);

/*
 * 1 if one of the daemon's descriptors is the file fd refers to (the same
 * inode: not for anonymous-inode files such as epoll, which share one),
 * 0 if none, or a negative errno.
 */
int test_daemon_holds(const struct test_daemon *td, int fd);

/*
 * A numeric field of /proc/PID/status for the daemon ("VmRSS" is in KiB):
 * the value, or a negative errno (no such process, no such field).
 */
long test_daemon_proc_status(const struct test_daemon *td, const char *field);

/* One descriptor over a Unix socket (and back): 0 / the descriptor, or -1 or -errno. */
int test_send_fd(int sock, int fd);
int test_recv_fd(int sock);

/* Fills/checks a buffer with a pattern derived from seed. */
void pattern_fill(void *p, uint64_t size, uint32_t seed);
int pattern_check(const void *p, uint64_t size, uint32_t seed);

#endif
