/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "allocator.h"
#include "client.h"
#include "clock.h"
#include "core.h"
#include "heap.h"
#include "inspect.h"
#include "metrics.h"
#include "policy.h"
#include "refusals.h"
#include "requests.h"
#include "server.h"

int handle_metrics(struct client *c, const struct cmabuf_msg *m)
{
	struct cmabuf_msg_metrics_reply r;

	if (metrics_fill(c->srv->core, may_learn_dev_addr(c), c->owner.id.uid,
			 now_ms(CLOCK_MONOTONIC) - c->srv->start_ms, &r) < 0)
		return client_send_error(c, m->hdr.seq, m->hdr.type, -ENOMEM,
					 "out of memory in cmabufd");
	return client_send(c, CMABUF_MSG_METRICS_REPLY, m->hdr.seq, &r, sizeof(r), -1);
}

static void fill_client(struct cmabuf_client_entry *e, const struct client *c,
			const struct client *asking)
{
	const struct owner *o = &c->owner;

	memset(e, 0, sizeof(*e));
	e->conn = (uint32_t)c->fd;
	e->pid = (uint32_t)o->id.pid;
	e->uid = (uint32_t)o->id.uid;
	e->priority = o->priority;
	e->buffers = o->nbuffers;
	e->bytes = o->bytes;
	e->flags =
		(o->pending ? CMABUF_CLIENT_WAITING : 0) | (c == asking ? CMABUF_CLIENT_SELF : 0);
	cmabuf_copy_name(e->class_name, sizeof(e->class_name),
			 c->greeted ? policy_class_name(&c->srv->core->policy, o) : "");
}

/*
 * A page of connections: the visible ones with the smallest conn >= start, in
 * one pass over the list (a max-heap of the page's size keeps the smallest),
 * so a page costs O(n log page) for any asker. It used to look for the next
 * conn once per entry, over every connection: O(n^2) for an asker that sees
 * few of them (issue 14, item 13).
 */
struct client_page {
	const struct client *v[CMABUF_LIST_MAX_CLIENTS];
	unsigned n;
	int max_fd; /* the largest conn of any client, visible or not */
};

static void heap_swap(struct client_page *p, unsigned a, unsigned b)
{
	const struct client *t = p->v[a];

	p->v[a] = p->v[b];
	p->v[b] = t;
}

/* Keeps the CMABUF_LIST_MAX_CLIENTS smallest fds offered; v[0] is the largest kept. */
static void page_offer(struct client_page *p, const struct client *c)
{
	unsigned i, child;

	if (p->n < CMABUF_LIST_MAX_CLIENTS) {
		for (i = p->n++, p->v[i] = c; i && p->v[(i - 1) / 2]->fd < p->v[i]->fd;
		     i = (i - 1) / 2)
			heap_swap(p, i, (i - 1) / 2);
		return;
	}
	if (c->fd >= p->v[0]->fd)
		return;
	p->v[0] = c;
	for (i = 0; (child = 2 * i + 1) < p->n; i = child) {
		if (child + 1 < p->n && p->v[child + 1]->fd > p->v[child]->fd)
			child++;
		if (p->v[i]->fd >= p->v[child]->fd)
			break;
		heap_swap(p, i, child);
	}
}

static int by_fd(const void *a, const void *b)
{
	const struct client *x = *(const struct client *const *)a;
	const struct client *y = *(const struct client *const *)b;

	return x->fd < y->fd ? -1 : x->fd > y->fd;
}

/* A dma-heap caller: a process, numbered above every descriptor (HEAP_CONN_BASE). */
static void fill_heap_owner(struct cmabuf_client_entry *e, const struct heap_owner *ho,
			    const struct core *core)
{
	const struct owner *o = heap_owner_core(ho);

	memset(e, 0, sizeof(*e));
	e->conn = heap_owner_conn(ho);
	e->pid = (uint32_t)o->id.pid;
	e->uid = (uint32_t)o->id.uid;
	e->priority = o->priority;
	e->buffers = o->nbuffers;
	e->bytes = o->bytes;
	e->flags = CMABUF_CLIENT_HEAP | (o->pending ? CMABUF_CLIENT_WAITING : 0);
	cmabuf_copy_name(e->class_name, sizeof(e->class_name), policy_class_name(&core->policy, o));
	cmabuf_copy_name(e->command, sizeof(e->command), heap_owner_comm(ho));
}

/* The page's room left after the connections: heap callers from start on, in number order. */
static void add_heap_owners(struct cmabuf_msg_buffers_reply *h, struct cmabuf_client_entry *v,
			    const struct server *s, uint32_t start, uid_t uid, bool all)
{
	const struct heap_owner *ho;

	for (ho = s->heap ? heap_door_first(s->heap) : NULL; ho; ho = heap_door_next(ho)) {
		if (heap_owner_conn(ho) < start || (!all && heap_owner_core(ho)->id.uid != uid))
			continue;
		if (h->count == CMABUF_LIST_MAX_CLIENTS) {
			h->more = 1;
			return;
		}
		fill_heap_owner(&v[h->count++], ho, s->core);
	}
}

/*
 * Connections are listed by their descriptor number: it is unique while the
 * connection lasts and needs no bookkeeping. `more` is as it always was:
 * whether any connection (visible or not) lies past the page's last. Heap
 * callers follow, numbered from HEAP_CONN_BASE.
 */
int handle_list_clients(struct client *c, const struct cmabuf_msg *m)
{
	struct cmabuf_msg out;
	struct cmabuf_msg_buffers_reply *h = &out.u.clients_reply.head;
	uint32_t start = m->u.list_clients.start_conn;
	bool all = may_learn_dev_addr(c);
	struct client_page p = {.n = 0, .max_fd = -1};
	const struct client *k;
	unsigned i;

	TAILQ_FOREACH (k, &c->srv->clients, link) {
		if (k->fd > p.max_fd)
			p.max_fd = k->fd;
		if ((uint32_t)k->fd >= start && (all || k->owner.id.uid == c->owner.id.uid))
			page_offer(&p, k);
	}
	if (p.n)
		qsort(p.v, p.n, sizeof(p.v[0]), by_fd);
	memset(h, 0, sizeof(*h));
	for (i = 0; i < p.n; i++)
		fill_client(&out.u.clients_reply.entries[h->count++], p.v[i], c);
	h->more = p.n == CMABUF_LIST_MAX_CLIENTS && p.max_fd > p.v[p.n - 1]->fd;
	if (!h->more)
		add_heap_owners(h, out.u.clients_reply.entries, c->srv,
				start > HEAP_CONN_BASE ? start : HEAP_CONN_BASE, c->owner.id.uid,
				all);
	return client_send(c, CMABUF_MSG_LIST_CLIENTS_REPLY, m->hdr.seq, &out.u,
			   sizeof(*h) + h->count * sizeof(struct cmabuf_client_entry), -1);
}

struct extent_page {
	uint64_t start;
	struct cmabuf_msg_buffers_reply *h;
	struct cmabuf_extent_entry *v;
};

static int add_extent(uint64_t offset, uint64_t size, void *ctx)
{
	struct extent_page *p = ctx;

	if (offset < p->start)
		return 0;
	if (p->h->count == CMABUF_LIST_MAX_EXTENTS) {
		p->h->more = 1;
		return 1; /* stop: the page is full */
	}
	p->v[p->h->count++] = (struct cmabuf_extent_entry){offset, size};
	return 0;
}

int handle_list_extents(struct client *c, const struct cmabuf_msg *m)
{
	struct cmabuf_msg out;
	struct extent_page p = {m->u.list_extents.start_offset, &out.u.extents_reply.head,
				out.u.extents_reply.entries};

	memset(p.h, 0, sizeof(*p.h));
	/* From the page's start, not from the region's: a page costs O(log n + page). */
	allocator_for_each_free_from(c->srv->core->alloc, p.start, add_extent, &p);
	return client_send(c, CMABUF_MSG_LIST_EXTENTS_REPLY, m->hdr.seq, &out.u,
			   sizeof(*p.h) + p.h->count * sizeof(struct cmabuf_extent_entry), -1);
}

static void fill_refusal(struct cmabuf_refusal_entry *e, const struct refusal *r)
{
	memset(e, 0, sizeof(*e));
	e->serial = r->serial;
	e->time_ms = r->time_ms;
	e->size = r->size;
	e->pid = (uint32_t)r->pid;
	e->uid = (uint32_t)r->uid;
	e->error = r->error < 0 ? r->error : -EIO;
	memcpy(e->name, r->name, sizeof(e->name));
	memcpy(e->reason, r->reason, sizeof(e->reason));
}

int handle_list_refusals(struct client *c, const struct cmabuf_msg *m)
{
	struct cmabuf_msg out;
	struct cmabuf_msg_buffers_reply *h = &out.u.refusals_reply.head;
	const struct refusals *ring = &c->srv->core->refusals;
	const struct refusal *r = refusals_before(ring, m->u.list_refusals.before_serial);
	bool all = may_learn_dev_addr(c);

	memset(h, 0, sizeof(*h));
	for (; r && h->count < CMABUF_LIST_MAX_REFUSALS; r = refusals_before(ring, r->serial)) {
		if (all || r->uid == c->owner.id.uid)
			fill_refusal(&out.u.refusals_reply.entries[h->count++], r);
	}
	h->more = r != NULL;
	return client_send(c, CMABUF_MSG_LIST_REFUSALS_REPLY, m->hdr.seq, &out.u,
			   sizeof(*h) + h->count * sizeof(struct cmabuf_refusal_entry), -1);
}
