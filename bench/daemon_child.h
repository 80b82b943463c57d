/* SPDX-License-Identifier: MIT */
/*
 * A private cmabufd, started as our child and always stopped: explicitly, at
 * exit() (also on error paths), and by the kernel if we die (PDEATHSIG), so a
 * benchmark never leaves a stray daemon behind.
 */
#ifndef BENCH_DAEMON_CHILD_H
#define BENCH_DAEMON_CHILD_H

#include <stdint.h>
#include <sys/types.h>

struct daemon_child {
	pid_t pid;
	char dir[64];	 /* private temporary directory: socket, config, log */
	char socket[96]; /* where clients connect */
};

/*
 * Starts cmabufd on the memfd backend with an empty policy (so a config on the
 * host cannot skew the numbers) and waits until it accepts connections.
 * max_buffers 0 keeps 4096. Exits the program on failure, showing the daemon's log.
 */
void daemon_child_start(struct daemon_child *dc, const char *daemon, uint64_t region_size,
			unsigned max_buffers);
/* The same on --backend=uio (the uio_cma stub must be loaded: the VM benchmark). */
void daemon_child_start_uio(struct daemon_child *dc, const char *daemon);
void daemon_child_stop(struct daemon_child *dc);

/* VmRSS of a process in KiB, or 0 if unreadable. */
uint64_t proc_rss_kib(pid_t pid);

/* Raises RLIMIT_NOFILE to its hard limit; children inherit it. Returns the new soft limit. */
uint64_t raise_fd_limit(void);

/* In a freshly forked child: die with the parent. Returns only if the parent is still there. */
void die_with_parent(pid_t parent);

struct cmabuf_conn;
/* Untimed, before a sample: waits (a minute at most) until nothing is used or being zeroed. */
void daemon_child_settle(struct cmabuf_conn *c);

#endif
