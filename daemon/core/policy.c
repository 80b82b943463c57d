/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ledger.h"
#include "owner.h"
#include "policy.h"

#define MiB(x) ((double)(x) / (1024.0 * 1024.0))

void policy_init(struct policy *p, const struct config *cfg, const char *path, uid_t self_uid,
		 uint64_t region_size)
{
	memset(p, 0, sizeof(*p));
	p->region_size = region_size;
	p->self_uid = self_uid;
	if (cfg) {
		p->cfg = *cfg;
		p->path = path;
	} else {
		config_defaults(&p->cfg);
	}
}

static const struct class_config *class_of(const struct policy *p, unsigned idx)
{
	return idx < p->cfg.nclasses ? &p->cfg.classes[idx] : &p->cfg.default_class;
}

void policy_classify(const struct policy *p, struct owner *o)
{
	/* The identity the front door took from the kernel at accept (front/identity.c). */
	const struct class_config *k = config_match_identity(&p->cfg, &o->id);

	o->class_idx =
		k == &p->cfg.default_class ? p->cfg.nclasses : (unsigned)(k - p->cfg.classes);
	o->priority = k->priority;
}

bool policy_denied(const struct policy *p, const struct owner *o)
{
	return class_of(p, o->class_idx)->deny;
}

const char *policy_class_name(const struct policy *p, const struct owner *o)
{
	return class_of(p, o->class_idx)->name;
}

bool policy_may_learn_dev_addr(const struct policy *p, const struct owner *o)
{
	/* Without a configuration file, root and the daemon's own user may. */
	if (!p->path)
		return o->id.uid == 0 || o->id.uid == p->self_uid;
	return class_of(p, o->class_idx)->dev_addr;
}

/* Bytes other pools may still claim under their guaranteed minimums, with used[] bytes placed. */
static uint64_t reserved_for_others(const struct policy *p, const uint64_t *used, unsigned pool)
{
	uint64_t sum = 0;
	unsigned i;

	for (i = 0; i < p->cfg.npools; i++) {
		if (i != pool && p->cfg.pools[i].min > used[i])
			sum += p->cfg.pools[i].min - used[i];
	}
	return sum;
}

static uint64_t used_total(const struct policy *p, const uint64_t *used)
{
	uint64_t sum = 0;
	unsigned i;

	for (i = 0; i < p->cfg.npools; i++)
		sum += used[i];
	return sum;
}

/*
 * A request larger than what is free passes the minimums here (the allocator
 * or the eviction plan decides); policy_check_evicted() and the check after
 * placement (alloc.c) see it again once it fits.
 */
static int check_pool(const struct policy *p, const uint64_t *used, unsigned idx, uint64_t size,
		      char *why, size_t cap)
{
	const struct pool_config *pool = &p->cfg.pools[idx];
	uint64_t free_now = p->region_size - used_total(p, used);
	uint64_t reserved = reserved_for_others(p, used, idx);

	if (pool->max && used[idx] + size > pool->max) {
		snprintf(why, cap,
			 "pool '%s' is full: %.1f of its %.1f MiB maximum used, %.1f MiB asked",
			 pool->name, MiB(used[idx]), MiB(pool->max), MiB(size));
		return -ENOSPC;
	}
	if (size + reserved > free_now && size <= free_now) {
		snprintf(why, cap,
			 "pool '%s' may not take %.1f MiB: %.1f MiB of the %.1f MiB free are "
			 "guaranteed to other pools' minimums",
			 pool->name, MiB(size), MiB(reserved), MiB(free_now));
		return -ENOSPC;
	}
	return 0;
}

/* The class's limits, for this one client: what it holds, not what its class does. */
static int check_class(const struct policy *p, const struct owner *o, uint64_t size, char *why,
		       size_t cap)
{
	const struct class_config *k = class_of(p, o->class_idx);

	if (k->max_buffers && o->nbuffers + 1 > k->max_buffers) {
		snprintf(why, cap,
			 "this client already holds %u buffers, the limit of its class '%s' "
			 "(max-buffers)",
			 o->nbuffers, k->name);
		return -EDQUOT;
	}
	if (k->max_bytes && o->bytes + size > k->max_bytes) {
		snprintf(why, cap,
			 "this client would hold %.1f MiB, over the limit of its class '%s' of "
			 "%.1f MiB (max-bytes)",
			 MiB(o->bytes + size), k->name, MiB(k->max_bytes));
		return -EDQUOT;
	}
	return 0;
}

uint64_t policy_uid_limit(const struct policy *p, uid_t uid)
{
	/* Root can read /dev/mem; the daemon's own user holds the whole region anyway. */
	if (uid == 0 || uid == p->self_uid)
		return 0;
	if (p->cfg.uid_max_percent)
		return p->region_size / 100 * p->cfg.uid_max_percent +
		       p->region_size % 100 * p->cfg.uid_max_percent / 100;
	return p->cfg.uid_max_bytes;
}

/* All of the uid's clients together, its buffers freed but still held and survivors included. */
static int check_uid(const struct policy *p, const struct owner *o, uint64_t size, char *why,
		     size_t cap)
{
	uint64_t limit = policy_uid_limit(p, o->id.uid);
	uint64_t held = uid_usage_bytes(&p->uids, o->id.uid);
	char value[32];

	if (!limit || held + size <= limit)
		return 0;
	if (p->cfg.uid_max_percent)
		snprintf(value, sizeof(value), "%u%%", p->cfg.uid_max_percent);
	else
		snprintf(value, sizeof(value), "%.1f MiB", MiB(limit));
	snprintf(why, cap,
		 "uid %u would hold %.1f MiB with this buffer, over the per-uid limit of %.1f MiB "
		 "for all its clients together (max-bytes-per-uid = %s in [daemon]%s)",
		 (unsigned)o->id.uid, MiB(held + size), MiB(limit), value,
		 p->cfg.uid_max_percent == CONFIG_UID_MAX_PERCENT_DEFAULT ? ", the default" : "");
	return -EDQUOT;
}

int policy_check_alloc(const struct policy *p, const struct owner *o, uint64_t size,
		       const char *pool, unsigned *pool_idx, char *why, size_t cap)
{
	const struct class_config *k = class_of(p, o->class_idx);
	const struct pool_config *own = config_pool(&p->cfg, k->pool);
	unsigned idx = own ? (unsigned)(own - p->cfg.pools) : 0;
	int ret;

	/*
	 * A reload that denies the class closes its clients one by one: what the
	 * first ones let go may retry a parked request of one not closed yet.
	 */
	if (k->deny) {
		snprintf(why, cap, "clients of class '%s' may not use cmabufd (deny = yes)",
			 k->name);
		return -EACCES;
	}
	if (pool[0] && strcmp(pool, k->pool) != 0) {
		snprintf(why, cap, "class '%s' allocates from pool '%s', not '%s'", k->name,
			 k->pool, pool);
		return -EACCES;
	}
	ret = check_class(p, o, size, why, cap);
	if (ret == 0)
		ret = check_uid(p, o, size, why, cap);
	if (ret == 0)
		ret = check_pool(p, p->pool_used, idx, size, why, cap);
	if (ret == 0)
		*pool_idx = idx;
	return ret;
}

int policy_check_evicted(const struct policy *p, unsigned pool_idx, uint64_t size,
			 const uint64_t *freed, char *why, size_t cap)
{
	uint64_t used[CONFIG_MAX_POOLS];
	unsigned i;

	for (i = 0; i < CONFIG_MAX_POOLS; i++)
		used[i] = p->pool_used[i] - freed[i];
	return check_pool(p, used, pool_idx, size, why, cap);
}

int policy_track_uid(struct policy *p, struct buffer *b)
{
	b->uid_usage = uid_usage_get(&p->uids, b->uid);
	return b->uid_usage ? 0 : -ENOMEM;
}

void policy_untrack_uid(struct policy *p, struct buffer *b)
{
	if (b->uid_usage)
		uid_usage_put(&p->uids, b->uid_usage);
	b->uid_usage = NULL;
}

void policy_charge(struct policy *p, struct buffer *b)
{
	p->pool_used[b->pool_idx] += b->size;
	if (b->class_idx != POLICY_NO_CLASS) {
		p->class_bytes[b->class_idx] += b->size;
		p->class_buffers[b->class_idx]++;
	}
	if (b->owner)
		b->owner->bytes += b->size;
	if (b->uid_usage)
		b->uid_usage->bytes += b->size;
	b->bytes_charged = true;
}

void policy_uncharge_bytes(struct policy *p, struct buffer *b)
{
	if (!b->bytes_charged)
		return;
	p->pool_used[b->pool_idx] -= b->size;
	if (b->class_idx != POLICY_NO_CLASS)
		p->class_bytes[b->class_idx] -= b->size;
	if (b->owner)
		b->owner->bytes -= b->size;
	if (b->uid_usage)
		b->uid_usage->bytes -= b->size;
	b->bytes_charged = false;
}

void policy_forget(struct policy *p, struct buffer *b)
{
	policy_uncharge_bytes(p, b);
	policy_untrack_uid(p, b);
	if (b->class_idx != POLICY_NO_CLASS)
		p->class_buffers[b->class_idx]--;
}

/* The index of the class called name in cfg: the default class when it is gone. */
static unsigned class_by_name(const struct config *cfg, const char *name)
{
	unsigned i;

	for (i = 0; i < cfg->nclasses; i++)
		if (!strcmp(cfg->classes[i].name, name))
			return i;
	return cfg->nclasses;
}

/* A class index of old, in fresh: by name (index nclasses is the default class). */
static uint8_t remap_class(const struct config *old, const struct config *fresh, uint8_t idx)
{
	if (idx == POLICY_NO_CLASS)
		return idx;
	if (idx >= old->nclasses)
		return (uint8_t)fresh->nclasses;
	return (uint8_t)class_by_name(fresh, old->classes[idx].name);
}

void policy_remap(struct policy *p, const struct config *old, struct ledger *l)
{
	struct buffer *b;

	memset(p->pool_used, 0, sizeof(p->pool_used));
	memset(p->class_bytes, 0, sizeof(p->class_bytes));
	memset(p->class_buffers, 0, sizeof(p->class_buffers));
	for (b = ledger_next_after(l, 0); b; b = ledger_next(l, b)) {
		const struct pool_config *pool = config_pool(&p->cfg, old->pools[b->pool_idx].name);

		b->pool_idx = pool ? (uint8_t)(pool - p->cfg.pools) : 0;
		/*
		 * An owner was classified again already; a buffer whose owner left (freed,
		 * still held) stays charged to its class, found by name.
		 */
		if (b->owner)
			b->class_idx = (uint8_t)b->owner->class_idx;
		else
			b->class_idx = remap_class(old, &p->cfg, b->class_idx);
		if (b->bytes_charged) {
			p->pool_used[b->pool_idx] += b->size;
			if (b->class_idx != POLICY_NO_CLASS)
				p->class_bytes[b->class_idx] += b->size;
		}
		if (b->class_idx != POLICY_NO_CLASS)
			p->class_buffers[b->class_idx]++;
	}
}
