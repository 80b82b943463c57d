/* SPDX-License-Identifier: MIT */
/*
 * A client's identity, taken from the kernel when its connection is accepted
 * and never again: credentials and every supplementary group from the socket,
 * the systemd units from the process that connected, pinned so that neither
 * its exit nor a reused pid can lend the connection another process's unit.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-login.h>
#include <unistd.h>

#include "identity.h"
#include "identity_take.h"
#include "policy_config.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5 */
#endif

/*
 * Group lists are kept once however many connections share them: a user with
 * NGROUPS_MAX (65536) groups costs 256 KiB per list, and would otherwise cost
 * that per connection (128 connections: 32 MiB). Connections of one user
 * almost always have the same list.
 */
struct group_set {
	struct group_set *next;
	unsigned refs, n;
	uint64_t hash;
	gid_t gids[];
};

static struct group_set *group_sets;

static uint64_t hash_gids(const gid_t *g, unsigned n)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a over the gids */
	unsigned i;

	for (i = 0; i < n; i++)
		h = (h ^ (uint64_t)g[i]) * 0x100000001b3ull;
	return h ^ n;
}

/* The shared copy of g[0..n) (taken over or freed), or NULL when out of memory. */
static struct group_set *intern(gid_t *g, unsigned n)
{
	uint64_t h = hash_gids(g, n);
	struct group_set *s;

	for (s = group_sets; s; s = s->next)
		if (s->hash == h && s->n == n && !memcmp(s->gids, g, n * sizeof(gid_t))) {
			s->refs++;
			free(g);
			return s;
		}
	s = malloc(sizeof(*s) + n * sizeof(gid_t));
	if (s) {
		s->refs = 1;
		s->n = n;
		s->hash = h;
		memcpy(s->gids, g, n * sizeof(gid_t));
		s->next = group_sets;
		group_sets = s;
	}
	free(g);
	return s;
}

static void unintern(const gid_t *gids)
{
	struct group_set **p;

	for (p = &group_sets; *p; p = &(*p)->next)
		if ((*p)->gids == gids) {
			struct group_set *s = *p;

			if (--s->refs == 0) {
				*p = s->next;
				free(s);
			}
			return;
		}
}

/* Every supplementary group, however many: the buffer is sized from the kernel's answer. */
static int peer_groups(int fd, struct peer_identity *id)
{
	socklen_t len = 64 * sizeof(gid_t);

	for (;;) {
		socklen_t got = len;
		gid_t *g = malloc(len);
		struct group_set *s;

		if (!g)
			return -ENOMEM;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &got) == 0) {
			s = intern(g, (unsigned)(got / sizeof(gid_t)));
			if (!s)
				return -ENOMEM;
			id->groups = s->gids;
			id->ngroups = s->n;
			return 0;
		}
		free(g);
		/* ERANGE: the kernel wrote the size it needs into got. */
		if (errno != ERANGE || got <= len)
			return -errno;
		len = got;
	}
}

static void copy_unit(char *dst, const char *src)
{
	/* A longer name cannot be written in a class (CONFIG_UNIT_MAX): it matches none. */
	if (src && strlen(src) < IDENTITY_UNIT_MAX)
		strcpy(dst, src);
	else
		dst[0] = '\0';
}

/* The system unit and the user unit of pid, as libsystemd reads them; 0, or -errno. */
static int read_units(pid_t pid, struct peer_identity *id)
{
	char *unit = NULL, *user_unit = NULL;
	int r = sd_pid_get_unit(pid, &unit);

	/* In no unit at all (the root cgroup, a bare container) is an answer too. */
	if (r == -ENXIO || r == -ENODATA || r == -ENOENT)
		r = 0;
	/* Only a user's manager (user@UID.service) has user units: skip the second read else. */
	if (r == 0 && unit && !strncmp(unit, "user@", 5) &&
	    sd_pid_get_user_unit(pid, &user_unit) < 0)
		user_unit = NULL;
	copy_unit(id->unit, r == 0 ? unit : NULL);
	copy_unit(id->user_unit, r == 0 ? user_unit : NULL);
	free(unit);
	free(user_unit);
	return r;
}

/*
 * Field 22 of /proc/PID/stat (start time, clock ticks since boot), or 0 when
 * there is no such process or it is a zombie (whose cgroup a v1 hierarchy no
 * longer tells).
 */
static unsigned long long start_time(pid_t pid)
{
	char path[64], buf[1024], *p, state;
	unsigned long long t = 0;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the command name may hold anything, ')' included */
	if (!p ||
	    sscanf(p + 1,
		   " %c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s "
		   "%*s %*s %*s %llu",
		   &state, &t) != 2 ||
	    state == 'Z' || state == 'X')
		return 0;
	return t;
}

static bool use_pidfd = true;

void identity_use_peer_pidfd(bool use)
{
	use_pidfd = use;
}

/* Has the process a pidfd refers to exited (zombie or reaped)? */
static bool exited(int pidfd)
{
	struct pollfd p = {.fd = pidfd, .events = POLLIN};

	return poll(&p, 1, 0) != 0;
}

/*
 * The units of the process that connected. With SO_PEERPIDFD (Linux 6.5) the
 * kernel pins that very process: its units are read by pid and count only if
 * it is still running afterwards, so the pid was not reused in between. Before
 * 6.5 the pid's start time is read before and after: the same, non-zero, and
 * the read was of one process (reuse between connect() and accept() is not
 * detectable there). Anything else leaves unit_known false.
 */
static void peer_units(int fd, struct peer_identity *id)
{
	socklen_t len = sizeof(int);
	int pidfd = -1;

	id->unit_known = false;
	/*
	 * No pid (a peer in a pid namespace the daemon cannot see): never ask
	 * libsystemd about pid 0, which means the daemon itself.
	 */
	if (id->pid <= 0)
		return;
	if (use_pidfd && getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) == 0) {
		id->unit_known = read_units(id->pid, id) == 0 && !exited(pidfd);
		close(pidfd);
	} else if (!use_pidfd || errno == ENOPROTOOPT) {
		unsigned long long before = start_time(id->pid);

		id->unit_known =
			before && read_units(id->pid, id) == 0 && start_time(id->pid) == before;
	} /* else the process is gone already: unknown */
	if (!id->unit_known)
		id->unit[0] = id->user_unit[0] = '\0';
}

int identity_take(int fd, struct peer_identity *id)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int ret;

	memset(id, 0, sizeof(*id));
	/* Identity comes from the kernel, never from what the client says. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	id->pid = cred.pid;
	id->uid = cred.uid;
	id->gid = cred.gid;
	ret = peer_groups(fd, id);
	if (ret < 0)
		return ret;
	peer_units(fd, id);
	return 0;
}

int identity_of_caller(pid_t tgid, uid_t uid, gid_t gid, gid_t *groups, unsigned ngroups,
		       struct peer_identity *id)
{
	struct group_set *s;

	memset(id, 0, sizeof(*id));
	id->pid = tgid;
	id->uid = uid;
	id->gid = gid;
	s = intern(groups, ngroups);
	if (!s)
		return -ENOMEM;
	id->groups = s->gids;
	id->ngroups = s->n;
	/* tgid 0: not visible to cmabufd (another pid namespace); never ask about pid 0. */
	id->unit_known = tgid > 0 && read_units(tgid, id) == 0;
	if (!id->unit_known)
		id->unit[0] = id->user_unit[0] = '\0';
	return 0;
}

unsigned long long identity_start_time(pid_t pid)
{
	return pid > 0 ? start_time(pid) : 0;
}

void identity_release(struct peer_identity *id)
{
	if (id->groups)
		unintern(id->groups);
	id->groups = NULL;
	id->ngroups = 0;
}

int identity_check(const struct peer_identity *id, const struct config *cfg, const char *path,
		   char *why, size_t cap)
{
	if (id->unit_known || !config_uses_units(cfg))
		return 0;
	snprintf(why, cap,
		 "cmabufd could not read the systemd unit of the process that connected (pid %d: "
		 "it had exited, or is not visible to cmabufd), and %s classes clients by unit; "
		 "connect from the process that uses the connection",
		 (int)id->pid, path ? path : "the configuration");
	return -EACCES;
}
