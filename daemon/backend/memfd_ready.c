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
 * waiting or took the last one (a stream start asks for its frames back to
 * back; a decoder that frees and allocates one frame at a time settles at two,
 * so that one is always there while the other is made), up to
 * MEMFD_READY_MAX in all.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "memfd_ready.h"
#include "protocol.h"

struct pair {
	int own, client;
};

struct kind {
	bool used;
	unsigned gen; /* changes when the slot goes to another kind */
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
	bool threaded; /* a worker makes them; else memfd_ready_fill() does */
	pthread_t worker;
	pthread_mutex_t lock; /* everything below, when threaded */
	pthread_cond_t wake;  /* a kind wants more made, or stopping */
	bool stopping;
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
	if (ftruncate(fd, (off_t)size) < 0 || fcntl(fd, F_ADD_SEALS, MEMFD_SEALS) < 0) {
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

	pthread_mutex_lock(&r->lock);
	for (i = 0; i < MEMFD_READY_KINDS; i++)
		close_kind(r, &r->k[i]);
	pthread_mutex_unlock(&r->lock);
}

static bool same_kind(const struct kind *k, uint64_t size, const char *name)
{
	return k->used && k->size == size && strncmp(k->name, name, sizeof(k->name)) == 0;
}

/* The kind of this request, or the least recently asked for one, emptied, in its place. */
static struct kind *kind_for(struct memfd_ready *r, uint64_t size, const char *name)
{
	struct kind *k, *oldest = &r->k[0];
	unsigned i, gen;

	for (i = 0; i < MEMFD_READY_KINDS; i++) {
		k = &r->k[i];
		if (same_kind(k, size, name))
			return k;
		if (!k->used || (oldest->used && k->last_take < oldest->last_take))
			oldest = k;
	}
	close_kind(r, oldest);
	gen = oldest->gen + 1;
	memset(oldest, 0, sizeof(*oldest));
	oldest->gen = gen;
	oldest->used = true;
	oldest->size = size;
	snprintf(oldest->name, sizeof(oldest->name), "%s", name);
	return oldest; /* wants none made until it is asked for again */
}

/*
 * The kind asked for longest ago that has buffers waiting and was asked for
 * less recently than k, or NULL: where a slot for k comes from when all
 * MEMFD_READY_MAX are taken. Without this, a kind that once had a burst kept
 * every slot, and a kind in steady use after it had none made ahead: each of
 * its requests made its memfd on the loop, and woke the worker for nothing
 * (4 KiB measured first ran at the floor, every size after it 2x; RESULTS.md).
 */
static struct kind *victim_for(struct memfd_ready *r, const struct kind *k)
{
	struct kind *v = NULL;
	unsigned i;

	for (i = 0; i < MEMFD_READY_KINDS; i++) {
		struct kind *o = &r->k[i];

		if (o->used && o->n && o->last_take < k->last_take &&
		    (!v || o->last_take < v->last_take))
			v = o;
	}
	return v;
}

/* The most recently asked-for kind that wants more made and has room, or NULL. */
static struct kind *wanting(struct memfd_ready *r)
{
	struct kind *best = NULL;
	unsigned i;

	for (i = 0; i < MEMFD_READY_KINDS; i++) {
		struct kind *k = &r->k[i];

		if (k->used && k->n < k->want && (!best || k->last_take > best->last_take))
			best = k;
	}
	if (best && r->total >= MEMFD_READY_MAX && !victim_for(r, best))
		return NULL;
	return best;
}

/*
 * Gives up one waiting buffer of an older kind for k, when every slot is
 * taken: into *gone (the caller closes it, unlocked). The older kind then
 * keeps what it has left, so that the two do not take the slot back and forth.
 */
static void make_room(struct memfd_ready *r, struct kind *k, struct pair *gone)
{
	struct kind *v;

	gone->own = gone->client = -1;
	if (r->total < MEMFD_READY_MAX || !(v = victim_for(r, k)))
		return;
	*gone = v->p[--v->n];
	v->want = v->n;
	r->total--;
}

/*
 * Takes one made buffer of k's kind, or records the miss (asked for again, or
 * faster than made: keep more of this kind ahead). The worker is woken only on
 * a miss, when the loop's idle turns (memfd_ready_fill) did not keep up: a
 * wake-up on every request cost a context switch per pair on one CPU and,
 * unpinned, sent the worker and then the loop to the other CPU, away from
 * the client (bench/wakeups, RESULTS.md).
 */
static int take_locked(struct memfd_ready *r, struct kind *k, int *own, int *client)
{
	k->last_take = ++r->clock;
	k->takes++;
	if (k->n == 0) {
		if (k->takes > 1)
			k->want = k->want ? k->want * 2 : 1;
		if (k->want > MEMFD_READY_MAX)
			k->want = MEMFD_READY_MAX;
		if (r->threaded && wanting(r))
			pthread_cond_signal(&r->wake);
		return -ENOENT;
	}
	k->n--;
	*own = k->p[k->n].own;
	*client = k->p[k->n].client;
	r->total--;
	if (k->n == 0) /* the last one went: asked for as fast as made, keep more */
		k->want = k->want * 2 > MEMFD_READY_MAX ? MEMFD_READY_MAX : k->want * 2;
	return 0;
}

int memfd_ready_take(struct memfd_ready *r, uint64_t size, const char *name, int *own, int *client)
{
	int ret;

	pthread_mutex_lock(&r->lock);
	ret = take_locked(r, kind_for(r, size, name ? name : ""), own, client);
	pthread_mutex_unlock(&r->lock);
	return ret;
}

/*
 * Makes one buffer of the kind that wants it most; with the lock held on
 * entry and exit, but not while making (a memfd is five system calls). The
 * slot may have gone to another kind meanwhile: then what was made is closed.
 */
static bool make_one(struct memfd_ready *r)
{
	struct kind *k = wanting(r);
	char name[CMABUF_NAME_LEN];
	struct pair gone;
	uint64_t size;
	unsigned gen;
	int own, client, ret;

	if (!k)
		return false;
	make_room(r, k, &gone);
	memcpy(name, k->name, sizeof(name));
	size = k->size;
	gen = k->gen;
	if (r->threaded)
		pthread_mutex_unlock(&r->lock);
	if (gone.own >= 0) {
		close(gone.own);
		close(gone.client);
	}
	ret = memfd_pair_make(name, size, r->counted, &own, &client);
	if (r->threaded)
		pthread_mutex_lock(&r->lock);
	if (ret < 0) {
		if (k->gen == gen)
			k->want = k->n; /* out of descriptors or memory: stop asking for now */
		return false;
	}
	if (k->gen != gen || k->n >= MEMFD_READY_MAX || r->total >= MEMFD_READY_MAX) {
		close(own);
		close(client);
		return true;
	}
	k->p[k->n++] = (struct pair){own, client};
	r->total++;
	return true;
}

static void *worker(void *arg)
{
	struct memfd_ready *r = arg;

	pthread_mutex_lock(&r->lock);
	while (!r->stopping)
		if (!make_one(r))
			pthread_cond_wait(&r->wake, &r->lock);
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

bool memfd_ready_fill(struct memfd_ready *r)
{
	bool more;

	pthread_mutex_lock(&r->lock);
	more = make_one(r) && wanting(r);
	pthread_mutex_unlock(&r->lock);
	return more;
}

unsigned memfd_ready_count(struct memfd_ready *r)
{
	unsigned n;

	pthread_mutex_lock(&r->lock);
	n = r->total;
	pthread_mutex_unlock(&r->lock);
	return n;
}

/*
 * As SCHED_BATCH (set here, by the creator, so that it holds once
 * memfd_ready_new() returns): the worker's wake-ups then do not preempt the
 * thread on that CPU, which is the client that just got its reply or the loop
 * serving the next one, while it still gets its fair share and keeps up under
 * load (SCHED_IDLE starved it there, and the loop made the memfds itself).
 * Measured in bench/RESULTS.md, sections 1 and 2. Where the policy cannot be
 * had, the worker runs as any thread.
 */
static int start_worker(struct memfd_ready *r)
{
	struct sched_param none = {0};

	if (pthread_create(&r->worker, NULL, worker, r) != 0)
		return -1;
	pthread_setschedparam(r->worker, SCHED_BATCH, &none);
	pthread_setname_np(r->worker, "cmabufd-memfd"); /* in top -H, perf sched, traces */
	return 0;
}

struct memfd_ready *memfd_ready_new(bool counted, bool threaded)
{
	struct memfd_ready *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->counted = counted;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->wake, NULL);
	/* Without a thread, the loop's idle turns make them (memfd_ready_fill). */
	r->threaded = threaded && start_worker(r) == 0;
	return r;
}

void memfd_ready_destroy(struct memfd_ready *r)
{
	if (!r)
		return;
	if (r->threaded) {
		pthread_mutex_lock(&r->lock);
		r->stopping = true;
		pthread_cond_signal(&r->wake);
		pthread_mutex_unlock(&r->lock);
		pthread_join(r->worker, NULL);
	}
	memfd_ready_drop(r);
	pthread_cond_destroy(&r->wake);
	pthread_mutex_destroy(&r->lock);
	free(r);
}
