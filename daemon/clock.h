/* SPDX-License-Identifier: MIT */
/* Reading the clock: the doors and the wiring do; the core is given the time. */
#ifndef CMABUF_CLOCK_H
#define CMABUF_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t now_ms(clockid_t clock_id)
{
	struct timespec ts;

	clock_gettime(clock_id, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
