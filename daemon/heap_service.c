/* SPDX-License-Identifier: MIT */
/*
 * The heap door wired to the backend: the uio backend's HEAP_ALLOC events
 * go to front/heap.c, whose questions (who asks, the answer, a buffer's
 * current name) go to the backend's HEAP_CALLER, HEAP_ANSWER and QUERY.
 * The memfd backend has no heap door; the door then only says so.
 */
#include <errno.h>
#include <string.h>

#include "backend.h"
#include "daemon.h"
#include "heap.h"
#include "log.h"

static int caller(void *ctx, uint64_t id, struct heap_caller *out)
{
	struct daemon *d = ctx;
	struct backend_heap_caller c;
	int ret = d->be->ops->heap_caller(d->be, id, &c);

	if (ret < 0)
		return ret;
	memset(out, 0, sizeof(*out));
	out->tgid = c.tgid;
	out->uid = c.uid;
	out->gid = c.gid;
	out->groups = c.groups;
	out->ngroups = c.ngroups;
	out->len = c.len;
	memcpy(out->comm, c.comm, sizeof(out->comm));
	return 0;
}

static int answer(void *ctx, uint64_t id, const struct buffer *b, const char *name, int error)
{
	struct daemon *d = ctx;

	if (!b)
		return d->be->ops->heap_answer(d->be, id, 0, 0, 0, "", error);
	return d->be->ops->heap_answer(d->be, id, b->offset, b->size, buffer_cookie(b), name, 0);
}

static void query_name(void *ctx, const struct buffer *b, char *name, size_t cap)
{
	struct daemon *d = ctx;
	struct backend_query q;

	if (d->be->ops->query && d->be->ops->query(d->be, buffer_cookie(b), &q) == 0)
		cmabuf_copy_name(name, cap, q.name);
}

static const struct heap_hooks hooks = {
	.caller = caller,
	.answer = answer,
	.query_name = query_name,
};

static void on_heap_alloc(void *ctx, uint64_t id, uint64_t len)
{
	struct daemon *d = ctx;

	heap_door_request(&d->heap, id, len);
}

static enum heap_door_state door_state(enum backend_heap_state s)
{
	switch (s) {
	case BACKEND_HEAP_SERVED:
		return HEAP_DOOR_SERVED;
	case BACKEND_HEAP_NO_NODE:
		return HEAP_DOOR_NO_NODE;
	case BACKEND_HEAP_OLD_STUB:
		return HEAP_DOOR_OLD_STUB;
	case BACKEND_HEAP_SERVE_FAILED:
		return HEAP_DOOR_SERVE_FAILED;
	case BACKEND_HEAP_NONE:
		break;
	}
	return HEAP_DOOR_NONE;
}

int heap_service_start(struct daemon *d)
{
	enum heap_door_state state = door_state(d->be->heap_state);
	int ret = heap_door_init(&d->heap, d->base, &d->core, &service_hooks, d, &hooks, d, state,
				 d->be->heap_node, heap_door_stub_timeout_ms());

	if (ret < 0)
		return ret;
	d->heap.max_owners = d->opt->max_clients;
	d->heap.max_owners_per_uid = d->opt->max_clients_per_uid;
	d->heap_ready = true;
	d->server.heap = &d->heap;
	if (state != HEAP_DOOR_SERVED)
		return 0;
	d->be->on_heap_alloc = on_heap_alloc;
	d->be->heap_ctx = d;
	log_info("serving the dma-heap node %s: its callers are classed by the same policy, "
		 "answered within %u ms",
		 d->heap.node, d->heap.budget_ms);
	return 0;
}

void heap_service_stop(struct daemon *d)
{
	if (!d->heap_ready)
		return;
	if (d->be)
		d->be->on_heap_alloc = NULL;
	d->server.heap = NULL;
	heap_door_fini(&d->heap);
	d->heap_ready = false;
}
