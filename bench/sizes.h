/* SPDX-License-Identifier: MIT */
/* Buffer sizes the latency benchmarks measure: small, medium and video frames. */
#ifndef BENCH_SIZES_H
#define BENCH_SIZES_H

#include <stdint.h>

#define NV12_BYTES(w, h) ((uint64_t)(w) * (h)*3 / 2)
#define NV12_1080P	 NV12_BYTES(1920, 1080) /* 3,110,400 */
#define NV12_4K		 NV12_BYTES(3840, 2160) /* 12,441,600 */

struct bench_size {
	uint64_t bytes;
	const char *label;
};

static const struct bench_size bench_sizes[] = {
	{4096, "4 KiB"},      {1u << 20, "1 MiB"},   {NV12_1080P, "1080p NV12"},
	{NV12_4K, "4K NV12"}, {32u << 20, "32 MiB"},
};

#define BENCH_NSIZES (sizeof(bench_sizes) / sizeof(bench_sizes[0]))

#endif
