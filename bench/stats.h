/* SPDX-License-Identifier: MIT */
/* Latency samples and their percentiles. */
#ifndef BENCH_STATS_H
#define BENCH_STATS_H

#include <stddef.h>
#include <stdint.h>

struct samples {
	uint64_t *v; /* nanoseconds */
	size_t n, cap;
	int sorted;
};

void samples_add(struct samples *s, uint64_t ns);
/* p in [0, 100]: nearest-rank percentile; 0 when there are no samples. */
uint64_t samples_pct(struct samples *s, double p);
double samples_mean(const struct samples *s);
void samples_free(struct samples *s);

/* Median of a small array of doubles (sorted in place). */
double median_d(double *v, size_t n);

#endif
