/* SPDX-License-Identifier: MIT */
/*
 * What cmabufd counts for monitoring: refusals by kind, reclaim requests and
 * timeouts, and how long allocations take. Evictions and allocations are in
 * struct daemon_stats already. metrics_fill() gathers all of it, with the
 * allocator's, the policy's and the ledger's numbers, into one METRICS reply.
 */
#ifndef CMABUF_METRICS_H
#define CMABUF_METRICS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "protocol.h"

struct client;
struct daemon;

struct metrics {
	uint64_t failures[CMABUF_FAIL_KINDS];
	uint64_t reclaims_requested;
	uint64_t reclaim_timeouts;
	uint64_t latency[CMABUF_LATENCY_BUCKETS];
	uint64_t latency_count;
	uint64_t latency_sum_ns;
	/* The ALLOC being handled (metrics_alloc_begin), so complete() can time it. */
	const struct client *timing;
	uint64_t timing_start_ns;
};

/* A refused ALLOC, counted by the kind its errno says. */
void metrics_count_refusal(struct metrics *m, int err);

/*
 * handle_alloc() brackets a request with begin/end; complete() calls
 * metrics_alloc_answered() for every success, and only a success of the
 * bracketed client inside the bracket is timed. A waiting request completed
 * later (or another client's, completed meanwhile) is not: its time is the
 * holders' doing, not the allocator's.
 */
void metrics_alloc_begin(struct metrics *m, const struct client *c);
void metrics_alloc_answered(struct metrics *m, const struct client *c);
void metrics_alloc_end(struct metrics *m);

/* Adds one latency sample (nanoseconds) to the histogram. */
void metrics_observe_ns(struct metrics *m, uint64_t ns);

/*
 * Fills a METRICS reply. all_uids: list every uid (privileged callers and the
 * textfile); otherwise only uid's own entry. Returns 0 or -ENOMEM.
 */
int metrics_fill(struct daemon *d, bool all_uids, uid_t uid, struct cmabuf_msg_metrics_reply *r);

#endif
