/* SPDX-License-Identifier: MIT */
/*
 * CPU time, kernel included, of this process and of another one (every
 * thread), in nanoseconds: the cost of an operation in both processes, which
 * a busy or emulated machine changes far less than it changes latency.
 */
#ifndef BENCH_CPU_TIME_H
#define BENCH_CPU_TIME_H

#include <stdint.h>
#include <sys/types.h>

uint64_t self_cpu_ns(void);
/* Sum of /proc/PID/task/N/schedstat run times; 0 if unreadable. */
uint64_t proc_cpu_ns(pid_t pid);

#endif
