/* SPDX-License-Identifier: MIT */
/*
 * Shared by every fuzz target and by the corpus driver that replays the seeds
 * as ordinary tests under gcc: the one entry point libFuzzer calls, and a check
 * that turns a broken invariant into a crash both of them notice.
 */
#ifndef CMABUF_FUZZ_H
#define CMABUF_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* abort(), not assert(): the check must hold in release builds too, and libFuzzer saves the
 * input that triggers an abort as a crash. */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__,       \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* Reads the fuzz input front to back; past the end every read yields zeros. */
struct fuzz_input {
	const uint8_t *data;
	size_t size;
	size_t pos;
};

static inline uint64_t fuzz_take(struct fuzz_input *in, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes; i++) {
		v <<= 8;
		if (in->pos < in->size)
			v |= in->data[in->pos++];
	}
	return v;
}

static inline int fuzz_done(const struct fuzz_input *in)
{
	return in->pos >= in->size;
}

#endif
