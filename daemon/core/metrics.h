/* SPDX-License-Identifier: MIT */
/*
 * What cmabufd counts for monitoring: refusals by kind, reclaim requests and
 * timeouts, and how long allocations take. Evictions and allocations are in
 * struct core_stats already. metrics_fill() gathers all of it, with the
 * allocator's, the policy's and the ledger's numbers, into one METRICS reply.
 */
#ifndef CMABUF_METRICS_H
#define CMABUF_METRICS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "owner.h"
#include "protocol.h"

struct core;

struct metrics {
	uint64_t failures[CMABUF_FAIL_KINDS];
	uint64_t reclaims_requested;
	uint64_t reclaim_timeouts;
	uint64_t latency[CMABUF_LATENCY_BUCKETS];
	uint64_t latency_count;
	uint64_t latency_sum_ns;
	uint64_t door_allocations[OWNER_DOORS]; /* by enum owner_door */
	uint64_t door_failures[OWNER_DOORS];
};

/* A refused ALLOC, counted by the kind its errno says. */
void metrics_count_refusal(struct metrics *m, int err);

/* Adds one latency sample (nanoseconds) to the histogram. */
void metrics_observe_ns(struct metrics *m, uint64_t ns);

/*
 * Fills a METRICS reply. all_uids: list every uid (privileged callers and the
 * textfile); otherwise only uid's own entry. Returns 0 or -ENOMEM.
 */
int metrics_fill(const struct core *c, bool all_uids, uid_t uid, uint64_t uptime_ms,
		 struct cmabuf_msg_metrics_reply *r);

#endif
