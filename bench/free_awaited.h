/* SPDX-License-Identifier: MIT */
/*
 * The baseline for the FREE_NOREPLY change, measured beside the real library
 * in the same run: alloc, then FREE awaiting the daemon's OK before closing,
 * which is what cmabuf_free() did before (two round trips per pair).
 */
#ifndef BENCH_FREE_AWAITED_H
#define BENCH_FREE_AWAITED_H

#include <stdint.h>

#include "connection.h"

/* Returns the buffer's fd and stores its id, or a negative errno. */
int proto_alloc(struct cmabuf_conn *c, uint64_t size, uint64_t *id);
/* Sends FREE for id, waits for its OK, then closes fd. */
int proto_free_awaited(struct cmabuf_conn *c, uint64_t id, int fd);

#endif
