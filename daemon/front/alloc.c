/* SPDX-License-Identifier: MIT */
/*
 * ALLOC through the socket door: the request goes to the core as (owner,
 * description), and its answer comes back here through client_door_ops —
 * the buffer and its dma-buf, a refusal with its reason, a wait for reclaimed
 * memory, or a RECLAIM event for a buffer this client holds.
 */
#include <event2/event.h>
#include <inttypes.h>
#include <string.h>

#include "client.h"
#include "core.h"
#include "door.h"
#include "log.h"
#include "requests.h"
#include "server.h"

int handle_alloc(struct client *c, const struct cmabuf_msg *m)
{
	const struct cmabuf_msg_alloc *a = &m->u.alloc;
	struct core_alloc_desc desc;

	memset(&desc, 0, sizeof(desc));
	desc.size = a->size;
	desc.align = a->align;
	desc.flags = a->flags;
	memcpy(desc.name, a->name, sizeof(desc.name));
	memcpy(desc.pool, a->pool, sizeof(desc.pool));
	c->srv->hooks->alloc(c->srv->hooks_ctx, &c->owner, &desc, m->hdr.seq);
	return 0;
}

/* A parked request is answered: its deadline no longer applies. */
static void answered(struct client *c, const struct core_request *r)
{
	if (r == &c->parked)
		event_del(c->ev_deadline);
}

static void answer(struct owner *o, const struct core_request *r, const struct buffer *b, int fd)
{
	struct client *c = client_of(o);
	struct cmabuf_msg_alloc_reply reply;

	answered(c, r);
	log_client(LOG_DEBUG, c, b->name, b->size, "buffer %" PRIu64 " at offset 0x%" PRIx64, b->id,
		   b->offset);
	memset(&reply, 0, sizeof(reply));
	reply.id = b->id;
	reply.size = b->size;
	if (may_learn_dev_addr(c)) {
		reply.dev_addr = c->srv->core->region.base + b->offset;
		reply.flags |= CMABUF_BUFFER_DEV_ADDR_VALID;
	}
	client_send(c, CMABUF_MSG_ALLOC_REPLY, (uint32_t)r->tag, &reply, sizeof(reply), fd);
}

static void refuse(struct owner *o, const struct core_request *r, int err, const char *why)
{
	struct client *c = client_of(o);

	answered(c, r);
	log_client(LOG_NOTICE, c, r->desc.name, r->desc.size, "allocation refused: %s", why);
	client_send_error(c, (uint32_t)r->tag, CMABUF_MSG_ALLOC, err, "%s", why);
}

static void park(struct owner *o, const struct core_request *r, uint32_t deadline_ms)
{
	struct client *c = client_of(o);
	struct timeval tv = {deadline_ms / 1000, (deadline_ms % 1000) * 1000};

	c->parked = *r;
	core_park(c->srv->core, &c->parked);
	evtimer_add(c->ev_deadline, &tv);
}

static void reclaim(struct owner *o, const struct buffer *b, uint32_t deadline_ms)
{
	struct cmabuf_msg_reclaim ev = {.id = b->id, .deadline_ms = deadline_ms};

	client_send(client_of(o), CMABUF_MSG_RECLAIM, 0, &ev, sizeof(ev), -1);
}

const struct door_ops client_door_ops = {
	.answer = answer,
	.refuse = refuse,
	.park = park,
	.reclaim = reclaim,
};
