/* SPDX-License-Identifier: MIT */
/*
 * The allocation service's core: decisions and state, no I/O. It owns the
 * allocator, the ledger, the policy, the counters and the refusal ring, and
 * answers "(who asks, what they ask)" with a decision for the caller to carry
 * out: export this range, purge these buffers, ask these holders to reclaim,
 * refuse with this errno and reason. The caller reports the outcomes back
 * (exported, purged, released, zeroed, timed out). It reads no clock (times
 * are passed in), calls no backend, logs nothing and touches no socket, so it
 * is tested and fuzzed as plain functions (tests/model/).
 *
 * One ALLOC is driven like this by the wiring (daemon/service.c):
 *
 *	core_alloc_begin(core, req, owner, &desc);
 *	for (;;) switch (core_alloc_step(core, req, &now, &dec)) {
 *	case CORE_COLLECT:      the backend reports the releases it knows; again
 *	case CORE_WAIT_ZEROING: wait until the zeroing worker returned a range; again
 *	case CORE_PURGE:        revoke each victim, core_purged() each outcome; again
 *	case CORE_EXPORT:       export dec.buffer, then core_exported(): done
 *	case CORE_PARK:         send the reclaim requests in dec, arm the deadline: done
 *	case CORE_REFUSE:       answer dec.err and dec.why: done
 *	}
 */
#ifndef CMABUF_CORE_H
#define CMABUF_CORE_H

#include <bsd/sys/queue.h>
#include <stdbool.h>
#include <stdint.h>

#include "eviction.h"
#include "ledger.h"
#include "metrics.h"
#include "owner.h"
#include "policy.h"
#include "protocol.h"
#include "refusals.h"

struct allocator;

/* Time as the caller read it: the core never reads a clock. */
struct core_time {
	uint64_t mono_ms; /* CLOCK_MONOTONIC */
	uint64_t real_ms; /* CLOCK_REALTIME, for what people read */
};

/* The region as the backend describes it, for replies. */
struct core_region {
	char backend[16]; /* "memfd", "uio" */
	uint64_t base;	  /* device address of offset 0 */
	uint64_t size;	  /* bytes, a multiple of the granule */
	bool physical;
};

struct core_stats {
	uint64_t allocations;
	uint64_t failures;
	uint64_t evictions;
	uint32_t reloads;
};

TAILQ_HEAD(request_list, core_request);

struct core {
	struct core_region region;
	struct allocator *alloc;
	struct ledger ledger;
	struct policy policy;
	struct owner_list owners;
	unsigned nowners;
	struct request_list parked; /* ALLOCs waiting for reclaimed memory */
	uint64_t next_id;
	uint64_t zeroing_bytes; /* released ranges handed to zeroing, not back yet */
	bool needs_zeroing;	/* released memory must be cleared before reuse */
	uint32_t max_buffers_per_client;
	uint32_t reclaim_deadline_ms;
	struct core_stats stats;
	struct metrics metrics;
	struct refusals refusals;
};

/*
 * region->size is rounded down to the granule (a power of two). cfg: the
 * policy as loaded from path (NULL: built-in defaults); self_uid: the
 * daemon's own uid. -ENOMEM, with nothing kept.
 */
int core_init(struct core *c, const struct core_region *region, uint64_t granule,
	      bool needs_zeroing, const struct config *cfg, const char *path, uid_t self_uid);
void core_fini(struct core *c); /* forgets every buffer; owners must be gone */

/* Owners: a front door adds one when a client arrives and removes it when it leaves. */
void core_owner_init(struct owner *o, const struct peer_identity *id, const struct door_ops *ops,
		     void *door);
void core_owner_add(struct core *c, struct owner *o);
/*
 * The owner leaves: its parked request is dropped, and each buffer it has not
 * let go is passed to let_go (the caller unexports it from the backend when
 * core_let_go() says so). Its buffers stay charged until released.
 */
void core_owner_remove(struct core *c, struct owner *o, void (*let_go)(void *ctx, struct buffer *b),
		       void *ctx);

/* The policy's class for o (HELLO): false when its class denies it. */
bool core_classify(struct core *c, struct owner *o);

/* A range of the region. */
struct core_range {
	uint64_t offset, size;
};

/* ---- ALLOC ---- */

enum core_action {
	CORE_REFUSE,
	CORE_EXPORT,
	CORE_PURGE,
	CORE_COLLECT,
	CORE_WAIT_ZEROING,
	CORE_PARK,	   /* newly parked: ask dec.victims' owners, arm dec.deadline_ms */
	CORE_KEEP_WAITING, /* a parked request still does not fit: nothing to do */
};

struct core_alloc_desc {
	uint64_t size;
	uint64_t align;
	uint32_t flags; /* CMABUF_ALLOC_* */
	char name[CMABUF_NAME_LEN];
	char pool[CMABUF_POOL_LEN];
};

enum core_phase { CORE_PHASE_CHECK, CORE_PHASE_PLACE, CORE_PHASE_PURGED, CORE_PHASE_PARKED };

struct core_request {
	struct owner *owner;
	struct core_alloc_desc desc;
	uint64_t tag; /* the front door's: which request to answer */
	/* The core's own state between steps. */
	enum core_phase phase;
	unsigned pool_idx;
	unsigned purge_rounds;
	bool collected, have_hole, purge_failed;
	uint64_t hole;			/* where the purge made room: placed exactly there */
	uint64_t victims[EVICTION_MAX]; /* parked: ids asked for, to name the late one */
	unsigned nvictims;
	TAILQ_ENTRY(core_request) link;
};

struct core_decision {
	enum core_action action;
	int err;			      /* REFUSE */
	char why[2 * CMABUF_REASON_LEN];      /* REFUSE */
	struct buffer *buffer;		      /* EXPORT: placed, not yet charged */
	struct buffer *victims[EVICTION_MAX]; /* PURGE: revoke; PARK: ask their owners */
	unsigned nvictims;
	uint32_t deadline_ms; /* PARK */
};

/*
 * A refusal a door decided before the core saw the request (a heap caller
 * whose units cannot be read): recorded and counted like the core's own.
 */
void core_record_refusal(struct core *c, const struct owner *o, const struct core_alloc_desc *desc,
			 int err, const char *why, const struct core_time *now);

void core_alloc_begin(struct core *c, struct core_request *r, struct owner *o,
		      const struct core_alloc_desc *desc, uint64_t tag);
enum core_action core_alloc_step(struct core *c, struct core_request *r,
				 const struct core_time *now, struct core_decision *d);
/*
 * The outcome of revoking one PURGE victim: 0, or the backend's error (-EBUSY:
 * a device uses it; it is not planned on again). Returns 1 with *zero set
 * when its range must be cleared before reuse, else 0.
 */
int core_purged(struct core *c, struct core_request *r, struct buffer *b, int ret,
		struct core_range *zero);
/*
 * The outcome of exporting an EXPORT decision's buffer. 0: it is charged to
 * the owner and in the ledger (a heap owner's is handed over: let go at once,
 * charged until released). Else the range is free again, the buffer is
 * gone, and d holds the refusal to send.
 */
int core_exported(struct core *c, struct core_request *r, struct buffer *b, int ret,
		  const struct core_time *now, struct core_decision *d);
/*
 * The door could not hand an EXPORT decision's buffer over (a heap caller
 * that left before its answer): as core_exported() with an error, but with
 * the door's reason, for `cmabufctl why`.
 */
void core_export_failed(struct core *c, struct core_request *r, struct buffer *b, int err,
			const char *why, const struct core_time *now, struct core_decision *d);
/*
 * After CORE_PARK: r (kept where it stays put until answered: the stepped
 * one may live on the stack) waits for reclaimed memory.
 */
void core_park(struct core *c, struct core_request *r);
/* A parked request's deadline passed: d holds its refusal; r is unparked. */
void core_deadline(struct core *c, struct core_request *r, const struct core_time *now,
		   struct core_decision *d);
/* The first parked request, to retry after memory came back (NULL: none). */
struct core_request *core_parked_first(struct core *c);
struct core_request *core_parked_next(struct core *c, struct core_request *r);
void core_unpark(struct core *c, struct core_request *r);

/* ---- Buffers leaving ---- */

/* The buffer id names, if o owns it and has not let it go; else NULL. */
struct buffer *core_owned_buffer(struct core *c, const struct owner *o, uint64_t id);
/*
 * The owner lets go (FREE or disconnect). True: the backend must unexport it
 * (its release comes later, or at once); false: it was purged and is gone.
 */
bool core_let_go(struct core *c, struct buffer *b);
/* Pin or unpin; returns whether it had been purged. */
bool core_set_purgeable(struct core *c, struct buffer *b, bool purgeable,
			const struct core_time *now);

/*
 * The backend says cookie's buffer is released. Returns 1 with *zero set when
 * that range must be cleared before reuse (hand it to the zeroing worker and
 * report core_zeroed()), 0 when it is free again at once or was purged, or
 * -ENOENT for a cookie the ledger does not know.
 */
int core_released(struct core *c, uint64_t cookie, struct core_range *zero);
/* Zeroing finished a range: it rejoins the allocator (err < 0: kept out of use). */
int core_zeroed(struct core *c, uint64_t offset, uint64_t size, int err);
/*
 * A free range the caller wants cleared before first use (startup): out of the
 * allocator and counted as being zeroed. Report core_zeroed() for it.
 */
int core_take_for_zeroing(struct core *c, uint64_t offset, uint64_t size);

/* ---- Restart ---- */

/* A buffer an earlier daemon left alive: charged to nobody until released. */
int core_adopt(struct core *c, uint64_t offset, uint64_t size, uint64_t cookie,
	       const struct core_time *now);

/* ---- Reload ---- */

/*
 * A new configuration for new requests; every owner is classified again and
 * every buffer keeps its pool and class by name. Owners whose new class
 * denies them are passed to denied (the door closes them).
 */
void core_policy_replace(struct core *c, const struct config *fresh,
			 void (*denied)(void *ctx, struct owner *o), void *ctx);

/* Bytes in use by buffers: allocated extents minus what is being zeroed. */
uint64_t core_used_bytes(const struct core *c);

#endif
