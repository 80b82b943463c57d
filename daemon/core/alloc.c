/* SPDX-License-Identifier: MIT */
/*
 * The ALLOC request's decisions: check it, place it (pre-zeroed memory first,
 * then what the backend can report released, then waiting for zeroing), and
 * when nothing fits make room: purge purgeable buffers of the cheapest window
 * and place the request exactly in the hole they leave, or park it while the
 * holders of reclaimable buffers are asked to give them back. Purging happens
 * only for a window that then holds the request; every request gets exactly
 * one answer (core.h shows the loop that drives it).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocator.h"
#include "cmabuf.h"
#include "core.h"

#define MiB(x) ((double)(x) / (1024.0 * 1024.0))

static enum core_action refuse(struct core *c, struct core_request *r, const struct core_time *now,
			       struct core_decision *d, int err, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

void core_record_refusal(struct core *c, const struct owner *o, const struct core_alloc_desc *desc,
			 int err, const char *why, const struct core_time *now)
{
	c->stats.failures++;
	c->metrics.door_failures[o->door_kind]++;
	metrics_count_refusal(&c->metrics, err);
	refusals_record(&c->refusals, now->real_ms, o->id.pid, o->id.uid, desc->size, desc->name,
			err, why);
}

static enum core_action refuse(struct core *c, struct core_request *r, const struct core_time *now,
			       struct core_decision *d, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->why, sizeof(d->why), fmt, ap);
	va_end(ap);
	d->action = CORE_REFUSE;
	d->err = err;
	core_record_refusal(c, r->owner, &r->desc, err, d->why, now);
	return CORE_REFUSE;
}

void core_alloc_begin(struct core *c, struct core_request *r, struct owner *o,
		      const struct core_alloc_desc *desc, uint64_t tag)
{
	memset(r, 0, sizeof(*r));
	r->owner = o;
	r->desc = *desc;
	r->tag = tag;
	r->phase = CORE_PHASE_CHECK;
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
static int check_request(const struct core *c, const struct core_request *r, char *why, size_t cap)
{
	const struct core_alloc_desc *a = &r->desc;
	uint64_t region = c->region.size;
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
	return 0;
}

/* What the client may hold: checked first, and again before a parked request is placed. */
static int check_limits(struct core *c, struct core_request *r, char *why, size_t cap)
{
	const struct owner *o = r->owner;

	if (o->nbuffers >= c->max_buffers_per_client)
		return because(-EDQUOT, why, cap,
			       "this client already holds %u buffers, the per-client limit "
			       "(cmabufd --max-buffers)",
			       o->nbuffers);
	return policy_check_alloc(&c->policy, o, allocator_round(c->alloc, r->desc.size),
				  r->desc.pool, &r->pool_idx, why, cap);
}

static void explain_enomem(const struct core *c, uint64_t size, char *why, size_t cap)
{
	struct allocator_stats st;

	allocator_get_stats(c->alloc, &st);
	snprintf(why, cap,
		 "out of contiguous memory: requested %" PRIu64 " bytes (%.1f MiB), largest free "
		 "extent %.1f MiB, free %.1f MiB in %u extent%s, %.1f MiB awaiting release",
		 size, MiB(size), MiB(st.largest_free), MiB(st.free), st.free_extents,
		 st.free_extents == 1 ? "" : "s", MiB(c->ledger.pending_release_bytes));
}

static enum core_action hand_out(struct core *c, struct core_request *r, uint64_t offset,
				 const struct core_time *now, struct core_decision *d)
{
	const struct core_alloc_desc *a = &r->desc;
	struct buffer *b = calloc(1, sizeof(*b));

	if (b) {
		b->uid = r->owner->id.uid;
		if (policy_track_uid(&c->policy, b) < 0) {
			free(b);
			b = NULL;
		}
	}
	if (!b) {
		allocator_release(c->alloc, offset, allocator_round(c->alloc, a->size));
		return refuse(c, r, now, d, -ENOMEM, "out of memory in cmabufd");
	}
	b->id = c->next_id++;
	b->offset = offset;
	b->size = allocator_round(c->alloc, a->size);
	b->created_ms = now->real_ms;
	b->pid = r->owner->id.pid;
	memcpy(b->name, a->name, sizeof(b->name));
	b->purgeable = a->flags & CMABUF_ALLOC_PURGEABLE;
	b->reclaimable = a->flags & CMABUF_ALLOC_RECLAIMABLE;
	b->last_used_ms = now->mono_ms;
	d->action = CORE_EXPORT;
	d->buffer = b;
	if (r->phase == CORE_PHASE_PARKED)
		core_unpark(c, r);
	return CORE_EXPORT;
}

/*
 * Placed: the limits once more before anything is exported. Releases
 * collected meanwhile may have let parked requests of the same pool in, and a
 * request that did not fit in what was free passed the pools' minimums only
 * until it fits (policy.c check_pool).
 */
static enum core_action place(struct core *c, struct core_request *r, uint64_t offset,
			      const struct core_time *now, struct core_decision *d)
{
	char why[sizeof(d->why)];
	int ret = check_limits(c, r, why, sizeof(why));

	if (ret == 0)
		return hand_out(c, r, offset, now, d);
	allocator_release(c->alloc, offset, allocator_round(c->alloc, r->desc.size));
	if (r->phase == CORE_PHASE_PARKED)
		core_unpark(c, r);
	return refuse(c, r, now, d, ret, "%s", why);
}

/* Returns CORE_KEEP_WAITING when nothing fits and nothing more can be waited for. */
static enum core_action try_place(struct core *c, struct core_request *r, bool may_collect,
				  const struct core_time *now, struct core_decision *d)
{
	uint64_t size = allocator_round(c->alloc, r->desc.size), offset;
	int ret;

	if (r->have_hole && allocator_reserve(c->alloc, r->hole, size) == 0)
		return place(c, r, r->hole, now, d);
	ret = allocator_alloc(c->alloc, size, r->desc.align, &offset);
	if (ret == 0)
		return place(c, r, offset, now, d);
	if (ret != -ENOMEM)
		return refuse(c, r, now, d, ret, "allocator refused: %s", strerror(-ret));
	/*
	 * A decoder switching streams frees its pool, closes the dma-bufs and asks
	 * for the next pool at once: the kernel queued the releases before the
	 * ALLOC was even sent, so they must count before the region is called full.
	 */
	if (may_collect && !r->collected && c->ledger.pending_release_bytes) {
		r->collected = true;
		return d->action = CORE_COLLECT;
	}
	/* Range by range: the request may fit long before everything queued is zero. */
	if (c->zeroing_bytes)
		return d->action = CORE_WAIT_ZEROING;
	return CORE_KEEP_WAITING;
}

static enum core_action refuse_enomem(struct core *c, struct core_request *r,
				      const struct core_time *now, struct core_decision *d,
				      const char *why)
{
	/* The allocator's numbers first: they are what a person acts on. */
	char full[2 * CMABUF_REASON_LEN];

	explain_enomem(c, r->desc.size, full, sizeof(full));
	return refuse(c, r, now, d, -ENOMEM, "%s%s%s", full, why[0] ? "; " : "", why);
}

static enum core_action park(struct core *c, struct core_request *r, struct core_decision *d)
{
	unsigned i;

	for (i = 0; i < r->nvictims; i++) {
		struct buffer *b = ledger_find(&c->ledger, r->victims[i]);

		if (!b || b->reclaim_asked)
			continue;
		b->reclaim_asked = true;
		d->victims[d->nvictims++] = b;
		c->metrics.reclaims_requested++;
	}
	d->deadline_ms = c->reclaim_deadline_ms;
	r->phase = CORE_PHASE_PARKED;
	return d->action = CORE_PARK;
}

void core_park(struct core *c, struct core_request *r)
{
	r->owner->pending = r;
	TAILQ_INSERT_TAIL(&c->parked, r, link);
}

/*
 * Nothing fits: plan the cheapest window. Purgeable victims alone: purge them
 * and place the request in their hole. Reclaimable ones too: park, asking
 * their holders; nothing is purged until they are back (retry_parked).
 */
static enum core_action make_room(struct core *c, struct core_request *r,
				  const struct core_time *now, struct core_decision *d)
{
	uint64_t size = allocator_round(c->alloc, r->desc.size);
	struct eviction_plan plan;
	char why[CMABUF_REASON_LEN] = "";
	uint64_t freed[CONFIG_MAX_POOLS] = {0};
	unsigned i;
	int ret;

	if (r->purge_rounds >= 3)
		return refuse_enomem(c, r, now, d,
				     "buffers that could be purged were in use by devices");
	ret = eviction_plan(c->alloc, &c->ledger, size, r->desc.align, r->owner->priority, &plan,
			    why, sizeof(why));
	if (ret == -ENOMEM)
		return refuse_enomem(c, r, now, d, why);
	if (ret < 0)
		return refuse(c, r, now, d, ret, "%s", why);
	/* Taking victims from a pool under its minimum must not hand its guarantee away. */
	for (i = 0; i < plan.nvictims; i++)
		if (plan.victims[i]->bytes_charged)
			freed[plan.victims[i]->pool_idx] += plan.victims[i]->size;
	ret = policy_check_evicted(&c->policy, r->pool_idx, size, freed, why, sizeof(why));
	if (ret < 0)
		return refuse(c, r, now, d, ret, "%s", why);
	r->nvictims = 0;
	for (i = 0; i < plan.nvictims; i++) /* as eviction.c judged them: a device holds some */
		if (!plan.victims[i]->purgeable || plan.victims[i]->unrevocable)
			r->victims[r->nvictims++] = plan.victims[i]->id;
	if (r->nvictims)
		return park(c, r, d);
	for (i = 0; i < plan.nvictims; i++)
		d->victims[d->nvictims++] = plan.victims[i];
	r->hole = plan.start;
	r->have_hole = true;
	r->purge_rounds++;
	r->phase = CORE_PHASE_PURGED;
	return d->action = CORE_PURGE;
}

int core_purged(struct core *c, struct core_request *r, struct buffer *b, int ret,
		struct core_range *zero)
{
	struct core_range none;

	if (ret < 0) {
		b->unrevocable = true; /* a device holds it: do not plan on it again */
		r->purge_failed = true;
		return 0;
	}
	b->purged = true;
	policy_uncharge_bytes(&c->policy, b);
	c->stats.evictions++;
	if (!c->needs_zeroing) {
		allocator_release(c->alloc, b->offset, b->size);
		return 0;
	}
	c->zeroing_bytes += b->size;
	*(zero ? zero : &none) = (struct core_range){b->offset, b->size};
	return 1;
}

/* Every reclaimable buffer asked for is back (or purged after all). */
static bool reclaims_done(struct core *c, const struct core_request *r)
{
	unsigned i;

	for (i = 0; i < r->nvictims; i++) {
		const struct buffer *b = ledger_find(&c->ledger, r->victims[i]);

		if (b && !b->purged)
			return false;
	}
	return true;
}

/* Memory came back: a parked request is checked again, then placed if it fits now. */
static enum core_action retry_parked(struct core *c, struct core_request *r,
				     const struct core_time *now, struct core_decision *d)
{
	enum core_action act;
	int ret = check_limits(c, r, d->why, sizeof(d->why));

	if (ret < 0) { /* others of its class took the room meanwhile */
		char why[sizeof(d->why)];

		memcpy(why, d->why, sizeof(why));
		core_unpark(c, r);
		return refuse(c, r, now, d, ret, "%s", why);
	}
	act = try_place(c, r, false, now, d);
	if (act != CORE_KEEP_WAITING) {
		if (act == CORE_REFUSE)
			core_unpark(c, r);
		return act;
	}
	if (!reclaims_done(c, r))
		return CORE_KEEP_WAITING;
	core_unpark(c, r); /* back, and still no room: plan again (purgeable ones now) */
	r->have_hole = false;
	return make_room(c, r, now, d);
}

enum core_action core_alloc_step(struct core *c, struct core_request *r,
				 const struct core_time *now, struct core_decision *d)
{
	enum core_action act;
	int ret;

	d->action = CORE_KEEP_WAITING;
	d->err = 0;
	d->why[0] = '\0';
	d->buffer = NULL;
	d->nvictims = 0;
	d->deadline_ms = 0;
	switch (r->phase) {
	case CORE_PHASE_CHECK:
		if (r->owner->pending)
			return refuse(c, r, now, d, -EBUSY,
				      "an allocation of this connection is already waiting for "
				      "reclaimed memory");
		ret = check_request(c, r, d->why, sizeof(d->why));
		if (ret == 0) /* quotas and pool budgets come before any eviction */
			ret = check_limits(c, r, d->why, sizeof(d->why));
		if (ret < 0) {
			char why[sizeof(d->why)];

			memcpy(why, d->why, sizeof(why));
			return refuse(c, r, now, d, ret, "%s", why);
		}
		r->phase = CORE_PHASE_PLACE;
		break;
	case CORE_PHASE_PURGED:
		r->phase = CORE_PHASE_PLACE;
		if (r->purge_failed) { /* the hole is not whole: plan again without it */
			r->purge_failed = false;
			r->have_hole = false;
		}
		break;
	case CORE_PHASE_PARKED:
		return retry_parked(c, r, now, d);
	case CORE_PHASE_PLACE:
		break;
	}
	act = try_place(c, r, true, now, d);
	if (act != CORE_KEEP_WAITING)
		return act;
	return make_room(c, r, now, d);
}

void core_export_failed(struct core *c, struct core_request *r, struct buffer *b, int err,
			const char *why, const struct core_time *now, struct core_decision *d)
{
	allocator_release(c->alloc, b->offset, b->size);
	policy_untrack_uid(&c->policy, b);
	free(b);
	refuse(c, r, now, d, err, "%s", why);
}

/*
 * A heap caller holds the dma-buf itself and never sends FREE: the buffer is
 * let go at once, and stays charged to its owner (quota, class, pool) until
 * the backend reports it released, like a freed buffer someone still holds.
 */
static void hand_over(struct core *c, struct buffer *b)
{
	b->handed_over = true;
	b->let_go = true;
	c->ledger.pending_release_bytes += b->size;
	c->ledger.handed_over_bytes += b->size;
	c->ledger.handed_over++;
}

int core_exported(struct core *c, struct core_request *r, struct buffer *b, int ret,
		  const struct core_time *now, struct core_decision *d)
{
	struct owner *o = r->owner;

	if (ret < 0) {
		char why[2 * CMABUF_REASON_LEN];

		snprintf(why, sizeof(why), "%s backend could not export the buffer: %s",
			 c->region.backend, strerror(-ret));
		core_export_failed(c, r, b, ret, why, now, d);
		return ret;
	}
	b->pool_idx = (uint8_t)r->pool_idx;
	b->class_idx = (uint8_t)o->class_idx;
	b->owner = o;
	TAILQ_INSERT_TAIL(&o->buffers, b, owner_link);
	o->nbuffers++;
	ledger_insert(&c->ledger, b);
	policy_charge(&c->policy, b);
	if (o->door_kind == OWNER_DOOR_HEAP)
		hand_over(c, b);
	c->stats.allocations++;
	c->metrics.door_allocations[o->door_kind]++;
	return 0;
}

void core_deadline(struct core *c, struct core_request *r, const struct core_time *now,
		   struct core_decision *d)
{
	const struct buffer *late = NULL;
	unsigned i;

	/* A reclaimable victim still in the ledger has not been released (purged ones stay). */
	for (i = 0; i < r->nvictims && !late; i++) {
		late = ledger_find(&c->ledger, r->victims[i]);
		if (late && late->purged)
			late = NULL;
	}
	core_unpark(c, r);
	c->metrics.reclaim_timeouts++;
	if (late)
		refuse(c, r, now, d, -ENOMEM,
		       "reclaimable buffer %" PRIu64 " '%s' of pid %d was not released within "
		       "%u ms; nothing else fits",
		       late->id, late->name, (int)late->pid, c->reclaim_deadline_ms);
	else
		refuse(c, r, now, d, -ENOMEM, "reclaimed memory did not make room in time");
}

struct core_request *core_parked_first(struct core *c)
{
	return TAILQ_FIRST(&c->parked);
}

struct core_request *core_parked_next(struct core *c, struct core_request *r)
{
	return TAILQ_NEXT(r, link);
}

void core_unpark(struct core *c, struct core_request *r)
{
	if (r->phase != CORE_PHASE_PARKED)
		return;
	TAILQ_REMOVE(&c->parked, r, link);
	r->owner->pending = NULL;
	r->phase = CORE_PHASE_PLACE;
}
