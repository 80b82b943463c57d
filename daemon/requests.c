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
#include "backend.h"
#include "cmabuf.h"
#include "client.h"
#include "daemon.h"
#include "log.h"
#include "zeroing.h"

#define MiB(x) ((double)(x) / (1024.0 * 1024.0))

/* Device addresses are for the daemon's own uid and root until policy says otherwise. */
static int may_learn_dev_addr(const struct client *c)
{
	return c->uid == 0 || c->uid == geteuid();
}

static int handle_hello(struct client *c, const struct cmabuf_msg *m)
{
	struct cmabuf_msg_hello_reply r;

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
	memset(&r, 0, sizeof(r));
	r.version = CMABUF_PROTOCOL_VERSION;
	r.flags = may_learn_dev_addr(c) ? CMABUF_HELLO_HAS_DEV_ADDR : 0;
	r.region_size = c->d->be->size;
	cmabuf_copy_name(r.backend, sizeof(r.backend), c->d->be->name);
	c->greeted = true;
	return client_send(c, CMABUF_MSG_HELLO_REPLY, m->hdr.seq, &r, sizeof(r), -1);
}

static int refuse_alloc(struct client *c, const struct cmabuf_msg *m, int err, const char *why)
{
	c->d->stats.failures++;
	log_debug("client pid %d: allocation of %" PRIu64 " bytes refused: %s", (int)c->pid,
		  m->u.alloc.size, why);
	return client_send_error(c, m->hdr.seq, m->hdr.type, err, "%s", why);
}

/* Writes the reason for a refusal and returns err. */
static int because(int err, char *why, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int because(int err, char *why, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, cap, fmt, ap);
	va_end(ap);
	return err;
}

/* Returns 0 if the request is well-formed, else a negative errno with the reason in why. */
static int check_alloc_request(struct client *c, const struct cmabuf_msg_alloc *a, char *why,
			       size_t cap)
{
	uint64_t region = c->d->be->size;
	uint32_t known = CMABUF_ALLOC_PURGEABLE | CMABUF_ALLOC_RECLAIMABLE;

	if (a->size == 0)
		return because(-EINVAL, why, cap, "size 0: ask for at least one byte");
	if (a->size > region)
		return because(-EINVAL, why, cap,
			       "size %" PRIu64 " bytes (%.1f MiB) is larger than the whole region "
			       "(%.1f MiB)",
			       a->size, MiB(a->size), MiB(region));
	if (a->align & (a->align - 1))
		return because(-EINVAL, why, cap, "alignment %" PRIu64 " is not a power of two",
			       a->align);
	if (a->align > region)
		return because(-EINVAL, why, cap, "alignment %" PRIu64 " is larger than the region",
			       a->align);
	if (a->flags & ~known)
		return because(-EINVAL, why, cap, "unknown allocation flags 0x%x",
			       a->flags & ~known);
	if (c->nbuffers >= c->d->opt->max_buffers_per_client)
		return because(-EDQUOT, why, cap,
			       "this client already holds %u buffers, the per-client limit "
			       "(cmabufd --max-buffers)",
			       c->nbuffers);
	return 0;
}

static void explain_enomem(struct client *c, uint64_t size, char *why, size_t cap)
{
	struct allocator_stats st;

	allocator_get_stats(c->d->alloc, &st);
	snprintf(why, cap,
		 "out of contiguous memory: requested %" PRIu64 " bytes (%.1f MiB), free %.1f MiB "
		 "in %u extents, largest free extent %.1f MiB; %.1f MiB awaiting release",
		 size, MiB(size), MiB(st.free), st.free_extents, MiB(st.largest_free),
		 MiB(c->d->ledger.pending_release_bytes));
}

static struct buffer *new_buffer(struct client *c, const struct cmabuf_msg_alloc *a,
				 uint64_t offset, uint64_t size)
{
	struct buffer *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->id = c->d->next_id++;
	b->offset = offset;
	b->size = size;
	b->created_ms = now_ms(CLOCK_REALTIME);
	b->pid = c->pid;
	b->uid = c->uid;
	memcpy(b->name, a->name, sizeof(b->name));
	return b;
}

static void charge(struct client *c, struct buffer *b)
{
	b->owner = c;
	TAILQ_INSERT_TAIL(&c->buffers, b, owner_link);
	c->nbuffers++;
	c->bytes += b->size;
	ledger_insert(&c->d->ledger, b);
}

static int reply_alloc(struct client *c, const struct cmabuf_msg *m, struct buffer *b, int fd)
{
	struct cmabuf_msg_alloc_reply r;

	memset(&r, 0, sizeof(r));
	r.id = b->id;
	r.size = b->size;
	if (may_learn_dev_addr(c)) {
		r.dev_addr = c->d->be->base + b->offset;
		r.flags |= CMABUF_BUFFER_DEV_ADDR_VALID;
	}
	return client_send(c, CMABUF_MSG_ALLOC_REPLY, m->hdr.seq, &r, sizeof(r), fd);
}

static int handle_alloc(struct client *c, const struct cmabuf_msg *m)
{
	const struct cmabuf_msg_alloc *a = &m->u.alloc;
	struct daemon *d = c->d;
	uint64_t offset, size = allocator_round(d->alloc, a->size);
	struct buffer *b;
	char why[CMABUF_REASON_LEN];
	int ret, fd = -1;

	ret = check_alloc_request(c, a, why, sizeof(why));
	if (ret < 0)
		return refuse_alloc(c, m, ret, why);
	ret = allocator_alloc(d->alloc, a->size, a->align, &offset);
	if (ret == -ENOMEM && zeroing_pending(d->zeroing)) {
		/* Nothing zeroed fits: only now wait for the ranges being cleared. */
		zeroing_wait_all(d->zeroing);
		ret = allocator_alloc(d->alloc, a->size, a->align, &offset);
	}
	if (ret == -ENOMEM)
		explain_enomem(c, a->size, why, sizeof(why));
	else if (ret < 0)
		snprintf(why, sizeof(why), "allocator refused: %s", strerror(-ret));
	if (ret < 0)
		return refuse_alloc(c, m, ret, why);
	b = new_buffer(c, a, offset, size);
	ret = b ? d->be->ops->export_range(d->be, offset, size, b->id, a->name, &fd) : -ENOMEM;
	if (ret < 0) {
		allocator_release(d->alloc, offset, size);
		free(b);
		snprintf(why, sizeof(why), "%s backend could not export the buffer: %s",
			 d->be->name, strerror(-ret));
		return refuse_alloc(c, m, ret, why);
	}
	charge(c, b);
	d->stats.allocations++;
	log_debug("client pid %d: buffer %" PRIu64 " '%s' %" PRIu64 " bytes at offset 0x%" PRIx64,
		  (int)c->pid, b->id, b->name, b->size, b->offset);
	return reply_alloc(c, m, b, fd);
}

static int handle_free(struct client *c, const struct cmabuf_msg *m)
{
	struct buffer *b = ledger_find(&c->d->ledger, m->u.free.id);

	/* Someone else's buffer looks exactly like a missing one: no probing. */
	if (!b || b->owner != c || b->let_go)
		return client_send_error(c, m->hdr.seq, m->hdr.type, -ENOENT,
					 "no buffer %" PRIu64 " owned by this connection",
					 m->u.free.id);
	daemon_buffer_unexport(c->d, b);
	return client_send(c, CMABUF_MSG_OK, m->hdr.seq, NULL, 0, -1);
}

static int handle_status(struct client *c, const struct cmabuf_msg *m)
{
	struct daemon *d = c->d;
	struct cmabuf_msg_status_reply r;
	struct allocator_stats st;

	allocator_get_stats(d->alloc, &st);
	memset(&r, 0, sizeof(r));
	cmabuf_copy_name(r.backend, sizeof(r.backend), d->be->name);
	r.region_base = may_learn_dev_addr(c) ? d->be->base : 0; /* base + offset = address */
	r.region_size = d->be->size;
	/* Ranges being zeroed are out of the allocator but belong to nobody. */
	r.used = st.used - zeroing_pending(d->zeroing);
	r.free = st.free;
	r.largest_free = st.largest_free;
	r.pending_release = d->ledger.pending_release_bytes;
	r.zeroing = zeroing_pending(d->zeroing);
	r.free_extents = st.free_extents;
	r.buffers = d->ledger.count;
	r.clients = d->nclients;
	r.uptime_ms = now_ms(CLOCK_MONOTONIC) - d->start_ms;
	r.allocations = d->stats.allocations;
	r.failures = d->stats.failures;
	return client_send(c, CMABUF_MSG_STATUS_REPLY, m->hdr.seq, &r, sizeof(r), -1);
}

static void fill_entry(struct cmabuf_buffer_entry *e, const struct buffer *b)
{
	memset(e, 0, sizeof(*e));
	e->id = b->id;
	e->offset = b->offset;
	e->size = b->size;
	e->created_ms = b->created_ms;
	e->pid = (uint32_t)b->pid;
	e->uid = (uint32_t)b->uid;
	e->flags = b->let_go ? CMABUF_BUFFER_RELEASE_PENDING : 0;
	memcpy(e->name, b->name, sizeof(e->name));
}

static int handle_list(struct client *c, const struct cmabuf_msg *m)
{
	struct cmabuf_msg out;
	struct cmabuf_msg_buffers_reply *h = &out.u.buffers_reply.head;
	struct buffer *b = ledger_next_after(&c->d->ledger, m->u.list_buffers.after_id);

	memset(h, 0, sizeof(*h));
	/* Other users' buffers (owners, names, layout) only for the privileged. */
	for (; b && h->count < CMABUF_LIST_MAX_ENTRIES; b = ledger_next(&c->d->ledger, b)) {
		if (b->uid == c->uid || may_learn_dev_addr(c))
			fill_entry(&out.u.buffers_reply.entries[h->count++], b);
	}
	h->more = b != NULL;
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
	case CMABUF_MSG_STATUS:
		return handle_status(c, m);
	case CMABUF_MSG_LIST_BUFFERS:
		return handle_list(c, m);
	default: /* the decoder lets only requests through */
		return -EPROTO;
	}
}
