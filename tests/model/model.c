/* SPDX-License-Identifier: MIT */
/*
 * A deterministic simulation of the allocation service's core (daemon/core),
 * after FoundationDB's simulator and TigerBeetle's VOPR: many owners allocate,
 * free, pin, unpin and leave; a fake backend exports (sometimes failing),
 * revokes (sometimes -EBUSY), delivers releases late and in any order; a fake
 * zeroing worker returns ranges in any order; the policy is reloaded with
 * random valid files and broken ones; survivors of an earlier daemon are
 * adopted at the start. Every ALLOC is driven exactly as daemon/service.c
 * drive() does, parked requests live in per-owner storage as in
 * daemon/front/alloc.c, and after every step the core is compared with a
 * reference model kept here:
 *
 * - the region is tiled exactly by free extents (allocator_for_each_free),
 *   live and pending-release buffers, ranges being zeroed and ranges lost to
 *   a failed zeroing: nothing overlaps, nothing lies outside, nothing is
 *   missing (so used + free + zeroing + pending = region), and the
 *   allocator's, the ledger's and core->zeroing_bytes' numbers say the same;
 * - the ledger holds exactly the model's buffers, with the same range, owner,
 *   state, pool and class; owners' and the policy's counters are the model's
 *   sums; allocator_check() passes;
 * - every request is answered exactly once (a parked one when it leaves the
 *   park; dropped only with its owner);
 * - each grant respects --max-buffers, the class's max-bytes and max-buffers
 *   for that client, the per-uid limit (max-bytes-per-uid) for all of its
 *   uid's buffers, the pool's max and the others' minimums, and class deny;
 *   after a reload every owner its new class denies is reported;
 * - a range is exported only when every page of it was zeroed since its last
 *   owner (when the backend needs zeroing);
 * - a purge takes only purgeable, unpinned, revocable buffers of present
 *   owners, and the drive that purged then exports into the hole (unless a
 *   revoke or a zeroing failed on the way); reclaim requests go only to
 *   reclaimable buffers of lower-priority owners.
 *
 * A failure prints "seed S step N" (or "input step N" for fuzz input) and
 * aborts; tests/model/test_model.c says how to replay a seed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocator.h"
#include "cmabuf.h"
#include "core.h"
#include "door.h"
#include "model.h"

#define PAGE	   ((uint64_t)4096)
#define MAX_PAGES  256
#define MAX_OWNERS 6
#define NUIDS	   6
#define DRIVE_MAX  10000 /* core_alloc_step calls for one drive: far more than any needs */

enum mstate {
	M_HELD,	  /* the owner holds it; its range is live */
	M_LETGO,  /* let go (FREE, owner left, adopted): release pending, range live */
	M_PURGED, /* revoked: the owner still holds the handle, no range */
};

struct mbuf {
	uint64_t id, cookie, offset, size;
	int owner; /* slot, or -1 */
	enum mstate st;
	bool purgeable, reclaimable, reclaim_asked, busy;
	bool no_class;
	bool heap; /* handed to a heap caller at export */
	char pool[CONFIG_NAME_MAX];
	char cls[CONFIG_NAME_MAX];
};

struct range {
	uint64_t offset, size;
};

struct mowner {
	struct model *m;
	bool present;
	struct owner o;
	struct core_request parked; /* the door's storage for a parked request */
	bool is_parked;
	bool heap;    /* a dma-heap caller: its buffers are handed over at export */
	unsigned cls; /* the model's class index (cfg.nclasses: default) */
	gid_t group;  /* its supplementary group, if any: the identity points here */
};

enum rstate { R_OPEN, R_PARKED, R_DONE, R_DROPPED };

struct req {
	uint8_t answers;
	uint8_t state;
};

/* One drive (nested ones get their own): what it purged, for the purge rule. */
struct drive_ctx {
	struct range purged[EVICTION_MAX * 4];
	unsigned npurged;
	bool revoke_failed;
	uint64_t zero_failures; /* m->zero_failures when the drive began */
};

struct model {
	/* Where choices come from. */
	uint64_t seed, rng;
	/*
	 * The per-uid limit's choices, a stream of their own: seeds and fuzz inputs
	 * older than the limit play the same choices as before. MODEL_NO_UID_LIMIT=1
	 * (the regression seeds) turns the limit off, so they replay exactly.
	 */
	uint64_t rng_uid;
	bool no_uid_limit;
	const uint8_t *in;
	size_t in_size, in_pos;
	int trace;
	uint64_t step;
	const char *what; /* the step being played, for failure messages */

	struct core core;
	struct config cfg; /* the policy the model believes in */
	uint64_t pages;
	bool needs_zeroing;

	/* Per-seed weather. */
	unsigned export_fail;	/* of 64 */
	unsigned revoke_busy;	/* of 64 */
	unsigned zero_fail;	/* of 1024 */
	unsigned release_now;	/* of 8: let-go releases at once (memfd) */
	unsigned stray_release; /* of 64: a held buffer released without FREE (uio) */

	struct mowner owners[MAX_OWNERS];
	struct mbuf *bufs; /* sorted by id */
	size_t nbufs, capbufs;
	struct range zeroing[MAX_PAGES];
	unsigned nzeroing;
	struct range lost[MAX_PAGES];
	unsigned nlost;
	uint64_t lost_bytes;
	uint8_t dirty[MAX_PAGES];
	uint8_t pagemap[MAX_PAGES];

	struct req *reqs;
	uint64_t nreqs, capreqs;

	bool retrying;
	int leaving; /* the owner core_owner_remove() is taking out, or -1 */
	bool reloading;
	bool denied[MAX_OWNERS];
	uint64_t zero_failures;

	/* Counters for the summary. */
	uint64_t n_alloc, n_export, n_export_fail, n_refuse, n_park, n_purge, n_purge_busy,
		n_reload, n_broken, n_deadline, n_release, n_zeroed, n_denied, n_leave;
};

/* ---- failing ----------------------------------------------------------------------- */

static void fail(struct model *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct model *m, const char *fmt, ...)
{
	va_list ap;

	if (m->in)
		fprintf(stderr, "model: input step %" PRIu64 " (%s): invariant broken: ", m->step,
			m->what);
	else
		fprintf(stderr, "model: seed %" PRIu64 " step %" PRIu64 " (%s): invariant broken: ",
			m->seed, m->step, m->what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (!m->in)
		fprintf(stderr,
			"model: replay with MODEL_SEED=%" PRIu64 " MODEL_STEPS=%" PRIu64
			" MODEL_TRACE=1 tests/model/test_model\n",
			m->seed, m->step + 1);
	abort();
}

#define CHECK(m, cond, ...)                                                                        \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fail(m, __VA_ARGS__);                                                      \
	} while (0)

static void trace(struct model *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void trace(struct model *m, const char *fmt, ...)
{
	va_list ap;

	if (!m->trace)
		return;
	fprintf(stderr, "%8" PRIu64 " ", m->step);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- choices ----------------------------------------------------------------------- */

static uint64_t next_u64(struct model *m)
{
	/* splitmix64: tiny, fast, and every seed a different stream. */
	uint64_t z = (m->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, n); n >= 1. */
static uint64_t rnd(struct model *m, uint64_t n)
{
	uint64_t v = 0;
	unsigned bytes = n <= 256 ? 1 : n <= 65536 ? 2 : 4;

	if (n <= 1)
		return 0;
	if (!m->in)
		return next_u64(m) % n;
	for (unsigned i = 0; i < bytes; i++) {
		v <<= 8;
		if (m->in_pos < m->in_size)
			v |= m->in[m->in_pos++];
	}
	return v % n;
}

static bool chance(struct model *m, unsigned num, unsigned den)
{
	return rnd(m, den) < num;
}

/* [daemon] max-bytes-per-uid of a random policy: none, a percentage or bytes. */
static void random_uid_limit(struct model *m, struct config *cfg)
{
	uint64_t saved = m->rng, z;

	m->rng = m->rng_uid;
	z = next_u64(m);
	m->rng_uid = m->rng;
	m->rng = saved;
	cfg->uid_max_bytes = 0;
	cfg->uid_max_percent = 0;
	if (m->no_uid_limit || z % 3 == 0)
		return;
	if (z % 3 == 1)
		cfg->uid_max_percent = 1 + (uint32_t)(z / 3 % 100);
	else
		cfg->uid_max_bytes = (1 + z / 3 % m->pages) * PAGE;
}

/* What uid may hold (the daemon's own, 0 here, is not limited): 0 = no limit. */
static uint64_t uid_limit(const struct model *m, uid_t uid)
{
	uint64_t region = m->pages * PAGE;

	if (uid == 0)
		return 0;
	if (m->cfg.uid_max_percent)
		return region * m->cfg.uid_max_percent / 100; /* at most MAX_PAGES: no overflow */
	return m->cfg.uid_max_bytes;
}

/* Bytes of every buffer of uid whose memory is not back: any owner, or none. */
static uint64_t uid_bytes(const struct model *m, uid_t uid)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < m->nbufs; i++)
		if (m->bufs[i].st != M_PURGED && cookie_uid(m->bufs[i].cookie) == uid)
			sum += m->bufs[i].size;
	return sum;
}

/* ---- the model's buffers ------------------------------------------------------------ */

static struct mbuf *mbuf_find(struct model *m, uint64_t id)
{
	size_t lo = 0, hi = m->nbufs;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (m->bufs[mid].id == id)
			return &m->bufs[mid];
		if (m->bufs[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static struct mbuf *mbuf_insert(struct model *m, uint64_t id)
{
	size_t i = m->nbufs;

	if (m->nbufs == m->capbufs) {
		size_t cap = m->capbufs ? 2 * m->capbufs : 64;
		struct mbuf *v = realloc(m->bufs, cap * sizeof(*v));

		CHECK(m, v, "out of memory");
		m->bufs = v;
		m->capbufs = cap;
	}
	while (i > 0 && m->bufs[i - 1].id > id)
		i--;
	CHECK(m, i == 0 || m->bufs[i - 1].id != id, "buffer id %" PRIu64 " handed out twice", id);
	memmove(&m->bufs[i + 1], &m->bufs[i], (m->nbufs - i) * sizeof(*m->bufs));
	m->nbufs++;
	memset(&m->bufs[i], 0, sizeof(m->bufs[i]));
	m->bufs[i].id = id;
	return &m->bufs[i];
}

static void mbuf_remove(struct model *m, struct mbuf *mb)
{
	size_t i = (size_t)(mb - m->bufs);

	memmove(&m->bufs[i], &m->bufs[i + 1], (m->nbufs - i - 1) * sizeof(*m->bufs));
	m->nbufs--;
}

static bool overlaps(uint64_t a, uint64_t as, uint64_t b, uint64_t bs)
{
	return a < b + bs && b < a + as;
}

/* ---- requests ----------------------------------------------------------------------- */

static uint64_t new_request(struct model *m)
{
	if (m->nreqs == m->capreqs) {
		uint64_t cap = m->capreqs ? 2 * m->capreqs : 1024;
		struct req *v = realloc(m->reqs, cap * sizeof(*v));

		CHECK(m, v, "out of memory");
		m->reqs = v;
		m->capreqs = cap;
	}
	m->reqs[m->nreqs] = (struct req){0, R_OPEN};
	return m->nreqs++;
}

static struct mowner *mowner_of(struct owner *o)
{
	return (struct mowner *)((char *)o - offsetof(struct mowner, o));
}

static void answered(struct model *m, struct mowner *mo, const struct core_request *r)
{
	struct req *q;

	CHECK(m, r->tag < m->nreqs, "answer for unknown request %" PRIu64, r->tag);
	q = &m->reqs[r->tag];
	CHECK(m, q->state != R_DROPPED, "request %" PRIu64 " answered after its owner left",
	      r->tag);
	CHECK(m, q->answers == 0, "request %" PRIu64 " answered twice", r->tag);
	q->answers++;
	if (q->state == R_PARKED) {
		CHECK(m, r == &mo->parked && mo->is_parked,
		      "parked request %" PRIu64 " answered from elsewhere", r->tag);
		mo->is_parked = false;
	}
	q->state = R_DONE;
}

/* ---- the door ----------------------------------------------------------------------- */

static void door_answer(struct owner *o, const struct core_request *r, const struct buffer *b,
			int fd)
{
	struct mowner *mo = mowner_of(o);

	answered(mo->m, mo, r);
}

static void check_refusal(struct model *m, struct mowner *mo, const struct core_request *r,
			  int err);

static void door_refuse(struct owner *o, const struct core_request *r, int err, const char *why)
{
	struct mowner *mo = mowner_of(o);
	struct model *m = mo->m;

	CHECK(m, err < 0, "refusal with errno %d", err);
	check_refusal(m, mo, r, err);
	CHECK(m, why && why[0], "refusal without a reason");
	answered(m, mo, r);
	m->n_refuse++;
	trace(m, "  refused %" PRIu64 ": %d %s", r->tag, err, why);
}

static void door_park(struct owner *o, const struct core_request *r, uint32_t deadline_ms)
{
	struct mowner *mo = mowner_of(o);
	struct model *m = mo->m;

	/* A retried request that must wait again is parked from the door's own storage. */
	CHECK(m, !o->pending && (!mo->is_parked || r == &mo->parked),
	      "a second request parked for one owner");
	CHECK(m, m->reqs[r->tag].state == R_OPEN || r == &mo->parked, "request parked twice");
	if (r != &mo->parked)
		mo->parked = *r;
	core_park(&m->core, &mo->parked);
	mo->is_parked = true;
	m->reqs[r->tag].state = R_PARKED;
	m->n_park++;
}

static void door_reclaim(struct owner *o, const struct buffer *b, uint32_t deadline_ms)
{
	struct mowner *mo = mowner_of(o);
	struct model *m = mo->m;
	struct mbuf *mb = mbuf_find(m, b->id);

	CHECK(m, mb && mb->owner == (int)(mo - m->owners),
	      "reclaim asked of an owner for a buffer it does not hold");
	CHECK(m, !mo->heap, "reclaim asked of a dma-heap caller, who cannot be asked");
	mb->reclaim_asked = true;
}

static const struct door_ops model_door = {
	.answer = door_answer,
	.refuse = door_refuse,
	.park = door_park,
	.reclaim = door_reclaim,
};

/* ---- classes as the model sees them -------------------------------------------------- */

static const struct class_config *class_at(const struct config *cfg, unsigned i)
{
	return i < cfg->nclasses ? &cfg->classes[i] : &cfg->default_class;
}

static bool has_id(const uint32_t *v, unsigned n, uint32_t id)
{
	for (unsigned i = 0; i < n; i++)
		if (v[i] == id)
			return true;
	return false;
}

/* First match in file order on uid, gid or a supplementary group, or unit. */
static unsigned model_classify(const struct config *cfg, const struct peer_identity *id)
{
	for (unsigned i = 0; i < cfg->nclasses; i++) {
		const struct class_config *k = &cfg->classes[i];

		if (has_id(k->uids, k->nuids, id->uid) || has_id(k->gids, k->ngids, id->gid))
			return i;
		for (unsigned g = 0; g < id->ngroups; g++)
			if (has_id(k->gids, k->ngids, id->groups[g]))
				return i;
		for (unsigned u = 0; u < k->nunits; u++)
			if (id->unit[0] && !strcmp(k->units[u], id->unit))
				return i;
	}
	return cfg->nclasses;
}

static const char *class_name(const struct config *cfg, unsigned idx)
{
	return class_at(cfg, idx)->name;
}

/* ---- the fake zeroing worker --------------------------------------------------------- */

static void zero_later(struct model *m, const struct core_range *z)
{
	CHECK(m, m->needs_zeroing, "zeroing asked of a backend that needs none");
	CHECK(m, m->nzeroing < MAX_PAGES, "more ranges being zeroed than pages");
	CHECK(m, z->size && z->offset % PAGE == 0 && z->size % PAGE == 0,
	      "odd range to zero 0x%" PRIx64 "+%" PRIu64, z->offset, z->size);
	m->zeroing[m->nzeroing++] = (struct range){z->offset, z->size};
}

/* The worker returns the range at index i. */
static void zero_done(struct model *m, unsigned i)
{
	struct range z = m->zeroing[i];
	/* A failed zeroing loses the range for good: at most an eighth of the region. */
	int err = m->lost_bytes < m->pages * PAGE / 8 && chance(m, m->zero_fail, 1024) ? -EIO : 0;
	int ret;

	m->zeroing[i] = m->zeroing[--m->nzeroing];
	if (err == 0) {
		memset(&m->dirty[z.offset / PAGE], 0, z.size / PAGE);
	} else {
		m->lost[m->nlost++] = z;
		m->lost_bytes += z.size;
		m->zero_failures++;
	}
	ret = core_zeroed(&m->core, z.offset, z.size, err);
	CHECK(m, ret == err, "core_zeroed 0x%" PRIx64 "+%" PRIu64 " returned %d", z.offset, z.size,
	      ret);
	m->n_zeroed++;
	trace(m, "  zeroed 0x%" PRIx64 "+%" PRIu64 "%s", z.offset, z.size, err ? " (failed)" : "");
}

/* zeroing_wait_some(): at least one range comes back, in any order. */
static void zeroing_wait_some(struct model *m)
{
	unsigned n;

	CHECK(m, m->nzeroing > 0, "WAIT_ZEROING while nothing is being zeroed");
	n = 1 + (unsigned)rnd(m, m->nzeroing);
	while (n-- && m->nzeroing)
		zero_done(m, (unsigned)rnd(m, m->nzeroing));
}

/* ---- releases (service_buffer_released) ---------------------------------------------- */

static void retry_parked(struct model *m);

static void release(struct model *m, uint64_t cookie)
{
	struct mbuf *mb = mbuf_find(m, cookie_id(cookie));
	struct core_range zero;
	int ret = core_released(&m->core, cookie, &zero);

	m->n_release++;
	if (!mb) {
		CHECK(m, ret == -ENOENT, "release of unknown cookie %" PRIx64 " returned %d",
		      cookie, ret);
		return;
	}
	trace(m, "  released %" PRIu64, mb->id);
	if (mb->st == M_PURGED)
		CHECK(m, ret == 0, "release of purged buffer %" PRIu64 " returned %d", mb->id, ret);
	else if (m->needs_zeroing)
		CHECK(m, ret == 1 && zero.offset == mb->offset && zero.size == mb->size,
		      "release of %" PRIu64 " did not hand its range to zeroing (%d)", mb->id, ret);
	else
		CHECK(m, ret == 0, "release of %" PRIu64 " returned %d", mb->id, ret);
	mbuf_remove(m, mb);
	if (ret == 1)
		zero_later(m, &zero);
	retry_parked(m);
}

/* The backend's collect: some of the releases it knows, in any order. */
static void collect_releases(struct model *m)
{
	uint64_t cookies[64];
	unsigned n = 0, mode = (unsigned)rnd(m, 4);

	if (m->retrying)
		return;
	for (size_t i = 0; i < m->nbufs && n < 64; i++)
		if (m->bufs[i].st == M_LETGO && (mode == 0 || (mode != 3 && chance(m, 1, 2))))
			cookies[n++] = m->bufs[i].cookie;
	for (unsigned i = n; i > 1; i--) { /* any order */
		unsigned j = (unsigned)rnd(m, i);
		uint64_t t = cookies[i - 1];

		cookies[i - 1] = cookies[j];
		cookies[j] = t;
	}
	for (unsigned i = 0; i < n; i++)
		if (mbuf_find(m, cookie_id(cookies[i]))) /* a nested retry may not free any, but */
			release(m, cookies[i]);
}

/* ---- letting go (service unexport) ---------------------------------------------------- */

static void unexport(void *ctx, struct buffer *b)
{
	struct model *m = ctx;
	struct mbuf *mb = mbuf_find(m, b->id);
	bool purged;

	CHECK(m, mb && mb->st != M_LETGO, "let go of buffer %" PRIu64 " the model has not", b->id);
	purged = mb->st == M_PURGED;
	if (mb->owner == m->leaving) /* uncharged from it just before */
		mb->owner = -1;
	if (!core_let_go(&m->core, b)) {
		CHECK(m, purged, "core_let_go says %" PRIu64 " was purged; it was not", mb->id);
		mbuf_remove(m, mb);
		return;
	}
	CHECK(m, !purged, "core_let_go of purged %" PRIu64 " wants an unexport", mb->id);
	mb->st = M_LETGO;
	if (chance(m, m->release_now, 8)) /* memfd: nobody else held it */
		release(m, mb->cookie);
}

/* ---- one ALLOC, as daemon/service.c drives it ---------------------------------------- */

static void purge(struct model *m, struct core_request *r, const struct core_decision *dec,
		  struct drive_ctx *dc)
{
	struct core_range zero;

	CHECK(m, dec->nvictims > 0 && dec->nvictims <= EVICTION_MAX, "PURGE of %u victims",
	      dec->nvictims);
	for (unsigned i = 0; i < dec->nvictims; i++) {
		struct buffer *b = dec->victims[i];
		struct mbuf *mb = mbuf_find(m, b->id);
		int ret, z;

		for (unsigned j = 0; j < i; j++)
			CHECK(m, dec->victims[j] != b, "victim %" PRIu64 " twice in one PURGE",
			      b->id);
		CHECK(m, mb, "PURGE victim %" PRIu64 " unknown", b->id);
		CHECK(m, mb->st == M_HELD && mb->owner >= 0 && m->owners[mb->owner].present,
		      "PURGE victim %" PRIu64 " not held by a present owner", mb->id);
		CHECK(m, mb->purgeable, "PURGE victim %" PRIu64 " is pinned", mb->id);
		CHECK(m, !mb->busy, "PURGE victim %" PRIu64 " already refused a revoke", mb->id);
		ret = chance(m, m->revoke_busy, 64) ? -EBUSY : 0;
		z = core_purged(&m->core, r, b, ret, &zero);
		if (ret < 0) {
			CHECK(m, z == 0, "failed revoke returned %d", z);
			mb->busy = true;
			dc->revoke_failed = true;
			m->n_purge_busy++;
			trace(m, "  revoke %" PRIu64 " -EBUSY", mb->id);
			continue;
		}
		trace(m, "  purged %" PRIu64 " 0x%" PRIx64 "+%" PRIu64 " of pool '%s'", mb->id,
		      mb->offset, mb->size, mb->pool);
		m->n_purge++;
		mb->st = M_PURGED;
		if (dc->npurged < sizeof(dc->purged) / sizeof(dc->purged[0]))
			dc->purged[dc->npurged++] = (struct range){mb->offset, mb->size};
		CHECK(m, z == (m->needs_zeroing ? 1 : 0), "core_purged returned %d", z);
		if (z == 1) {
			CHECK(m, zero.offset == mb->offset && zero.size == mb->size,
			      "purged range to zero is not the buffer's");
			zero_later(m, &zero);
		}
	}
}

/* The grant just made to mo: the limits it had to respect. */
static void check_grant(struct model *m, struct mowner *mo, const struct mbuf *nb,
			const struct core_request *r)
{
	const struct class_config *k = class_at(&m->cfg, mo->cls);
	int slot = (int)(mo - m->owners);
	uint64_t bytes = 0, pool_used = 0, total = 0, reserved = 0, free_before;
	uint32_t count = 0;

	CHECK(m, mo->present && mo->o.classified, "grant to an owner not here");
	CHECK(m, !k->deny, "grant to owner %d of denying class '%s'", slot, k->name);
	for (size_t i = 0; i < m->nbufs; i++) {
		const struct mbuf *b = &m->bufs[i];

		if (b->owner == slot) {
			count++;
			if (b->st != M_PURGED)
				bytes += b->size;
		}
		if (b->st != M_PURGED) {
			total += b->size;
			if (!strcmp(b->pool, nb->pool))
				pool_used += b->size;
		}
	}
	CHECK(m, count <= m->core.max_buffers_per_client,
	      "owner %d holds %u buffers, over --max-buffers %u", slot, count,
	      m->core.max_buffers_per_client);
	CHECK(m, !k->max_buffers || count <= k->max_buffers,
	      "owner %d holds %u buffers, over max-buffers %u of class '%s'", slot, count,
	      k->max_buffers, k->name);
	CHECK(m, !k->max_bytes || bytes <= k->max_bytes,
	      "owner %d holds %" PRIu64 " bytes, over max-bytes %" PRIu64 " of class '%s'", slot,
	      bytes, k->max_bytes, k->name);
	CHECK(m,
	      !uid_limit(m, mo->o.id.uid) ||
		      uid_bytes(m, mo->o.id.uid) <= uid_limit(m, mo->o.id.uid),
	      "uid %u holds %" PRIu64 " bytes, over max-bytes-per-uid %" PRIu64,
	      (unsigned)mo->o.id.uid, uid_bytes(m, mo->o.id.uid), uid_limit(m, mo->o.id.uid));
	for (unsigned p = 0; p < m->cfg.npools; p++) {
		const struct pool_config *pc = &m->cfg.pools[p];
		uint64_t used = 0;

		if (!strcmp(pc->name, nb->pool)) {
			CHECK(m, !pc->max || pool_used <= pc->max,
			      "pool '%s' holds %" PRIu64 ", over its max %" PRIu64, pc->name,
			      pool_used, pc->max);
			continue;
		}
		for (size_t i = 0; i < m->nbufs; i++)
			if (m->bufs[i].st != M_PURGED && !strcmp(m->bufs[i].pool, pc->name))
				used += m->bufs[i].size;
		if (pc->min > used)
			reserved += pc->min - used;
	}
	/* Others' minimums: what was free before this grant, less what they are owed. */
	free_before = m->pages * PAGE - (total - nb->size);
	CHECK(m, nb->size > free_before || nb->size + reserved <= free_before,
	      "pool '%s' took %" PRIu64 " bytes of the %" PRIu64 " free, %" PRIu64
	      " of them owed to other pools' minimums",
	      nb->pool, nb->size, free_before, reserved);
	CHECK(m, nb->size == ((r->desc.size + PAGE - 1) & ~(PAGE - 1)),
	      "granted %" PRIu64 " bytes for %" PRIu64, nb->size, r->desc.size);
	CHECK(m, !r->desc.align || nb->offset % r->desc.align == 0,
	      "offset 0x%" PRIx64 " not aligned to %" PRIu64, nb->offset, r->desc.align);
}

/*
 * A refusal for the client's own limits or pool must be one the model agrees with:
 * the limits are each client's (what it holds, pending releases included), not
 * its class's, and it may name only the class's own pool.
 */
static void check_refusal(struct model *m, struct mowner *mo, const struct core_request *r, int err)
{
	const struct class_config *k = class_at(&m->cfg, mo->cls);
	uint64_t size = (r->desc.size + PAGE - 1) & ~(PAGE - 1), bytes = 0;
	uint64_t ulimit = uid_limit(m, mo->o.id.uid);
	uint32_t count = 0;
	int slot = (int)(mo - m->owners);

	if (err == -EACCES)
		CHECK(m, k->deny || (r->desc.pool[0] && strcmp(r->desc.pool, k->pool)),
		      "refused pool '%s' to a client of class '%s' (pool '%s')", r->desc.pool,
		      k->name, k->pool);
	if (err != -EDQUOT)
		return;
	for (size_t i = 0; i < m->nbufs; i++)
		if (m->bufs[i].owner == slot) {
			count++;
			bytes += m->bufs[i].st != M_PURGED ? m->bufs[i].size : 0;
		}
	CHECK(m,
	      count >= m->core.max_buffers_per_client ||
		      (k->max_buffers && count + 1 > k->max_buffers) ||
		      (k->max_bytes && bytes + size > k->max_bytes) ||
		      (ulimit && uid_bytes(m, mo->o.id.uid) + size > ulimit),
	      "owner %d refused -EDQUOT holding %u buffers, %" PRIu64 " bytes, asking %" PRIu64
	      " (class '%s': max-buffers %u max-bytes %" PRIu64 "; uid %u holds %" PRIu64
	      " of max-bytes-per-uid %" PRIu64 ")",
	      slot, count, bytes, size, k->name, k->max_buffers, k->max_bytes,
	      (unsigned)mo->o.id.uid, uid_bytes(m, mo->o.id.uid), ulimit);
}

/* The fake backend's export_range, and the answer. */
static bool export(struct model *m, struct core_request *r, struct core_decision *dec,
		   struct drive_ctx *dc)
{
	struct buffer *b = dec->buffer;
	struct owner *o = r->owner;
	struct mowner *mo = mowner_of(o);
	struct core_time now = {m->step, m->step};
	struct mbuf *nb;
	bool in_hole = false;
	int ret;

	CHECK(m,
	      b && b->size && b->offset % PAGE == 0 && b->size % PAGE == 0 &&
		      b->offset + b->size <= m->pages * PAGE && b->offset + b->size > b->offset,
	      "EXPORT of 0x%" PRIx64 "+%" PRIu64 " outside the region", b ? b->offset : 0,
	      b ? b->size : 0);
	/* The stub refuses overlapping live exports; here it is an invariant. */
	for (size_t i = 0; i < m->nbufs; i++)
		CHECK(m,
		      m->bufs[i].st == M_PURGED ||
			      !overlaps(b->offset, b->size, m->bufs[i].offset, m->bufs[i].size),
		      "EXPORT 0x%" PRIx64 "+%" PRIu64 " overlaps buffer %" PRIu64, b->offset,
		      b->size, m->bufs[i].id);
	for (unsigned i = 0; i < m->nzeroing; i++)
		CHECK(m, !overlaps(b->offset, b->size, m->zeroing[i].offset, m->zeroing[i].size),
		      "EXPORT 0x%" PRIx64 "+%" PRIu64 " overlaps a range being zeroed", b->offset,
		      b->size);
	for (unsigned i = 0; i < m->nlost; i++)
		CHECK(m, !overlaps(b->offset, b->size, m->lost[i].offset, m->lost[i].size),
		      "EXPORT 0x%" PRIx64 "+%" PRIu64 " overlaps a range whose zeroing failed",
		      b->offset, b->size);
	if (m->needs_zeroing)
		for (uint64_t p = b->offset / PAGE; p < (b->offset + b->size) / PAGE; p++)
			CHECK(m, !m->dirty[p],
			      "EXPORT 0x%" PRIx64 "+%" PRIu64 ": page %" PRIu64
			      " not zeroed since its last owner",
			      b->offset, b->size, p);
	/* The purge rule: a drive that purged places the request in the hole. */
	for (unsigned i = 0; i < dc->npurged; i++)
		in_hole |= overlaps(b->offset, b->size, dc->purged[i].offset, dc->purged[i].size);
	CHECK(m, !dc->npurged || dc->revoke_failed || in_hole,
	      "purged for request %" PRIu64 " but placed it outside the hole", r->tag);
	/* Without zeroing the hole is free at once: placed exactly where the plan said. */
	CHECK(m,
	      !dc->npurged || dc->revoke_failed || m->needs_zeroing ||
		      (r->have_hole && b->offset == r->hole),
	      "purged for request %" PRIu64 " but placed it at 0x%" PRIx64 ", not at the hole",
	      r->tag, b->offset);

	ret = chance(m, m->export_fail, 64) ? -EIO : 0;
	if (core_exported(&m->core, r, b, ret, &now, dec) < 0) {
		CHECK(m, ret < 0 && dec->action == CORE_REFUSE && dec->err == ret,
		      "failed export not refused with its error");
		m->n_export_fail++;
		o->door_ops->refuse(o, r, dec->err, dec->why);
		return false;
	}
	CHECK(m, ret == 0, "core_exported accepted a failed export");
	nb = mbuf_insert(m, b->id);
	nb->cookie = buffer_cookie(b);
	nb->offset = b->offset;
	nb->size = b->size;
	nb->owner = (int)(mo - m->owners);
	/* A heap caller's is let go at once, and still charged to it until released. */
	nb->st = mo->heap ? M_LETGO : M_HELD;
	nb->heap = mo->heap;
	CHECK(m, b->handed_over == mo->heap && b->let_go == mo->heap,
	      "buffer %" PRIu64 " of a %s owner: handed over %d, let go %d", b->id,
	      mo->heap ? "heap" : "socket", b->handed_over, b->let_go);
	nb->purgeable = r->desc.flags & CMABUF_ALLOC_PURGEABLE;
	nb->reclaimable = r->desc.flags & CMABUF_ALLOC_RECLAIMABLE;
	snprintf(nb->pool, sizeof(nb->pool), "%s", class_at(&m->cfg, mo->cls)->pool);
	snprintf(nb->cls, sizeof(nb->cls), "%s", class_name(&m->cfg, mo->cls));
	memset(&m->dirty[b->offset / PAGE], 1, b->size / PAGE);
	CHECK(m, nb == &m->bufs[m->nbufs - 1], "buffer id %" PRIu64 " not above every earlier one",
	      b->id);
	check_grant(m, mo, nb, r);
	m->n_export++;
	trace(m, "  exported %" PRIu64 " 0x%" PRIx64 "+%" PRIu64 " to owner %d for %" PRIu64, b->id,
	      b->offset, b->size, nb->owner, r->tag);
	o->door_ops->answer(o, r, b, -1);
	return true;
}

static void ask_reclaims(struct model *m, const struct core_request *r,
			 const struct core_decision *dec)
{
	int prio = r->owner->priority;

	for (unsigned i = 0; i < dec->nvictims; i++) {
		struct buffer *b = dec->victims[i];
		struct mbuf *mb = mbuf_find(m, b->id);
		struct owner *holder = b->owner;

		CHECK(m,
		      mb && mb->st == M_HELD && mb->owner >= 0 && holder &&
			      holder == &m->owners[mb->owner].o,
		      "reclaim of %" PRIu64 " which no present owner holds", b->id);
		CHECK(m, mb->reclaimable, "reclaim of %" PRIu64 ", not reclaimable", b->id);
		CHECK(m, class_at(&m->cfg, m->owners[mb->owner].cls)->priority < prio,
		      "reclaim of %" PRIu64 " from an owner of priority %d for one of %d", b->id,
		      class_at(&m->cfg, m->owners[mb->owner].cls)->priority, prio);
		holder->door_ops->reclaim(holder, b, dec->deadline_ms);
	}
}

/* Steps r through the core until it is answered or parked; true if it got its buffer. */
static bool drive(struct model *m, struct core_request *r)
{
	struct core_decision dec;
	struct owner *o = r->owner;
	struct drive_ctx dc = {.zero_failures = m->zero_failures};
	bool was_parked = r->phase == CORE_PHASE_PARKED;

	for (unsigned n = 0;; n++) {
		struct core_time now = {m->step, m->step};
		enum core_action act;

		CHECK(m, n < DRIVE_MAX, "request %" PRIu64 " driven %u times without an end",
		      r->tag, n);
		act = core_alloc_step(&m->core, r, &now, &dec);
		if (act != CORE_EXPORT && act != CORE_PURGE && act != CORE_COLLECT &&
		    act != CORE_WAIT_ZEROING)
			/* Ends the drive without a buffer: a purge must have been for nothing. */
			CHECK(m,
			      !dc.npurged || dc.revoke_failed ||
				      dc.zero_failures != m->zero_failures,
			      "purged for request %" PRIu64 " and then did not place it (%d)",
			      r->tag, act);
		switch (act) {
		case CORE_COLLECT:
			collect_releases(m);
			break;
		case CORE_WAIT_ZEROING:
			zeroing_wait_some(m);
			break;
		case CORE_PURGE:
			dc.revoke_failed = false; /* the rule holds for the last round */
			purge(m, r, &dec, &dc);
			break;
		case CORE_EXPORT:
			if (dc.zero_failures != m->zero_failures)
				dc.npurged = 0; /* the hole may be gone: placed anywhere is fine */
			return export(m, r, &dec, &dc);
		case CORE_PARK:
			ask_reclaims(m, r, &dec);
			o->door_ops->park(o, r, dec.deadline_ms);
			return false;
		case CORE_KEEP_WAITING:
			CHECK(m, was_parked && o->pending == r,
			      "KEEP_WAITING for a request not parked");
			return false;
		case CORE_REFUSE:
			o->door_ops->refuse(o, r, dec.err, dec.why);
			return false;
		}
	}
}

/* Memory came back: every parked request tries again, oldest first. */
static void retry_parked(struct model *m)
{
	struct core_request *r, *next;

	if (m->retrying)
		return;
	m->retrying = true;
	for (r = core_parked_first(&m->core); r; r = next) {
		next = core_parked_next(&m->core, r);
		drive(m, r);
	}
	m->retrying = false;
}

/* ---- steps ------------------------------------------------------------------------- */

static struct mowner *random_owner(struct model *m)
{
	unsigned start = (unsigned)rnd(m, MAX_OWNERS);

	for (unsigned i = 0; i < MAX_OWNERS; i++) {
		struct mowner *mo = &m->owners[(start + i) % MAX_OWNERS];

		if (mo->present)
			return mo;
	}
	return NULL;
}

/* A random buffer matching want (a predicate), or NULL. */
static struct mbuf *random_buf(struct model *m,
			       bool (*want)(const struct model *m, const struct mbuf *b))
{
	size_t n = 0, pick;

	for (size_t i = 0; i < m->nbufs; i++)
		n += want(m, &m->bufs[i]);
	if (!n)
		return NULL;
	pick = rnd(m, n);
	for (size_t i = 0; i < m->nbufs; i++)
		if (want(m, &m->bufs[i]) && pick-- == 0)
			return &m->bufs[i];
	return NULL;
}

static bool is_owned(const struct model *m, const struct mbuf *b)
{
	return b->owner >= 0 && b->st != M_LETGO;
}

static bool is_pending(const struct model *m, const struct mbuf *b)
{
	return b->st == M_LETGO;
}

static bool is_asked(const struct model *m, const struct mbuf *b)
{
	return b->owner >= 0 && b->st == M_HELD && b->reclaim_asked;
}

static const char *pool_names[] = {"p0", "p1", "p2", "p3"};
static const char *class_names[] = {"c0", "c1", "c2", "c3", "c4"};

static void step_alloc(struct model *m)
{
	struct mowner *mo = random_owner(m);
	struct core_alloc_desc desc;
	struct core_request r;
	uint64_t rid, max = m->pages / 4 > 1 ? m->pages / 4 : 1;
	unsigned kind = (unsigned)rnd(m, 100);

	if (!mo)
		return;
	memset(&desc, 0, sizeof(desc));
	desc.size = (1 + rnd(m, chance(m, 1, 8) ? m->pages : max)) * PAGE;
	if (chance(m, 1, 4))
		desc.size -= rnd(m, PAGE); /* not a page multiple */
	if (kind < 2)
		desc.size = kind ? m->pages * PAGE + PAGE : 0; /* invalid */
	if (chance(m, 1, 4))
		desc.align = PAGE << rnd(m, 5);
	else if (chance(m, 1, 64))
		desc.align = 3 * PAGE;	  /* invalid */
	desc.flags = (uint32_t)rnd(m, 4); /* PURGEABLE, RECLAIMABLE, both, none */
	if (chance(m, 1, 128))
		desc.flags |= 0x80; /* unknown */
	if (mo->heap) /* DMA_HEAP_IOCTL_ALLOC has a length and nothing else for the core */
		desc.flags = 0, desc.align = 0;
	snprintf(desc.name, sizeof(desc.name), "m%" PRIu64, m->step);
	if (chance(m, 1, 8) && !mo->heap) /* its own pool by name, or one it may not use */
		snprintf(desc.pool, sizeof(desc.pool), "%s",
			 chance(m, 1, 2) ? class_at(&m->cfg, mo->cls)->pool
			 : rnd(m, 5)	 ? pool_names[rnd(m, 4)]
					 : "default");
	rid = new_request(m);
	m->n_alloc++;
	trace(m,
	      "alloc %" PRIu64 ": owner %d size %" PRIu64 " align %" PRIu64 " flags %u pool '%s'",
	      rid, (int)(mo - m->owners), desc.size, desc.align, desc.flags, desc.pool);
	core_alloc_begin(&m->core, &r, &mo->o, &desc, rid);
	drive(m, &r);
	CHECK(m,
	      m->reqs[rid].answers == 1 || (m->reqs[rid].state == R_PARKED && mo->is_parked &&
					    mo->o.pending == &mo->parked && mo->parked.tag == rid),
	      "request %" PRIu64 " neither answered nor parked", rid);
}

static void let_go_one(struct model *m, struct mbuf *mb)
{
	struct mowner *mo = &m->owners[mb->owner];
	struct buffer *b = core_owned_buffer(&m->core, &mo->o, mb->id);

	CHECK(m, b, "owner %d's buffer %" PRIu64 " not found as its own", mb->owner, mb->id);
	unexport(m, b); /* may free mb: the release may come at once (memfd) */
}

static void step_free(struct model *m)
{
	struct mbuf *mb = random_buf(m, is_owned);
	struct mowner *other = random_owner(m);

	if (!mb)
		return;
	trace(m, "free %" PRIu64 " of owner %d", mb->id, mb->owner);
	/* Someone else's buffer looks exactly like a missing one. */
	if (other && (int)(other - m->owners) != mb->owner)
		CHECK(m, !core_owned_buffer(&m->core, &other->o, mb->id),
		      "owner %d found owner %d's buffer %" PRIu64 " as its own",
		      (int)(other - m->owners), mb->owner, mb->id);
	let_go_one(m, mb);
}

static void step_release(struct model *m)
{
	struct mbuf *mb;

	if (chance(m, 1, 32)) { /* released before we listed it */
		trace(m, "release of an unknown cookie");
		release(m, (m->core.next_id + 1000 + rnd(m, 1000)) | 5ull << COOKIE_ID_BITS);
		return;
	}
	/* uio: a client closed its dma-buf without FREE and no device holds it. */
	if (m->needs_zeroing && chance(m, m->stray_release, 64))
		mb = random_buf(m, is_owned);
	else
		mb = random_buf(m, is_pending);
	if (!mb)
		return;
	trace(m, "release %" PRIu64 "%s", mb->id, mb->st == M_LETGO ? "" : " (never let go)");
	release(m, mb->cookie);
}

static void step_zeroed(struct model *m)
{
	if (!m->nzeroing)
		return;
	trace(m, "zeroing returns a range");
	zero_done(m, (unsigned)rnd(m, m->nzeroing));
}

static void step_purgeable(struct model *m)
{
	struct mbuf *mb = random_buf(m, is_owned);
	struct core_time now = {m->step, m->step};
	struct buffer *b;
	bool purgeable = chance(m, 1, 2), was;

	if (!mb)
		return;
	b = core_owned_buffer(&m->core, &m->owners[mb->owner].o, mb->id);
	CHECK(m, b, "owner %d's buffer %" PRIu64 " not found as its own", mb->owner, mb->id);
	trace(m, "set_purgeable %" PRIu64 " %d", mb->id, purgeable);
	was = core_set_purgeable(&m->core, b, purgeable, &now);
	CHECK(m, was == (mb->st == M_PURGED), "set_purgeable %" PRIu64 " says purged=%d", mb->id,
	      was);
	mb->purgeable = purgeable;
}

static void leave(struct model *m, struct mowner *mo)
{
	int slot = (int)(mo - m->owners);

	trace(m, "owner %d leaves", slot);
	if (mo->is_parked) {
		m->reqs[mo->parked.tag].state = R_DROPPED;
		mo->is_parked = false;
	}
	/* Let-go ones are uncharged from it without a callback; the others through unexport. */
	for (size_t i = 0; i < m->nbufs; i++)
		if (m->bufs[i].owner == slot && m->bufs[i].st == M_LETGO)
			m->bufs[i].owner = -1;
	m->leaving = slot;
	core_owner_remove(&m->core, &mo->o, unexport, m);
	m->leaving = -1;
	for (size_t i = 0; i < m->nbufs; i++)
		CHECK(m, m->bufs[i].owner != slot, "owner %d left but still holds %" PRIu64, slot,
		      m->bufs[i].id);
	mo->present = false;
	m->n_leave++;
}

static void step_arrive(struct model *m)
{
	struct peer_identity id;
	struct mowner *mo = NULL;
	bool ok;

	for (unsigned i = 0; i < MAX_OWNERS && !mo; i++)
		if (!m->owners[i].present)
			mo = &m->owners[i];
	if (!mo)
		return;
	memset(&id, 0, sizeof(id));
	id.pid = (pid_t)(100 + m->step % 30000);
	id.uid = (uid_t)(1000 + rnd(m, NUIDS));
	id.gid = (gid_t)(100 + rnd(m, 3));
	id.unit_known = true;
	if (chance(m, 1, 2)) {
		mo->group = (gid_t)(200 + rnd(m, 2));
		id.groups = &mo->group;
		id.ngroups = 1;
	}
	if (chance(m, 1, 4))
		snprintf(id.unit, sizeof(id.unit), "u%u.service", (unsigned)rnd(m, 2));
	core_owner_init(&mo->o, &id, &model_door, mo);
	mo->heap = chance(m, 1, 4);
	mo->o.door_kind = mo->heap ? OWNER_DOOR_HEAP : OWNER_DOOR_SOCKET;
	core_owner_add(&m->core, &mo->o);
	mo->present = true;
	mo->is_parked = false;
	mo->cls = model_classify(&m->cfg, &id);
	ok = core_classify(&m->core, &mo->o);
	trace(m, "owner %d arrives%s: uid %u gid %u class '%s'%s", (int)(mo - m->owners),
	      mo->heap ? " by the heap door" : "", id.uid, id.gid, class_name(&m->cfg, mo->cls),
	      ok ? "" : " (denied)");
	CHECK(m, ok == !class_at(&m->cfg, mo->cls)->deny, "HELLO verdict %d for class '%s'", ok,
	      class_name(&m->cfg, mo->cls));
	if (!ok) /* the door refuses its HELLO and closes it */
		leave(m, mo);
}

static void step_leave(struct model *m)
{
	struct mowner *mo = random_owner(m);

	/* The heap door keeps a caller's owner while it holds or waits for anything. */
	if (mo && mo->heap && (mo->o.nbuffers || mo->is_parked))
		return;
	if (mo)
		leave(m, mo);
}

static void step_deadline(struct model *m)
{
	struct core_time now = {m->step, m->step};
	struct core_decision dec;
	unsigned start = (unsigned)rnd(m, MAX_OWNERS);

	for (unsigned i = 0; i < MAX_OWNERS; i++) {
		struct mowner *mo = &m->owners[(start + i) % MAX_OWNERS];

		if (!mo->present || !mo->is_parked)
			continue;
		trace(m, "deadline of request %" PRIu64, mo->parked.tag);
		m->n_deadline++;
		core_deadline(&m->core, &mo->parked, &now, &dec);
		CHECK(m, dec.action == CORE_REFUSE, "deadline without a refusal");
		CHECK(m, !mo->o.pending, "deadline left the request parked");
		mo->o.door_ops->refuse(&mo->o, &mo->parked, dec.err, dec.why);
		return;
	}
}

static void step_reclaim_answer(struct model *m)
{
	struct mbuf *mb = random_buf(m, is_asked);

	if (!mb)
		return;
	trace(m, "owner %d gives back %" PRIu64, mb->owner, mb->id);
	let_go_one(m, mb);
}

/* ---- reloads ------------------------------------------------------------------------- */

/* A random valid policy, as struct config directly. */
static void random_config(struct model *m, struct config *cfg)
{
	config_defaults(cfg);
	for (unsigned i = 0; i < 4; i++) {
		struct pool_config *p;

		if (chance(m, 1, 2))
			continue;
		p = &cfg->pools[cfg->npools++];
		snprintf(p->name, sizeof(p->name), "%s", pool_names[i]);
		p->min = rnd(m, m->pages / 8 + 1) * PAGE; /* four at most: half the region */
		p->max = chance(m, 1, 3) ? 0 : p->min + (1 + rnd(m, m->pages / 2)) * PAGE;
	}
	if (chance(m, 1, 4))
		cfg->pools[0].max = (1 + rnd(m, m->pages)) * PAGE;
	for (unsigned n = 0, i = (unsigned)rnd(m, 5); n < 5; n++, i = (i + 1) % 5) {
		struct class_config *k;

		if (chance(m, 1, 2))
			continue;
		k = &cfg->classes[cfg->nclasses++];
		memset(k, 0, sizeof(*k));
		snprintf(k->name, sizeof(k->name), "%s", class_names[i]);
		if (chance(m, 2, 3))
			k->uids[k->nuids++] = (uid_t)(1000 + rnd(m, NUIDS));
		if (chance(m, 1, 3))
			k->uids[k->nuids++] = (uid_t)(1000 + rnd(m, NUIDS));
		if (chance(m, 1, 3))
			k->gids[k->ngids++] =
				(gid_t)(chance(m, 1, 2) ? 100 + rnd(m, 3) : 200 + rnd(m, 2));
		if (chance(m, 1, 6))
			snprintf(k->units[k->nunits++], CONFIG_UNIT_MAX, "u%u.service",
				 (unsigned)rnd(m, 2));
		if (!k->nuids && !k->ngids && !k->nunits)
			k->uids[k->nuids++] = (uid_t)(1000 + rnd(m, NUIDS));
	}
	for (unsigned i = 0; i <= cfg->nclasses; i++) {
		struct class_config *k = i < cfg->nclasses ? &cfg->classes[i] : &cfg->default_class;

		snprintf(k->pool, sizeof(k->pool), "%s", cfg->pools[rnd(m, cfg->npools)].name);
		k->max_bytes = chance(m, 1, 3) ? 0 : (m->pages / 8 + rnd(m, m->pages / 2)) * PAGE;
		k->max_buffers = chance(m, 1, 3) ? 0 : 1 + (uint32_t)rnd(m, 6);
		k->priority = (int)rnd(m, 7) - 3;
		k->deny = chance(m, 1, i < cfg->nclasses ? 20 : 40);
		k->dev_addr = chance(m, 1, 2);
	}
	cfg->reclaim_deadline_ms = 1 + (uint32_t)rnd(m, 5000);
	random_uid_limit(m, cfg);
}

static int print_limit(char *buf, size_t cap, const char *key, uint64_t v)
{
	if (!v)
		return snprintf(buf, cap, "%s = %s\n", key, "unlimited");
	return snprintf(buf, cap, "%s = %" PRIu64 "\n", key, v);
}

/* cfg as a policy file: the parser must give cfg back. */
static void config_text(const struct config *cfg, char *buf, size_t cap)
{
	size_t n = 0;

#define OUT(...) n += (size_t)snprintf(buf + n, cap - n, __VA_ARGS__)
	OUT("[daemon]\nreclaim-deadline = %ums\n", cfg->reclaim_deadline_ms);
	if (cfg->uid_max_percent)
		OUT("max-bytes-per-uid = %u%%\n", cfg->uid_max_percent);
	else
		n += (size_t)print_limit(buf + n, cap - n, "max-bytes-per-uid", cfg->uid_max_bytes);
	for (unsigned i = 0; i < cfg->npools; i++) {
		const struct pool_config *p = &cfg->pools[i];

		OUT("[pool %s]\nmin = %" PRIu64 "\n", p->name, p->min);
		n += (size_t)print_limit(buf + n, cap - n, "max", p->max);
	}
	for (unsigned i = 0; i <= cfg->nclasses; i++) {
		const struct class_config *k = class_at(cfg, i);

		OUT("\n[class %s]\n", k->name);
		for (unsigned u = 0; u < k->nuids; u++)
			OUT("uid = %u\n", (unsigned)k->uids[u]);
		for (unsigned g = 0; g < k->ngids; g++)
			OUT("gid = %u\n", (unsigned)k->gids[g]);
		for (unsigned u = 0; u < k->nunits; u++)
			OUT("unit = %s\n", k->units[u]);
		OUT("pool = %s\n", k->pool);
		n += (size_t)print_limit(buf + n, cap - n, "max-bytes", k->max_bytes);
		if (k->max_buffers)
			OUT("max-buffers = %u\n", k->max_buffers);
		else
			OUT("max-buffers = unlimited\n");
		OUT("priority = %d\ndev-addr = %s\ndeny = %s\n", k->priority,
		    k->dev_addr ? "yes" : "no", k->deny ? "yes" : "no");
	}
#undef OUT
}

static const char *const breakage[] = {
	"[class broken]\nuid = 1000\npool = nosuch\n",
	"[pool broken]\nmin = 8192\nmax = 4096\n",
	"[class broken]\nuid = 1000\nmax-byte = 1M\n",
	"[class broken]\npriority = 1\n",
	"[pool huge]\nmin = 1G\n",
	"[daemon]\nreclaim-deadline = forever\n",
};

static void denied_cb(void *ctx, struct owner *o)
{
	struct model *m = ctx;
	struct mowner *mo = mowner_of(o);

	CHECK(m, m->reloading && mo->present, "denied outside a reload");
	m->denied[mo - m->owners] = true;
}

static void step_reload(struct model *m)
{
	static char text[16384];
	struct config fresh, parsed;
	char err[256];
	int ret;

	random_config(m, &fresh);
	if (chance(m, 1, 5)) { /* broken: the daemon keeps the old policy */
		config_text(&fresh, text, sizeof(text));
		strncat(text, breakage[rnd(m, sizeof(breakage) / sizeof(breakage[0]))],
			sizeof(text) - strlen(text) - 1);
		ret = config_parse_string(text, "model.conf", m->pages * PAGE, &parsed, err,
					  sizeof(err));
		CHECK(m, ret < 0, "a broken policy file parsed:\n%s", text);
		trace(m, "reload refused: %s", err);
		m->n_broken++;
		return;
	}
	if (chance(m, 1, 2)) { /* through the parser, as SIGHUP does */
		config_text(&fresh, text, sizeof(text));
		ret = config_parse_string(text, "model.conf", m->pages * PAGE, &parsed, err,
					  sizeof(err));
		CHECK(m, ret == 0, "a valid policy file did not parse: %s\n%s", err, text);
		fresh = parsed;
	}
	trace(m, "reload: %u pools, %u classes", fresh.npools, fresh.nclasses);
	for (unsigned i = 0; i < fresh.npools; i++)
		trace(m, "  pool %s min %" PRIu64 " max %" PRIu64, fresh.pools[i].name,
		      fresh.pools[i].min, fresh.pools[i].max);
	m->n_reload++;
	m->cfg = fresh;
	for (unsigned i = 0; i < MAX_OWNERS; i++) {
		m->denied[i] = false;
		if (m->owners[i].present)
			m->owners[i].cls = model_classify(&m->cfg, &m->owners[i].o.id);
	}
	/* Buffers: an owner's take its new class; the others keep theirs by name. */
	for (size_t i = 0; i < m->nbufs; i++) {
		struct mbuf *b = &m->bufs[i];

		if (!config_pool(&m->cfg, b->pool))
			snprintf(b->pool, sizeof(b->pool), "%s", CONFIG_DEFAULT_POOL);
		if (b->owner >= 0) {
			snprintf(b->cls, sizeof(b->cls), "%s",
				 class_name(&m->cfg, m->owners[b->owner].cls));
		} else if (!b->no_class) {
			bool found = false;

			for (unsigned k = 0; k < m->cfg.nclasses; k++)
				found |= !strcmp(m->cfg.classes[k].name, b->cls);
			if (!found)
				snprintf(b->cls, sizeof(b->cls), "%s", m->cfg.default_class.name);
		}
	}
	m->reloading = true;
	core_policy_replace(&m->core, &fresh, denied_cb, m);
	m->reloading = false;
	for (unsigned i = 0; i < MAX_OWNERS; i++) {
		struct mowner *mo = &m->owners[i];
		bool deny = mo->present && class_at(&m->cfg, mo->cls)->deny;

		CHECK(m, m->denied[i] == deny, "owner %u of class '%s' %s", i,
		      class_name(&m->cfg, mo->cls),
		      deny ? "denied but not reported" : "reported denied");
		if (deny) /* the socket door closes it; a heap caller's next requests are refused */
			m->n_denied++;
		if (deny && (!mo->heap || (!mo->o.nbuffers && !mo->is_parked)))
			leave(m, mo);
	}
}

/* ---- invariants -------------------------------------------------------------------- */

static void mark(struct model *m, uint64_t offset, uint64_t size, uint8_t what, const char *name)
{
	CHECK(m,
	      size && offset % PAGE == 0 && size % PAGE == 0 && offset + size > offset &&
		      offset + size <= m->pages * PAGE,
	      "%s 0x%" PRIx64 "+%" PRIu64 " is not a range of the region", name, offset, size);
	for (uint64_t p = offset / PAGE; p < (offset + size) / PAGE; p++) {
		CHECK(m, !m->pagemap[p],
		      "%s 0x%" PRIx64 "+%" PRIu64 " overlaps %s at page %" PRIu64, name, offset,
		      size,
		      m->pagemap[p] == 'F'   ? "a free extent"
		      : m->pagemap[p] == 'B' ? "a buffer"
		      : m->pagemap[p] == 'Z' ? "a range being zeroed"
					     : "a lost range",
		      p);
		m->pagemap[p] = what;
	}
}

struct free_walk {
	struct model *m;
	uint64_t bytes;
	uint32_t n;
};

static int mark_free(uint64_t offset, uint64_t size, void *ctx)
{
	struct free_walk *w = ctx;

	mark(w->m, offset, size, 'F', "free extent");
	w->bytes += size;
	w->n++;
	return 0;
}

static void check_region(struct model *m)
{
	struct allocator_stats st;
	struct free_walk w = {m, 0, 0};
	uint64_t live = 0, pending = 0, zeroing = 0, heap_bytes = 0;
	uint32_t nheap = 0;

	memset(m->pagemap, 0, m->pages);
	CHECK(m, allocator_check(m->core.alloc) == 0, "allocator_check() failed");
	allocator_for_each_free(m->core.alloc, mark_free, &w);
	for (size_t i = 0; i < m->nbufs; i++) {
		const struct mbuf *b = &m->bufs[i];

		if (b->st == M_PURGED)
			continue;
		mark(m, b->offset, b->size, 'B', "buffer");
		live += b->size;
		if (b->st == M_LETGO)
			pending += b->size;
		if (b->heap) {
			heap_bytes += b->size;
			nheap++;
		}
	}
	for (unsigned i = 0; i < m->nzeroing; i++) {
		mark(m, m->zeroing[i].offset, m->zeroing[i].size, 'Z', "range being zeroed");
		zeroing += m->zeroing[i].size;
	}
	for (unsigned i = 0; i < m->nlost; i++)
		mark(m, m->lost[i].offset, m->lost[i].size, 'X', "lost range");
	for (uint64_t p = 0; p < m->pages; p++)
		CHECK(m, m->pagemap[p],
		      "page %" PRIu64 " is neither free, a buffer's, "
		      "being zeroed nor lost",
		      p);
	allocator_get_stats(m->core.alloc, &st);
	CHECK(m, st.size == m->pages * PAGE && st.used + st.free == st.size,
	      "allocator: used %" PRIu64 " + free %" PRIu64 " != %" PRIu64, st.used, st.free,
	      st.size);
	CHECK(m, st.free == w.bytes && st.free_extents == w.n,
	      "allocator stats say %" PRIu64 " free in %u, its extents %" PRIu64 " in %u", st.free,
	      st.free_extents, w.bytes, w.n);
	CHECK(m, st.used == live + zeroing + m->lost_bytes,
	      "allocator used %" PRIu64 " != buffers %" PRIu64 " + zeroing %" PRIu64
	      " + lost %" PRIu64,
	      st.used, live, zeroing, m->lost_bytes);
	CHECK(m, m->core.zeroing_bytes == zeroing,
	      "core->zeroing_bytes %" PRIu64 ", being zeroed %" PRIu64, m->core.zeroing_bytes,
	      zeroing);
	CHECK(m,
	      m->core.ledger.handed_over_bytes == heap_bytes && m->core.ledger.handed_over == nheap,
	      "ledger handed over %" PRIu64 " bytes in %u, model %" PRIu64 " in %u",
	      m->core.ledger.handed_over_bytes, m->core.ledger.handed_over, heap_bytes, nheap);
	CHECK(m,
	      m->core.metrics.door_allocations[0] + m->core.metrics.door_allocations[1] ==
			      m->core.stats.allocations &&
		      m->core.metrics.door_failures[0] + m->core.metrics.door_failures[1] ==
			      m->core.stats.failures,
	      "counters by door do not add up to the totals");
	CHECK(m, m->core.ledger.pending_release_bytes == pending,
	      "ledger pending_release_bytes %" PRIu64 ", model %" PRIu64,
	      m->core.ledger.pending_release_bytes, pending);
	CHECK(m, core_used_bytes(&m->core) == live + m->lost_bytes, "core_used_bytes %" PRIu64,
	      core_used_bytes(&m->core));
}

static unsigned class_index(const struct config *cfg, const char *name)
{
	for (unsigned i = 0; i < cfg->nclasses; i++)
		if (!strcmp(cfg->classes[i].name, name))
			return i;
	return cfg->nclasses;
}

static void check_ledger(struct model *m)
{
	const struct policy *p = &m->core.policy;
	uint64_t pool_used[CONFIG_MAX_POOLS] = {0}, class_bytes[CONFIG_MAX_CLASSES + 1] = {0};
	uint32_t class_buffers[CONFIG_MAX_CLASSES + 1] = {0};
	size_t i = 0;
	struct buffer *b;

	CHECK(m, m->core.ledger.count == m->nbufs, "ledger holds %u buffers, model %zu",
	      m->core.ledger.count, m->nbufs);
	for (b = ledger_next_after(&m->core.ledger, 0); b; b = ledger_next(&m->core.ledger, b)) {
		const struct mbuf *mb = i < m->nbufs ? &m->bufs[i++] : NULL;
		const struct pool_config *pool;

		CHECK(m, mb && mb->id == b->id, "ledger buffer %" PRIu64 " unknown to the model",
		      b->id);
		CHECK(m, b->purged == (mb->st == M_PURGED) && b->let_go == (mb->st == M_LETGO),
		      "buffer %" PRIu64 ": purged %d let_go %d, model state %d", b->id, b->purged,
		      b->let_go, mb->st);
		CHECK(m, mb->st == M_PURGED || (b->offset == mb->offset && b->size == mb->size),
		      "buffer %" PRIu64 " moved", b->id);
		CHECK(m, mb->owner < 0 ? !b->owner : b->owner == &m->owners[mb->owner].o,
		      "buffer %" PRIu64 " charged to the wrong owner", b->id);
		CHECK(m, b->purgeable == mb->purgeable && b->reclaimable == mb->reclaimable,
		      "buffer %" PRIu64 " purgeable/reclaimable differ", b->id);
		CHECK(m, b->bytes_charged == (mb->st != M_PURGED), "buffer %" PRIu64 " charged %d",
		      b->id, b->bytes_charged);
		CHECK(m, b->pool_idx < p->cfg.npools, "buffer %" PRIu64 " in pool %u of %u", b->id,
		      b->pool_idx, p->cfg.npools);
		pool = &p->cfg.pools[b->pool_idx];
		CHECK(m, !strcmp(pool->name, mb->pool),
		      "buffer %" PRIu64 " in pool '%s', model '%s'", b->id, pool->name, mb->pool);
		if (mb->no_class) {
			CHECK(m, b->class_idx == POLICY_NO_CLASS,
			      "adopted %" PRIu64 " has class %u", b->id, b->class_idx);
		} else {
			CHECK(m,
			      b->class_idx <= p->cfg.nclasses &&
				      !strcmp(class_name(&p->cfg, b->class_idx), mb->cls),
			      "buffer %" PRIu64 " in class %u, model '%s'", b->id, b->class_idx,
			      mb->cls);
			class_buffers[class_index(&p->cfg, mb->cls)]++;
			if (mb->st != M_PURGED)
				class_bytes[class_index(&p->cfg, mb->cls)] += mb->size;
		}
		if (mb->st != M_PURGED)
			pool_used[b->pool_idx] += mb->size;
	}
	for (unsigned k = 0; k < CONFIG_MAX_POOLS; k++)
		CHECK(m, p->pool_used[k] == pool_used[k],
		      "pool %u ('%s') used %" PRIu64 ", model %" PRIu64, k,
		      k < p->cfg.npools ? p->cfg.pools[k].name : "-", p->pool_used[k],
		      pool_used[k]);
	for (unsigned k = 0; k <= CONFIG_MAX_CLASSES; k++)
		CHECK(m,
		      p->class_bytes[k] == class_bytes[k] &&
			      p->class_buffers[k] == class_buffers[k],
		      "class %u holds %" PRIu64 " bytes in %u buffers, model %" PRIu64 " in %u", k,
		      p->class_bytes[k], p->class_buffers[k], class_bytes[k], class_buffers[k]);
	/* What each uid holds, its owners' buffers, let-go ones and survivors together. */
	for (uid_t uid = 1000; uid <= 1000 + NUIDS; uid++) {
		uid_t u = uid < 1000 + NUIDS ? uid : (uid_t)-1; /* survivors with no uid */

		CHECK(m, uid_usage_bytes(&p->uids, u) == uid_bytes(m, u),
		      "uid %u holds %" PRIu64 " bytes, model %" PRIu64, (unsigned)u,
		      uid_usage_bytes(&p->uids, u), uid_bytes(m, u));
	}
}

static void check_owners(struct model *m)
{
	unsigned nparked = 0, listed = 0;
	struct core_request *r;

	for (unsigned i = 0; i < MAX_OWNERS; i++) {
		struct mowner *mo = &m->owners[i];
		uint64_t bytes = 0;
		uint32_t n = 0;

		if (!mo->present)
			continue;
		for (size_t j = 0; j < m->nbufs; j++)
			if (m->bufs[j].owner == (int)i) {
				n++;
				if (m->bufs[j].st != M_PURGED)
					bytes += m->bufs[j].size;
			}
		CHECK(m, mo->o.nbuffers == n && mo->o.bytes == bytes,
		      "owner %u charged %u buffers %" PRIu64 " bytes, model %u %" PRIu64, i,
		      mo->o.nbuffers, mo->o.bytes, n, bytes);
		CHECK(m,
		      mo->o.class_idx == mo->cls &&
			      mo->o.priority == class_at(&m->cfg, mo->cls)->priority,
		      "owner %u in class %u priority %d, model %u", i, mo->o.class_idx,
		      mo->o.priority, mo->cls);
		CHECK(m,
		      (mo->o.pending == &mo->parked) == mo->is_parked &&
			      (mo->is_parked || !mo->o.pending),
		      "owner %u parked %d, core says %p", i, mo->is_parked, (void *)mo->o.pending);
		nparked += mo->is_parked;
	}
	for (r = core_parked_first(&m->core); r; r = core_parked_next(&m->core, r)) {
		struct mowner *mo = mowner_of(r->owner);

		CHECK(m, mo->present && mo->is_parked && r == &mo->parked,
		      "a parked request the doors do not keep");
		listed++;
	}
	CHECK(m, listed == nparked, "%u requests parked, doors keep %u", listed, nparked);
}

static void check_all(struct model *m)
{
	m->what = "invariants";
	check_region(m);
	check_ledger(m);
	check_owners(m);
	if (!m->needs_zeroing)
		CHECK(m, m->nzeroing == 0 && m->core.zeroing_bytes == 0,
		      "zeroing without a backend that needs it");
}

/* ---- setting up ---------------------------------------------------------------------- */

/* Survivors of an earlier daemon (the stub's LIST, the fd store), with random cookies. */
static void adopt(struct model *m)
{
	struct core_time now = {0, 0};
	unsigned n = (unsigned)rnd(m, 6);
	uint64_t page = 0, id = 1 + rnd(m, 1000);

	for (unsigned i = 0; i < n; i++) {
		uint64_t size = (1 + rnd(m, m->pages / 8)) * PAGE, uid;
		uint64_t cookie;
		struct mbuf *mb;
		int ret;

		page += rnd(m, m->pages / 8);
		if ((page + size / PAGE) > m->pages)
			break;
		uid = chance(m, 1, 8) ? COOKIE_NO_UID : 1000 + rnd(m, NUIDS);
		id += 1 + rnd(m, 1000);
		cookie = id | uid << COOKIE_ID_BITS;
		ret = core_adopt(&m->core, page * PAGE, size, cookie, &now);
		CHECK(m, ret == 0, "adopting 0x%" PRIx64 "+%" PRIu64 " failed: %d", page * PAGE,
		      size, ret);
		mb = mbuf_insert(m, id);
		mb->cookie = cookie;
		mb->offset = page * PAGE;
		mb->size = size;
		mb->owner = -1;
		mb->st = M_LETGO;
		mb->no_class = true;
		snprintf(mb->pool, sizeof(mb->pool), "%s", CONFIG_DEFAULT_POOL);
		memset(&m->dirty[page], 1, size / PAGE);
		/* A second claim on the same range (or past the end) is refused. */
		if (chance(m, 1, 2)) {
			ret = core_adopt(&m->core, page * PAGE + rnd(m, size / PAGE) * PAGE, PAGE,
					 cookie + 1, &now);
			CHECK(m, ret < 0, "adopting an adopted range twice succeeded");
		}
		page += size / PAGE;
	}
	CHECK(m, core_adopt(&m->core, m->pages * PAGE, PAGE, ++id + 100000, &now) < 0,
	      "adopting past the region's end succeeded");
}

struct zero_start {
	struct model *m;
	struct range v[MAX_PAGES];
	unsigned n;
};

static int note_free(uint64_t offset, uint64_t size, void *ctx)
{
	struct zero_start *z = ctx;

	z->v[z->n++] = (struct range){offset, size};
	return 0;
}

static struct model *model_new(uint64_t seed, const uint8_t *data, size_t size)
{
	static const struct core_region region0 = {.backend = "model", .base = 0x40000000};
	struct model *m = calloc(1, sizeof(*m));
	struct core_region region = region0;
	struct config initial;
	int ret;

	if (!m)
		return NULL;
	m->seed = seed;
	m->rng = seed;
	m->rng_uid = seed ^ 0x756964u; /* "uid" */
	m->no_uid_limit = getenv("MODEL_NO_UID_LIMIT") && atoi(getenv("MODEL_NO_UID_LIMIT"));
	m->in = data;
	m->in_size = size;
	m->what = "start";
	m->leaving = -1;
	m->pages = 32 + rnd(m, MAX_PAGES - 32 + 1);
	m->needs_zeroing = chance(m, 1, 2);
	m->export_fail = (unsigned)(chance(m, 1, 10) ? 64 : chance(m, 1, 2) ? 0 : 1 + rnd(m, 16));
	m->revoke_busy = (unsigned)(chance(m, 1, 3) ? 0 : 1 + rnd(m, 32));
	m->zero_fail = (unsigned)(chance(m, 1, 2) ? 0 : 1 + rnd(m, 3));
	m->release_now = (unsigned)rnd(m, 9);
	m->stray_release = (unsigned)rnd(m, 9);
	region.size = m->pages * PAGE + rnd(m, PAGE); /* rounded down to the granule */
	if (chance(m, 1, 4)) {
		config_defaults(&initial); /* the built-in policy: each uid half the region */
		if (m->no_uid_limit)
			initial.uid_max_percent = 0;
	} else {
		random_config(m, &initial);
	}
	m->cfg = initial;
	ret = core_init(&m->core, &region, PAGE, m->needs_zeroing, &initial, "model.conf", 0);
	if (ret < 0) {
		free(m);
		return NULL;
	}
	m->core.max_buffers_per_client = chance(m, 1, 2) ? UINT32_MAX : 2 + (uint32_t)rnd(m, 8);
	for (unsigned i = 0; i < MAX_OWNERS; i++)
		m->owners[i].m = m;
	CHECK(m, m->core.region.size == m->pages * PAGE, "region not rounded to the granule");
	memset(m->dirty, m->needs_zeroing, sizeof(m->dirty)); /* garbage from before */
	adopt(m);
	if (m->needs_zeroing) { /* startup: every free extent is cleared before first use */
		struct zero_start z = {.m = m};

		allocator_for_each_free(m->core.alloc, note_free, &z);
		for (unsigned i = 0; i < z.n; i++) {
			struct core_range r = {z.v[i].offset, z.v[i].size};

			CHECK(m, core_take_for_zeroing(&m->core, r.offset, r.size) == 0,
			      "core_take_for_zeroing failed");
			zero_later(m, &r);
		}
	}
	check_all(m);
	return m;
}

struct model *model_new_seeded(uint64_t seed)
{
	return model_new(seed, NULL, 0);
}

struct model *model_new_input(const uint8_t *data, size_t size)
{
	/* An empty input still plays: every choice is 0. */
	return model_new(0, data ? data : (const uint8_t *)"", size);
}

void model_set_trace(struct model *m, int level)
{
	m->trace = level;
}

bool model_step(struct model *m)
{
	unsigned what;

	if (m->in && m->in_pos >= m->in_size)
		return false;
	m->step++;
	what = (unsigned)rnd(m, 200);
	if (what < 68) {
		m->what = "alloc";
		step_alloc(m);
	} else if (what < 96) {
		m->what = "free";
		step_free(m);
	} else if (what < 124) {
		m->what = "release";
		step_release(m);
	} else if (what < 148) {
		m->what = "zeroed";
		step_zeroed(m);
	} else if (what < 160) {
		m->what = "set_purgeable";
		step_purgeable(m);
	} else if (what < 170) {
		m->what = "arrive";
		step_arrive(m);
	} else if (what < 176) {
		m->what = "leave";
		step_leave(m);
	} else if (what < 184) {
		m->what = "deadline";
		step_deadline(m);
	} else if (what < 199) {
		m->what = "reclaim answer";
		step_reclaim_answer(m);
	} else {
		m->what = "reload";
		step_reload(m);
	}
	check_all(m);
	return true;
}

uint64_t model_steps(const struct model *m)
{
	return m->step;
}

void model_summary(const struct model *m, char *buf, size_t cap)
{
	snprintf(buf, cap,
		 "%" PRIu64 " pages%s: allocs %" PRIu64 " exported %" PRIu64
		 " export-failed %" PRIu64 " refused %" PRIu64 " parked %" PRIu64
		 " deadlines %" PRIu64 " purged %" PRIu64 " revoke-busy %" PRIu64
		 " releases %" PRIu64 " zeroed %" PRIu64 " reloads %" PRIu64 "+%" PRIu64
		 " broken, denied %" PRIu64 " left %" PRIu64,
		 m->pages, m->needs_zeroing ? " (zeroing)" : "", m->n_alloc, m->n_export,
		 m->n_export_fail, m->n_refuse, m->n_park, m->n_deadline, m->n_purge,
		 m->n_purge_busy, m->n_release, m->n_zeroed, m->n_reload, m->n_broken, m->n_denied,
		 m->n_leave);
}

void model_finish(struct model *m)
{
	m->step++;
	m->what = "finish";
	for (unsigned i = 0; i < MAX_OWNERS; i++)
		if (m->owners[i].present)
			leave(m, &m->owners[i]);
	while (m->nbufs) /* everything still held by importers comes back */
		release(m, m->bufs[m->nbufs - 1].cookie);
	while (m->nzeroing)
		zero_done(m, m->nzeroing - 1);
	check_all(m);
	for (uint64_t i = 0; i < m->nreqs; i++)
		CHECK(m, m->reqs[i].answers == (m->reqs[i].state == R_DROPPED ? 0 : 1),
		      "request %" PRIu64 " answered %u times (state %u)", i, m->reqs[i].answers,
		      m->reqs[i].state);
	core_fini(&m->core);
	free(m->bufs);
	free(m->reqs);
	free(m);
}
