/* SPDX-License-Identifier: MIT */
/*
 * The ALLOC request: check it, place it (pre-zeroed memory first, then
 * waiting for zeroing, then eviction), export it, charge it. A request that
 * needs reclaimable buffers back waits, with a deadline, for their release.
 */
#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "allocator.h"
#include "backend.h"
#include "client.h"
#include "cmabuf.h"
#include "daemon.h"
#include "eviction.h"
#include "log.h"
#include "metrics.h"
#include "policy.h"
#include "refusals.h"
#include "requests.h"
#include "zeroing.h"

#define MiB(x) ((double)(x) / (1024.0 * 1024.0))

/* An ALLOC waiting for reclaimable buffers to come back. */
struct pending_alloc {
	struct client *c;
	struct cmabuf_msg msg;
	struct event *deadline;
	uint64_t victims[EVICTION_MAX]; /* ids asked for, to name the late one on expiry */
	unsigned nvictims;
	TAILQ_ENTRY(pending_alloc) link;
};

static int refuse_alloc(struct client *c, const struct cmabuf_msg *m, int err, const char *why)
{
	c->d->stats.failures++;
	metrics_count_refusal(&c->d->metrics, err);
	refusals_record(&c->d->refusals, c->pid, c->uid, &m->u.alloc, err, why);
	log_client(LOG_NOTICE, c, m->u.alloc.name, m->u.alloc.size, "allocation refused: %s", why);
	return client_send_error(c, m->hdr.seq, m->hdr.type, err, "%s", why);
}

/* Writes the reason for a refusal and returns err. */
static int because(int err, char *why, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int because(int err, char *why, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, cap, fmt, ap);
	va_end(ap);
	return err;
}

/* Returns 0 if the request is well-formed, else a negative errno with the reason in why. */
static int check_alloc_request(struct client *c, const struct cmabuf_msg_alloc *a, char *why,
			       size_t cap)
{
	uint64_t region = c->d->be->size;
	uint32_t known = CMABUF_ALLOC_PURGEABLE | CMABUF_ALLOC_RECLAIMABLE;

	if (a->size == 0)
		return because(-EINVAL, why, cap, "size 0: ask for at least one byte");
	if (a->size > region)
		return because(-EINVAL, why, cap,
			       "size %" PRIu64 " bytes (%.1f MiB) is larger than the whole region "
			       "(%.1f MiB)",
			       a->size, MiB(a->size), MiB(region));
	if (a->align & (a->align - 1))
		return because(-EINVAL, why, cap, "alignment %" PRIu64 " is not a power of two",
			       a->align);
	if (a->align > region)
		return because(-EINVAL, why, cap, "alignment %" PRIu64 " is larger than the region",
			       a->align);
	if (a->flags & ~known)
		return because(-EINVAL, why, cap, "unknown allocation flags 0x%x",
			       a->flags & ~known);
	if (cmabuf_name_problem(a->name))
		return because(-EINVAL, why, cap, "buffer name %s", cmabuf_name_problem(a->name));
	if (cmabuf_label_problem(a->pool, CMABUF_POOL_LEN))
		return because(-EINVAL, why, cap, "pool name %s",
			       cmabuf_label_problem(a->pool, CMABUF_POOL_LEN));
	if (c->nbuffers >= c->d->opt->max_buffers_per_client)
		return because(-EDQUOT, why, cap,
			       "this client already holds %u buffers, the per-client limit "
			       "(cmabufd --max-buffers)",
			       c->nbuffers);
	return 0;
}

static void explain_enomem(struct client *c, uint64_t size, char *why, size_t cap)
{
	struct allocator_stats st;

	allocator_get_stats(c->d->alloc, &st);
	snprintf(why, cap,
		 "out of contiguous memory: requested %" PRIu64 " bytes (%.1f MiB), largest free "
		 "extent %.1f MiB, free %.1f MiB in %u extents, %.1f MiB awaiting release",
		 size, MiB(size), MiB(st.largest_free), MiB(st.free), st.free_extents,
		 MiB(c->d->ledger.pending_release_bytes));
}

static struct buffer *new_buffer(struct client *c, const struct cmabuf_msg_alloc *a,
				 uint64_t offset, uint64_t size)
{
	struct buffer *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->id = c->d->next_id++;
	b->offset = offset;
	b->size = size;
	b->created_ms = now_ms(CLOCK_REALTIME);
	b->pid = c->pid;
	b->uid = c->uid;
	memcpy(b->name, a->name, sizeof(b->name));
	b->purgeable = a->flags & CMABUF_ALLOC_PURGEABLE;
	b->reclaimable = a->flags & CMABUF_ALLOC_RECLAIMABLE;
	b->last_used_ms = now_ms(CLOCK_MONOTONIC);
	return b;
}

static void charge(struct client *c, struct buffer *b)
{
	b->owner = c;
	TAILQ_INSERT_TAIL(&c->buffers, b, owner_link);
	c->nbuffers++;
	c->bytes += b->size;
	ledger_insert(&c->d->ledger, b);
}

static int reply_alloc(struct client *c, const struct cmabuf_msg *m, struct buffer *b, int fd)
{
	struct cmabuf_msg_alloc_reply r;

	memset(&r, 0, sizeof(r));
	r.id = b->id;
	r.size = b->size;
	if (may_learn_dev_addr(c)) {
		r.dev_addr = c->d->be->base + b->offset;
		r.flags |= CMABUF_BUFFER_DEV_ADDR_VALID;
	}
	return client_send(c, CMABUF_MSG_ALLOC_REPLY, m->hdr.seq, &r, sizeof(r), fd);
}

/*
 * Reads the release events the backend has queued and the loop has not seen
 * yet. A decoder switching streams frees its pool, closes the dma-bufs and asks
 * for the next pool at once: the kernel queued the releases before the ALLOC
 * was even sent, so they must count before the region is called full. Not from
 * inside pending_allocs_retry(), which a release calls: that would nest it.
 */
static void collect_releases(struct daemon *d)
{
	if (d->retrying_pending)
		return;
	if (d->be->ops->collect)
		d->be->ops->collect(d->be);
	else
		d->be->ops->dispatch(d->be);
}

/* Places the request in free memory, waiting for zeroing only when nothing zeroed fits. */
static int place(struct daemon *d, const struct cmabuf_msg_alloc *a, uint64_t *offset)
{
	int ret = allocator_alloc(d->alloc, a->size, a->align, offset);

	if (ret == -ENOMEM && d->ledger.pending_release_bytes) {
		collect_releases(d);
		ret = allocator_alloc(d->alloc, a->size, a->align, offset);
	}

	/* Range by range: the request may fit long before everything queued is zero. */
	while (ret == -ENOMEM && zeroing_pending(d->zeroing)) {
		zeroing_wait_some(d->zeroing);
		ret = allocator_alloc(d->alloc, a->size, a->align, offset);
	}
	return ret;
}

/* Exports the placed range, charges it and answers. */
static int complete(struct client *c, const struct cmabuf_msg *m, uint64_t offset)
{
	const struct cmabuf_msg_alloc *a = &m->u.alloc;
	struct daemon *d = c->d;
	uint64_t size = allocator_round(d->alloc, a->size);
	struct buffer *b = new_buffer(c, a, offset, size);
	char why[CMABUF_REASON_LEN];
	int ret, fd = -1;

	ret = b ? d->be->ops->export_range(d->be, offset, size, buffer_cookie(b), a->name, &fd)
		: -ENOMEM;
	if (ret < 0) {
		allocator_release(d->alloc, offset, size);
		free(b);
		snprintf(why, sizeof(why), "%s backend could not export the buffer: %s",
			 d->be->name, strerror(-ret));
		return refuse_alloc(c, m, ret, why);
	}
	b->pool_idx = (uint8_t)c->alloc_pool;
	b->class_idx = (uint8_t)c->class_idx;
	charge(c, b);
	policy_charge(d, b);
	d->stats.allocations++;
	metrics_alloc_answered(&d->metrics, c);
	log_client(LOG_DEBUG, c, b->name, b->size, "buffer %" PRIu64 " at offset 0x%" PRIx64, b->id,
		   b->offset);
	daemon_prepare_soon(d);
	return reply_alloc(c, m, b, fd);
}

/* Takes a purgeable buffer's memory back now. Returns 0 or a negative errno. */
static int purge(struct daemon *d, struct buffer *b)
{
	int ret = d->be->ops->revoke(d->be, buffer_cookie(b));

	if (ret < 0) {
		b->unrevocable = true; /* a device holds it: do not plan on it again */
		return ret;
	}
	log_info("purged buffer %" PRIu64 " '%s' of pid %d (%.1f MiB) to make room", b->id, b->name,
		 (int)b->pid, MiB(b->size));
	b->purged = true;
	policy_uncharge_bytes(d, b);
	daemon_range_free(d, b->offset, b->size);
	d->stats.evictions++;
	return 0;
}

static void on_deadline(evutil_socket_t fd, short what, void *arg);

/* Asks the holders of reclaimable victims to give them back, and parks the request. */
static int wait_for_reclaims(struct client *c, const struct cmabuf_msg *m,
			     const struct eviction_plan *plan)
{
	struct daemon *d = c->d;
	struct pending_alloc *p = calloc(1, sizeof(*p));
	struct timeval tv = {d->reclaim_deadline_ms / 1000, (d->reclaim_deadline_ms % 1000) * 1000};
	unsigned i;

	if (!p)
		return refuse_alloc(c, m, -ENOMEM, "out of memory in cmabufd");
	p->c = c;
	p->msg = *m;
	for (i = 0; i < plan->nvictims; i++)
		p->victims[p->nvictims++] = plan->victims[i]->id;
	p->deadline = evtimer_new(d->base, on_deadline, p);
	if (!p->deadline || evtimer_add(p->deadline, &tv) < 0) {
		if (p->deadline)
			event_free(p->deadline);
		free(p);
		return refuse_alloc(c, m, -ENOMEM, "out of memory in cmabufd");
	}
	for (i = 0; i < plan->nvictims; i++) {
		struct buffer *b = plan->victims[i];
		struct cmabuf_msg_reclaim ev = {.id = b->id, .deadline_ms = d->reclaim_deadline_ms};

		if (b->purgeable || b->reclaim_asked)
			continue;
		b->reclaim_asked = true;
		client_send(b->owner, CMABUF_MSG_RECLAIM, 0, &ev, sizeof(ev), -1);
		d->metrics.reclaims_requested++;
	}
	c->pending = p;
	TAILQ_INSERT_TAIL(&d->pending_allocs, p, link);
	return 0;
}

/* Purges the plan's purgeable victims; fails if the backend refuses one. */
static int purge_victims(struct daemon *d, const struct eviction_plan *plan)
{
	unsigned i;
	int ret;

	for (i = 0; i < plan->nvictims; i++) {
		if (!plan->victims[i]->purgeable)
			continue;
		ret = purge(d, plan->victims[i]);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/*
 * Nothing fits: purge what may be purged, ask for what must be asked for.
 * Returns 1 when the request was answered or parked, or a negative errno.
 */
static int make_room(struct client *c, const struct cmabuf_msg *m, char *why, size_t cap)
{
	const struct cmabuf_msg_alloc *a = &m->u.alloc;
	struct daemon *d = c->d;
	struct eviction_plan plan;
	uint64_t size = allocator_round(d->alloc, a->size), offset;
	unsigned attempt;
	int ret;

	for (attempt = 0; attempt < 3; attempt++) {
		ret = eviction_plan(d, size, a->align, c->priority, &plan, why, cap);
		if (ret < 0)
			return ret;
		if (purge_victims(d, &plan) < 0)
			continue; /* a device holds one: plan again without it */
		if (plan.nreclaims)
			return wait_for_reclaims(c, m, &plan) == 0 ? 1 : -ENOMEM;
		if (place(d, a, &offset) == 0)
			complete(c, m, offset); /* answers either way: reply or refusal */
		return 1;
	}
	snprintf(why, cap, "buffers that could be purged were in use by devices");
	return -ENOMEM;
}

static int alloc_now(struct client *c, const struct cmabuf_msg *m)
{
	const struct cmabuf_msg_alloc *a = &m->u.alloc;
	char why[CMABUF_REASON_LEN] = "";
	uint64_t offset;
	int ret;

	if (c->pending)
		return refuse_alloc(c, m, -EBUSY,
				    "an allocation of this connection is already "
				    "waiting for reclaimed memory");
	ret = check_alloc_request(c, a, why, sizeof(why));
	if (ret == 0) /* quotas and pool budgets come before any eviction */
		ret = policy_check_alloc(c->d, c, allocator_round(c->d->alloc, a->size), a->pool,
					 &c->alloc_pool, why, sizeof(why));
	if (ret < 0)
		return refuse_alloc(c, m, ret, why);
	ret = place(c->d, a, &offset);
	if (ret == 0)
		return complete(c, m, offset);
	if (ret != -ENOMEM) {
		snprintf(why, sizeof(why), "allocator refused: %s", strerror(-ret));
		return refuse_alloc(c, m, ret, why);
	}
	ret = make_room(c, m, why, sizeof(why));
	if (ret > 0)
		return 0; /* answered, or parked until reclaimed memory comes back */
	if (ret == -ENOMEM) {
		/* The allocator's numbers first: they are what a person acts on. */
		char full[2 * CMABUF_REASON_LEN];
		size_t n;

		explain_enomem(c, a->size, full, sizeof(full));
		n = strlen(full);
		if (why[0]) /* what eviction found, if it got that far */
			snprintf(full + n, sizeof(full) - n, "; %s", why);
		return refuse_alloc(c, m, ret, full);
	}
	return refuse_alloc(c, m, ret, why);
}

/* Times the requests answered here and now, for the latency histogram. */
int handle_alloc(struct client *c, const struct cmabuf_msg *m)
{
	int ret;

	metrics_alloc_begin(&c->d->metrics, c);
	ret = alloc_now(c, m);
	metrics_alloc_end(&c->d->metrics);
	return ret;
}

static void finish_pending(struct pending_alloc *p)
{
	TAILQ_REMOVE(&p->c->d->pending_allocs, p, link);
	p->c->pending = NULL;
	event_free(p->deadline);
	free(p);
}

void pending_allocs_retry(struct daemon *d)
{
	struct pending_alloc *p, *tmp;
	uint64_t offset;

	d->retrying_pending = true;
	TAILQ_FOREACH_SAFE (p, &d->pending_allocs, link, tmp) {
		struct client *c = p->c;
		struct cmabuf_msg m = p->msg;

		if (place(d, &m.u.alloc, &offset) < 0)
			continue;
		finish_pending(p);
		complete(c, &m, offset);
	}
	d->retrying_pending = false;
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct pending_alloc *p = arg;
	struct client *c = p->c;
	struct cmabuf_msg m = p->msg;
	char why[CMABUF_REASON_LEN];
	const struct buffer *late = NULL;
	unsigned i;

	/* A reclaimable victim still in the ledger has not been released (purged ones stay). */
	for (i = 0; i < p->nvictims && !late; i++) {
		late = ledger_find(&c->d->ledger, p->victims[i]);
		if (late && late->purged)
			late = NULL;
	}
	if (late)
		snprintf(why, sizeof(why),
			 "reclaimable buffer %" PRIu64 " '%s' of pid %d was not released within "
			 "%u ms; nothing else fits",
			 late->id, late->name, (int)late->pid, c->d->reclaim_deadline_ms);
	else
		snprintf(why, sizeof(why), "reclaimed memory did not make room in time");
	finish_pending(p);
	c->d->metrics.reclaim_timeouts++;
	refuse_alloc(c, &m, -ENOMEM, why);
}

void pending_alloc_cancel(struct client *c)
{
	if (c->pending)
		finish_pending(c->pending);
}
