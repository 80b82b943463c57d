/* SPDX-License-Identifier: MIT */
/*
 * The heap door (heap.h): requests the stub forwards from /dev/dma_heap
 * callers become core requests of an owner per calling process, and the
 * core's decisions go back to the stub as HEAP_ANSWERs. Requests are taken
 * from the loop (ev_kick), never from inside the backend's event reading,
 * which an ALLOC in progress may call to collect releases.
 */
#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "door.h"
#include "heap.h"
#include "identity_take.h"
#include "log.h"
#include "policy.h"
#include "server.h"

struct heap_request {
	uint64_t id, len;
	uint64_t arrival_ms; /* CLOCK_MONOTONIC, when the event was read */
	struct heap_owner *ho;
	char name[CMABUF_NAME_LEN];
	TAILQ_ENTRY(heap_request) link;
};

struct heap_owner {
	struct heap_door *door;
	struct owner owner;
	unsigned long long start_time; /* tells this process from a later one with its pid */
	uint32_t serial;
	char comm[16];
	unsigned requests;	    /* taken and not answered */
	uint64_t arrival_ms;	    /* of the request being driven or parked */
	struct core_request parked; /* its ALLOC waiting for reclaimed memory */
	struct event *ev_deadline;  /* when that one is refused */
	TAILQ_ENTRY(heap_owner) link;
};

#define DEFAULT_STUB_TIMEOUT_MS 5000 /* the stub's heap_timeout_ms default */

static struct heap_owner *heap_owner_of(struct owner *o)
{
	return o->door;
}

static void kick(struct heap_door *h)
{
	event_active(h->ev_kick, EV_TIMEOUT, 0);
}

uint32_t heap_door_stub_timeout_ms(void)
{
	FILE *f = fopen("/sys/module/uio_cma/parameters/heap_timeout_ms", "re");
	unsigned long v = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%lu", &v) != 1 || v > UINT32_MAX)
		v = 0;
	fclose(f);
	return (uint32_t)v;
}

/* Answered within the stub's bound, with a margin for the answer to reach it. */
static uint32_t budget_for(uint32_t timeout_ms)
{
	uint32_t t = timeout_ms ? timeout_ms : DEFAULT_STUB_TIMEOUT_MS, margin = t / 10;

	if (margin < 20)
		margin = 20;
	if (margin > 1000)
		margin = 1000;
	return t > margin ? t - margin : 1;
}

/* ---- Owners ---- */

static bool same_groups(const struct peer_identity *id, const struct heap_caller *c)
{
	return id->ngroups == c->ngroups &&
	       (!c->ngroups || !memcmp(id->groups, c->groups, c->ngroups * sizeof(gid_t)));
}

/* The process's owner: the same process (pid and start time) with the same credentials. */
static struct heap_owner *find_owner(struct heap_door *h, const struct heap_caller *c,
				     unsigned long long start)
{
	struct heap_owner *ho;

	TAILQ_FOREACH (ho, &h->owners, link) {
		const struct peer_identity *id = &ho->owner.id;

		if (id->pid == c->tgid && ho->start_time == start && id->uid == c->uid &&
		    id->gid == c->gid && same_groups(id, c))
			return ho;
	}
	return NULL;
}

static void on_deadline(evutil_socket_t fd, short what, void *arg);

/* A new owner for c's process; takes c->groups over. NULL when out of memory. */
static struct heap_owner *new_owner(struct heap_door *h, struct heap_caller *c,
				    unsigned long long start)
{
	struct heap_owner *ho = calloc(1, sizeof(*ho));
	struct peer_identity id;
	gid_t *groups = c->groups;

	c->groups = NULL;
	if (!ho || identity_of_caller(c->tgid, c->uid, c->gid, groups, c->ngroups, &id) < 0) {
		if (!ho)
			free(groups);
		free(ho);
		return NULL;
	}
	ho->ev_deadline = evtimer_new(h->base, on_deadline, ho);
	if (!ho->ev_deadline) {
		identity_release(&id);
		free(ho);
		return NULL;
	}
	ho->door = h;
	ho->start_time = start;
	ho->serial = h->next_serial++ % HEAP_CONN_BASE;
	memcpy(ho->comm, c->comm, sizeof(ho->comm));
	core_owner_init(&ho->owner, &id, &heap_door_ops, ho); /* owns id's groups now */
	ho->owner.door_kind = OWNER_DOOR_HEAP;
	core_owner_add(h->core, &ho->owner);
	core_classify(h->core, &ho->owner); /* a class that denies is refused per request */
	TAILQ_INSERT_TAIL(&h->owners, ho, link);
	h->nowners++;
	log_debug("heap caller pid %d uid %u (%s) arrived, class '%s'", (int)id.pid,
		  (unsigned)id.uid, ho->comm, policy_class_name(&h->core->policy, &ho->owner));
	return ho;
}

static void drop_owner(struct heap_door *h, struct heap_owner *ho)
{
	event_del(ho->ev_deadline);
	h->svc->leave(h->svc_ctx, &ho->owner);
	TAILQ_REMOVE(&h->owners, ho, link);
	h->nowners--;
	event_free(ho->ev_deadline);
	log_debug("heap caller pid %d holds nothing any more", (int)ho->owner.id.pid);
	identity_release(&ho->owner.id);
	free(ho);
}

static void drop_finished_owners(struct heap_door *h)
{
	struct heap_owner *ho, *tmp;

	TAILQ_FOREACH_SAFE (ho, &h->owners, link, tmp)
		if (!ho->requests && !ho->owner.nbuffers && !ho->owner.pending)
			drop_owner(h, ho);
}

/* ---- Requests ---- */

static struct core_time time_now(void)
{
	return (struct core_time){now_ms(CLOCK_MONOTONIC), now_ms(CLOCK_REALTIME)};
}

/* A refusal decided here, not by the core: answered, recorded and counted the same way. */
static void refuse_here(struct heap_door *h, struct heap_owner *ho, struct heap_request *hr,
			int err, const char *why)
{
	struct core_alloc_desc desc = {.size = hr->len};
	struct core_time now = time_now();
	int ret = h->hooks->answer(h->hooks_ctx, hr->id, NULL, NULL, -err);

	memcpy(desc.name, hr->name, sizeof(desc.name));
	core_record_refusal(h->core, &ho->owner, &desc, err, why, &now);
	ho->requests--;
	h->waiting--;
	if (ret < 0 && ret != -ENOENT)
		log_error("cannot answer dma-heap request %" PRIu64 ": %s", hr->id, strerror(-ret));
	log_debug("dma-heap request of pid %d refused: %s", (int)ho->owner.id.pid, why);
}

/*
 * Each process is a client with its own limits, so processes holding heap
 * buffers count against --max-clients-per-uid as connections do (apart from
 * them): one user cannot multiply its quota by forking. The reason, or NULL.
 */
static const char *too_many(const struct heap_door *h, uid_t uid, char *why, size_t cap)
{
	const struct heap_owner *ho;
	unsigned mine = 0;

	if (h->nowners >= h->max_owners) {
		snprintf(why, cap,
			 "cmabufd serves %u dma-heap callers holding buffers already "
			 "(--max-clients); try again later",
			 h->nowners);
		return why;
	}
	TAILQ_FOREACH (ho, &h->owners, link)
		mine += ho->owner.id.uid == uid;
	if (mine < h->max_owners_per_uid)
		return NULL;
	snprintf(why, cap,
		 "uid %u has %u processes holding dma-heap buffers or waiting for them, the most "
		 "one uid may have (--max-clients-per-uid); close some buffers",
		 (unsigned)uid, mine);
	return why;
}

/* Refused before it has an owner: recorded under the caller's pid and uid. */
static void refuse_stranger(struct heap_door *h, const struct heap_request *hr,
			    const struct heap_caller *c, int err, const char *why)
{
	struct peer_identity id = {.pid = c->tgid, .uid = c->uid, .gid = c->gid};
	struct core_alloc_desc desc = {.size = hr->len};
	struct core_time now = time_now();
	struct owner o;

	core_owner_init(&o, &id, &heap_door_ops, NULL);
	o.door_kind = OWNER_DOOR_HEAP;
	memcpy(desc.name, hr->name, sizeof(desc.name));
	core_record_refusal(h->core, &o, &desc, err, why, &now);
	h->hooks->answer(h->hooks_ctx, hr->id, NULL, NULL, -err);
	log_debug("dma-heap request of pid %d refused: %s", (int)c->tgid, why);
}

/*
 * A command name is whatever the caller set (prctl PR_SET_NAME), cut by the
 * kernel at 15 bytes, mid-character as often as not: taken as it is, a
 * buffer name "heap:COMM" could fail the name check (every ALLOC refused
 * EINVAL for a name the caller never gave) or put control characters and
 * bidi overrides on root's terminal through cmabufctl. Only printable ASCII
 * is kept; anything else becomes '?'.
 */
static void printable_comm(char *comm)
{
	for (; *comm; comm++)
		if ((unsigned char)*comm < 0x20 || (unsigned char)*comm > 0x7e)
			*comm = '?';
}

/* Who asks, and as whom: false when the request is answered already (or its caller left). */
static bool take_caller(struct heap_door *h, struct heap_request *hr)
{
	struct heap_caller c;
	unsigned long long start;
	char why[CMABUF_REASON_LEN];
	int ret = h->hooks->caller(h->hooks_ctx, hr->id, &c);

	if (ret == -ENOENT) /* interrupted, timed out or killed: nothing to answer */
		return false;
	if (ret < 0) {
		log_error("cannot learn who made dma-heap request %" PRIu64 ": %s; refused", hr->id,
			  strerror(-ret));
		h->hooks->answer(h->hooks_ctx, hr->id, NULL, NULL, EIO);
		return false;
	}
	printable_comm(c.comm);
	/* Read while the caller sleeps in the stub: its own (uio_cma.h). */
	start = identity_start_time(c.tgid);
	snprintf(hr->name, sizeof(hr->name), "heap:%s", c.comm);
	hr->ho = find_owner(h, &c, start);
	if (!hr->ho && too_many(h, c.uid, why, sizeof(why))) {
		refuse_stranger(h, hr, &c, -EDQUOT, why);
		free(c.groups);
		return false;
	}
	if (!hr->ho)
		hr->ho = new_owner(h, &c, start);
	free(c.groups);
	if (!hr->ho) {
		log_error("out of memory for dma-heap caller pid %d; refused", (int)c.tgid);
		h->hooks->answer(h->hooks_ctx, hr->id, NULL, NULL, ENOMEM);
		return false;
	}
	hr->ho->requests++;
	return true;
}

/* Drives hr through the core (the owner waits for nothing else). */
static void start_request(struct heap_door *h, struct heap_request *hr)
{
	struct heap_owner *ho = hr->ho;
	const struct core *c = h->core;
	struct core_alloc_desc desc;
	char why[CMABUF_REASON_LEN];

	if (now_ms(CLOCK_MONOTONIC) - hr->arrival_ms >= h->budget_ms) {
		snprintf(why, sizeof(why),
			 "waited %u ms behind this process's earlier request, which waited for "
			 "reclaimed memory; the stub gives up soon",
			 h->budget_ms);
		refuse_here(h, ho, hr, -ETIMEDOUT, why);
		return;
	}
	if (identity_check(&ho->owner.id, &c->policy.cfg, c->policy.path, why, sizeof(why)) < 0) {
		refuse_here(h, ho, hr, -EACCES, why);
		return;
	}
	memset(&desc, 0, sizeof(desc));
	desc.size = hr->len;
	memcpy(desc.name, hr->name, sizeof(desc.name));
	ho->arrival_ms = hr->arrival_ms;
	h->svc->alloc(h->svc_ctx, &ho->owner, &desc, hr->id);
}

/*
 * Everything that arrived, oldest first; a process whose earlier request waits
 * for reclaimed memory keeps its next ones until that one is answered.
 */
static void on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct heap_door *h = arg;
	struct heap_request *hr, *next;

	for (hr = TAILQ_FIRST(&h->incoming); hr; hr = next) {
		next = TAILQ_NEXT(hr, link);
		if (!hr->ho && !take_caller(h, hr)) {
			TAILQ_REMOVE(&h->incoming, hr, link);
			h->waiting--;
			free(hr);
			continue;
		}
		if (hr->ho->owner.pending)
			continue;
		TAILQ_REMOVE(&h->incoming, hr, link);
		start_request(h, hr);
		free(hr);
	}
	drop_finished_owners(h);
}

void heap_door_request(struct heap_door *h, uint64_t id, uint64_t len)
{
	struct heap_request *hr = calloc(1, sizeof(*hr));

	if (!hr) {
		log_error("out of memory for dma-heap request %" PRIu64 "; refused", id);
		h->hooks->answer(h->hooks_ctx, id, NULL, NULL, ENOMEM);
		return;
	}
	hr->id = id;
	hr->len = len;
	hr->arrival_ms = now_ms(CLOCK_MONOTONIC);
	TAILQ_INSERT_TAIL(&h->incoming, hr, link);
	h->waiting++;
	kick(h);
}

/* ---- The core's decisions ---- */

/* r is answered: the owner may take its next request, or be done. */
static void answered(struct heap_owner *ho, const struct core_request *r)
{
	if (r == &ho->parked)
		event_del(ho->ev_deadline);
	ho->requests--;
	ho->door->waiting--;
	kick(ho->door);
}

static int deliver(struct owner *o, const struct core_request *r, const struct buffer *b, char *why,
		   size_t cap)
{
	struct heap_door *h = heap_owner_of(o)->door;
	int ret = h->hooks->answer(h->hooks_ctx, r->tag, b, b->name, 0);

	if (ret == -ENOENT)
		snprintf(why, cap,
			 "the dma-heap caller left before it was answered (interrupted, timed out "
			 "or killed); nothing was exported");
	else if (ret < 0)
		snprintf(why, cap, "the stub could not export the buffer for the caller: %s",
			 strerror(-ret));
	return ret;
}

static void answer(struct owner *o, const struct core_request *r, const struct buffer *b, int fd)
{
	log_debug("dma-heap caller pid %d: buffer %" PRIu64 " '%s' (%" PRIu64 " bytes)",
		  (int)o->id.pid, b->id, b->name, b->size);
	answered(heap_owner_of(o), r);
}

static void refuse(struct owner *o, const struct core_request *r, int err, const char *why)
{
	struct heap_owner *ho = heap_owner_of(o);
	int ret = ho->door->hooks->answer(ho->door->hooks_ctx, r->tag, NULL, NULL,
					  err < 0 ? -err : EIO);

	if (ret < 0 && ret != -ENOENT)
		log_error("cannot answer dma-heap request %" PRIu64 ": %s", r->tag, strerror(-ret));
	log_debug("dma-heap request of pid %d refused: %s", (int)o->id.pid, why);
	answered(ho, r);
}

/* It waits for reclaimed memory, but never past the stub's bound on the caller's sleep. */
static void park(struct owner *o, const struct core_request *r, uint32_t deadline_ms)
{
	struct heap_owner *ho = heap_owner_of(o);
	uint64_t waited = now_ms(CLOCK_MONOTONIC) - ho->arrival_ms;
	uint64_t left = waited < ho->door->budget_ms ? ho->door->budget_ms - waited : 1;
	struct timeval tv;

	if (deadline_ms < left)
		left = deadline_ms;
	tv = (struct timeval){(time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000};
	ho->parked = *r;
	core_park(ho->door->core, &ho->parked);
	evtimer_add(ho->ev_deadline, &tv);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct heap_owner *ho = arg;

	ho->door->svc->deadline(ho->door->svc_ctx, &ho->parked);
}

/* A heap caller cannot be asked: its buffers are never planned on (eviction.c). */
static void reclaim(struct owner *o, const struct buffer *b, uint32_t deadline_ms)
{
	log_debug("buffer %" PRIu64 " of dma-heap caller pid %d cannot be reclaimed", b->id,
		  (int)o->id.pid);
}

static void released(struct owner *o)
{
	kick(heap_owner_of(o)->door); /* dropped there if it holds nothing now */
}

const struct door_ops heap_door_ops = {
	.answer = answer,
	.refuse = refuse,
	.park = park,
	.reclaim = reclaim,
	.deliver = deliver,
	.released = released,
};

/* ---- The door ---- */

int heap_door_init(struct heap_door *h, struct event_base *base, struct core *core,
		   const struct server_hooks *svc, void *svc_ctx, const struct heap_hooks *hooks,
		   void *hooks_ctx, enum heap_door_state state, const char *node,
		   uint32_t timeout_ms)
{
	memset(h, 0, sizeof(*h));
	h->base = base;
	h->core = core;
	h->svc = svc;
	h->svc_ctx = svc_ctx;
	h->hooks = hooks;
	h->hooks_ctx = hooks_ctx;
	h->state = state;
	cmabuf_copy_name(h->node, sizeof(h->node), node ? node : "");
	h->budget_ms = budget_for(timeout_ms);
	h->max_owners = h->max_owners_per_uid = UINT32_MAX;
	TAILQ_INIT(&h->owners);
	TAILQ_INIT(&h->incoming);
	h->ev_kick = event_new(base, -1, 0, on_kick, h);
	return h->ev_kick ? 0 : -ENOMEM;
}

void heap_door_fini(struct heap_door *h)
{
	struct heap_request *hr;
	struct heap_owner *ho;

	while ((hr = TAILQ_FIRST(&h->incoming))) { /* the stub fails them when we close */
		TAILQ_REMOVE(&h->incoming, hr, link);
		free(hr);
	}
	while ((ho = TAILQ_FIRST(&h->owners)))
		drop_owner(h, ho);
	if (h->ev_kick)
		event_free(h->ev_kick);
	h->ev_kick = NULL;
}

void heap_door_refresh_name(struct heap_door *h, struct buffer *b)
{
	char name[CMABUF_NAME_LEN] = "";

	if (!h->hooks->query_name)
		return;
	h->hooks->query_name(h->hooks_ctx, b, name, sizeof(name));
	if (name[0] && !cmabuf_name_problem(name))
		memcpy(b->name, name, sizeof(b->name));
}

struct heap_owner *heap_door_first(const struct heap_door *h)
{
	return TAILQ_FIRST(&h->owners);
}

struct heap_owner *heap_door_next(const struct heap_owner *ho)
{
	return TAILQ_NEXT(ho, link);
}

const struct owner *heap_owner_core(const struct heap_owner *ho)
{
	return &ho->owner;
}

uint32_t heap_owner_conn(const struct heap_owner *ho)
{
	return HEAP_CONN_BASE + ho->serial;
}

const char *heap_owner_comm(const struct heap_owner *ho)
{
	return ho->comm;
}
