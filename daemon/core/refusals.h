/* SPDX-License-Identifier: MIT */
/*
 * The last refused ALLOCs, with their reasons, for `cmabufd why`-style
 * questions after the fact: a ring of REFUSALS_MAX, newest overwriting oldest.
 * The journal has the same lines, but rate-limited per client and not always
 * at hand on a device.
 */
#ifndef CMABUF_REFUSALS_H
#define CMABUF_REFUSALS_H

#include <stdint.h>
#include <sys/types.h>

#include "protocol.h"

#define REFUSALS_MAX 64

struct refusal {
	uint64_t serial; /* 1, 2, ...; 0: slot unused */
	uint64_t time_ms;
	uint64_t size;
	pid_t pid;
	uid_t uid;
	int error;
	char name[CMABUF_NAME_LEN];
	char reason[CMABUF_REASON_LEN];
};

struct refusals {
	struct refusal ring[REFUSALS_MAX];
	uint64_t last_serial; /* the newest refusal's serial; 0 before the first */
};

/* name: CMABUF_NAME_LEN bytes, NUL-terminated (the decoder checked). */
void refusals_record(struct refusals *r, uint64_t time_ms, pid_t pid, uid_t uid, uint64_t size,
		     const char *name, int error, const char *reason);

/* The newest refusal older than before_serial (0: the newest of all), or NULL. */
const struct refusal *refusals_before(const struct refusals *r, uint64_t before_serial);

#endif
