/* SPDX-License-Identifier: MIT */
/*
 * Policy configuration parser (docs/config.md is the user's side of this file).
 *
 * inih parses the "key = value" lines. It is fed through our own line reader, which
 *  - counts lines, so that every message can say FILE:LINE (this inih's handler gets no line
 *    number),
 *  - strips leading whitespace (all that inih's isspace() would), so that an indented key is
 *    a key and never an inih "continuation line" of the previous value,
 *  - sees the [section] headers, so that empty sections still declare their pool or class and
 *    a section that appears twice is an error rather than a silent merge.
 * Cross-references (a class's pool, pool minimums against the region) are checked once the
 * whole file is read, so a class may name a pool defined further down.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "size.h"
#include "policy_config.h"

#define LINE_MAX_LEN  1024 /* longest line we read; inih may allow less, then that wins */
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

enum section_kind { SEC_NONE, SEC_DAEMON, SEC_POOL, SEC_CLASS };

struct parse_state;
typedef int (*key_setter)(struct parse_state *st, const char *key, const char *value);

struct key_def {
	enum section_kind section;
	const char *name;
	key_setter set;
	bool repeatable;
};

struct parse_state {
	/* input: a FILE or a string */
	FILE *f;
	const char *text;
	const char *name;	 /* the file, for messages */
	config_lookup_fn lookup; /* user and group names; NULL: numbers only */
	uint64_t region_size;
	struct config *c;

	unsigned lineno;
	char line[LINE_MAX_LEN];

	enum section_kind kind;
	struct pool_config *pool; /* current [pool] */
	struct class_config *cls; /* current [class] */
	unsigned cur_slot;	  /* index into the per-section line arrays below */
	unsigned key_line[16];	  /* where each key_defs[] entry was set in this section */
	unsigned daemon_line;	  /* first [daemon] header */
	unsigned pool_min_line[CONFIG_MAX_POOLS];
	unsigned pool_max_line[CONFIG_MAX_POOLS];
	unsigned class_pool_line[CONFIG_MAX_CLASSES + 1]; /* last slot: the default class */

	int err;
	char *errbuf;
	size_t errlen;
};

/* ---- messages ---------------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static void set_err(char *buf, size_t len, const char *fmt,
							  ...)
{
	va_list ap;

	if (!buf || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* Records the first error only, as "NAME:LINE: reason". Returns -EINVAL. */
__attribute__((format(printf, 3, 4))) static int fail(struct parse_state *st, unsigned line,
						      const char *fmt, ...)
{
	va_list ap;
	int n;

	if (st->err)
		return st->err;
	st->err = -EINVAL;
	if (!st->errbuf || !st->errlen)
		return st->err;
	n = snprintf(st->errbuf, st->errlen, "%s:%u: ", st->name, line);
	if (n < 0 || (size_t)n >= st->errlen)
		return st->err;
	va_start(ap, fmt);
	vsnprintf(st->errbuf + n, st->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return st->err;
}

/* "64 MiB", "1 GiB", "4 KiB", "1000 bytes": the exact value, readably. */
static const char *fmt_size(uint64_t v, char *buf, size_t len)
{
	static const char *const units[] = {"GiB", "MiB", "KiB"};
	static const unsigned shifts[] = {30, 20, 10};

	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (v && !(v & ((1ull << shifts[i]) - 1))) {
			snprintf(buf, len, "%" PRIu64 " %s", v >> shifts[i], units[i]);
			return buf;
		}
	}
	snprintf(buf, len, "%" PRIu64 " bytes", v);
	return buf;
}

/* ---- value parsers ----------------------------------------------------- */

static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= CONFIG_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("-_.", *s))
			return false;
	return true;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (!strcasecmp(s, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(s, no[i])) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

static int parse_u64_dec(const char *s, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!all_digits(s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* A size, or "unlimited"/"none" for 0 (= no limit) when allow_unlimited. */
static int parse_limit(const char *s, bool allow_unlimited, uint64_t *out)
{
	if (allow_unlimited && (!strcasecmp(s, "unlimited") || !strcasecmp(s, "none"))) {
		*out = 0;
		return 0;
	}
	return parse_size(s, out);
}

/* "2s", "500ms", "2000" (milliseconds). */
static int parse_duration_ms(const char *s, uint64_t *out)
{
	char num[24];
	size_t n = strspn(s, "0123456789");
	uint64_t v, mul;

	if (n == 0 || n >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, n);
	num[n] = '\0';
	if (!strcmp(s + n, "") || !strcmp(s + n, "ms"))
		mul = 1;
	else if (!strcmp(s + n, "s"))
		mul = 1000;
	else
		return -EINVAL;
	if (parse_u64_dec(num, UINT64_MAX / 1000, &v))
		return -EINVAL;
	*out = v * mul;
	return 0;
}

/* Splits a comma list; calls fn on each trimmed, non-empty item. */
static int for_each_item(struct parse_state *st, const char *key, const char *value,
			 int (*fn)(struct parse_state *st, const char *key, const char *item))
{
	char buf[LINE_MAX_LEN];
	char *save = NULL, *tok;
	int r;

	snprintf(buf, sizeof(buf), "%s", value);
	if (!*buf)
		return fail(st, st->lineno, "'%s' needs a value", key);
	if (buf[0] == ',' || buf[strlen(buf) - 1] == ',' || strstr(buf, ",,"))
		return fail(st, st->lineno, "'%s = %s': empty item in the comma-separated list",
			    key, value);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *end;

		while (isspace((unsigned char)*tok))
			tok++;
		end = tok + strlen(tok);
		while (end > tok && isspace((unsigned char)end[-1]))
			*--end = '\0';
		if (!*tok)
			return fail(st, st->lineno,
				    "'%s = %s': empty item in the comma-separated list", key,
				    value);
		r = fn(st, key, tok);
		if (r)
			return r;
	}
	return 0;
}

/* ---- keys -------------------------------------------------------------- */

static int set_reclaim_deadline(struct parse_state *st, const char *key, const char *value)
{
	uint64_t ms;

	if (parse_duration_ms(value, &ms) || ms < 1 || ms > CONFIG_RECLAIM_DEADLINE_MAX_MS)
		return fail(st, st->lineno,
			    "'%s = %s': expected a duration from 1ms to 600s, e.g. 2s, 500ms or "
			    "2000 (milliseconds)",
			    key, value);
	st->c->reclaim_deadline_ms = (uint32_t)ms;
	return 0;
}

/* A limit, or a whole percentage of the region ("50%"): the region may not be known yet. */
static int set_uid_max_bytes(struct parse_state *st, const char *key, const char *value)
{
	size_t n = strlen(value);
	char num[8];
	uint64_t v;

	if (n >= 2 && n - 1 < sizeof(num) && value[n - 1] == '%') {
		memcpy(num, value, n - 1);
		num[n - 1] = '\0';
		if (parse_u64_dec(num, 100, &v) == 0 && v >= 1) {
			st->c->uid_max_percent = (uint32_t)v;
			st->c->uid_max_bytes = 0;
			return 0;
		}
	} else if (parse_limit(value, true, &v) == 0) {
		st->c->uid_max_bytes = v;
		st->c->uid_max_percent = 0;
		return 0;
	}
	return fail(st, st->lineno,
		    "'%s = %s': expected a size in bytes with an optional K, M or G suffix, e.g. "
		    "128M, a whole percentage of the region from 1%% to 100%%, e.g. 50%%, or "
		    "'unlimited' (also 0)",
		    key, value);
}

static int set_pool_size(struct parse_state *st, const char *key, const char *value)
{
	bool is_min = !strcmp(key, "min");
	uint64_t v;

	if (parse_limit(value, !is_min, &v))
		return fail(
			st, st->lineno,
			is_min ? "'%s = %s': expected a size in bytes with an optional K, M or G "
				 "suffix, e.g. 64M"
			       : "'%s = %s': expected a size in bytes with an optional K, M or G "
				 "suffix, e.g. 128M, or 'unlimited' (also 0)",
			key, value);
	if (is_min) {
		st->pool->min = v;
		st->pool_min_line[st->cur_slot] = st->lineno;
	} else {
		st->pool->max = v;
		st->pool_max_line[st->cur_slot] = st->lineno;
	}
	return 0;
}

static bool is_default_class(const struct parse_state *st)
{
	return st->cls == &st->c->default_class;
}

static int no_matchers_in_default(struct parse_state *st, const char *key)
{
	return fail(
		st, st->lineno,
		"'%s' is not allowed in [class default]: that class takes every client no other "
		"class matches; put '%s =' in a [class NAME] section",
		key, key);
}

static int add_id(struct parse_state *st, const char *key, const char *item)
{
	bool group = !strcmp(key, "gid");
	struct class_config *cls = st->cls;
	unsigned *n = group ? &cls->ngids : &cls->nuids;
	uint64_t num;
	uint32_t id;
	int r;

	if (*n >= CONFIG_MAX_IDS)
		return fail(st, st->lineno, "too many %ss in class '%s': at most %u", key,
			    cls->name, CONFIG_MAX_IDS);
	if (all_digits(item)) {
		if (parse_u64_dec(item, UINT32_MAX - 1, &num))
			return fail(st, st->lineno, "'%s = %s': %s out of range (0..%" PRIu32 ")",
				    key, item, key, UINT32_MAX - 1);
		id = (uint32_t)num;
	} else {
		r = st->lookup ? st->lookup(item, group, &id) : -ENOENT;
		if (r == -ENOENT)
			return fail(
				st, st->lineno,
				"unknown %s '%s' in '%s =': no such name in the %s database; use "
				"a known name or a number",
				group ? "group" : "user", item, key, group ? "group" : "user");
		if (r)
			return fail(st, st->lineno, "cannot look up %s '%s': %s",
				    group ? "group" : "user", item, strerror(-r));
	}
	if (group)
		cls->gids[(*n)++] = (gid_t)id;
	else
		cls->uids[(*n)++] = (uid_t)id;
	return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && !strcmp(s + n - m, suffix);
}

static int add_unit(struct parse_state *st, const char *key, const char *item)
{
	struct class_config *cls = st->cls;
	const char *p;

	bool user = !strcmp(key, "user-unit");
	unsigned *n = user ? &cls->nuser_units : &cls->nunits;

	if (*n >= CONFIG_MAX_UNITS)
		return fail(st, st->lineno, "too many %ss in class '%s': at most %u", key,
			    cls->name, CONFIG_MAX_UNITS);
	for (p = item; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr(":-_.\\@", *p))
			break;
	if (*p || strlen(item) >= CONFIG_UNIT_MAX ||
	    (!ends_with(item, ".service") && !ends_with(item, ".scope")))
		return fail(st, st->lineno,
			    "'%s = %s': expected systemd unit names ending in .service or .scope, "
			    "at most %d characters, e.g. camera.service",
			    key, item, CONFIG_UNIT_MAX - 1);
	snprintf(user ? cls->user_units[(*n)++] : cls->units[(*n)++], CONFIG_UNIT_MAX, "%s", item);
	return 0;
}

static int set_matcher(struct parse_state *st, const char *key, const char *value)
{
	if (is_default_class(st))
		return no_matchers_in_default(st, key);
	return for_each_item(st, key, value,
			     strcmp(key, "unit") && strcmp(key, "user-unit") ? add_id : add_unit);
}

static int set_class_pool(struct parse_state *st, const char *key, const char *value)
{
	if (!valid_name(value))
		return fail(st, st->lineno,
			    "'%s = %s': expected a pool name (up to %d letters, digits, '-', '_' "
			    "or '.')",
			    key, value, CONFIG_NAME_MAX - 1);
	snprintf(st->cls->pool, sizeof(st->cls->pool), "%s", value);
	st->class_pool_line[st->cur_slot] = st->lineno;
	return 0;
}

static int set_max_bytes(struct parse_state *st, const char *key, const char *value)
{
	if (parse_limit(value, true, &st->cls->max_bytes))
		return fail(
			st, st->lineno,
			"'%s = %s': expected a size in bytes with an optional K, M or G suffix, "
			"e.g. 256M, or 'unlimited' (also 0)",
			key, value);
	return 0;
}

static int set_max_buffers(struct parse_state *st, const char *key, const char *value)
{
	uint64_t v = 0;

	if (strcasecmp(value, "unlimited") && strcasecmp(value, "none") &&
	    parse_u64_dec(value, UINT32_MAX, &v))
		return fail(st, st->lineno,
			    "'%s = %s': expected a whole number from 0 to %" PRIu32
			    ", or 'unlimited' (also 0)",
			    key, value, UINT32_MAX);
	st->cls->max_buffers = (uint32_t)v;
	return 0;
}

static int set_priority(struct parse_state *st, const char *key, const char *value)
{
	const char *digits = value + (*value == '-' || *value == '+');
	uint64_t v;

	if (parse_u64_dec(digits, 100, &v))
		return fail(st, st->lineno, "'%s = %s': expected a whole number from %d to %d", key,
			    value, CONFIG_PRIORITY_MIN, CONFIG_PRIORITY_MAX);
	st->cls->priority = *value == '-' ? -(int)v : (int)v;
	return 0;
}

static int set_class_bool(struct parse_state *st, const char *key, const char *value)
{
	bool *dst = !strcmp(key, "deny") ? &st->cls->deny : &st->cls->dev_addr;

	if (parse_bool(value, dst))
		return fail(st, st->lineno, "'%s = %s': expected yes or no (also true/false, 1/0)",
			    key, value);
	return 0;
}

static const struct key_def key_defs[] = {
	{SEC_DAEMON, "reclaim-deadline", set_reclaim_deadline, false},
	{SEC_DAEMON, "max-bytes-per-uid", set_uid_max_bytes, false},
	{SEC_POOL, "min", set_pool_size, false},
	{SEC_POOL, "max", set_pool_size, false},
	{SEC_CLASS, "uid", set_matcher, true},
	{SEC_CLASS, "gid", set_matcher, true},
	{SEC_CLASS, "unit", set_matcher, true},
	{SEC_CLASS, "user-unit", set_matcher, true},
	{SEC_CLASS, "pool", set_class_pool, false},
	{SEC_CLASS, "max-bytes", set_max_bytes, false},
	{SEC_CLASS, "max-buffers", set_max_buffers, false},
	{SEC_CLASS, "priority", set_priority, false},
	{SEC_CLASS, "dev-addr", set_class_bool, false},
	{SEC_CLASS, "deny", set_class_bool, false},
};

_Static_assert(ARRAY_SIZE(key_defs) <= ARRAY_SIZE(((struct parse_state *)0)->key_line),
	       "key_line too small");

static const char *section_label(const struct parse_state *st, char *buf, size_t len)
{
	switch (st->kind) {
	case SEC_DAEMON:
		snprintf(buf, len, "[daemon]");
		break;
	case SEC_POOL:
		snprintf(buf, len, "[pool %s]", st->pool->name);
		break;
	case SEC_CLASS:
		snprintf(buf, len, "[class %s]", st->cls->name);
		break;
	default:
		snprintf(buf, len, "?");
		break;
	}
	return buf;
}

static int handler(void *user, const char *section, const char *key, const char *value)
{
	struct parse_state *st = user;
	char label[CONFIG_NAME_MAX + 16], valid[256];
	size_t used = 0;

	(void)section; /* we track sections ourselves, see reader() */
	if (st->err)
		return 0;
	if (st->kind == SEC_NONE) {
		fail(st, st->lineno,
		     "'%s' is outside any section; put it under [daemon], [pool NAME] or "
		     "[class NAME]",
		     key);
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(key_defs); i++) {
		const struct key_def *k = &key_defs[i];

		if (k->section != st->kind || strcmp(k->name, key))
			continue;
		if (!k->repeatable && st->key_line[i]) {
			fail(st, st->lineno, "'%s' is set twice in %s (first on line %u)", key,
			     section_label(st, label, sizeof(label)), st->key_line[i]);
			return 0;
		}
		st->key_line[i] = st->lineno;
		return k->set(st, key, value) ? 0 : 1;
	}
	valid[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(key_defs); i++) {
		int n;

		if (key_defs[i].section != st->kind)
			continue;
		n = snprintf(valid + used, sizeof(valid) - used, "%s%s", used ? ", " : "",
			     key_defs[i].name);
		if (n > 0 && (size_t)n < sizeof(valid) - used)
			used += (size_t)n;
	}
	fail(st, st->lineno, "unknown key '%s' in %s; valid keys: %s", key,
	     section_label(st, label, sizeof(label)), valid);
	return 0;
}

/* ---- sections ---------------------------------------------------------- */

static void class_init(struct class_config *cls, const char *name, unsigned line)
{
	memset(cls, 0, sizeof(*cls));
	snprintf(cls->name, sizeof(cls->name), "%s", name);
	snprintf(cls->pool, sizeof(cls->pool), "%s", CONFIG_DEFAULT_POOL);
	cls->line = line;
}

static int open_pool(struct parse_state *st, const char *name)
{
	struct config *c = st->c;
	unsigned i;

	for (i = 0; i < c->npools; i++) {
		if (strcmp(c->pools[i].name, name))
			continue;
		if (!c->pools[i].line) { /* the implicit default, now declared */
			c->pools[i].line = st->lineno;
			break;
		}
		return fail(st, st->lineno, "pool '%s' is defined twice (first on line %u)", name,
			    c->pools[i].line);
	}
	if (i == c->npools) {
		if (c->npools >= CONFIG_MAX_POOLS)
			return fail(st, st->lineno,
				    "too many pools: at most %u, counting the pool 'default'",
				    CONFIG_MAX_POOLS);
		memset(&c->pools[i], 0, sizeof(c->pools[i]));
		snprintf(c->pools[i].name, sizeof(c->pools[i].name), "%s", name);
		c->pools[i].line = st->lineno;
		c->npools++;
	}
	st->kind = SEC_POOL;
	st->pool = &c->pools[i];
	st->cur_slot = i;
	return 0;
}

static int open_class(struct parse_state *st, const char *name)
{
	struct config *c = st->c;

	if (!strcmp(name, CONFIG_DEFAULT_CLASS)) {
		if (c->default_class.line)
			return fail(st, st->lineno,
				    "class 'default' is defined twice (first on line %u)",
				    c->default_class.line);
		c->default_class.line = st->lineno;
		st->cls = &c->default_class;
		st->cur_slot = CONFIG_MAX_CLASSES;
	} else {
		for (unsigned i = 0; i < c->nclasses; i++)
			if (!strcmp(c->classes[i].name, name))
				return fail(st, st->lineno,
					    "class '%s' is defined twice (first on line %u)", name,
					    c->classes[i].line);
		if (c->nclasses >= CONFIG_MAX_CLASSES)
			return fail(st, st->lineno,
				    "too many classes: at most %u, not counting [class default]",
				    CONFIG_MAX_CLASSES);
		st->cur_slot = c->nclasses;
		st->cls = &c->classes[c->nclasses++];
		class_init(st->cls, name, st->lineno);
	}
	st->kind = SEC_CLASS;
	return 0;
}

/* p points at '['. Parses "[daemon]", "[pool NAME]" or "[class NAME]" and makes it current. */
static int open_section(struct parse_state *st, const char *p)
{
	char buf[LINE_MAX_LEN], *word, *arg, *end;
	const char *close = strchr(p, ']');
	size_t n;

	memset(st->key_line, 0, sizeof(st->key_line));
	st->kind = SEC_NONE;
	if (!close)
		return fail(st, st->lineno, "section header without a closing ']'");
	for (const char *q = close + 1; *q && *q != ';' && *q != '#'; q++)
		if (!isspace((unsigned char)*q))
			return fail(st, st->lineno,
				    "unexpected text after ']'; a section header is alone on its "
				    "line");
	n = (size_t)(close - p - 1);
	memcpy(buf, p + 1, n);
	buf[n] = '\0';
	word = buf;
	while (isspace((unsigned char)*word))
		word++;
	for (arg = word; *arg && !isspace((unsigned char)*arg); arg++)
		;
	if (*arg)
		*arg++ = '\0';
	while (isspace((unsigned char)*arg))
		arg++;
	end = arg + strlen(arg);
	while (end > arg && isspace((unsigned char)end[-1]))
		*--end = '\0';

	if (!strcmp(word, "daemon")) {
		if (*arg)
			return fail(st, st->lineno, "[daemon] takes no name: write just [daemon]");
		if (st->daemon_line)
			return fail(st, st->lineno, "[daemon] appears twice (first on line %u)",
				    st->daemon_line);
		st->daemon_line = st->lineno;
		st->kind = SEC_DAEMON;
		return 0;
	}
	if (strcmp(word, "pool") && strcmp(word, "class"))
		return fail(st, st->lineno,
			    "unknown section '[%s%s%s]'; valid sections: [daemon], [pool NAME], "
			    "[class NAME]",
			    word, *arg ? " " : "", arg);
	if (!*arg)
		return fail(st, st->lineno, "[%s] needs a name, e.g. [%s %s]", word, word,
			    strcmp(word, "pool") ? "camera-apps" : "camera");
	if (!valid_name(arg))
		return fail(st, st->lineno,
			    "%s name '%s' is not valid: use up to %d letters, digits, '-', '_' or "
			    "'.'",
			    word, arg, CONFIG_NAME_MAX - 1);
	return strcmp(word, "pool") ? open_class(st, arg) : open_pool(st, arg);
}

/* ---- line reader (feeds inih) ------------------------------------------ */

/* Reads one line into st->line. Returns 1, 0 at the end, negative errno on a read error. */
static int next_line(struct parse_state *st, bool *truncated)
{
	size_t n = 0;

	*truncated = false;
	if (st->f) {
		int ch;

		if (!fgets(st->line, sizeof(st->line), st->f))
			return ferror(st->f) ? -(errno ? errno : EIO) : 0;
		n = strlen(st->line);
		if (n && st->line[n - 1] != '\n' && !feof(st->f)) {
			*truncated = true;
			while ((ch = fgetc(st->f)) != EOF && ch != '\n')
				;
		}
		return 1;
	}
	if (!*st->text)
		return 0;
	while (st->text[n] && st->text[n] != '\n')
		n++;
	if (n >= sizeof(st->line)) {
		*truncated = true;
		memcpy(st->line, st->text, sizeof(st->line) - 1);
		st->line[sizeof(st->line) - 1] = '\0';
	} else {
		memcpy(st->line, st->text, n);
		st->line[n] = '\0';
	}
	st->text += n + (st->text[n] == '\n');
	return 1;
}

static char *reader(char *str, int num, void *stream)
{
	struct parse_state *st = stream;
	bool truncated;
	char *p;
	size_t len;
	int r;

	if (st->err)
		return NULL;
	r = next_line(st, &truncated);
	if (r <= 0) {
		if (r < 0) {
			st->err = r;
			set_err(st->errbuf, st->errlen, "%s: cannot read: %s", st->name,
				strerror(-r));
		}
		return NULL;
	}
	st->lineno++;
	/*
	 * Skip all that inih skips (any isspace(), a byte-order mark on the first line), so that
	 * what is classified here is what inih sees: after a \v or \f an indented key would
	 * otherwise be an inih continuation of the previous value, and a header a section
	 * change only inih knows about.
	 */
	p = st->line;
	for (;;) {
		if (isspace((unsigned char)*p))
			p++;
		else if (st->lineno == 1 && !strncmp(p, "\xEF\xBB\xBF", 3))
			p += 3;
		else
			break;
	}
	if (*p == ';' || *p == '#') { /* a comment, however long: nothing for inih to do */
		str[0] = '\0';
		return str;
	}
	len = strlen(p);
	while (len && (p[len - 1] == '\n' || p[len - 1] == '\r'))
		p[--len] = '\0';
	if (truncated || num < 1 || len >= (size_t)num) {
		fail(st, st->lineno, "line is too long: at most %d characters",
		     (num < (int)sizeof(st->line) - 1 ? num : (int)sizeof(st->line) - 1) - 1);
		return NULL;
	}
	if (*p == '[' && open_section(st, p))
		return NULL;
	memcpy(str, p, len + 1);
	return str;
}

/* ---- whole-file checks ------------------------------------------------- */

static int check_class_pool(struct parse_state *st, const struct class_config *cls,
			    unsigned pool_line)
{
	const struct config *c = st->c;
	char known[CONFIG_MAX_POOLS * (CONFIG_NAME_MAX + 2)];
	size_t used = 0;

	if (config_pool(c, cls->pool))
		return 0;
	known[0] = '\0';
	for (unsigned i = 0; i < c->npools; i++) {
		int n = snprintf(known + used, sizeof(known) - used, "%s%s", i ? ", " : "",
				 c->pools[i].name);

		if (n > 0 && (size_t)n < sizeof(known) - used)
			used += (size_t)n;
	}
	return fail(st, pool_line,
		    "class '%s' uses pool '%s', which is not defined; add a [pool %s] section or "
		    "use one of: %s",
		    cls->name, cls->pool, cls->pool, known);
}

/* Sum of the pool minimums, saturating. */
static uint64_t pools_min_total(const struct config *c)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < c->npools; i++) {
		if (c->pools[i].min > UINT64_MAX - sum)
			return UINT64_MAX;
		sum += c->pools[i].min;
	}
	return sum;
}

static int check_all(struct parse_state *st)
{
	const struct config *c = st->c;
	char a[32], b[32];
	uint64_t sum = 0;

	for (unsigned i = 0; i < c->npools; i++) {
		const struct pool_config *p = &c->pools[i];
		unsigned line = st->pool_min_line[i] > st->pool_max_line[i] ? st->pool_min_line[i]
									    : st->pool_max_line[i];

		if (p->max && p->min > p->max)
			return fail(st, line, "pool '%s': min (%s) is larger than max (%s)",
				    p->name, fmt_size(p->min, a, sizeof(a)),
				    fmt_size(p->max, b, sizeof(b)));
	}
	for (unsigned i = 0; i < c->nclasses; i++) {
		const struct class_config *cls = &c->classes[i];

		if (!cls->nuids && !cls->ngids && !cls->nunits && !cls->nuser_units)
			return fail(st, cls->line,
				    "class '%s' matches no client: give it uid =, gid = or unit =",
				    cls->name);
		if (cls->nuser_units && (!cls->nuids || cls->ngids || cls->nunits))
			return fail(
				st, cls->line,
				"class '%s': user-unit = names a unit its user chose, so it "
				"matches only together with uid =, and not beside gid = or "
				"unit =; give it uid = and put the others in a class of their own",
				cls->name);
		if (check_class_pool(st, cls, st->class_pool_line[i]))
			return st->err;
	}
	if (check_class_pool(st, &c->default_class, st->class_pool_line[CONFIG_MAX_CLASSES]))
		return st->err;
	if (!st->region_size)
		return 0;
	for (unsigned i = 0; i < c->npools; i++) {
		const struct pool_config *p = &c->pools[i];

		/* sum <= region_size here, so region_size - sum cannot wrap */
		if (p->min > st->region_size - sum)
			return fail(st, st->pool_min_line[i] ? st->pool_min_line[i] : p->line,
				    "pool minimums add up to %s, more than the region's %s; lower "
				    "'min' in pool '%s' or another pool",
				    fmt_size(pools_min_total(c), a, sizeof(a)),
				    fmt_size(st->region_size, b, sizeof(b)), p->name);
		sum += p->min;
	}
	return 0;
}

/* ---- API --------------------------------------------------------------- */

void config_defaults(struct config *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->pools[0].name, sizeof(out->pools[0].name), "%s", CONFIG_DEFAULT_POOL);
	out->npools = 1;
	class_init(&out->default_class, CONFIG_DEFAULT_CLASS, 0);
	out->reclaim_deadline_ms = CONFIG_RECLAIM_DEADLINE_DEFAULT_MS;
	out->uid_max_percent = CONFIG_UID_MAX_PERCENT_DEFAULT;
}

static int parse(FILE *f, const char *text, const char *name, config_lookup_fn lookup,
		 uint64_t region_size, struct config *out, char *err, size_t errlen)
{
	struct parse_state *st = calloc(1, sizeof(*st));
	struct config *c = calloc(1, sizeof(*c));
	int r;

	if (!st || !c) {
		free(st);
		free(c);
		set_err(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	config_defaults(c);
	st->f = f;
	st->text = text;
	st->name = name;
	st->lookup = lookup;
	st->region_size = region_size;
	st->c = c;
	st->errbuf = err;
	st->errlen = errlen;

	r = ini_parse_stream(reader, st, handler, st);
	if (r > 0 && (!st->err || r < (int)st->lineno)) {
		/* inih's own complaint, on a line before any of ours: our reader stops at our
		 * first error, so st->lineno is that error's line. */
		st->err = 0;
		fail(st, (unsigned)r,
		     "expected 'key = value', a [section] header or a comment (starting with ; "
		     "or #)");
	} else if (r < 0 && !st->err) {
		st->err = -ENOMEM;
		set_err(err, errlen, "%s: out of memory", name);
	}
	if (!st->err)
		check_all(st);
	r = st->err;
	if (!r)
		memcpy(out, c, sizeof(*c));
	free(c);
	free(st);
	return r;
}

int config_parse_stream(FILE *f, const char *name, config_lookup_fn lookup, uint64_t region_size,
			struct config *out, char *err, size_t errlen)
{
	return parse(f, NULL, name, lookup, region_size, out, err, errlen);
}

int config_parse_string(const char *text, const char *name, uint64_t region_size,
			struct config *out, char *err, size_t errlen)
{
	return parse(NULL, text ? text : "", name ? name : "<string>", NULL, region_size, out, err,
		     errlen);
}

int config_check_region(const struct config *c, uint64_t region_size, char *err, size_t errlen)
{
	char a[32], b[32];
	uint64_t sum = pools_min_total(c);

	if (sum <= region_size)
		return 0;
	set_err(err, errlen,
		"pool minimums add up to %s, more than the region's %s; lower some pool's 'min'",
		fmt_size(sum, a, sizeof(a)), fmt_size(region_size, b, sizeof(b)));
	return -ENOSPC;
}

static bool has_uid(const struct class_config *cls, uid_t uid)
{
	for (unsigned u = 0; u < cls->nuids; u++)
		if (cls->uids[u] == uid)
			return true;
	return false;
}

static bool has_unit(const char (*units)[CONFIG_UNIT_MAX], unsigned n, const char *unit)
{
	for (unsigned u = 0; unit[0] && u < n; u++)
		if (!strcmp(units[u], unit))
			return true;
	return false;
}

static bool class_matches(const struct class_config *cls, const struct peer_identity *id)
{
	if (cls->nuser_units) /* uid and user unit, both */
		return has_uid(cls, id->uid) &&
		       has_unit(cls->user_units, cls->nuser_units, id->user_unit);
	if (has_uid(cls, id->uid))
		return true;
	for (unsigned g = 0; g < cls->ngids; g++) {
		if (cls->gids[g] == id->gid)
			return true;
		for (unsigned s = 0; id->groups && s < id->ngroups; s++)
			if (cls->gids[g] == id->groups[s])
				return true;
	}
	return has_unit(cls->units, cls->nunits, id->unit);
}

const struct class_config *config_match_identity(const struct config *c,
						 const struct peer_identity *id)
{
	for (unsigned i = 0; i < c->nclasses; i++)
		if (class_matches(&c->classes[i], id))
			return &c->classes[i];
	return &c->default_class;
}

const struct class_config *config_match(const struct config *c, uid_t uid, gid_t gid,
					const gid_t *groups, int ngroups, const char *unit)
{
	struct peer_identity id = {.uid = uid,
				   .gid = gid,
				   .groups = groups,
				   .ngroups = groups && ngroups > 0 ? (unsigned)ngroups : 0,
				   .unit_known = true};

	if (unit)
		snprintf(id.unit, sizeof(id.unit), "%s", unit);
	return config_match_identity(c, &id);
}

bool config_uses_units(const struct config *c)
{
	for (unsigned i = 0; i < c->nclasses; i++)
		if (c->classes[i].nunits || c->classes[i].nuser_units)
			return true;
	return false;
}

const struct pool_config *config_pool(const struct config *c, const char *name)
{
	for (unsigned i = 0; name && i < c->npools; i++)
		if (!strcmp(c->pools[i].name, name))
			return &c->pools[i];
	return NULL;
}
