/* SPDX-License-Identifier: MIT */
/*
 * memfd buffers made ahead (memfd_ready.h). Only fresh memfds wait here, never
 * a released buffer's: a released buffer's pages may still be readable through
 * a description the release probe cannot see (one opened O_RDONLY through
 * /proc, backend_memfd.c), so reusing its memfd could show one client's data to
 * the next. A fresh memfd has no pages until they are touched, so one waiting
 * costs an inode and two descriptors, whatever its size.
 *
 * How many of a kind wait: none until a kind is asked for a second time (a
 * bitstream buffer of a size never seen again is not worth making twice), then
 * one, then twice as many after each time a request of that kind found none
 * waiting (a stream start asks for its frames back to back), up to
 * MEMFD_READY_MAX in all.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "memfd_ready.h"
#include "protocol.h"

#define SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

struct pair {
	int own, client;
};

struct kind {
	bool used;
	uint64_t size;
	char name[CMABUF_NAME_LEN];
	unsigned takes;	    /* requests of this kind */
	unsigned want;	    /* how many to keep made */
	unsigned n;	    /* how many are */
	uint64_t last_take; /* r->clock when last asked for: the least recent kind goes first */
	struct pair p[MEMFD_READY_MAX];
};

struct memfd_ready {
	bool counted;
	unsigned total; /* made buffers waiting, all kinds */
	uint64_t clock; /* counts takes */
	struct kind k[MEMFD_READY_KINDS];
};

static int new_memfd(const char *name, uint64_t size)
{
	char label[80];
	int fd;

	snprintf(label, sizeof(label), "cmabuf:%s", name && *name ? name : "buffer");
	fd = memfd_create(label, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	/* Pages come zeroed from the kernel and are allocated on first touch. */
	if (ftruncate(fd, (off_t)size) < 0 || fcntl(fd, F_ADD_SEALS, SEALS) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* A new open file description of fd's file (dup would share fd's). */
static int reopen(int fd)
{
	char path[32];
	int ret;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ret = open(path, O_RDWR | O_CLOEXEC);
	return ret < 0 ? -errno : ret;
}

int memfd_pair_make(const char *name, uint64_t size, bool counted, int *own, int *client)
{
	int fd = new_memfd(name, size), second;

	if (fd < 0)
		return fd;
	second = counted ? reopen(fd) : fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (second < 0) {
		int err = counted ? second : -errno;

		close(fd);
		return err;
	}
	*own = fd;
	*client = second;
	return 0;
}

struct memfd_ready *memfd_ready_new(bool counted)
{
	struct memfd_ready *r = calloc(1, sizeof(*r));

	if (r)
		r->counted = counted;
	return r;
}

static void close_kind(struct memfd_ready *r, struct kind *k)
{
	while (k->n) {
		k->n--;
		close(k->p[k->n].own);
		close(k->p[k->n].client);
		r->total--;
	}
}

void memfd_ready_drop(struct memfd_ready *r)
{
	unsigned i;

	for (i = 0; i < MEMFD_READY_KINDS; i++)
		close_kind(r, &r->k[i]);
}

void memfd_ready_destroy(struct memfd_ready *r)
{
	if (!r)
		return;
	memfd_ready_drop(r);
	free(r);
}

static bool same_kind(const struct kind *k, uint64_t size, const char *name)
{
	return k->used && k->size == size && strncmp(k->name, name, sizeof(k->name)) == 0;
}

/* The kind of this request, or the least recently asked for one, emptied, in its place. */
static struct kind *kind_for(struct memfd_ready *r, uint64_t size, const char *name)
{
	struct kind *k, *oldest = &r->k[0];
	unsigned i;

	for (i = 0; i < MEMFD_READY_KINDS; i++) {
		k = &r->k[i];
		if (same_kind(k, size, name))
			return k;
		if (!k->used || (oldest->used && k->last_take < oldest->last_take))
			oldest = k;
	}
	close_kind(r, oldest);
	memset(oldest, 0, sizeof(*oldest));
	oldest->used = true;
	oldest->size = size;
	snprintf(oldest->name, sizeof(oldest->name), "%s", name);
	return oldest; /* wants none made until it is asked for again */
}

int memfd_ready_take(struct memfd_ready *r, uint64_t size, const char *name, int *own,
		     int *client)
{
	struct kind *k = kind_for(r, size, name ? name : "");

	k->last_take = ++r->clock;
	k->takes++;
	if (k->n == 0) {
		/* Asked for again, or faster than made: keep (more of) this kind ahead. */
		if (k->takes > 1)
			k->want = k->want ? k->want * 2 : 1;
		if (k->want > MEMFD_READY_MAX)
			k->want = MEMFD_READY_MAX;
		return -ENOENT;
	}
	k->n--;
	*own = k->p[k->n].own;
	*client = k->p[k->n].client;
	r->total--;
	return 0;
}

/* The most recently asked-for kind that wants more made, or NULL. */
static struct kind *wanting(struct memfd_ready *r)
{
	struct kind *best = NULL;
	unsigned i;

	for (i = 0; i < MEMFD_READY_KINDS; i++) {
		struct kind *k = &r->k[i];

		if (k->used && k->n < k->want && (!best || k->last_take > best->last_take))
			best = k;
	}
	return best;
}

bool memfd_ready_fill(struct memfd_ready *r)
{
	struct kind *k = r->total < MEMFD_READY_MAX ? wanting(r) : NULL;

	if (!k)
		return false;
	if (memfd_pair_make(k->name, k->size, r->counted, &k->p[k->n].own, &k->p[k->n].client) <
	    0) {
		k->want = k->n; /* out of descriptors or memory: stop asking for now */
		return false;
	}
	k->n++;
	r->total++;
	return r->total < MEMFD_READY_MAX && wanting(r);
}

unsigned memfd_ready_count(const struct memfd_ready *r)
{
	return r->total;
}
