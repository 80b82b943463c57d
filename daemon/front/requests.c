/* SPDX-License-Identifier: MIT */
/* One handler per request type. Each answers with exactly one reply. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "allocator.h"
#include "clock.h"
#include "cmabuf.h"
#include "client.h"
#include "core.h"
#include "heap.h"
#include "identity_take.h"
#include "inspect.h"
#include "log.h"
#include "policy.h"
#include "requests.h"
#include "server.h"

#define MiB(x) ((double)(x) / (1024.0 * 1024.0))

int may_learn_dev_addr(const struct client *c)
{
	return policy_may_learn_dev_addr(&c->srv->core->policy, &c->owner);
}

static int handle_hello(struct client *c, const struct cmabuf_msg *m)
{
	struct core *core = c->srv->core;
	struct cmabuf_msg_hello_reply r;
	char why[CMABUF_REASON_LEN];

	if (c->greeted) {
		client_send_error(c, m->hdr.seq, m->hdr.type, -EPROTO, "HELLO sent twice");
		return -EPROTO;
	}
	if (m->u.hello.version != CMABUF_PROTOCOL_VERSION) {
		client_send_error(
			c, m->hdr.seq, m->hdr.type, -EPROTONOSUPPORT,
			"protocol version %u is not supported: cmabufd speaks version %u; "
			"use a libcmabuf that matches this cmabufd",
			m->u.hello.version, CMABUF_PROTOCOL_VERSION);
		return -EPROTONOSUPPORT;
	}
	if (m->u.hello.flags != 0) {
		client_send_error(c, m->hdr.seq, m->hdr.type, -EPROTO,
				  "unknown HELLO flags 0x%x for protocol version %u",
				  m->u.hello.flags, CMABUF_PROTOCOL_VERSION);
		return -EPROTO;
	}
	if (identity_check(&c->owner.id, &core->policy.cfg, core->policy.path, why, sizeof(why)) <
	    0) {
		client_send_error(c, m->hdr.seq, m->hdr.type, -EACCES, "%s", why);
		return -EACCES;
	}
	if (!core_classify(core, &c->owner)) {
		client_send_error(c, m->hdr.seq, m->hdr.type, -EACCES,
				  "clients of class '%s' may not use cmabufd (deny = yes in %s)",
				  policy_class_name(&core->policy, &c->owner), core->policy.path);
		return -EACCES;
	}
	memset(&r, 0, sizeof(r));
	r.version = CMABUF_PROTOCOL_VERSION;
	r.flags = may_learn_dev_addr(c) ? CMABUF_HELLO_HAS_DEV_ADDR : 0;
	r.region_size = core->region.size;
	cmabuf_copy_name(r.backend, sizeof(r.backend), core->region.backend);
	c->greeted = true;
	return client_send(c, CMABUF_MSG_HELLO_REPLY, m->hdr.seq, &r, sizeof(r), -1);
}

/* The buffer id names, if this connection owns it and has not let it go; else NULL. */
static struct buffer *owned_buffer(struct client *c, uint64_t id)
{
	return core_owned_buffer(c->srv->core, &c->owner, id);
}

static void let_go(struct client *c, struct buffer *b)
{
	c->srv->hooks->let_go(c->srv->hooks_ctx, b);
}

static int handle_free(struct client *c, const struct cmabuf_msg *m)
{
	struct buffer *b = owned_buffer(c, m->u.free.id);

	/* Someone else's buffer looks exactly like a missing one: no probing. */
	if (!b)
		return client_send_error(c, m->hdr.seq, m->hdr.type, -ENOENT,
					 "no buffer %" PRIu64 " owned by this connection",
					 m->u.free.id);
	let_go(c, b);
	return client_send(c, CMABUF_MSG_OK, m->hdr.seq, NULL, 0, -1);
}

/* cmabuf_free()'s FREE: nothing to answer, and a missing id is no error (see protocol.h). */
static int handle_free_noreply(struct client *c, const struct cmabuf_msg *m)
{
	struct buffer *b = owned_buffer(c, m->u.free.id);

	if (b)
		let_go(c, b);
	return 0;
}

static int handle_set_purgeable(struct client *c, const struct cmabuf_msg *m)
{
	const struct cmabuf_msg_set_purgeable *sp = &m->u.set_purgeable;
	struct buffer *b = owned_buffer(c, sp->id);
	struct cmabuf_msg_purgeable_reply r;

	if (!b)
		return client_send_error(c, m->hdr.seq, m->hdr.type, -ENOENT,
					 "no buffer %" PRIu64 " owned by this connection", sp->id);
	memset(&r, 0, sizeof(r));
	r.was_purged = core_set_purgeable(
		c->srv->core, b, sp->purgeable,
		&(struct core_time){now_ms(CLOCK_MONOTONIC), now_ms(CLOCK_REALTIME)});
	return client_send(c, CMABUF_MSG_PURGEABLE_REPLY, m->hdr.seq, &r, sizeof(r), -1);
}

static void fill_heap_status(struct cmabuf_msg_status_reply *r, const struct heap_door *h,
			     const struct core *d)
{
	static const uint32_t state[] = {
		[HEAP_DOOR_NONE] = CMABUF_HEAP_NONE,
		[HEAP_DOOR_SERVED] = CMABUF_HEAP_SERVED,
		[HEAP_DOOR_NO_NODE] = CMABUF_HEAP_NO_NODE,
		[HEAP_DOOR_OLD_STUB] = CMABUF_HEAP_OLD_STUB,
		[HEAP_DOOR_SERVE_FAILED] = CMABUF_HEAP_SERVE_FAILED,
	};

	r->heap_buffers = d->ledger.handed_over;
	r->heap_bytes = d->ledger.handed_over_bytes;
	if (!h)
		return;
	r->heap_state = state[h->state];
	r->heap_callers = h->nowners;
	r->heap_waiting = h->waiting;
	if (h->state == HEAP_DOOR_SERVED)
		cmabuf_copy_name(r->heap_node, sizeof(r->heap_node), h->node);
}

static int handle_status(struct client *c, const struct cmabuf_msg *m)
{
	const struct core *d = c->srv->core;
	struct cmabuf_msg_status_reply r;
	struct allocator_stats st;

	allocator_get_stats(d->alloc, &st);
	memset(&r, 0, sizeof(r));
	cmabuf_copy_name(r.backend, sizeof(r.backend), d->region.backend);
	r.region_base = may_learn_dev_addr(c) ? d->region.base : 0; /* base + offset = address */
	r.region_size = d->region.size;
	/* Ranges being zeroed are out of the allocator but belong to nobody. */
	r.used = core_used_bytes(d);
	r.free = st.free;
	r.largest_free = st.largest_free;
	/* A heap caller's buffer is let go at export, but nobody freed it: counted apart. */
	r.pending_release = d->ledger.pending_release_bytes - d->ledger.handed_over_bytes;
	r.zeroing = d->zeroing_bytes;
	r.free_extents = st.free_extents;
	r.buffers = d->ledger.count;
	r.clients = c->srv->nclients;
	r.reloads = d->stats.reloads;
	r.uptime_ms = now_ms(CLOCK_MONOTONIC) - c->srv->start_ms;
	r.allocations = d->stats.allocations;
	r.failures = d->stats.failures;
	r.flags = c->srv->status_flags;
	fill_heap_status(&r, c->srv->heap, d);
	return client_send(c, CMABUF_MSG_STATUS_REPLY, m->hdr.seq, &r, sizeof(r), -1);
}

/*
 * The offset only for those who may learn device addresses: on uio the
 * region's base is world-readable in sysfs, and base + offset is the address.
 */
static void fill_entry(struct cmabuf_buffer_entry *e, const struct buffer *b, bool offset)
{
	memset(e, 0, sizeof(*e));
	e->id = b->id;
	e->offset = offset ? b->offset : 0;
	e->size = b->size;
	e->created_ms = b->created_ms;
	e->pid = (uint32_t)b->pid;
	e->uid = (uint32_t)b->uid;
	e->flags = (b->let_go && !b->handed_over ? CMABUF_BUFFER_RELEASE_PENDING : 0) |
		   (b->handed_over ? CMABUF_BUFFER_HEAP : 0) |
		   (b->adopted ? CMABUF_BUFFER_ADOPTED : 0) |
		   (b->purgeable ? CMABUF_BUFFER_PURGEABLE : 0) |
		   (b->reclaimable ? CMABUF_BUFFER_RECLAIMABLE : 0) |
		   (b->purged ? CMABUF_BUFFER_PURGED : 0) |
		   (offset ? 0 : CMABUF_BUFFER_OFFSET_HIDDEN);
	memcpy(e->name, b->name, sizeof(e->name));
}

/*
 * Other users' buffers (owners, names, layout) only for the privileged; the
 * others page through their own uid's, from the ledger's uid index, so a page
 * costs the same however many buffers other users hold. `more` is as it always
 * was: whether the ledger holds any buffer (anyone's) past the page's last.
 */
static int handle_list(struct client *c, const struct cmabuf_msg *m)
{
	const struct ledger *l = &c->srv->core->ledger;
	uint64_t after = m->u.list_buffers.after_id;
	struct cmabuf_msg out;
	struct cmabuf_msg_buffers_reply *h = &out.u.buffers_reply.head;
	bool all = may_learn_dev_addr(c);
	struct buffer *b = all ? ledger_next_after(l, after)
			       : ledger_uid_next_after(l, c->owner.id.uid, after);
	struct buffer *last = NULL;

	memset(h, 0, sizeof(*h));
	for (; b && h->count < CMABUF_LIST_MAX_ENTRIES;
	     b = all ? ledger_next(l, b) : ledger_uid_next(l, b)) {
		if (b->handed_over && c->srv->heap) /* DMA_BUF_SET_NAME since */
			heap_door_refresh_name(c->srv->heap, b);
		fill_entry(&out.u.buffers_reply.entries[h->count++], b, all);
		last = b;
	}
	h->more = h->count == CMABUF_LIST_MAX_ENTRIES && ledger_next(l, last) != NULL;
	return client_send(c, CMABUF_MSG_LIST_BUFFERS_REPLY, m->hdr.seq, &out.u,
			   sizeof(*h) + h->count * sizeof(struct cmabuf_buffer_entry), -1);
}

int client_handle(struct client *c, const struct cmabuf_msg *m)
{
	if (!c->greeted && m->hdr.type != CMABUF_MSG_HELLO) {
		client_send_error(c, m->hdr.seq, m->hdr.type, -EPROTO,
				  "%s before HELLO: say HELLO first",
				  cmabuf_msg_type_name(m->hdr.type));
		return -EPROTO;
	}
	switch (m->hdr.type) {
	case CMABUF_MSG_HELLO:
		return handle_hello(c, m);
	case CMABUF_MSG_ALLOC:
		return handle_alloc(c, m);
	case CMABUF_MSG_FREE:
		return handle_free(c, m);
	case CMABUF_MSG_FREE_NOREPLY:
		return handle_free_noreply(c, m);
	case CMABUF_MSG_STATUS:
		return handle_status(c, m);
	case CMABUF_MSG_SET_PURGEABLE:
		return handle_set_purgeable(c, m);
	case CMABUF_MSG_LIST_BUFFERS:
		return handle_list(c, m);
	case CMABUF_MSG_METRICS:
		return handle_metrics(c, m);
	case CMABUF_MSG_LIST_CLIENTS:
		return handle_list_clients(c, m);
	case CMABUF_MSG_LIST_EXTENTS:
		return handle_list_extents(c, m);
	case CMABUF_MSG_LIST_REFUSALS:
		return handle_list_refusals(c, m);
	default: /* the decoder lets only requests through */
		return -EPROTO;
	}
}
