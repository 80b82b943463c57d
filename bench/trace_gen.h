/* SPDX-License-Identifier: MIT */
/*
 * A synthetic media-churn trace, generated once from a seed and replayed
 * identically against every allocator: frame pools of several resolutions
 * created and destroyed, bitstream buffers of 64 KiB–2 MiB with short lives,
 * and long-lived buffers (firmware, scanout). The generator keeps the ideal
 * occupancy (sum of live page-rounded sizes over the region) at or just under
 * a target by tearing down random streams before starting new ones, so every
 * request is made while the region, ideally, has room for it.
 */
#ifndef BENCH_TRACE_GEN_H
#define BENCH_TRACE_GEN_H

#include <stddef.h>
#include <stdint.h>

enum trace_op {
	TRACE_ALLOC, /* id, size, group */
	TRACE_FREE,  /* id */
	TRACE_PROBE, /* measure how many frames still fit here */
};

/*
 * group: the stream the buffer belongs to (1, 2, ...; every buffer of a frame
 * pool has its pool's), allocated together and freed together. Numbering the
 * streams draws nothing from the generator, so the requests are those of the
 * trace before groups existed.
 */
struct trace_ev {
	uint32_t op;
	uint32_t id;
	uint64_t size;
	uint32_t group;
};

struct trace {
	struct trace_ev *ev;
	size_t n, cap;
	uint32_t nids;
	uint32_t ngroups; /* groups used: 1..ngroups */
	uint64_t region;
	double target;	       /* occupancy the generator held */
	double mean_occupancy; /* what it actually averaged, sampled per step */
};

/* steps: streams started; probe_every: steps between PROBE events. Exits on ENOMEM. */
void trace_generate(struct trace *t, uint64_t region, double target, unsigned steps,
		    unsigned probe_every, uint64_t seed);
void trace_free(struct trace *t);

#endif
