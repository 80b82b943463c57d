/* SPDX-License-Identifier: MIT */
/*
 * The policy file parser (daemon/core/policy_config.c over inih) on arbitrary text.
 * The file is root's, but a reload must never take the daemon down, and the
 * parser promises more than not crashing: *out untouched and a located reason
 * on failure, and a result that the rest of the daemon may trust on success
 * (every class names an existing pool, limits in range, minimums that fit).
 *
 * Each input is parsed twice: with the region unknown (0, as at startup before
 * the backend is open) and with a 256 MiB region, whose only difference must
 * be config_check_region()'s verdict. The second parse writes its reason into
 * a buffer of a size taken from the input, so truncation is exercised too.
 * A third parse of the same text without indentation must agree with the first.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "policy_config.h"

#define REGION (256ull << 20)
#define NAME   "fuzz.conf"
#define SLOTS  (CONFIG_MAX_CLASSES + 1) /* classes, then the default class */

static void check_terminated(const char *s, size_t cap)
{
	FUZZ_CHECK(memchr(s, '\0', cap) != NULL);
}

static const struct class_config *class_at(const struct config *c, unsigned i)
{
	return i < c->nclasses ? &c->classes[i] : &c->default_class;
}

static void check_config(const struct config *c, uint64_t region_size)
{
	uint64_t sum = 0;

	FUZZ_CHECK(c->npools >= 1 && c->npools <= CONFIG_MAX_POOLS);
	FUZZ_CHECK(strcmp(c->pools[0].name, CONFIG_DEFAULT_POOL) == 0);
	FUZZ_CHECK(c->nclasses <= CONFIG_MAX_CLASSES);
	FUZZ_CHECK(c->reclaim_deadline_ms <= CONFIG_RECLAIM_DEADLINE_MAX_MS);
	/* max-bytes-per-uid: a percentage of 1..100 or bytes, never both */
	FUZZ_CHECK(c->uid_max_percent <= 100);
	FUZZ_CHECK(!c->uid_max_percent || !c->uid_max_bytes);
	for (unsigned i = 0; i < c->npools; i++) {
		const struct pool_config *p = &c->pools[i];

		check_terminated(p->name, sizeof(p->name));
		FUZZ_CHECK(p->name[0] != '\0');
		FUZZ_CHECK(!p->max || p->min <= p->max);
		FUZZ_CHECK(config_pool(c, p->name) == p); /* names are unique */
		sum += p->min;
	}
	FUZZ_CHECK(!region_size || sum <= region_size);
	for (unsigned i = 0; i <= c->nclasses; i++) {
		const struct class_config *cls = class_at(c, i);

		check_terminated(cls->name, sizeof(cls->name));
		check_terminated(cls->pool, sizeof(cls->pool));
		FUZZ_CHECK(config_pool(c, cls->pool) != NULL);
		FUZZ_CHECK(cls->nuids <= CONFIG_MAX_IDS && cls->ngids <= CONFIG_MAX_IDS);
		FUZZ_CHECK(cls->nunits <= CONFIG_MAX_UNITS && cls->nuser_units <= CONFIG_MAX_UNITS);
		for (unsigned u = 0; u < cls->nunits; u++)
			check_terminated(cls->units[u], CONFIG_UNIT_MAX);
		for (unsigned u = 0; u < cls->nuser_units; u++)
			check_terminated(cls->user_units[u], CONFIG_UNIT_MAX);
		/* A user's own unit name counts only with its uid. */
		FUZZ_CHECK(!cls->nuser_units || (cls->nuids && !cls->ngids && !cls->nunits));
		FUZZ_CHECK(cls->priority >= CONFIG_PRIORITY_MIN &&
			   cls->priority <= CONFIG_PRIORITY_MAX);
		/* Only the default class may match nobody: it is the fallback. */
		FUZZ_CHECK(i == c->nclasses || cls->nuids || cls->ngids || cls->nunits);
	}
	for (unsigned i = 0; i < c->nclasses; i++) {
		const struct class_config *cls = &c->classes[i];
		const struct class_config *m;

		/* A class's own first matcher finds it or an earlier class: first match wins. */
		if (cls->nuser_units) {
			struct peer_identity id = {.uid = cls->uids[0], .gid = (gid_t)-2};

			snprintf(id.user_unit, sizeof(id.user_unit), "%s", cls->user_units[0]);
			m = config_match_identity(c, &id);
			/* and never by the uid alone, nor by the same name as a system unit */
			FUZZ_CHECK(config_match(c, cls->uids[0], (gid_t)-2, NULL, 0, NULL) != cls);
			FUZZ_CHECK(config_match(c, cls->uids[0], (gid_t)-2, NULL, 0,
						cls->user_units[0]) != cls);
		} else if (cls->nunits)
			m = config_match(c, (uid_t)-2, (gid_t)-2, NULL, 0, cls->units[0]);
		else if (cls->nuids)
			m = config_match(c, cls->uids[0], (gid_t)-2, NULL, 0, NULL);
		else
			m = config_match(c, (uid_t)-2, cls->gids[0], NULL, 0, NULL);
		FUZZ_CHECK(m >= c->classes && m <= cls);
	}
}

/* A failure leaves *out as it was and says where: "fuzz.conf..." in whatever room there is. */
static void check_failure(int r, const struct config *out, const char *err, size_t errlen)
{
	static struct config untouched;

	FUZZ_CHECK(r == -EINVAL || r == -ENOMEM || r == -ENOSPC);
	memset(&untouched, 0x5a, sizeof(untouched));
	FUZZ_CHECK(memcmp(out, &untouched, sizeof(untouched)) == 0);
	check_terminated(err, errlen);
	FUZZ_CHECK(strncmp(err, NAME, errlen - 1 < strlen(NAME) ? errlen - 1 : strlen(NAME)) == 0 ||
		   r == -ENOMEM);
}

/*
 * The text with every line's leading whitespace removed (any isspace() byte, as inih sees it;
 * and on the first line byte-order marks too), or NULL when a line is long enough for the
 * removal to change the "line is too long" verdict.
 */
static char *strip_indentation(const char *text)
{
	char *out = malloc(strlen(text) + 1), *o = out;
	const char *line = text;

	FUZZ_CHECK(out);
	for (unsigned lineno = 1; *line; lineno++) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);

		if (len > 150) {
			free(out);
			return NULL;
		}
		for (;;) {
			if (*line != '\n' && isspace((unsigned char)*line))
				line++;
			else if (lineno == 1 && !strncmp(line, "\xEF\xBB\xBF", 3))
				line += 3;
			else
				break;
		}
		while (*line && *line != '\n')
			*o++ = *line++;
		if (*line)
			*o++ = *line++;
	}
	*o = '\0';
	return out;
}

/*
 * Indentation means nothing: an indented key is a key (never an inih continuation of the
 * previous value) and an indented header opens its section. The same file unindented must
 * parse to the same verdict and the same policy.
 */
static void check_indentation(const char *text, int r0, const struct config *cfg0)
{
	static struct config flat;
	char err[512], *unindented = strip_indentation(text);
	int r;

	if (!unindented)
		return;
	memset(&flat, 0x5a, sizeof(flat));
	r = config_parse_string(unindented, NAME, 0, &flat, err, sizeof(err));
	FUZZ_CHECK(r == r0);
	if (r == 0)
		FUZZ_CHECK(memcmp(&flat, cfg0, sizeof(flat)) == 0);
	free(unindented);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config cfg0, cfg1;
	size_t errlen = 1 + (size ? data[size - 1] % 96 : 0);
	char err0[512], *err1 = malloc(errlen), *text = malloc(size + 1);
	int r0, r1;

	FUZZ_CHECK(err1 && text);
	memcpy(text, data, size);
	text[size] = '\0';

	memset(&cfg0, 0x5a, sizeof(cfg0));
	memset(&cfg1, 0x5a, sizeof(cfg1));
	r0 = config_parse_string(text, NAME, 0, &cfg0, err0, sizeof(err0));
	r1 = config_parse_string(text, NAME, REGION, &cfg1, err1, errlen);
	if (r0 == 0)
		check_config(&cfg0, 0);
	else
		check_failure(r0, &cfg0, err0, sizeof(err0));
	if (r1 == 0) {
		check_config(&cfg1, REGION);
		FUZZ_CHECK(r0 == 0 && memcmp(&cfg0, &cfg1, sizeof(cfg0)) == 0);
	} else {
		check_failure(r1, &cfg1, err1, errlen);
	}
	if (r0 == 0)
		FUZZ_CHECK((r1 == 0) ==
			   (config_check_region(&cfg0, REGION, err0, sizeof(err0)) == 0));
	check_indentation(text, r0, &cfg0);
	free(err1);
	free(text);
	return 0;
}
