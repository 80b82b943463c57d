/* SPDX-License-Identifier: MIT */
/*
 * The model test's driver (tests/model/model.c) with its choices read from the
 * fuzz input instead of a seeded generator: the first bytes pick the region,
 * the weather and the initial policy, then each step's bytes pick what happens
 * (an ALLOC and its size, a release, a zeroing completion, a reload...). Every
 * invariant is checked after every step; a broken one aborts with the step.
 */
#include "fuzz.h"
#include "model.h"

#define STEPS_MAX 5000 /* inputs are at most 4096 bytes: a step takes one or more */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct model *m = model_new_input(data, size);

	FUZZ_CHECK(m != NULL);
	while (model_steps(m) < STEPS_MAX && model_step(m))
		;
	model_finish(m);
	return 0;
}
