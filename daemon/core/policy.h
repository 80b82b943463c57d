/* SPDX-License-Identifier: MIT */
/*
 * Policy: which class a client belongs to, what it may do, and the budgets
 * of pools and classes. The configuration (policy_config.c) says what the
 * rules are; this file applies them to clients and buffers.
 */
#ifndef CMABUF_POLICY_H
#define CMABUF_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy_config.h"

struct buffer;
struct client;
struct daemon;

#define POLICY_NO_CLASS 0xff /* buffers adopted from an earlier daemon */

struct policy {
	struct config cfg;
	const char *path; /* NULL: built-in defaults */
	uint64_t region_size;
	uint64_t pool_used[CONFIG_MAX_POOLS];	      /* bytes placed in each pool */
	uint64_t class_bytes[CONFIG_MAX_CLASSES + 1]; /* [nclasses..]: the default class */
	uint32_t class_buffers[CONFIG_MAX_CLASSES + 1];
};

/* Loads path (NULL: defaults; a missing default file is not an error when optional). */
int policy_init(struct policy *p, const char *path, bool optional, uint64_t region_size, char *err,
		size_t cap);
/* SIGHUP: a new file for new requests; clients and buffers stay. Keeps the old one on error. */
int policy_reload(struct daemon *d, char *err, size_t cap);

/* Sets the client's class and priority from its uid, groups and systemd unit. */
void policy_classify(struct daemon *d, struct client *c);
bool policy_denied(const struct daemon *d, const struct client *c);
bool policy_may_learn_dev_addr(const struct daemon *d, const struct client *c);
const char *policy_class_name(const struct daemon *d, const struct client *c);

/*
 * Quotas and pool budgets, checked before any eviction. pool: the requested
 * pool name ("" = the class's). On success stores the pool index to charge.
 * -EDQUOT (class limits), -ENOSPC (pool maximum or others' guarantees),
 * -EACCES (a pool the class may not use), with the reason in why.
 */
int policy_check_alloc(struct daemon *d, const struct client *c, uint64_t size, const char *pool,
		       unsigned *pool_idx, char *why, size_t cap);
void policy_charge(struct daemon *d, struct buffer *b);		/* a buffer was placed */
void policy_uncharge_bytes(struct daemon *d, struct buffer *b); /* its memory came back */
void policy_forget(struct daemon *d, struct buffer *b);		/* its record is gone */

#endif
