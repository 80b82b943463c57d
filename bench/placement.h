/* SPDX-License-Identifier: MIT */
/*
 * Where the benchmark's processes run, set while they run: the client (this
 * process), cmabufd (every thread) and the floor server are moved between the
 * three placements of DESIGN.md "Benchmarks" inside one run, so that every
 * placement is measured with the same binaries, equally warm. And what each
 * process cost, from the kernel's own accounting (/proc/PID/task/TID/schedstat:
 * CPU time, user and kernel, of every thread; /proc/.../sched: migrations),
 * which needs no performance counters.
 */
#ifndef BENCH_PLACEMENT_H
#define BENCH_PLACEMENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum placement {
	PLACE_ONE_CPU,	/* client, server and floor all on the first CPU */
	PLACE_APART,	/* client on the first CPU, server and floor both on the second */
	PLACE_UNPINNED, /* all left to the scheduler (every CPU the benchmark started with) */
	PLACE_COUNT,
};

/* The CPUs the placements use: the first two this process may run on. False if fewer than 2. */
bool placement_init(void);
/* Moves the client (this process), and each of pids (every thread of each) to the placement. */
void placement_apply(enum placement p, const pid_t *servers, int nservers);
/* "client CPU 0, servers CPU 1" and the like. */
const char *placement_describe(enum placement p);
const char *placement_name(enum placement p);

/* A process's CPU time (ns, every thread, kernel included) and CPU migrations so far. */
struct proc_cost {
	uint64_t cpu_ns;
	uint64_t migrations;
	unsigned threads;
};

/* pid 0: this process. */
struct proc_cost proc_cost_read(pid_t pid);
/*
 * The CPU time alone, cheaply enough to bracket one operation: another
 * process's (schedstat of every thread, no migrations) and this one's
 * (CLOCK_PROCESS_CPUTIME_ID).
 */
uint64_t proc_cpu_ns(pid_t pid);
uint64_t self_cpu_ns(void);

#endif
