/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "daemon.h"
#include "log.h"
#include "policy.h"

#define MiB(x) ((double)(x) / (1024.0 * 1024.0))

int policy_init(struct policy *p, const char *path, bool optional, uint64_t region_size, char *err,
		size_t cap)
{
	int ret;

	memset(p, 0, sizeof(*p));
	p->region_size = region_size;
	config_defaults(&p->cfg);
	if (!path)
		return 0;
	ret = config_load(path, region_size, &p->cfg, err, cap);
	if (ret == -ENOENT && optional) {
		config_defaults(&p->cfg);
		return 0;
	}
	if (ret == 0)
		p->path = path;
	return ret;
}

static const struct class_config *class_of(const struct policy *p, unsigned idx)
{
	return idx < p->cfg.nclasses ? &p->cfg.classes[idx] : &p->cfg.default_class;
}

void policy_classify(struct daemon *d, struct client *c)
{
	const struct config *cfg = &d->policy.cfg;
	/* The identity the front door took from the kernel at accept (front/identity.c). */
	const struct class_config *k = config_match_identity(cfg, &c->ident);

	c->class_idx = k == &cfg->default_class ? cfg->nclasses : (unsigned)(k - cfg->classes);
	c->priority = k->priority;
}

bool policy_denied(const struct daemon *d, const struct client *c)
{
	return class_of(&d->policy, c->class_idx)->deny;
}

const char *policy_class_name(const struct daemon *d, const struct client *c)
{
	return class_of(&d->policy, c->class_idx)->name;
}

bool policy_may_learn_dev_addr(const struct daemon *d, const struct client *c)
{
	/* Without a configuration file, root and the daemon's own user may. */
	if (!d->policy.path)
		return c->uid == 0 || c->uid == geteuid();
	return class_of(&d->policy, c->class_idx)->dev_addr;
}

/* Bytes other pools may still claim under their guaranteed minimums. */
static uint64_t reserved_for_others(const struct policy *p, unsigned pool)
{
	uint64_t sum = 0;
	unsigned i;

	for (i = 0; i < p->cfg.npools; i++) {
		if (i != pool && p->cfg.pools[i].min > p->pool_used[i])
			sum += p->cfg.pools[i].min - p->pool_used[i];
	}
	return sum;
}

static uint64_t used_total(const struct policy *p)
{
	uint64_t sum = 0;
	unsigned i;

	for (i = 0; i < p->cfg.npools; i++)
		sum += p->pool_used[i];
	return sum;
}

static int check_pool(const struct policy *p, unsigned idx, uint64_t size, char *why, size_t cap)
{
	const struct pool_config *pool = &p->cfg.pools[idx];
	uint64_t free_now = p->region_size - used_total(p), reserved = reserved_for_others(p, idx);

	if (pool->max && p->pool_used[idx] + size > pool->max) {
		snprintf(why, cap,
			 "pool '%s' is full: %.1f of its %.1f MiB maximum used, %.1f MiB asked",
			 pool->name, MiB(p->pool_used[idx]), MiB(pool->max), MiB(size));
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

static int check_class(const struct policy *p, unsigned idx, uint64_t size, char *why, size_t cap)
{
	const struct class_config *k = class_of(p, idx);

	if (k->max_buffers && p->class_buffers[idx] + 1 > k->max_buffers) {
		snprintf(why, cap, "class '%s' already holds %u buffers, its limit (max-buffers)",
			 k->name, p->class_buffers[idx]);
		return -EDQUOT;
	}
	if (k->max_bytes && p->class_bytes[idx] + size > k->max_bytes) {
		snprintf(why, cap,
			 "class '%s' would hold %.1f MiB, over its limit of %.1f MiB (max-bytes)",
			 k->name, MiB(p->class_bytes[idx] + size), MiB(k->max_bytes));
		return -EDQUOT;
	}
	return 0;
}

int policy_check_alloc(struct daemon *d, const struct client *c, uint64_t size, const char *pool,
		       unsigned *pool_idx, char *why, size_t cap)
{
	const struct policy *p = &d->policy;
	const struct class_config *k = class_of(p, c->class_idx);
	const struct pool_config *own = config_pool(&p->cfg, k->pool);
	unsigned idx = own ? (unsigned)(own - p->cfg.pools) : 0;
	int ret;

	if (pool[0] && strcmp(pool, k->pool) != 0) {
		snprintf(why, cap, "class '%s' allocates from pool '%s', not '%s'", k->name,
			 k->pool, pool);
		return -EACCES;
	}
	ret = check_class(p, c->class_idx, size, why, cap);
	if (ret == 0)
		ret = check_pool(p, idx, size, why, cap);
	if (ret == 0)
		*pool_idx = idx;
	return ret;
}

void policy_charge(struct daemon *d, struct buffer *b)
{
	struct policy *p = &d->policy;

	p->pool_used[b->pool_idx] += b->size;
	if (b->class_idx != POLICY_NO_CLASS) {
		p->class_bytes[b->class_idx] += b->size;
		p->class_buffers[b->class_idx]++;
	}
	b->bytes_charged = true;
}

void policy_uncharge_bytes(struct daemon *d, struct buffer *b)
{
	struct policy *p = &d->policy;

	if (!b->bytes_charged)
		return;
	p->pool_used[b->pool_idx] -= b->size;
	if (b->class_idx != POLICY_NO_CLASS)
		p->class_bytes[b->class_idx] -= b->size;
	b->bytes_charged = false;
}

void policy_forget(struct daemon *d, struct buffer *b)
{
	policy_uncharge_bytes(d, b);
	if (b->class_idx != POLICY_NO_CLASS)
		d->policy.class_buffers[b->class_idx]--;
}

/* Indexes change with the file: map each buffer's pool and class by name. */
static void remap_buffers(struct daemon *d, const struct config *old)
{
	struct policy *p = &d->policy;
	struct buffer *b;

	memset(p->pool_used, 0, sizeof(p->pool_used));
	memset(p->class_bytes, 0, sizeof(p->class_bytes));
	memset(p->class_buffers, 0, sizeof(p->class_buffers));
	for (b = ledger_next_after(&d->ledger, 0); b; b = ledger_next(&d->ledger, b)) {
		const struct pool_config *pool = config_pool(&p->cfg, old->pools[b->pool_idx].name);
		bool charged = b->bytes_charged;

		b->pool_idx = pool ? (uint8_t)(pool - p->cfg.pools) : 0;
		if (b->class_idx != POLICY_NO_CLASS)
			b->class_idx = b->owner ? (uint8_t)b->owner->class_idx : POLICY_NO_CLASS;
		if (charged) {
			policy_charge(d, b);
		} else if (b->class_idx != POLICY_NO_CLASS) {
			p->class_buffers[b->class_idx]++;
		}
	}
}

int policy_reload(struct daemon *d, char *err, size_t cap)
{
	struct policy *p = &d->policy;
	struct config fresh, old = p->cfg;
	struct client *c;
	int ret;

	if (!p->path) {
		snprintf(err, cap,
			 "no configuration file was loaded at startup; nothing to reload");
		return -ENOENT;
	}
	ret = config_load(p->path, p->region_size, &fresh, err, cap);
	if (ret < 0)
		return ret;
	p->cfg = fresh;
	TAILQ_FOREACH (c, &d->clients, link)
		policy_classify(d, c);
	remap_buffers(d, &old);
	return 0;
}
