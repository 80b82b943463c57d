/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the policy configuration parser (daemon/core/policy_config.c): values, every kind
 * of error with its line number and wording, and class matching. Files are written with
 * mkstemp under $TMPDIR (default /tmp). EXAMPLE_CONF, when defined, is the path of
 * docs/cmabufd.conf.example, which must parse.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_file.h"
#include "policy_config.h"

#define KiB (1024ULL)
#define MiB (1024ULL * KiB)
#define GiB (1024ULL * MiB)

/* ---- helpers ---------------------------------------------------------- */

static char last_path[512];
static char last_err[512];

/* Writes text to a fresh temp file, loads it, removes it. The path stays in last_path. */
static int load(const char *text, uint64_t region, struct config *c)
{
	const char *dir = getenv("TMPDIR");
	size_t len = strlen(text);
	int fd, r;

	snprintf(last_path, sizeof(last_path), "%s/cmabuf-config-XXXXXX",
		 dir && *dir ? dir : "/tmp");
	fd = mkstemp(last_path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
	last_err[0] = '\0';
	r = config_load(last_path, region, c, last_err, sizeof(last_err));
	unlink(last_path);
	return r;
}

/*
 * Loading text fails with -EINVAL and "PATH:LINE: ..." whose reason contains every one of the
 * given words (NULL-terminated). Prints what it got when not.
 */
static bool fails_at(const char *text, uint64_t region, unsigned line, ...)
{
	struct config c;
	char prefix[600];
	const char *word;
	bool ok = true;
	va_list ap;
	int r;

	r = load(text, region, &c);
	snprintf(prefix, sizeof(prefix), "%s:%u: ", last_path, line);
	if (r != -EINVAL || strncmp(last_err, prefix, strlen(prefix)))
		ok = false;
	va_start(ap, line);
	while ((word = va_arg(ap, const char *)))
		if (!strstr(last_err, word))
			ok = false;
	va_end(ap);
	if (!ok)
		print_error("config:\n%s\nreturned %d, expected line %u; got: %s\n", text, r, line,
			    last_err);
	return ok;
}

#define FAILS_AT(text, region, line, ...)                                                          \
	assert_true(fails_at(text, region, line, __VA_ARGS__, NULL))

static const struct class_config *find_class(const struct config *c, const char *name)
{
	for (unsigned i = 0; i < c->nclasses; i++)
		if (!strcmp(c->classes[i].name, name))
			return &c->classes[i];
	return NULL;
}

/* ---- values ----------------------------------------------------------- */

static void test_defaults(void **state)
{
	struct config c;

	(void)state;
	config_defaults(&c);
	assert_int_equal(c.npools, 1);
	assert_string_equal(c.pools[0].name, "default");
	assert_int_equal(c.pools[0].min, 0);
	assert_int_equal(c.pools[0].max, 0);
	assert_int_equal(c.nclasses, 0);
	assert_string_equal(c.default_class.name, "default");
	assert_string_equal(c.default_class.pool, "default");
	assert_int_equal(c.default_class.max_bytes, 0);
	assert_int_equal(c.default_class.max_buffers, 0);
	assert_int_equal(c.default_class.priority, 0);
	assert_false(c.default_class.dev_addr);
	assert_false(c.default_class.deny);
	assert_int_equal(c.reclaim_deadline_ms, 2000);
	assert_int_equal(c.uid_max_percent, 50); /* each uid but root: half the region */
	assert_int_equal(c.uid_max_bytes, 0);
}

static void test_empty_file_is_defaults(void **state)
{
	struct config c, d;

	(void)state;
	config_defaults(&d);
	assert_int_equal(load("", 256 * MiB, &c), 0);
	assert_memory_equal(&c, &d, sizeof(c));
	assert_int_equal(load("# nothing\n; at all\n\n   \n", 256 * MiB, &c), 0);
	assert_memory_equal(&c, &d, sizeof(c));
}

static const char full_example[] = "; a full configuration\n"
				   "[daemon]\n"
				   "reclaim-deadline = 500ms\n"
				   "\n"
				   "[pool camera]\n"
				   "min = 64M\n"
				   "max = 128MiB\n"
				   "\n"
				   "[pool display]\n"
				   "\tmin = 16M  ; indented, with an inline comment\n"
				   "\tmax = 0x2000000\n"
				   "\n"
				   "[class camera]\n"
				   "unit = camera.service\n"
				   "unit = isp.service, app-viewer@1.scope\n"
				   "pool = camera\n"
				   "max-bytes = 100M\n"
				   "max-buffers = 64\n"
				   "priority = 50\n"
				   "dev-addr = yes\n"
				   "\n"
				   "[class compositor]\n"
				   "uid = 0, 1000\n"
				   "gid = root\n"
				   "gid = 44\n"
				   "pool = display\n"
				   "priority = -20\n"
				   "dev-addr = true\n"
				   "deny = false\n"
				   "\n"
				   "[class banned]\n"
				   "uid = 666\n"
				   "deny = 1\n"
				   "\n"
				   "[class default]\n"
				   "max-bytes = 1G\n"
				   "max-buffers = unlimited\n"
				   "priority = +5\n"
				   "deny = no\n";

static void test_full_example(void **state)
{
	const struct class_config *cam, *comp, *ban;
	const struct pool_config *p;
	struct config c;

	(void)state;
	assert_int_equal(load(full_example, 256 * MiB, &c), 0);
	assert_int_equal(c.reclaim_deadline_ms, 500);

	assert_int_equal(c.npools, 3);
	p = config_pool(&c, "default");
	assert_non_null(p);
	assert_ptr_equal(p, &c.pools[0]);
	assert_int_equal(p->min, 0);
	assert_int_equal(p->max, 0);
	assert_int_equal(p->line, 0);
	p = config_pool(&c, "camera");
	assert_non_null(p);
	assert_int_equal(p->min, 64 * MiB);
	assert_int_equal(p->max, 128 * MiB);
	assert_int_equal(p->line, 5);
	p = config_pool(&c, "display");
	assert_non_null(p);
	assert_int_equal(p->min, 16 * MiB);
	assert_int_equal(p->max, 32 * MiB);
	assert_null(config_pool(&c, "nosuch"));
	assert_null(config_pool(&c, NULL));

	assert_int_equal(c.nclasses, 3);
	cam = &c.classes[0];
	assert_string_equal(cam->name, "camera");
	assert_int_equal(cam->line, 13);
	assert_int_equal(cam->nunits, 3);
	assert_string_equal(cam->units[0], "camera.service");
	assert_string_equal(cam->units[1], "isp.service");
	assert_string_equal(cam->units[2], "app-viewer@1.scope");
	assert_int_equal(cam->nuids, 0);
	assert_int_equal(cam->ngids, 0);
	assert_string_equal(cam->pool, "camera");
	assert_int_equal(cam->max_bytes, 100 * MiB);
	assert_int_equal(cam->max_buffers, 64);
	assert_int_equal(cam->priority, 50);
	assert_true(cam->dev_addr);
	assert_false(cam->deny);

	comp = &c.classes[1];
	assert_string_equal(comp->name, "compositor");
	assert_int_equal(comp->nuids, 2);
	assert_int_equal(comp->uids[0], 0);
	assert_int_equal(comp->uids[1], 1000);
	assert_int_equal(comp->ngids, 2);
	assert_int_equal(comp->gids[0], 0); /* "root" resolved */
	assert_int_equal(comp->gids[1], 44);
	assert_string_equal(comp->pool, "display");
	assert_int_equal(comp->max_bytes, 0);
	assert_int_equal(comp->max_buffers, 0);
	assert_int_equal(comp->priority, -20);
	assert_true(comp->dev_addr);
	assert_false(comp->deny);

	ban = &c.classes[2];
	assert_string_equal(ban->name, "banned");
	assert_string_equal(ban->pool, "default");
	assert_true(ban->deny);
	assert_false(ban->dev_addr);

	assert_string_equal(c.default_class.name, "default");
	assert_int_equal(c.default_class.line, 35);
	assert_string_equal(c.default_class.pool, "default");
	assert_int_equal(c.default_class.max_bytes, 1 * GiB);
	assert_int_equal(c.default_class.max_buffers, 0);
	assert_int_equal(c.default_class.priority, 5);
	assert_false(c.default_class.deny);
}

static void test_example_file(void **state)
{
#ifdef EXAMPLE_CONF
	const struct class_config *cls;
	struct config c;
	char err[512] = "";
	int r;

	(void)state;
	/* Debian's base-passwd makes it everywhere, minbase included: its absence is a finding. */
	if (!getgrnam("video"))
		fail_msg("no group 'video' on this system: the shipped example names it");
	r = config_load(EXAMPLE_CONF, 256 * MiB, &c, err, sizeof(err));
	if (r)
		print_error("%s\n", err);
	assert_int_equal(r, 0);
	assert_int_equal(config_pool(&c, "camera")->min, 64 * MiB);
	cls = config_match(&c, 1234, 1234, NULL, 0, "camera.service");
	assert_string_equal(cls->name, "camera");
	assert_string_equal(cls->pool, "camera");
	assert_true(cls->dev_addr);
	cls = config_match(&c, 1234, 1234, NULL, 0, NULL);
	assert_ptr_equal(cls, &c.default_class);
	assert_false(cls->deny);
	/* and it is refused when the region cannot hold the camera's guarantee */
	r = config_load(EXAMPLE_CONF, 32 * MiB, &c, err, sizeof(err));
	assert_int_equal(r, -EINVAL);
	assert_non_null(strstr(err, "64 MiB"));
	assert_non_null(strstr(err, "32 MiB"));
#else
	(void)state;
	fail_msg("EXAMPLE_CONF not defined at build time: tests/unit/meson.build defines it");
#endif
}

static void test_sizes(void **state)
{
	/* Decimal or 0x hex, as docs/config.md says: a leading zero is not octal. */
	static const struct {
		const char *text;
		uint64_t bytes;
	} cases[] = {
		{"4096", 4096},	     {"64k", 64 * KiB},	 {"64K", 64 * KiB}, {"64M", 64 * MiB},
		{"64MiB", 64 * MiB}, {"64MB", 64 * MiB}, {"1G", GiB},	    {"2Gi", 2 * GiB},
		{"0x100000", MiB},   {"0", 0},		 {"010", 10},	    {"064M", 64 * MiB},
		{"08", 8},
	};
	char text[128];
	struct config c;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text),
			 "[pool p]\nmin = %s\n[class x]\nuid = 7\nmax-bytes = %s\n", cases[i].text,
			 cases[i].text);
		assert_int_equal(load(text, 0, &c), 0);
		assert_int_equal(config_pool(&c, "p")->min, cases[i].bytes);
		assert_int_equal(c.classes[0].max_bytes, cases[i].bytes);
	}
	assert_int_equal(
		load("[pool p]\nmax = unlimited\n[class x]\nuid = 1\nmax-bytes = none\n", 0, &c),
		0);
	assert_int_equal(config_pool(&c, "p")->max, 0);
	assert_int_equal(c.classes[0].max_bytes, 0);
}

static void test_reclaim_deadline(void **state)
{
	static const struct {
		const char *text;
		uint32_t ms;
	} cases[] = {{"2s", 2000}, {"500ms", 500}, {"2000", 2000}, {"1", 1}, {"600s", 600000}};
	char text[128];
	struct config c;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "[daemon]\nreclaim-deadline = %s\n", cases[i].text);
		assert_int_equal(load(text, 0, &c), 0);
		assert_int_equal(c.reclaim_deadline_ms, cases[i].ms);
	}
}

/* [daemon] max-bytes-per-uid: a size, a percentage of the region, or no limit. */
static void test_uid_limit(void **state)
{
	static const struct {
		const char *text;
		uint64_t bytes;
		uint32_t percent;
	} cases[] = {{"64M", 64ull << 20, 0}, {"25%", 0, 25},	   {"1%", 0, 1},
		     {"100%", 0, 100},	      {"unlimited", 0, 0}, {"0", 0, 0}};
	static const char *const bad[] = {"0%", "101%", "%", "50 %", "-5%", "half", "1.5%"};
	char text[128];
	struct config c;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "[daemon]\nmax-bytes-per-uid = %s\n", cases[i].text);
		assert_int_equal(load(text, 0, &c), 0);
		assert_int_equal(c.uid_max_bytes, cases[i].bytes);
		assert_int_equal(c.uid_max_percent, cases[i].percent);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "[daemon]\nmax-bytes-per-uid = %s\n", bad[i]);
		assert_true(fails_at(text, 0, 2, "max-bytes-per-uid", "percentage", NULL));
	}
	/* Not a class key: one limit for each uid, whatever classes its clients are in. */
	assert_true(
		fails_at("[class default]\nmax-bytes-per-uid = 1M\n", 0, 2, "unknown key", NULL));
}

static void test_booleans(void **state)
{
	static const char *const yes[] = {"yes", "YES", "true", "True", "1", "on"};
	static const char *const no[] = {"no", "No", "false", "FALSE", "0", "off"};
	char text[128];
	struct config c;

	(void)state;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		snprintf(text, sizeof(text), "[class a]\nuid = 1\ndev-addr = %s\ndeny = %s\n",
			 yes[i], no[i]);
		assert_int_equal(load(text, 0, &c), 0);
		assert_true(c.classes[0].dev_addr);
		assert_false(c.classes[0].deny);
		snprintf(text, sizeof(text), "[class a]\nuid = 1\ndev-addr = %s\ndeny = %s\n",
			 no[i], yes[i]);
		assert_int_equal(load(text, 0, &c), 0);
		assert_false(c.classes[0].dev_addr);
		assert_true(c.classes[0].deny);
	}
}

static void test_default_pool_declared(void **state)
{
	struct config c;

	(void)state;
	assert_int_equal(
		load("[pool default]\nmin = 8M\nmax = 64M\n[pool camera]\n", 256 * MiB, &c), 0);
	assert_int_equal(c.npools, 2);
	assert_string_equal(c.pools[0].name, "default");
	assert_int_equal(c.pools[0].min, 8 * MiB);
	assert_int_equal(c.pools[0].max, 64 * MiB);
	assert_int_equal(c.pools[0].line, 1);
	/* an empty section still declares its pool */
	assert_non_null(config_pool(&c, "camera"));
	assert_int_equal(config_pool(&c, "camera")->min, 0);
}

static void test_forward_pool_reference(void **state)
{
	struct config c;

	(void)state;
	assert_int_equal(load("[class a]\nuid = 1\npool = later\n[pool later]\nmin = 1M\n", 0, &c),
			 0);
	assert_string_equal(c.classes[0].pool, "later");
}

static void test_string_and_region_check(void **state)
{
	struct config c;
	char err[256];

	(void)state;
	assert_int_equal(config_parse_string("[pool a]\nmin = 200M\n[pool b]\nmin = 100M\n",
					     "inline", 0, &c, err, sizeof(err)),
			 0);
	assert_int_equal(config_check_region(&c, 300 * MiB, err, sizeof(err)), 0);
	assert_int_equal(config_check_region(&c, 256 * MiB, err, sizeof(err)), -ENOSPC);
	assert_non_null(strstr(err, "300 MiB"));
	assert_non_null(strstr(err, "256 MiB"));
	assert_int_equal(
		config_parse_string("[pool a]\nmin = lots\n", "inline", 0, &c, err, sizeof(err)),
		-EINVAL);
	assert_non_null(strstr(err, "inline:2: "));
}

/* ---- errors ----------------------------------------------------------- */

static void test_missing_file(void **state)
{
	struct config c;
	char err[256];

	(void)state;
	assert_int_equal(config_load("/nonexistent/cmabufd.conf", 0, &c, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/cmabufd.conf"));
	assert_non_null(strstr(err, "no such file"));
	assert_int_equal(config_load("/", 0, &c, err, sizeof(err)), -EISDIR);
	assert_non_null(strstr(err, "/: cannot read"));
	/* no buffer for the message is fine too */
	assert_int_equal(config_load("/nonexistent/cmabufd.conf", 0, &c, NULL, 0), -ENOENT);
}

static void test_error_leaves_output_untouched(void **state)
{
	struct config c, before;

	(void)state;
	memset(&c, 0x5a, sizeof(c));
	memcpy(&before, &c, sizeof(c));
	assert_int_equal(load("[pool a]\nmin = 1M\n[class x]\nuid = 1\npriority = 1000\n", 0, &c),
			 -EINVAL);
	assert_memory_equal(&c, &before, sizeof(c));
}

static void test_error_unknown_section_and_key(void **state)
{
	(void)state;
	FAILS_AT("[daemon]\n[pools camera]\n", 0, 2, "unknown section '[pools camera]'",
		 "[daemon], [pool NAME], [class NAME]");
	FAILS_AT("[pool camera]\nmin = 1M\nsize = 4M\n", 0, 3, "unknown key 'size'",
		 "[pool camera]", "valid keys: min, max");
	FAILS_AT("[class a]\nuid = 1\nprio = 5\n", 0, 3, "unknown key 'prio'",
		 "uid, gid, unit, user-unit, pool, max-bytes, max-buffers, priority, dev-addr, "
		 "deny");
	FAILS_AT("[daemon]\ndeadline = 2s\n", 0, 2, "unknown key 'deadline'",
		 "valid keys: reclaim-deadline");
	FAILS_AT("min = 1M\n", 0, 1, "'min' is outside any section");
	FAILS_AT("[pool]\n", 0, 1, "[pool] needs a name");
	FAILS_AT("[class]\n", 0, 1, "[class] needs a name");
	FAILS_AT("[daemon x]\n", 0, 1, "[daemon] takes no name");
	FAILS_AT("[pool two words]\n", 0, 1, "pool name 'two words' is not valid");
	FAILS_AT("[pool aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\n", 0, 1, "not valid", "31");
	FAILS_AT("\n\n[pool camera\nmin = 1M\n", 0, 3, "closing ']'");
	FAILS_AT("[pool camera] min = 1M\n", 0, 1, "unexpected text after ']'");
	FAILS_AT("[pool a]\nmin = 1M\njust some words\n", 0, 3, "expected 'key = value'");
}

static void test_error_bad_values(void **state)
{
	(void)state;
	FAILS_AT("[pool a]\nmin = 64X\n", 0, 2, "'min = 64X'", "expected a size", "64M");
	FAILS_AT("[pool a]\nmin = unlimited\n", 0, 2, "'min = unlimited'", "expected a size");
	FAILS_AT("[pool a]\nmax = -1\n", 0, 2, "expected a size", "unlimited");
	FAILS_AT("[pool a]\nmax = +1\n", 0, 2, "expected a size", "unlimited");
	FAILS_AT("[pool a]\nmin = 0x\n", 0, 2, "expected a size");
	FAILS_AT("[pool a]\nmin = 64M # camera\n", 0, 2, "expected a size");
	FAILS_AT("[class a]\nuid = 1\nmax-bytes = lots\n", 0, 3, "expected a size");
	FAILS_AT("[class a]\nuid = 1\nmax-buffers = -1\n", 0, 3, "expected a whole number");
	FAILS_AT("[class a]\nuid = 1\nmax-buffers = 4294967296\n", 0, 3, "0 to 4294967295");
	FAILS_AT("[class a]\nuid = 1\npriority = 101\n", 0, 3, "'priority = 101'", "-100 to 100");
	FAILS_AT("[class a]\nuid = 1\npriority = -101\n", 0, 3, "-100 to 100");
	FAILS_AT("[class a]\nuid = 1\npriority = high\n", 0, 3, "-100 to 100");
	FAILS_AT("[class a]\nuid = 1\ndev-addr = maybe\n", 0, 3, "'dev-addr = maybe'",
		 "expected yes or no");
	FAILS_AT("[class a]\nuid = 1\ndeny = \n", 0, 3, "'deny = '", "expected yes or no");
	FAILS_AT("[daemon]\nreclaim-deadline = 0\n", 0, 2, "1ms to 600s");
	FAILS_AT("[daemon]\nreclaim-deadline = 2min\n", 0, 2, "'reclaim-deadline = 2min'",
		 "e.g. 2s, 500ms");
	FAILS_AT("[daemon]\nreclaim-deadline = 601s\n", 0, 2, "1ms to 600s");
	FAILS_AT("[class a]\nuid = 4294967295\n", 0, 2, "uid out of range");
	FAILS_AT("[class a]\nuid = 0,,1\n", 0, 2, "empty item");
	FAILS_AT("[class a]\nuid = 0,\n", 0, 2, "empty item");
	FAILS_AT("[class a]\nunit = camera\n", 0, 2, "'unit = camera'", ".service or .scope",
		 "camera.service");
	FAILS_AT("[class a]\nunit = a b.service\n", 0, 2, "'unit = a b.service'");
	FAILS_AT("[class a]\nuid = 1\npool = bad name\n", 0, 3, "expected a pool name");
}

static void test_error_unknown_names(void **state)
{
	(void)state;
	FAILS_AT("[class a]\nuid = root, no-such-user-cmabuf\n", 0, 2,
		 "unknown user 'no-such-user-cmabuf'", "use a known name or a number");
	FAILS_AT("[class a]\n\ngid = no-such-group-cmabuf\n", 0, 3,
		 "unknown group 'no-such-group-cmabuf'");
	FAILS_AT("[pool camera]\n[class a]\nuid = 1\npool = camra\n", 0, 4,
		 "class 'a' uses pool 'camra', which is not defined", "[pool camra]",
		 "default, camera");
	FAILS_AT("[class default]\npool = nosuch\n", 0, 2, "class 'default'", "'nosuch'");
}

static void test_error_duplicates(void **state)
{
	(void)state;
	FAILS_AT("[pool camera]\nmin = 1M\n\n[pool camera]\n", 0, 4,
		 "pool 'camera' is defined twice", "first on line 1");
	FAILS_AT("[pool default]\n[pool default]\n", 0, 2, "pool 'default' is defined twice");
	FAILS_AT("[class a]\nuid = 1\n[class a]\nuid = 2\n", 0, 3, "class 'a' is defined twice",
		 "first on line 1");
	FAILS_AT("[class default]\n[class default]\n", 0, 2, "class 'default' is defined twice");
	FAILS_AT("[daemon]\n[daemon]\n", 0, 2, "[daemon] appears twice");
	FAILS_AT("[pool a]\nmin = 1M\nmin = 2M\n", 0, 3, "'min' is set twice in [pool a]",
		 "first on line 2");
	FAILS_AT("[class a]\nuid = 1\npriority = 1\npriority = 2\n", 0, 4,
		 "'priority' is set twice in [class a]");
}

static void test_error_contradictions(void **state)
{
	(void)state;
	FAILS_AT("[pool a]\nmin = 128M\nmax = 64M\n", 0, 3, "pool 'a'",
		 "min (128 MiB) is larger than max (64 MiB)");
	FAILS_AT("[pool a]\nmax = 64M\nmin = 65M\n", 0, 3, "min (65 MiB)");
	FAILS_AT("[pool a]\nmin = 200M\n[pool b]\nmin = 100M\n", 256 * MiB, 4,
		 "pool minimums add up to 300 MiB", "region's 256 MiB", "pool 'b'");
	FAILS_AT("[pool a]\nmin = 300M\n", 256 * MiB, 2, "300 MiB", "256 MiB");
	FAILS_AT("[pool a]\nmin = 4096\n[pool b]\nmin = 0xffffffffffffffff\n", 256 * MiB, 4,
		 "add up to", "256 MiB");
	FAILS_AT("[class a]\npool = default\n", 0, 1, "class 'a' matches no client",
		 "uid =, gid = or unit =");
	FAILS_AT("[class default]\nuid = 1000\n", 0, 2, "'uid' is not allowed in [class default]");
	FAILS_AT("[class default]\nunit = x.service\n", 0, 2, "'unit' is not allowed");
}

static void test_error_too_many(void **state)
{
	char text[4096];
	size_t n = 0;

	(void)state;
	n = (size_t)snprintf(text, sizeof(text), "[class a]\nuid = 0");
	for (int i = 1; i < CONFIG_MAX_IDS; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, ",%d", i);
	snprintf(text + n, sizeof(text) - n, "\nuid = 99\n");
	FAILS_AT(text, 0, 3, "too many uids in class 'a'", "at most 16");

	n = (size_t)snprintf(text, sizeof(text), "[class a]\n");
	for (int i = 0; i <= CONFIG_MAX_IDS; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "gid = %d\n", i);
	FAILS_AT(text, 0, 18, "too many gids", "at most 16");

	n = (size_t)snprintf(text, sizeof(text), "[class a]\n");
	for (int i = 0; i <= CONFIG_MAX_UNITS; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "unit = u%d.service\n", i);
	FAILS_AT(text, 0, 10, "too many units", "at most 8");

	n = 0;
	for (int i = 1; i < CONFIG_MAX_POOLS; i++) /* 15 + the implicit default = 16 */
		n += (size_t)snprintf(text + n, sizeof(text) - n, "[pool p%d]\n", i);
	snprintf(text + n, sizeof(text) - n, "[pool one-too-many]\n");
	FAILS_AT(text, 0, 16, "too many pools", "at most 16");

	n = 0;
	for (int i = 0; i < CONFIG_MAX_CLASSES; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "[class c%d]\nuid=%d\n", i, i);
	snprintf(text + n, sizeof(text) - n, "[class default]\n[class one-too-many]\n");
	FAILS_AT(text, 0, 66, "too many classes", "at most 32");
}

static void test_error_long_line(void **state)
{
	char text[2600];
	int n;

	(void)state;
	n = snprintf(text, sizeof(text), "[class a]\n# %0400d\nunit = ", 0);
	memset(text + n, 'x', 300);
	snprintf(text + n + 300, sizeof(text) - (size_t)n - 300, ".service\n");
	FAILS_AT(text, 0, 3, "line is too long");
	/* longer than our own line buffer */
	n = snprintf(text, sizeof(text), "[pool a]\n\n\nmin = ");
	memset(text + n, '1', 2000);
	snprintf(text + n + 2000, sizeof(text) - (size_t)n - 2000, "\nmax = 1\n");
	FAILS_AT(text, 0, 4, "line is too long");
}

/*
 * Indentation is whatever inih skips (isspace(), and a byte-order mark on line 1): a line
 * indented with \v or \f was once an inih continuation of the previous value (an extra uid!)
 * and a header indented so changed the section behind the parser's back. Found by fuzz_config.
 */
static void test_indentation(void **state)
{
	struct config c;

	(void)state;
	FAILS_AT("[class a]\nuid = 1\n\v2\n", 0, 3, "expected 'key = value'");
	assert_int_equal(load("[class a]\nuid = 1\n[class b]\nuid = 2\n\f\r\v [class c]\n"
			      "\v\tmax-bytes = 1M\n\vuid = 3\n",
			      0, &c),
			 0);
	assert_int_equal(c.nclasses, 3);
	assert_int_equal(c.classes[1].nuids, 1);
	assert_int_equal(c.classes[1].max_bytes, 0);
	assert_string_equal(c.classes[2].name, "c");
	assert_int_equal(c.classes[2].max_bytes, MiB);
	assert_int_equal(c.classes[2].uids[0], 3);
	assert_int_equal(load(" \xEF\xBB\xBF\xEF\xBB\xBF [class a]\nuid = 1\n", 0, &c), 0);
	assert_string_equal(c.classes[0].name, "a");
}

static void test_error_first_one_wins(void **state)
{
	(void)state;
	/* inih's syntax error comes before ours */
	FAILS_AT("[pool a]\nwhat\nmin = bad\n", 0, 2, "expected 'key = value'");
	/* ours comes first */
	FAILS_AT("[pool a]\nmin = bad\nwhat\n", 0, 2, "expected a size");
	/* a whole-file check only runs on an otherwise good file */
	FAILS_AT("[class a]\nuid = 1\npool = nosuch\n[pool b]\nmax = x\n", 0, 5, "expected a size");
}

/* ---- matching --------------------------------------------------------- */

static const char match_conf[] = "[class cam]\n"
				 "unit = camera.service\n"
				 "[class by-uid]\n"
				 "uid = 1000\n"
				 "[class by-gid]\n"
				 "gid = 44, 45\n"
				 "[class blocked]\n"
				 "uid = 666\n"
				 "deny = yes\n"
				 "[class later]\n"
				 "uid = 1000\n"
				 "gid = 1000\n";

static void test_match(void **state)
{
	const gid_t supp[] = {10, 20, 45};
	const gid_t other[] = {10, 20};
	const struct class_config *m;
	struct config c;

	(void)state;
	assert_int_equal(load(match_conf, 0, &c), 0);

	/* by uid */
	m = config_match(&c, 1000, 100, NULL, 0, NULL);
	assert_string_equal(m->name, "by-uid");
	/* by primary gid */
	m = config_match(&c, 2000, 44, NULL, 0, NULL);
	assert_string_equal(m->name, "by-gid");
	/* by supplementary gid */
	m = config_match(&c, 2000, 100, supp, 3, NULL);
	assert_string_equal(m->name, "by-gid");
	m = config_match(&c, 2000, 100, other, 2, NULL);
	assert_ptr_equal(m, &c.default_class);
	/* ngroups bounds the array */
	m = config_match(&c, 2000, 100, supp, 2, NULL);
	assert_ptr_equal(m, &c.default_class);
	/* by unit */
	m = config_match(&c, 2000, 100, NULL, 0, "camera.service");
	assert_string_equal(m->name, "cam");
	m = config_match(&c, 2000, 100, NULL, 0, "camera2.service");
	assert_ptr_equal(m, &c.default_class);
	/* first match wins: uid 1000 in the camera unit is "cam", not "by-uid" or "later" */
	m = config_match(&c, 1000, 44, supp, 3, "camera.service");
	assert_string_equal(m->name, "cam");
	/* uid 1000 with gid 44 is "by-uid" (earlier than by-gid) */
	m = config_match(&c, 1000, 44, NULL, 0, NULL);
	assert_string_equal(m->name, "by-uid");
	/* "later" is reachable only through what earlier classes do not claim */
	m = config_match(&c, 3000, 1000, NULL, 0, NULL);
	assert_string_equal(m->name, "later");
	/* deny */
	m = config_match(&c, 666, 666, NULL, 0, NULL);
	assert_string_equal(m->name, "blocked");
	assert_true(m->deny);
	/* unmatched */
	m = config_match(&c, 4242, 4242, NULL, 0, "other.service");
	assert_ptr_equal(m, &c.default_class);
	assert_false(m->deny);
	assert_non_null(find_class(&c, "later"));
}

static void test_match_default_deny(void **state)
{
	const struct class_config *m;
	struct config c;

	(void)state;
	assert_int_equal(load("[class ok]\nuid = 0\n[class default]\ndeny = yes\n", 0, &c), 0);
	m = config_match(&c, 0, 0, NULL, 0, NULL);
	assert_string_equal(m->name, "ok");
	assert_false(m->deny);
	m = config_match(&c, 1000, 1000, NULL, 0, NULL);
	assert_ptr_equal(m, &c.default_class);
	assert_true(m->deny);

	/* no file: everyone is the default class */
	config_defaults(&c);
	m = config_match(&c, 0, 0, NULL, 0, "camera.service");
	assert_ptr_equal(m, &c.default_class);
}

/*
 * A user names its own units (systemd-run --user --unit=camera.service): such a unit is never
 * a system unit, whatever its name, and user-unit = counts only together with the uid.
 */
static void test_match_user_unit(void **state)
{
	struct peer_identity sys = {
		.uid = 1234, .gid = 1234, .unit = "camera.service", .unit_known = true};
	struct peer_identity user = {.uid = 1234,
				     .gid = 1234,
				     .unit = "user@1234.service",
				     .user_unit = "camera.service",
				     .unit_known = true};
	struct peer_identity other = user;
	const struct class_config *m;
	struct config c;

	(void)state;
	assert_int_equal(load("[class cam]\nunit = camera.service\ndev-addr = yes\n"
			      "[class mine]\nuid = 1234\nuser-unit = camera.service, "
			      "viewer.service\n",
			      0, &c),
			 0);
	assert_true(config_uses_units(&c));
	m = config_match_identity(&c, &sys);
	assert_string_equal(m->name, "cam");
	m = config_match_identity(&c, &user);
	assert_string_equal(m->name, "mine");
	other.uid = 4321; /* the same unit name in another user's manager */
	m = config_match_identity(&c, &other);
	assert_ptr_equal(m, &c.default_class);
	other = user; /* the uid alone is not enough */
	other.user_unit[0] = '\0';
	m = config_match_identity(&c, &other);
	assert_ptr_equal(m, &c.default_class);
	assert_int_equal(c.classes[1].nuser_units, 2);
	assert_string_equal(c.classes[1].user_units[1], "viewer.service");

	FAILS_AT("[class a]\nuser-unit = camera.service\n", 0, 1, "class 'a'",
		 "only together with uid =");
	FAILS_AT("[class a]\nuid = 1\ngid = 2\nuser-unit = camera.service\n", 0, 1,
		 "not beside gid = or unit =");
	FAILS_AT("[class a]\nuid = 1\nunit = b.service\nuser-unit = camera.service\n", 0, 1,
		 "not beside gid = or unit =");
	FAILS_AT("[class a]\nuid = 1\nuser-unit = camera\n", 0, 3, "'user-unit = camera'",
		 "ending in .service or .scope");
	assert_int_equal(load("[class a]\nuid = 1\n", 0, &c), 0);
	assert_false(config_uses_units(&c));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_empty_file_is_defaults),
		cmocka_unit_test(test_full_example),
		cmocka_unit_test(test_example_file),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_reclaim_deadline),
		cmocka_unit_test(test_uid_limit),
		cmocka_unit_test(test_booleans),
		cmocka_unit_test(test_default_pool_declared),
		cmocka_unit_test(test_forward_pool_reference),
		cmocka_unit_test(test_string_and_region_check),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_error_leaves_output_untouched),
		cmocka_unit_test(test_error_unknown_section_and_key),
		cmocka_unit_test(test_error_bad_values),
		cmocka_unit_test(test_error_unknown_names),
		cmocka_unit_test(test_error_duplicates),
		cmocka_unit_test(test_error_contradictions),
		cmocka_unit_test(test_error_too_many),
		cmocka_unit_test(test_error_long_line),
		cmocka_unit_test(test_indentation),
		cmocka_unit_test(test_error_first_one_wins),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_match_default_deny),
		cmocka_unit_test(test_match_user_unit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
