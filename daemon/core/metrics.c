/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "allocator.h"
#include "core.h"
#include "metrics.h"
#include "policy.h"

_Static_assert(CONFIG_MAX_CLASSES + 1 <= CMABUF_METRICS_MAX_CLASSES,
	       "METRICS_REPLY must hold every class and the default class");
_Static_assert(OWNER_DOORS == CMABUF_DOORS && OWNER_DOOR_SOCKET == CMABUF_DOOR_SOCKET &&
		       OWNER_DOOR_HEAP == CMABUF_DOOR_HEAP,
	       "the counters by door are sent as the core keeps them");
_Static_assert(CONFIG_NAME_MAX <= CMABUF_CLASS_LEN, "class names must fit the wire field");

void metrics_count_refusal(struct metrics *m, int err)
{
	switch (err) {
	case -ENOMEM:
		m->failures[CMABUF_FAIL_ENOMEM]++;
		break;
	case -EDQUOT:
	case -ENOSPC:
	case -EACCES:
		m->failures[CMABUF_FAIL_QUOTA]++;
		break;
	case -EINVAL:
		m->failures[CMABUF_FAIL_INVALID]++;
		break;
	default:
		m->failures[CMABUF_FAIL_OTHER]++;
		break;
	}
}

void metrics_observe_ns(struct metrics *m, uint64_t ns)
{
	uint64_t us = (ns + 999) / 1000; /* bucket bounds are whole microseconds */
	unsigned k = 0;

	while (k < CMABUF_LATENCY_BUCKETS && us > (1ull << k))
		k++;
	if (k < CMABUF_LATENCY_BUCKETS)
		m->latency[k]++;
	m->latency_count++;
	m->latency_sum_ns += ns;
}

static void fill_classes(const struct policy *p, struct cmabuf_msg_metrics_reply *r)
{
	unsigned i;

	/* Index nclasses is the default class, as in the policy's arrays. */
	for (i = 0; i <= p->cfg.nclasses; i++) {
		const struct class_config *k =
			i < p->cfg.nclasses ? &p->cfg.classes[i] : &p->cfg.default_class;

		cmabuf_copy_name(r->classes[i].name, CMABUF_CLASS_LEN, k->name);
		r->classes[i].bytes = p->class_bytes[i];
		r->classes[i].buffers = p->class_buffers[i];
	}
	r->nclasses = p->cfg.nclasses + 1;
}

static int by_uid(const void *a, const void *b)
{
	const struct cmabuf_uid_usage *x = a, *y = b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

static int by_bytes_desc(const void *a, const void *b)
{
	const struct cmabuf_uid_usage *x = a, *y = b;

	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	return by_uid(a, b);
}

/*
 * Per-uid usage is computed when asked, from the ledger: nothing to keep in
 * step on every allocation and release. Keeps the uids holding the most bytes.
 */
static int fill_uids(const struct core *d, bool all_uids, uid_t uid,
		     struct cmabuf_msg_metrics_reply *r)
{
	struct cmabuf_uid_usage *v, own = {.uid = (uint32_t)uid};
	struct buffer *b;
	size_t n = 0, i, out = 0;

	/* One uid's: from the ledger's uid index, whatever other users hold. */
	if (!all_uids) {
		for (b = ledger_uid_next_after(&d->ledger, uid, 0); b;
		     b = ledger_uid_next(&d->ledger, b)) {
			own.buffers++;
			own.bytes += b->purged ? 0 : b->size;
		}
		if (own.buffers) {
			r->uids[0] = own;
			r->nuids = 1;
		}
		return 0;
	}
	v = calloc(d->ledger.count + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (b = ledger_next_after(&d->ledger, 0); b && n < d->ledger.count;
	     b = ledger_next(&d->ledger, b)) {
		if (!all_uids && b->uid != uid)
			continue;
		v[n].uid = (uint32_t)b->uid;
		v[n].buffers = 1;
		v[n].bytes = b->purged ? 0 : b->size;
		n++;
	}
	qsort(v, n, sizeof(*v), by_uid);
	for (i = 0; i < n; i++) { /* merge runs of one uid */
		if (out && v[out - 1].uid == v[i].uid) {
			v[out - 1].buffers += v[i].buffers;
			v[out - 1].bytes += v[i].bytes;
		} else {
			v[out++] = v[i];
		}
	}
	if (out > CMABUF_METRICS_MAX_UIDS) {
		qsort(v, out, sizeof(*v), by_bytes_desc);
		r->uids_omitted = (uint32_t)(out - CMABUF_METRICS_MAX_UIDS);
		out = CMABUF_METRICS_MAX_UIDS;
		qsort(v, out, sizeof(*v), by_uid);
	}
	memcpy(r->uids, v, out * sizeof(*v));
	r->nuids = (uint32_t)out;
	r->flags |= all_uids ? CMABUF_METRICS_ALL_UIDS : 0;
	free(v);
	return 0;
}

int metrics_fill(const struct core *d, bool all_uids, uid_t uid, uint64_t uptime_ms,
		 struct cmabuf_msg_metrics_reply *r)
{
	const struct metrics *m = &d->metrics;
	struct allocator_stats st;

	allocator_get_stats(d->alloc, &st);
	memset(r, 0, sizeof(*r));
	r->region_size = d->region.size;
	r->used = core_used_bytes(d); /* as STATUS: ranges being zeroed belong to nobody */
	r->free = st.free;
	r->largest_free = st.largest_free;
	r->pending_release = d->ledger.pending_release_bytes - d->ledger.handed_over_bytes;
	r->zeroing = d->zeroing_bytes;
	r->free_extents = st.free_extents;
	r->buffers = d->ledger.count;
	r->clients = d->nowners;
	r->reloads = d->stats.reloads;
	r->uptime_ms = uptime_ms;
	r->allocations = d->stats.allocations;
	memcpy(r->failures, m->failures, sizeof(r->failures));
	r->evictions = d->stats.evictions;
	r->reclaims_requested = m->reclaims_requested;
	r->reclaim_timeouts = m->reclaim_timeouts;
	memcpy(r->latency, m->latency, sizeof(r->latency));
	r->latency_count = m->latency_count;
	r->latency_sum_ns = m->latency_sum_ns;
	memcpy(r->door_allocations, m->door_allocations, sizeof(r->door_allocations));
	memcpy(r->door_failures, m->door_failures, sizeof(r->door_failures));
	fill_classes(&d->policy, r);
	return fill_uids(d, all_uids, uid, r);
}
