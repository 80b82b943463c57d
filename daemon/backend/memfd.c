/* SPDX-License-Identifier: MIT */
/*
 * The memfd backend: an emulated region whose addresses are offsets, and each
 * buffer a sealed memfd of its size. It needs no kernel support, so it is the
 * default for a first run and for tests. Nothing here is physically
 * contiguous; device addresses are not real (backend.physical is false).
 *
 * Release, as on the stub: a buffer is released when no process holds it any
 * more (no descriptor, no mapping, nothing in flight in a socket), not when its
 * owner frees it. The daemon keeps the description memfd_create() made; clients
 * get a second one, opened through /proc/self/fd (dup, fork and SCM_RIGHTS all
 * share it, and a mapping keeps it alive). The kernel counts writers among
 * opened descriptions only, not memfd_create()'s own, so "does any client
 * description remain?" is exactly "would a read lease be refused?": a read
 * lease is granted only while the file is open for writing nowhere.
 *
 * Nothing tells us when to ask, so a buffer is asked about when its owner lets
 * go (cmabuf_free() closes its descriptor first, so that usually settles it),
 * then 1, 2, 4, ... up to about a second apart for as long as someone else
 * holds it; and up to 64 of them (those asked about least often) at once when
 * an allocation finds no room (collect): a wake-up never probes more. That
 * keeps the request path free of any watch (inotify on the inode would cost a
 * watch and a second reopen per buffer, and since Linux 6.14
 * memfd_create()'s own description raises no events). The memfd and the
 * reopen themselves are usually made before the request comes, on the loop's
 * idle turns or by a worker thread (memfd_ready.h). The
 * startup probe (leases_work) checks that the kernel still counts this way.
 * Where leases are not to be had (fs.leases-enable=0), the old rule applies: a
 * buffer counts as released when its owner lets go, which is safe for memory
 * (every buffer has its own pages) but lets holders go uncharged.
 *
 * Descriptions opened O_RDONLY or O_PATH are not counted: one can be made from
 * a client's descriptor (through /proc) and kept after the client let go, the
 * one way around the charge left (docs/operations.md).
 * Under systemd each buffer's daemon description also goes into the
 * file-descriptor store (fdstore.h), so that a restarted daemon adopts it.
 */
#include <bsd/sys/queue.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "fdstore.h"
#include "ledger.h"
#include "log.h"
#include "memfd_ready.h"
#include "rbtree.h"
#include "uid_fds.h"

/* Tries 1, 2, 4, ... 1024 ms apart: a buffer held for long costs a probe a second. */
#define STEPS 11

struct memfd_buffer {
	uint64_t cookie;
	uint64_t offset;
	uint64_t size;
	int fd;	  /* memfd_create()'s description, the daemon's: purge, lease probe, store */
	int step; /* while pending: which list, so the next try comes 2^step ms later */
	bool pending;
	uint64_t due_ms;
	RB_ENTRY(memfd_buffer) by_cookie;
	TAILQ_ENTRY(memfd_buffer) pending_link;
};

RB_HEAD(memfd_tree, memfd_buffer);
TAILQ_HEAD(memfd_pending, memfd_buffer);

struct memfd_backend {
	struct backend be;
	struct memfd_tree buffers;
	/* One list per step: each is in due order, as every entry waited the same. */
	struct memfd_pending pending[STEPS];
	size_t npending;
	int timer;	   /* timerfd for the earliest due try; -1 without leases */
	uint64_t armed_ms; /* when it fires (monotonic ms), UINT64_MAX if it will not */
	bool leases;	   /* the kernel answers "held by anyone else?"; else the old rule */
	bool store;	   /* under systemd: buffers go to the file-descriptor store */
	bool warned_probe;
	struct memfd_ready *ready; /* buffers made ahead by a worker (memfd_ready.h) */
	struct uid_fds *uids;	   /* descriptors held per uid: one user cannot take all */
};

static int memfd_cmp(const struct memfd_buffer *a, const struct memfd_buffer *b)
{
	return a->cookie < b->cookie ? -1 : a->cookie > b->cookie;
}

RB_GENERATE_LOCAL(memfd_tree, memfd_buffer, by_cookie, memfd_cmp)

static struct memfd_backend *to_memfd(struct backend *be)
{
	return (struct memfd_backend *)be;
}

static struct memfd_buffer *lookup(struct backend *be, uint64_t cookie)
{
	struct memfd_buffer key = {.cookie = cookie};

	return RB_FIND(memfd_tree, &to_memfd(be)->buffers, &key);
}

static struct backend_live as_live(const struct memfd_buffer *mb)
{
	return (struct backend_live){.offset = mb->offset, .size = mb->size, .cookie = mb->cookie};
}

static uint64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/*
 * 1 if no client description of the file is left (nobody can reach its memory
 * but through ours), 0 if one is, or a negative errno when the kernel will not
 * say. fd is memfd_create()'s description, which the kernel does not count.
 * On 1 the lease is still held: every caller closes fd at once, which drops it.
 */
static int nobody_else_holds(int fd)
{
	if (fcntl(fd, F_SETLEASE, F_RDLCK) == 0)
		return 1;
	return errno == EAGAIN || errno == EBUSY ? 0 : -errno;
}

/* ---- pending buffers: let go by their owner, maybe still held ---- */

/*
 * Sets the timer for the earliest due try, unless it is already set that
 * early: every FREE makes a try due, and reprogramming a timer is not free
 * (in a VM, an exit per call). A timer left set when nothing is due any more
 * only wakes the loop once for nothing.
 */
static void arm_timer(struct memfd_backend *m)
{
	struct itimerspec its = {{0, 0}, {0, 0}};
	uint64_t due = UINT64_MAX, now;
	int i;

	for (i = 0; i < STEPS; i++)
		if (!TAILQ_EMPTY(&m->pending[i]) && TAILQ_FIRST(&m->pending[i])->due_ms < due)
			due = TAILQ_FIRST(&m->pending[i])->due_ms;
	if (due == UINT64_MAX || due >= m->armed_ms)
		return;
	m->armed_ms = due;
	now = monotonic_ms();
	due = due > now ? due - now : 0;
	its.it_value.tv_sec = (time_t)(due / 1000);
	its.it_value.tv_nsec = due ? (long)(due % 1000) * 1000000L : 1; /* 0 would disarm */
	timerfd_settime(m->timer, 0, &its, NULL);
}

static void unqueue(struct memfd_backend *m, struct memfd_buffer *mb)
{
	if (!mb->pending)
		return;
	TAILQ_REMOVE(&m->pending[mb->step], mb, pending_link);
	mb->pending = false;
	m->npending--;
}

static void enqueue(struct memfd_backend *m, struct memfd_buffer *mb, int step)
{
	unqueue(m, mb);
	mb->step = step < STEPS ? step : STEPS - 1;
	mb->due_ms = monotonic_ms() + (1u << mb->step);
	mb->pending = true;
	TAILQ_INSERT_TAIL(&m->pending[mb->step], mb, pending_link);
	m->npending++;
}

enum forget_how {
	FORGET_GONE,	 /* released or purged: out of the store too */
	FORGET_STOPPING, /* the store keeps it for the next daemon */
};

static void forget(struct backend *be, struct memfd_buffer *mb, enum forget_how how)
{
	struct memfd_backend *m = to_memfd(be);
	struct backend_live l = as_live(mb);

	unqueue(m, mb);
	RB_REMOVE(memfd_tree, &m->buffers, mb);
	uid_fds_put(m->uids, cookie_uid(mb->cookie));
	close(mb->fd);
	free(mb);
	if (how != FORGET_STOPPING && m->store)
		fdstore_remove(&l);
}

static void report_released(struct backend *be, struct memfd_buffer *mb)
{
	uint64_t cookie = mb->cookie;

	forget(be, mb, FORGET_GONE);
	be->on_released(be->released_ctx, cookie);
}

/*
 * Asks the kernel whether a let-go buffer is still held: reports it released
 * (mb is gone then) and returns false, or queues the next try at next_step and
 * returns true.
 */
static bool check(struct backend *be, struct memfd_buffer *mb, int next_step)
{
	struct memfd_backend *m = to_memfd(be);
	int ret = nobody_else_holds(mb->fd);

	if (ret == 1) {
		report_released(be, mb);
		return false;
	}
	if (ret < 0 && !m->warned_probe) {
		log_error("memfd backend: the kernel will not say whether a buffer is still held "
			  "(lease: %s); such buffers stay allocated and are asked about again",
			  strerror(-ret));
		m->warned_probe = true;
	}
	enqueue(m, mb, next_step); /* held (or unknown: never hand it out twice) */
	return true;
}

/*
 * At most this many lease probes per wake-up (a timer tick or an ALLOC that
 * found no room), so that one client holding thousands of let-go buffers
 * cannot make the loop spend milliseconds on them while everyone else waits
 * (issue 14, item 13: 12,000 of them cost a failing ALLOC 6.8 ms). A timer
 * tick with more due sets the timer again at once: the rest follow on the
 * next turns of the loop, between other clients' requests.
 */
#define PROBES_PER_WAKE 64

/*
 * Checks up to PROBES_PER_WAKE pending buffers: the due ones, earliest first
 * (all == false), or any, those asked about least often first (the highest
 * steps; each list's head waited longest), since a checked buffer goes to the
 * tail of the next list, repeated calls take turns through them all. The
 * cookies are taken first: a release lets the daemon place waiting
 * allocations, which may purge (and so forget) other buffers before the walk
 * gets to them.
 */
static void check_pending(struct backend *be, bool all)
{
	struct memfd_backend *m = to_memfd(be);
	uint64_t now = monotonic_ms(), cookies[PROBES_PER_WAKE];
	struct memfd_buffer *mb, *head[STEPS];
	size_t n = 0, i;
	int s;

	for (s = 0; s < STEPS; s++)
		head[s] = TAILQ_FIRST(&m->pending[s]);
	while (n < PROBES_PER_WAKE) {
		int pick = -1;

		for (s = STEPS - 1; s >= 0; s--) {
			if (!head[s] || (!all && head[s]->due_ms > now))
				continue; /* each list is in due order: the rest are later */
			if (all) {
				pick = s;
				break;
			}
			if (pick < 0 || head[s]->due_ms < head[pick]->due_ms)
				pick = s;
		}
		if (pick < 0)
			break;
		cookies[n++] = head[pick]->cookie;
		head[pick] = TAILQ_NEXT(head[pick], pending_link);
	}
	for (i = 0; i < n; i++) {
		mb = lookup(be, cookies[i]);
		if (mb && mb->pending)
			check(be, mb, mb->step + 1);
	}
	arm_timer(m);
}

/* ---- backend operations ---- */

/*
 * A buffer made ahead if one of this size and name waits, else made now. Out
 * of descriptors, the waiting ones are closed first: requests come before
 * making ahead.
 */
static int make_pair(struct memfd_backend *m, uint64_t size, const char *name, int *own,
		     int *client)
{
	int ret;

	if (m->ready && memfd_ready_take(m->ready, size, name, own, client) == 0)
		return 0;
	/* The client's description is the counted one; without leases a dup will do. */
	ret = memfd_pair_make(name, size, m->leases, own, client);
	if ((ret == -EMFILE || ret == -ENFILE) && m->ready && memfd_ready_count(m->ready)) {
		memfd_ready_drop(m->ready);
		ret = memfd_pair_make(name, size, m->leases, own, client);
	}
	return ret;
}

static int memfd_export(struct backend *be, uint64_t offset, uint64_t size, uint64_t cookie,
			const char *name, int *fd_out)
{
	struct memfd_backend *m = to_memfd(be);
	struct memfd_buffer *mb = calloc(1, sizeof(*mb));
	uid_t uid = cookie_uid(cookie);
	int fd = -1, ret = mb ? uid_fds_take(m->uids, uid, false) : -ENOMEM;

	if (ret == 0) {
		ret = make_pair(m, size, name, &mb->fd, &fd);
		if (ret < 0)
			uid_fds_put(m->uids, uid);
	}
	if (ret < 0) {
		free(mb);
		return ret;
	}
	mb->cookie = cookie;
	mb->offset = offset;
	mb->size = size;
	RB_INSERT(memfd_tree, &m->buffers, mb);
	/* Not under systemd, this costs nothing: the hot path stays as it was. */
	if (m->store && fdstore_put(mb->fd, &(struct backend_live){offset, size, cookie}) < 0)
		log_warn("buffer cookie 0x%" PRIx64 " could not go into systemd's file-descriptor "
			 "store: it will not survive a daemon crash",
			 cookie);
	*fd_out = fd;
	return 0;
}

/*
 * The owner let go. cmabuf_free() closes its descriptor before it sends the
 * FREE, and a client that disconnected has nothing open either, so usually the
 * first question already finds the buffer released; if not, it is asked again.
 */
static void memfd_unexport(struct backend *be, uint64_t cookie)
{
	struct memfd_backend *m = to_memfd(be);
	struct memfd_buffer *mb = lookup(be, cookie);

	if (!mb) {
		be->on_released(be->released_ctx, cookie);
		return;
	}
	if (!m->leases) {
		report_released(be, mb);
		return;
	}
	if (check(be, mb, 0))
		arm_timer(m);
}

/*
 * Takes the memory back from every holder for good: the file is cut to 0
 * bytes, which unmaps its pages from every mapping, so a holder's next touch
 * is SIGBUS (as after the stub's REVOKE), and F_SEAL_GROW keeps anyone from
 * giving it pages again (write, fallocate, ftruncate: EPERM). Punching the
 * pages out instead left the file its size, and a holder's writes allocated
 * them again, uncounted (issue 14, item 11). A buffer an earlier cmabufd made
 * is sealed against shrinking: only its pages can be punched out (adopted
 * buffers are pending release, which eviction never takes, so this is a guard).
 */
static int memfd_revoke(struct backend *be, uint64_t cookie)
{
	struct memfd_buffer *mb = lookup(be, cookie);

	if (!mb)
		return -ENOENT;
	if (ftruncate(mb->fd, 0) < 0) {
		if (errno != EPERM || fallocate(mb->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
						0, (off_t)mb->size) < 0)
			return -errno;
		log_warn("memfd backend: buffer cookie 0x%" PRIx64 " is sealed against shrinking "
			 "(made by an earlier cmabufd): its pages were punched out, "
			 "but a holder can write them back",
			 cookie);
	}
	forget(be, mb, FORGET_GONE);
	return 0;
}

static int memfd_event_fd(struct backend *be)
{
	return to_memfd(be)->timer;
}

/* The timer fired: ask about the buffers that are due. */
static void memfd_dispatch(struct backend *be)
{
	struct memfd_backend *m = to_memfd(be);
	uint64_t ticks;

	if (m->timer < 0)
		return;
	if (read(m->timer, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		log_error("memfd backend: reading the release timer: %s", strerror(errno));
	m->armed_ms = UINT64_MAX; /* it fired: one-shot */
	check_pending(be, false);
}

/* An allocation found no room: ask about pending buffers now (PROBES_PER_WAKE of them). */
static void memfd_collect(struct backend *be)
{
	if (to_memfd(be)->npending)
		check_pending(be, true);
}

/* Idle: make one buffer the next requests are likely to want. */
static bool memfd_prepare(struct backend *be)
{
	struct memfd_backend *m = to_memfd(be);

	return m->ready && memfd_ready_fill(m->ready);
}

/* At startup: every buffer here came from the store. */
static int memfd_list_live(struct backend *be, struct backend_live *out, size_t cap)
{
	struct memfd_buffer *mb;
	size_t n = 0;

	RB_FOREACH (mb, memfd_tree, &to_memfd(be)->buffers) {
		if (n < cap)
			out[n] = as_live(mb);
		n++;
	}
	return (int)n;
}

/* Stopping: the store keeps the buffers for the next daemon. */
static void memfd_destroy(struct backend *be)
{
	struct memfd_backend *m = to_memfd(be);
	struct memfd_buffer *mb;

	while ((mb = RB_MIN(memfd_tree, &m->buffers)))
		forget(be, mb, FORGET_STOPPING);
	if (m->timer >= 0)
		close(m->timer);
	memfd_ready_destroy(m->ready);
	uid_fds_free(m->uids);
	free(m);
}

static const struct backend_ops memfd_ops = {
	.export_range = memfd_export,
	.unexport = memfd_unexport,
	.revoke = memfd_revoke,
	.event_fd = memfd_event_fd,
	.dispatch = memfd_dispatch,
	.collect = memfd_collect,
	.prepare = memfd_prepare,
	.list_live = memfd_list_live,
	.destroy = memfd_destroy,
};

/* Why a stored descriptor is not one of our buffers, or NULL if it is. */
static const char *not_ours(struct memfd_backend *m, int fd, const struct backend_live *l)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	struct memfd_buffer *mb;
	struct stat st;
	int seals = fcntl(fd, F_GET_SEALS);

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || seals < 0)
		return "not a memfd";
	if ((seals & MEMFD_SEALS) != MEMFD_SEALS)
		return "a memfd without cmabuf's seals";
	if ((uint64_t)st.st_size != l->size)
		return "a memfd of another size than its name says";
	if ((fcntl(fd, F_GETFL) & O_ACCMODE) != O_RDWR)
		return "not open for reading and writing";
	if (l->size == 0 || l->offset % page || l->size % page || l->offset > m->be.size ||
	    l->size > m->be.size - l->offset)
		return "outside this daemon's region (was --region-size changed?)";
	RB_FOREACH (mb, memfd_tree, &m->buffers)
		if (l->offset < mb->offset + mb->size && mb->offset < l->offset + l->size)
			return "overlapping another stored buffer";
	return NULL;
}

int backend_memfd_adopt(struct backend *be, int fd, const struct backend_live *l, const char **why)
{
	struct memfd_backend *m = to_memfd(be);
	struct memfd_buffer *mb;

	if (lookup(be, l->cookie)) { /* the same name twice: the first one is adopted */
		*why = "a second descriptor for the same buffer";
		close(fd);
		return -EEXIST;
	}
	*why = not_ours(m, fd, l);
	mb = *why ? NULL : calloc(1, sizeof(*mb));
	if (mb && uid_fds_take(m->uids, cookie_uid(l->cookie), true) < 0) {
		free(mb);
		mb = NULL;
	}
	if (!mb) {
		close(fd);
		return *why ? -EINVAL : -ENOMEM;
	}
	mb->cookie = l->cookie;
	mb->offset = l->offset;
	mb->size = l->size;
	mb->fd = fd;
	RB_INSERT(memfd_tree, &m->buffers, mb);
	if (m->leases && nobody_else_holds(fd) == 1) {
		forget(be, mb, FORGET_GONE); /* every holder closed it with the old daemon */
		return 0;
	}
	/* Held, or the kernel will not say: keep it (never hand it out twice), ask again. */
	if (m->leases) {
		enqueue(m, mb, 0);
		arm_timer(m);
	}
	return 1;
}

/*
 * Whether the kernel answers the lease question as nobody_else_holds() needs:
 * a client's description must block the lease, and its close let it through.
 */
static bool leases_work(void)
{
	int own = -1, client = -1;
	bool works = memfd_pair_make("lease-probe", 4096, true, &own, &client) == 0 &&
		     nobody_else_holds(own) == 0;

	if (client >= 0)
		close(client);
	works = works && nobody_else_holds(own) == 1;
	if (own >= 0)
		close(own);
	return works;
}

int backend_memfd_create(uint64_t region_size, struct backend **out)
{
	struct memfd_backend *m = calloc(1, sizeof(*m));
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	int i;

	if (m)
		m->uids = uid_fds_new();
	if (!m || !m->uids) {
		free(m);
		return -ENOMEM;
	}
	/*
	 * The region is whole pages, and this is the one place its size is decided:
	 * the allocator, the size check, HELLO and STATUS all read be.size, so
	 * used + free + zeroing is the region (issue 14, item 14).
	 */
	if (region_size % page)
		log_info("memfd backend: --region-size=%" PRIu64 " is not a multiple of the page "
			 "size (%" PRIu64 "): the region is %" PRIu64 " bytes",
			 region_size, page, region_size - region_size % page);
	region_size -= region_size % page;
	RB_INIT(&m->buffers);
	for (i = 0; i < STEPS; i++)
		TAILQ_INIT(&m->pending[i]);
	m->timer = -1;
	m->armed_ms = UINT64_MAX;
	m->leases = leases_work();
	if (m->leases)
		m->timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (m->timer < 0) {
		log_warn("memfd backend: the kernel will not say when a buffer is no longer held "
			 "(%s): a buffer counts as released when its owner lets go, even if "
			 "another process still holds it",
			 m->leases ? strerror(errno) : "no write leases on memfds");
		m->leases = false;
	}
	m->store = fdstore_available();
	m->ready = memfd_ready_new(m->leases, true); /* NULL: everything is made on request */
	m->be.ops = &memfd_ops;
	m->be.name = "memfd";
	m->be.base = 0;
	m->be.size = region_size;
	m->be.physical = false;
	*out = &m->be;
	return 0;
}
