/* SPDX-License-Identifier: MIT */
#include <stdlib.h>

#include "uid_usage.h"

static int uid_usage_cmp(const struct uid_usage *a, const struct uid_usage *b)
{
	return a->uid < b->uid ? -1 : a->uid > b->uid;
}

RB_GENERATE_LOCAL(uid_usage_tree, uid_usage, link, uid_usage_cmp)

static struct uid_usage *find(const struct uid_usage_tree *t, uid_t uid)
{
	struct uid_usage key = {.uid = uid};

	return RB_FIND(uid_usage_tree, (struct uid_usage_tree *)t, &key);
}

struct uid_usage *uid_usage_get(struct uid_usage_tree *t, uid_t uid)
{
	struct uid_usage *u = find(t, uid);

	if (!u) {
		u = calloc(1, sizeof(*u));
		if (!u)
			return NULL;
		u->uid = uid;
		RB_INSERT(uid_usage_tree, t, u);
	}
	u->buffers++;
	return u;
}

void uid_usage_put(struct uid_usage_tree *t, struct uid_usage *u)
{
	if (--u->buffers)
		return;
	RB_REMOVE(uid_usage_tree, t, u);
	free(u);
}

uint64_t uid_usage_bytes(const struct uid_usage_tree *t, uid_t uid)
{
	const struct uid_usage *u = find(t, uid);

	return u ? u->bytes : 0;
}
