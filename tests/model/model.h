/* SPDX-License-Identifier: MIT */
/*
 * The model test's driver (model.c): many owners played against daemon/core
 * with a fake backend and a fake zeroing worker, every step's outcome checked
 * against a simple reference model kept here. Shared by the seeded test
 * (test_model.c) and the libFuzzer target (tests/fuzz/fuzz_model.c), which
 * differ only in where the random choices come from.
 */
#ifndef CMABUF_MODEL_H
#define CMABUF_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct model;

/* Choices from a pseudo-random generator seeded with seed. NULL: out of memory. */
struct model *model_new_seeded(uint64_t seed);
/* Choices read from data (fuzz input); the run ends when it is used up. */
struct model *model_new_input(const uint8_t *data, size_t size);
/* Level 1: one line per step on stderr (MODEL_TRACE=1 in test_model). */
void model_set_trace(struct model *m, int level);

/*
 * One step (a client's request, a backend or zeroing event, a reload...) and
 * then every invariant. A broken invariant prints the seed (or "input") and
 * the step, and aborts. False when a fuzz input is used up.
 */
bool model_step(struct model *m);
uint64_t model_steps(const struct model *m);
/* Counters for the summary line: "allocs=... exports=... purges=...". */
void model_summary(const struct model *m, char *buf, size_t cap);
/* Every owner leaves, every release and zeroing arrives, final checks; then frees m. */
void model_finish(struct model *m);

#endif
