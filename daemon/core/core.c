/* SPDX-License-Identifier: MIT */
/*
 * The core's state, its owners, and how buffers leave: an owner lets go (FREE
 * or disconnect), the backend reports the buffer released, and only then does
 * its range return to the allocator, through zeroing when the backend's memory
 * needs it. Between the two the buffer stays in the ledger as "release
 * pending", still charged (V4L2, KMS or another process may hold it).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "allocator.h"
#include "core.h"

int core_init(struct core *c, const struct core_region *region, uint64_t granule,
	      bool needs_zeroing, const struct config *cfg, const char *path, uid_t self_uid)
{
	memset(c, 0, sizeof(*c));
	c->region = *region;
	c->region.size = region->size & ~(granule - 1);
	policy_init(&c->policy, cfg, path, self_uid, c->region.size);
	c->alloc = allocator_new(c->region.size, granule);
	if (!c->alloc)
		return -ENOMEM;
	ledger_init(&c->ledger);
	TAILQ_INIT(&c->owners);
	TAILQ_INIT(&c->parked);
	c->next_id = 1;
	c->needs_zeroing = needs_zeroing;
	c->reclaim_deadline_ms = c->policy.cfg.reclaim_deadline_ms;
	c->max_buffers_per_client = UINT32_MAX;
	return 0;
}

static void uncharge_owner(struct buffer *b)
{
	struct owner *o = b->owner;

	TAILQ_REMOVE(&o->buffers, b, owner_link);
	o->nbuffers--;
	b->owner = NULL;
}

/* The buffer is gone for good: out of its owner's charge and the ledger. */
static void forget_buffer(struct core *c, struct buffer *b)
{
	if (b->let_go && !b->purged)
		c->ledger.pending_release_bytes -= b->size;
	if (b->handed_over) {
		c->ledger.handed_over_bytes -= b->size;
		c->ledger.handed_over--;
	}
	policy_forget(&c->policy, b); /* before the owner goes: it uncharges its bytes */
	if (b->owner)
		uncharge_owner(b);
	ledger_remove(&c->ledger, b);
	free(b);
}

void core_fini(struct core *c)
{
	struct buffer *b;

	while ((b = ledger_next_after(&c->ledger, 0)))
		forget_buffer(c, b);
	allocator_destroy(c->alloc);
	c->alloc = NULL;
}

void core_owner_init(struct owner *o, const struct peer_identity *id, const struct door_ops *ops,
		     void *door)
{
	memset(o, 0, sizeof(*o));
	o->id = *id;
	o->door_ops = ops;
	o->door = door;
	o->class_idx = POLICY_NO_CLASS;
	TAILQ_INIT(&o->buffers);
}

void core_owner_add(struct core *c, struct owner *o)
{
	TAILQ_INSERT_TAIL(&c->owners, o, link);
	c->nowners++;
}

void core_owner_remove(struct core *c, struct owner *o, void (*let_go)(void *ctx, struct buffer *b),
		       void *ctx)
{
	struct buffer *b, *tmp;

	if (o->pending)
		core_unpark(c, o->pending);
	TAILQ_FOREACH_SAFE (b, &o->buffers, owner_link, tmp) {
		/* Its bytes stay charged to its pool and class until released. */
		if (b->bytes_charged)
			o->bytes -= b->size;
		uncharge_owner(b);
		if (!b->let_go)
			let_go(ctx, b);
	}
	TAILQ_REMOVE(&c->owners, o, link);
	c->nowners--;
}

bool core_classify(struct core *c, struct owner *o)
{
	policy_classify(&c->policy, o);
	o->classified = true;
	return !policy_denied(&c->policy, o);
}

struct buffer *core_owned_buffer(struct core *c, const struct owner *o, uint64_t id)
{
	struct buffer *b = ledger_find(&c->ledger, id);

	return b && b->owner == o && !b->let_go ? b : NULL;
}

bool core_let_go(struct core *c, struct buffer *b)
{
	b->let_go = true;
	if (b->purged) { /* its memory went back when it was purged */
		forget_buffer(c, b);
		return false;
	}
	c->ledger.pending_release_bytes += b->size;
	return true;
}

bool core_set_purgeable(struct core *c, struct buffer *b, bool purgeable,
			const struct core_time *now)
{
	b->purgeable = purgeable;
	b->last_used_ms = now->mono_ms;
	return b->purged;
}

/* A range no buffer covers any more: free at once, or to be cleared first. */
static int range_free(struct core *c, uint64_t offset, uint64_t size, struct core_range *zero)
{
	if (c->needs_zeroing) {
		c->zeroing_bytes += size;
		*zero = (struct core_range){offset, size};
		return 1;
	}
	return allocator_release(c->alloc, offset, size);
}

int core_released(struct core *c, uint64_t cookie, struct core_range *zero)
{
	struct buffer *b = ledger_find(&c->ledger, cookie_id(cookie));
	int ret = 0;

	if (!b)
		return -ENOENT; /* released before we listed it */
	if (!b->purged)
		ret = range_free(c, b->offset, b->size, zero);
	forget_buffer(c, b); /* uncharges its bytes too */
	return ret;
}

int core_zeroed(struct core *c, uint64_t offset, uint64_t size, int err)
{
	c->zeroing_bytes -= size;
	if (err < 0) /* never hand out memory that may hold someone's data */
		return err;
	return allocator_release(c->alloc, offset, size);
}

int core_take_for_zeroing(struct core *c, uint64_t offset, uint64_t size)
{
	int ret = allocator_reserve(c->alloc, offset, size);

	if (ret == 0)
		c->zeroing_bytes += size;
	return ret;
}

int core_adopt(struct core *c, uint64_t offset, uint64_t size, uint64_t cookie,
	       const struct core_time *now)
{
	struct buffer *b = calloc(1, sizeof(*b));
	int ret = -ENOMEM;

	if (b) { /* a survivor counts for its uid too: no second share after a restart */
		b->uid = cookie_uid(cookie);
		ret = policy_track_uid(&c->policy, b);
	}
	if (ret == 0) {
		ret = allocator_reserve(c->alloc, offset, size);
		if (ret < 0)
			policy_untrack_uid(&c->policy, b);
	}
	if (ret < 0) {
		free(b);
		return ret;
	}
	b->id = cookie_id(cookie);
	b->pid = 0; /* its process is unknown: the connection died with the old daemon */
	b->offset = offset;
	b->size = allocator_round(c->alloc, size);
	b->created_ms = now->real_ms;
	b->adopted = true; /* named by the wiring if the backend knows a name */
	b->let_go = true;
	b->class_idx = POLICY_NO_CLASS;
	b->pool_idx = 0;
	ledger_insert(&c->ledger, b);
	policy_charge(&c->policy, b);
	c->ledger.pending_release_bytes += b->size;
	if (b->id >= c->next_id)
		c->next_id = b->id + 1;
	return 0;
}

void core_policy_replace(struct core *c, const struct config *fresh,
			 void (*denied)(void *ctx, struct owner *o), void *ctx)
{
	struct config old = c->policy.cfg;
	struct owner *o, *tmp;

	c->policy.cfg = *fresh;
	/* Owners first: their buffers take their new class. */
	TAILQ_FOREACH (o, &c->owners, link)
		if (o->classified)
			policy_classify(&c->policy, o);
	policy_remap(&c->policy, &old, &c->ledger);
	TAILQ_FOREACH_SAFE (o, &c->owners, link, tmp)
		if (o->classified && policy_denied(&c->policy, o))
			denied(ctx, o);
}

uint64_t core_used_bytes(const struct core *c)
{
	struct allocator_stats st;

	allocator_get_stats(c->alloc, &st);
	return st.used - c->zeroing_bytes;
}
