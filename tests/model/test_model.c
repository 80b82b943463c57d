/* SPDX-License-Identifier: MIT */
/*
 * The model test (model.c): the core under random sequences of requests,
 * backend events, zeroing completions and reloads, checked after every step.
 * Runs MODEL_STEPS steps (default 150000) for each of MODEL_SEEDS seeds
 * (default 8) starting at MODEL_SEED (default 1): about 1.2 million steps.
 *
 * A broken invariant prints the seed and the step and aborts. Replay it alone,
 * with a line per step:
 *
 *	MODEL_SEED=S MODEL_STEPS=N MODEL_TRACE=1 build/tests/model/test_model
 *
 * or give the seed (and the steps) as arguments: test_model S [N].
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "model.h"

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : dflt;
}

int main(int argc, char **argv)
{
	uint64_t first = env_u64("MODEL_SEED", 1), steps = env_u64("MODEL_STEPS", 150000);
	uint64_t seeds = env_u64("MODEL_SEEDS", getenv("MODEL_SEED") ? 1 : 8), total = 0;
	int trace = (int)env_u64("MODEL_TRACE", 0);
	struct timespec t0, t1;
	double secs;

	if (argc > 1) {
		first = strtoull(argv[1], NULL, 0);
		seeds = 1;
	}
	if (argc > 2)
		steps = strtoull(argv[2], NULL, 0);
	setvbuf(stdout, NULL, _IOLBF, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint64_t seed = first; seed < first + seeds; seed++) {
		struct model *m = model_new_seeded(seed);
		char summary[512];

		if (!m) {
			fprintf(stderr, "seed %" PRIu64 ": out of memory\n", seed);
			return 1;
		}
		model_set_trace(m, trace);
		while (model_steps(m) < steps)
			model_step(m);
		model_summary(m, summary, sizeof(summary));
		total += model_steps(m);
		model_finish(m);
		printf("seed %" PRIu64 ": %" PRIu64 " steps, %s\n", seed, steps, summary);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	/* For people reading the log; nothing depends on it. */
	printf("%" PRIu64 " steps in %.2f s (%.0f steps/s), every invariant held\n", total, secs,
	       secs > 0 ? (double)total / secs : 0.0);
	return 0;
}
