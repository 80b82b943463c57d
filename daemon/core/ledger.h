/* SPDX-License-Identifier: MIT */
/*
 * The ledger: every live buffer, who owns it and where it lies. A buffer stays
 * here, charged to its owner, until the backend reports it released.
 */
#ifndef CMABUF_LEDGER_H
#define CMABUF_LEDGER_H

#include <bsd/sys/queue.h>
#include "rbtree.h"
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "protocol.h"

struct owner;
struct uid_usage;

struct buffer {
	uint64_t id; /* also the backend cookie */
	uint64_t offset;
	uint64_t size; /* as placed: rounded up to the page */
	uint64_t created_ms;
	pid_t pid;
	uid_t uid;
	char name[CMABUF_NAME_LEN];
	struct owner *owner; /* charged to it until released; NULL once it disconnected */
	bool let_go;	     /* the owner freed it (or left): release pending */
	bool purgeable;	     /* contents may be discarded (CMABUF_ALLOC_PURGEABLE, set_purgeable) */
	bool reclaimable;    /* the owner gives it back when asked */
	bool purged;	     /* memory taken back: no range any more */
	bool reclaim_asked;  /* a RECLAIM event was sent */
	bool unrevocable;    /* the backend refused to revoke it (a device uses it) */
	bool handed_over;    /* let go at export: its holder alone ends it (heap door) */
	bool adopted;	     /* alive from an earlier daemon: owner unknown */
	uint64_t last_used_ms;	     /* CLOCK_MONOTONIC: allocation or last pin/unpin */
	uint8_t pool_idx;	     /* policy: the pool it is charged to */
	uint8_t class_idx;	     /* policy: its owner's class, or POLICY_NO_CLASS */
	bool bytes_charged;	     /* its memory counts against pool and class */
	struct uid_usage *uid_usage; /* policy: what its uid holds (NULL until tracked) */
	RB_ENTRY(buffer) by_id;
	RB_ENTRY(buffer) by_uid; /* the ledger's (uid, id) index */
	TAILQ_ENTRY(buffer) owner_link;
};

RB_HEAD(buffer_tree, buffer);
RB_HEAD(buffer_uid_tree, buffer);

/*
 * Backend cookies carry the buffer id and its owner's uid, so that a daemon
 * restarted after a crash knows whose buffers survived (the stub's LIST).
 */
#define COOKIE_ID_BITS 40
#define COOKIE_ID_MASK ((1ull << COOKIE_ID_BITS) - 1)
#define COOKIE_NO_UID  0xffffffu

static inline uint64_t buffer_cookie(const struct buffer *b)
{
	uint64_t uid = (uint64_t)b->uid < COOKIE_NO_UID ? (uint64_t)b->uid : COOKIE_NO_UID;

	return (b->id & COOKIE_ID_MASK) | uid << COOKIE_ID_BITS;
}

static inline uint64_t cookie_id(uint64_t cookie)
{
	return cookie & COOKIE_ID_MASK;
}

/* The owner's uid, or (uid_t)-1 when it did not fit. */
static inline uid_t cookie_uid(uint64_t cookie)
{
	uint64_t uid = cookie >> COOKIE_ID_BITS;

	return uid == COOKIE_NO_UID ? (uid_t)-1 : (uid_t)uid;
}

struct ledger {
	struct buffer_tree buffers;
	/*
	 * The same buffers by (uid, id): what a client that sees only its own uid
	 * asks for, in O(log n + page) rather than a scan of everyone's. b->uid
	 * must not change while b is in the ledger.
	 */
	struct buffer_uid_tree by_uid;
	uint32_t count;
	uint64_t pending_release_bytes; /* owner let go, someone still holds it */
	uint64_t handed_over_bytes;	/* of those, handed over at export (heap callers) */
	uint32_t handed_over;		/* how many such buffers */
};

void ledger_init(struct ledger *l);
void ledger_insert(struct ledger *l, struct buffer *b);
void ledger_remove(struct ledger *l, struct buffer *b);
struct buffer *ledger_find(struct ledger *l, uint64_t id);
/* The first buffer with id > after_id, for paging through the list. */
struct buffer *ledger_next_after(const struct ledger *l, uint64_t after_id);
struct buffer *ledger_next(const struct ledger *l, struct buffer *b);
/* The same, among uid's buffers only: the first with id > after_id, and the next. */
struct buffer *ledger_uid_next_after(const struct ledger *l, uid_t uid, uint64_t after_id);
struct buffer *ledger_uid_next(const struct ledger *l, struct buffer *b);

#endif
