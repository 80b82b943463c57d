/* SPDX-License-Identifier: MIT */
/*
 * cmabufd's policy configuration: pools, client classes and daemon tunables, read from an INI
 * file (docs/config.md describes every key). Pure data and lookups: no global state, no logging;
 * every error comes back as "FILE:LINE: reason" in the caller's buffer.
 */
#ifndef CMABUF_POLICY_CONFIG_H
#define CMABUF_POLICY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "identity.h"

#define CONFIG_NAME_MAX			   32 /* pool and class names, including the NUL */
#define CONFIG_UNIT_MAX			   64 /* systemd unit names, including the NUL */
#define CONFIG_MAX_POOLS		   16 /* including the pool "default" */
#define CONFIG_MAX_CLASSES		   32 /* not counting [class default] */
#define CONFIG_MAX_IDS			   16 /* uids, and gids, per class */
#define CONFIG_MAX_UNITS		   8  /* units per class */
#define CONFIG_DEFAULT_POOL		   "default"
#define CONFIG_DEFAULT_CLASS		   "default"
#define CONFIG_PRIORITY_MIN		   (-100)
#define CONFIG_PRIORITY_MAX		   100
#define CONFIG_RECLAIM_DEADLINE_DEFAULT_MS 2000u
#define CONFIG_RECLAIM_DEADLINE_MAX_MS	   600000u /* 10 minutes */
#define CONFIG_UID_MAX_PERCENT_DEFAULT	   50u	   /* [daemon] max-bytes-per-uid: half the region */

struct pool_config {
	char name[CONFIG_NAME_MAX];
	uint64_t min;  /* bytes guaranteed to this pool */
	uint64_t max;  /* bytes at most; 0 = no limit */
	unsigned line; /* line of the [pool NAME] header; 0 when implicit */
};

struct class_config {
	char name[CONFIG_NAME_MAX];
	uid_t uids[CONFIG_MAX_IDS];
	unsigned nuids;
	gid_t gids[CONFIG_MAX_IDS]; /* matched against primary and supplementary groups */
	unsigned ngids;
	char units[CONFIG_MAX_UNITS][CONFIG_UNIT_MAX]; /* system units, e.g. "camera.service" */
	unsigned nunits;
	/*
	 * Units of a user's own manager (user-unit =): a user names them, so they match only
	 * together with one of uids (a class with them has uids, and no gids or units).
	 */
	char user_units[CONFIG_MAX_UNITS][CONFIG_UNIT_MAX];
	unsigned nuser_units;
	char pool[CONFIG_NAME_MAX]; /* always names an existing pool */
	uint64_t max_bytes;	    /* 0 = no limit */
	uint32_t max_buffers;	    /* 0 = no limit */
	int priority;		    /* CONFIG_PRIORITY_MIN..MAX; higher wins eviction fights */
	/*
	 * May learn device addresses. Only what the file says: config_defaults() leaves it false
	 * everywhere, and whether root or the daemon's own uid get it anyway is decided by the
	 * caller, not here.
	 */
	bool dev_addr;
	bool deny;     /* refuse clients of this class entirely */
	unsigned line; /* line of the [class NAME] header; 0 when implicit */
};

struct config {
	struct pool_config pools[CONFIG_MAX_POOLS]; /* pools[0] is always "default" */
	unsigned npools;
	struct class_config classes[CONFIG_MAX_CLASSES]; /* file order: first match wins */
	unsigned nclasses;
	struct class_config default_class; /* clients no class matches; [class default] */
	uint32_t reclaim_deadline_ms;	   /* [daemon] reclaim-deadline */
	/*
	 * [daemon] max-bytes-per-uid: what all of one uid's clients may hold together (root and
	 * the daemon's own uid excepted, policy.c). Either bytes (uid_max_percent 0) or a
	 * percentage of the region, known only once the region is: 0 and 0 = no limit.
	 */
	uint64_t uid_max_bytes;
	uint32_t uid_max_percent; /* 1..100 */
};

/*
 * What runs without a file: one pool "default" (min 0, no max), no classes, and a default class
 * using pool "default" with no limits, priority 0, dev_addr false, not denied; reclaim deadline
 * 2000 ms; each uid but root and the daemon's own at most half the region (max-bytes-per-uid).
 */
void config_defaults(struct config *out);

/*
 * Resolves a user (group false) or group name in uid = / gid =: 0 with *id set, -ENOENT for
 * a name the database does not know, another negative errno when the lookup itself failed.
 * The parser asks the caller (config_file.c asks NSS); without one only numbers are known.
 */
typedef int (*config_lookup_fn)(const char *name, bool group, uint32_t *id);

/*
 * Parses the INI text read from f, a stream the caller opened (config_file.c opens the file);
 * name stands for the file in messages. region_size is the size of the memory region in bytes,
 * used to check that pool minimums fit; 0 skips that check (region not known yet: call
 * config_check_region() once it is).
 * Returns 0 and fills *out, or a negative errno with a message in err and *out untouched:
 *   -EIO, -EISDIR, ...  it could not be read ("NAME: cannot read: ...");
 *   -EINVAL  its content is wrong ("NAME:LINE: reason");
 *   -ENOMEM.
 * Safe for SIGHUP reloads: parse into a scratch struct, swap only on success.
 */
int config_parse_stream(FILE *f, const char *name, config_lookup_fn lookup, uint64_t region_size,
			struct config *out, char *err, size_t errlen);
/*
 * Same as config_parse_stream() on a string in memory, with numeric uids and gids only; name
 * stands for the file in messages.
 */
int config_parse_string(const char *text, const char *name, uint64_t region_size,
			struct config *out, char *err, size_t errlen);

/* 0 when the pool minimums fit in region_size bytes, else -ENOSPC with a reason in err. */
int config_check_region(const struct config *c, uint64_t region_size, char *err, size_t errlen);

/*
 * The first class, in file order, one of whose uids equals uid, one of whose gids equals gid or
 * one of groups[0..ngroups), or one of whose units equals unit (NULL: not in a unit); else
 * &c->default_class. Denying classes match like any other: check ->deny.
 */
const struct class_config *config_match(const struct config *c, uid_t uid, gid_t gid,
					const gid_t *groups, int ngroups, const char *unit);
/*
 * The same for a whole identity: unit is its system unit (never a user's unit, whatever its
 * name), and a class with user-unit = matches when both the uid and the user unit do.
 */
const struct class_config *config_match_identity(const struct config *c,
						 const struct peer_identity *id);
/* Whether any class matches by unit or user unit: then an unknown unit cannot be classed. */
bool config_uses_units(const struct config *c);

/* The pool called name, or NULL. */
const struct pool_config *config_pool(const struct config *c, const char *name);

#endif
