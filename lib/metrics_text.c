/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "metrics_text.h"

const char *cmabuf_failure_kind_name(unsigned kind)
{
	static const char *const names[CMABUF_FAIL_KINDS] = {"enomem", "quota", "invalid", "other"};

	return kind < CMABUF_FAIL_KINDS ? names[kind] : "unknown";
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void gauge(FILE *f, const char *name, const char *help, uint64_t v)
{
	head(f, name, "gauge", help);
	fprintf(f, "%s %" PRIu64 "\n", name, v);
}

/*
 * Counters are named with _total in TYPE and HELP too: the text format
 * (0.0.4) ties a sample to a TYPE line by its exact name.
 */
static void counter(FILE *f, const char *name, const char *help, uint64_t v)
{
	head(f, name, "counter", help);
	fprintf(f, "%s %" PRIu64 "\n", name, v);
}

/* Class names come from a configuration file: escape them as label values. */
static void label_value(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void per_class(FILE *f, const struct cmabuf_msg_metrics_reply *m, const char *name,
		      const char *help, int bytes)
{
	uint32_t i;

	head(f, name, "gauge", help);
	for (i = 0; i < m->nclasses; i++) {
		fprintf(f, "%s{class=\"", name);
		label_value(f, m->classes[i].name);
		fprintf(f, "\"} %" PRIu64 "\n",
			bytes ? m->classes[i].bytes : (uint64_t)m->classes[i].buffers);
	}
}

static void per_uid(FILE *f, const struct cmabuf_msg_metrics_reply *m, const char *name,
		    const char *help, int bytes)
{
	uint32_t i;

	head(f, name, "gauge", help);
	for (i = 0; i < m->nuids; i++)
		fprintf(f, "%s{uid=\"%u\"} %" PRIu64 "\n", name, m->uids[i].uid,
			bytes ? m->uids[i].bytes : (uint64_t)m->uids[i].buffers);
}

static void latency(FILE *f, const struct cmabuf_msg_metrics_reply *m)
{
	const char *name = "cmabuf_alloc_latency_seconds";
	uint64_t cumulative = 0;
	unsigned k;

	head(f, name, "histogram",
	     "Time from receiving an ALLOC to sending its reply, for allocations answered at once "
	     "(not those that waited for reclaimed memory).");
	for (k = 0; k < CMABUF_LATENCY_BUCKETS; k++) {
		cumulative += m->latency[k];
		/* Bucket k ends at 2^k microseconds; %.9g prints it exactly (1e-06 .. 1.048576). */
		fprintf(f, "%s_bucket{le=\"%.9g\"} %" PRIu64 "\n", name, (double)(1u << k) * 1e-6,
			cumulative);
	}
	fprintf(f, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, m->latency_count);
	fprintf(f, "%s_sum %.9f\n", name, (double)m->latency_sum_ns * 1e-9);
	fprintf(f, "%s_count %" PRIu64 "\n", name, m->latency_count);
}

int cmabuf_metrics_write_text(FILE *f, const struct cmabuf_msg_metrics_reply *m)
{
	unsigned k;

	gauge(f, "cmabuf_region_bytes", "Size of the region cmabufd allocates from.",
	      m->region_size);
	gauge(f, "cmabuf_used_bytes",
	      "Bytes placed in buffers, including buffers whose release is pending.", m->used);
	gauge(f, "cmabuf_free_bytes", "Free bytes, zeroed and ready for allocation.", m->free);
	gauge(f, "cmabuf_largest_free_extent_bytes",
	      "The largest contiguous free extent: the biggest allocation that fits without "
	      "eviction.",
	      m->largest_free);
	gauge(f, "cmabuf_free_extents", "Number of free extents (fragmentation).", m->free_extents);
	gauge(f, "cmabuf_pending_release_bytes",
	      "Bytes freed by their owners but still referenced elsewhere (a device, another "
	      "process).",
	      m->pending_release);
	gauge(f, "cmabuf_zeroing_bytes", "Bytes released and being zeroed before reuse.",
	      m->zeroing);
	gauge(f, "cmabuf_live_buffers", "Buffers in the ledger, release pending included.",
	      m->buffers);
	gauge(f, "cmabuf_clients", "Connected clients.", m->clients);
	per_class(f, m, "cmabuf_buffers", "Buffers charged to each client class.", 0);
	per_class(f, m, "cmabuf_class_bytes", "Bytes charged to each client class.", 1);
	per_uid(f, m, "cmabuf_uid_buffers", "Buffers held by each uid.", 0);
	per_uid(f, m, "cmabuf_uid_bytes", "Bytes held by each uid.", 1);
	gauge(f, "cmabuf_uids_omitted",
	      "Uids holding buffers but left out of cmabuf_uid_* (the list is bounded).",
	      m->uids_omitted);
	counter(f, "cmabuf_allocations_total", "Successful allocations since cmabufd started.",
		m->allocations);
	head(f, "cmabuf_alloc_failures_total", "counter",
	     "Refused allocations since cmabufd started, by kind: enomem (no room even after "
	     "eviction), quota (class, client or pool limit), invalid (bad request), other.");
	for (k = 0; k < CMABUF_FAIL_KINDS; k++)
		fprintf(f, "cmabuf_alloc_failures_total{kind=\"%s\"} %" PRIu64 "\n",
			cmabuf_failure_kind_name(k), m->failures[k]);
	head(f, "cmabuf_door_allocations_total", "counter",
	     "Successful allocations by the door they came in by: socket (libcmabuf) or heap "
	     "(/dev/dma_heap callers).");
	for (k = 0; k < CMABUF_DOORS; k++)
		fprintf(f, "cmabuf_door_allocations_total{door=\"%s\"} %" PRIu64 "\n",
			k == CMABUF_DOOR_HEAP ? "heap" : "socket", m->door_allocations[k]);
	head(f, "cmabuf_door_failures_total", "counter",
	     "Refused allocations by the door they came in by.");
	for (k = 0; k < CMABUF_DOORS; k++)
		fprintf(f, "cmabuf_door_failures_total{door=\"%s\"} %" PRIu64 "\n",
			k == CMABUF_DOOR_HEAP ? "heap" : "socket", m->door_failures[k]);
	counter(f, "cmabuf_evictions_total", "Purgeable buffers taken back to make room.",
		m->evictions);
	counter(f, "cmabuf_reclaims_requested_total",
		"Reclaimable buffers whose holders were asked to give them back.",
		m->reclaims_requested);
	counter(f, "cmabuf_reclaim_timeouts_total",
		"Allocations refused because reclaimed memory did not come back in time.",
		m->reclaim_timeouts);
	counter(f, "cmabuf_policy_reloads_total", "SIGHUPs handled.", m->reloads);
	latency(f, m);
	if (fflush(f) == EOF || ferror(f))
		return errno ? -errno : -EIO;
	return 0;
}
