/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "log.h"
#include "uid_fds.h"

#define BUCKETS 256

struct uid_count {
	uid_t uid;
	unsigned held;
	bool warned; /* told the log this uid reached its share, until it falls to half */
	struct uid_count *next;
};

struct uid_fds {
	struct uid_count *bucket[BUCKETS];
};

struct uid_fds *uid_fds_new(void)
{
	return calloc(1, sizeof(struct uid_fds));
}

void uid_fds_free(struct uid_fds *u)
{
	unsigned i;

	if (!u)
		return;
	for (i = 0; i < BUCKETS; i++)
		while (u->bucket[i]) {
			struct uid_count *c = u->bucket[i];

			u->bucket[i] = c->next;
			free(c);
		}
	free(u);
}

unsigned uid_fds_share(void)
{
	struct rlimit rl;
	rlim_t share;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return UINT32_MAX;
	share = rl.rlim_cur / 4;
	return share < UID_FDS_MIN  ? UID_FDS_MIN
	       : share > UINT32_MAX ? UINT32_MAX
				    : (unsigned)share;
}

static struct uid_count **slot(const struct uid_fds *u, uid_t uid)
{
	struct uid_count *const *p = &u->bucket[(uint32_t)uid * 2654435761u % BUCKETS];

	while (*p && (*p)->uid != uid)
		p = &(*p)->next;
	return (struct uid_count **)p;
}

int uid_fds_take(struct uid_fds *u, uid_t uid, bool force)
{
	struct uid_count **p = slot(u, uid), *c = *p;
	unsigned share;

	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return -ENOMEM;
		c->uid = uid;
		*p = c;
	}
	if (!force && uid != 0 && c->held >= (share = uid_fds_share())) {
		if (!c->warned)
			log_warn("uid %u holds %u buffers' descriptors in cmabufd, its share (a "
				 "quarter of RLIMIT_NOFILE): refusing it more until some are "
				 "released",
				 (unsigned)uid, c->held);
		c->warned = true;
		return -EMFILE;
	}
	c->held++;
	return 0;
}

void uid_fds_put(struct uid_fds *u, uid_t uid)
{
	struct uid_count **p = slot(u, uid), *c = *p;

	if (!c)
		return;
	if (--c->held == 0) {
		*p = c->next;
		free(c);
	} else if (c->held < uid_fds_share() / 2) {
		c->warned = false;
	}
}

unsigned uid_fds_held(const struct uid_fds *u, uid_t uid)
{
	const struct uid_count *c = *slot(u, uid);

	return c ? c->held : 0;
}
