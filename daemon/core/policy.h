/* SPDX-License-Identifier: MIT */
/*
 * Policy: which class an owner belongs to, what it may do, and the budgets of
 * pools and classes. The configuration (policy_config.c) says what the rules
 * are; this file applies them to owners and buffers. Limits of a class
 * (max-bytes, max-buffers) hold for each of its clients, as docs/config.md says.
 */
#ifndef CMABUF_POLICY_H
#define CMABUF_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "policy_config.h"
#include "uid_usage.h"

struct buffer;
struct ledger;
struct owner;

#define POLICY_NO_CLASS 0xff /* buffers adopted from an earlier daemon */

struct policy {
	struct config cfg;
	const char *path; /* NULL: built-in defaults */
	uid_t self_uid;	  /* the daemon's own: without a file, it and root learn addresses */
	uint64_t region_size;
	uint64_t pool_used[CONFIG_MAX_POOLS];	      /* bytes placed in each pool */
	uint64_t class_bytes[CONFIG_MAX_CLASSES + 1]; /* [nclasses..]: the default class */
	uint32_t class_buffers[CONFIG_MAX_CLASSES + 1];
	struct uid_usage_tree uids; /* bytes per uid, for max-bytes-per-uid */
};

/* cfg NULL: the built-in defaults (then path is NULL too). */
void policy_init(struct policy *p, const struct config *cfg, const char *path, uid_t self_uid,
		 uint64_t region_size);

/* Sets the owner's class and priority from its uid, groups and systemd unit. */
void policy_classify(const struct policy *p, struct owner *o);
bool policy_denied(const struct policy *p, const struct owner *o);
bool policy_may_learn_dev_addr(const struct policy *p, const struct owner *o);
const char *policy_class_name(const struct policy *p, const struct owner *o);

/*
 * Quotas and pool budgets, checked before any eviction and again before a
 * parked request is placed. pool: the requested pool name ("" = the class's).
 * On success stores the pool index to charge. -EDQUOT (the client's limits in
 * its class), -ENOSPC (pool maximum or others' guarantees), -EACCES (a class
 * that denies, a pool the class may not use), with the reason in why.
 */
int policy_check_alloc(const struct policy *p, const struct owner *o, uint64_t size,
		       const char *pool, unsigned *pool_idx, char *why, size_t cap);
/*
 * The pool budget of a request of size bytes for pool pool_idx once an eviction
 * plan is carried out, freed[i] bytes of pool i's buffers taken back: what
 * the request would take from other pools' minimums counts then, not before.
 */
int policy_check_evicted(const struct policy *p, unsigned pool_idx, uint64_t size,
			 const uint64_t *freed, char *why, size_t cap);

/*
 * The per-uid limit for uid in bytes: 0 for none (root, the daemon's own uid,
 * or max-bytes-per-uid = unlimited).
 */
uint64_t policy_uid_limit(const struct policy *p, uid_t uid);
/* b (b->uid set) is counted for its uid from now on: 0, or -ENOMEM. */
int policy_track_uid(struct policy *p, struct buffer *b);
/* b, never charged, goes (its export failed). policy_forget() does this for the rest. */
void policy_untrack_uid(struct policy *p, struct buffer *b);

void policy_charge(struct policy *p, struct buffer *b);		/* a buffer was placed */
void policy_uncharge_bytes(struct policy *p, struct buffer *b); /* its memory came back */
void policy_forget(struct policy *p, struct buffer *b);		/* its record is gone */

/*
 * p->cfg was replaced by a new configuration, and the owners classified
 * again: indexes change with the file, so every buffer's pool and class are
 * mapped from old by name (an owner's buffers take its new class; a class or
 * pool gone from the file falls back to the default one), and the budgets
 * counted again.
 */
void policy_remap(struct policy *p, const struct config *old, struct ledger *l);

#endif
