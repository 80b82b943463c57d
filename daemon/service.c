/* SPDX-License-Identifier: MIT */
/*
 * The allocation service: the core's decisions carried out on the backend
 * (export, revoke, collect releases, wait for zeroing), the answers sent back
 * through the door each request came in by, and the backend's release and
 * zeroing events fed back to the core.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "clock.h"
#include "core.h"
#include "daemon.h"
#include "door.h"
#include "log.h"
#include "config_file.h"
#include "zeroing.h"

#define MiB(x) ((double)(x) / (1024.0 * 1024.0))

static struct core_time time_now(void)
{
	return (struct core_time){now_ms(CLOCK_MONOTONIC), now_ms(CLOCK_REALTIME)};
}

static void zero_later(struct daemon *d, const struct core_range *r)
{
	if (zeroing_submit(d->zeroing, r->offset, r->size) < 0)
		log_error("out of memory queueing 0x%" PRIx64 "+%" PRIu64 " for zeroing: leaked",
			  r->offset, r->size);
}

/*
 * Reads the release events the backend has queued and the loop has not seen
 * yet. Not from inside retry_parked(), which a release calls: that would nest it.
 */
static void collect_releases(struct daemon *d)
{
	if (d->retrying_parked)
		return;
	if (d->be->ops->collect)
		d->be->ops->collect(d->be);
	else
		d->be->ops->dispatch(d->be);
}

static void purge(struct daemon *d, struct core_request *r, const struct core_decision *dec)
{
	struct core_range zero;
	unsigned i;

	for (i = 0; i < dec->nvictims; i++) {
		struct buffer *b = dec->victims[i];
		int ret = d->be->ops->revoke(d->be, buffer_cookie(b));

		if (ret == 0)
			log_info("purged buffer %" PRIu64 " '%s' of pid %d (%.1f MiB) to make room",
				 b->id, b->name, (int)b->pid, MiB(b->size));
		if (core_purged(&d->core, r, b, ret, &zero) == 1)
			zero_later(d, &zero);
	}
}

/* A door that hands buffers over itself (the heap door): 0, or -errno and nothing kept. */
static int door_delivers(struct daemon *d, struct core_request *r, const struct core_time *now,
			 struct core_decision *dec)
{
	struct buffer *b = dec->buffer;
	struct owner *o = r->owner;
	char why[2 * CMABUF_REASON_LEN];
	int ret = o->door_ops->deliver(o, r, b, why, sizeof(why));

	if (ret < 0)
		core_export_failed(&d->core, r, b, ret, why, now, dec);
	else
		core_exported(&d->core, r, b, 0, now, dec);
	return ret;
}

/* Exports the placed buffer and answers; true when the request got its buffer. */
static bool export_and_answer(struct daemon *d, struct core_request *r, const struct core_time *now,
			      struct core_decision *dec)
{
	struct buffer *b = dec->buffer;
	struct owner *o = r->owner;
	int fd = -1, ret;

	if (o->door_ops->deliver)
		ret = door_delivers(d, r, now, dec);
	else
		ret = core_exported(&d->core, r, b,
				    d->be->ops->export_range(d->be, b->offset, b->size,
							     buffer_cookie(b), b->name, &fd),
				    now, dec);
	if (ret < 0) {
		o->door_ops->refuse(o, r, dec->err, dec->why);
		return false;
	}
	o->door_ops->answer(o, r, b, fd);
	daemon_prepare_soon(d);
	return true;
}

static void ask_reclaims(const struct core_decision *dec)
{
	unsigned i;

	for (i = 0; i < dec->nvictims; i++) {
		struct owner *holder = dec->victims[i]->owner;

		holder->door_ops->reclaim(holder, dec->victims[i], dec->deadline_ms);
	}
}

/* Steps r through the core until it is answered or parked; true if it got its buffer. */
static bool drive(struct daemon *d, struct core_request *r)
{
	struct core_decision dec;
	struct owner *o = r->owner;

	for (;;) {
		struct core_time now = time_now();

		switch (core_alloc_step(&d->core, r, &now, &dec)) {
		case CORE_COLLECT:
			collect_releases(d);
			break;
		case CORE_WAIT_ZEROING:
			zeroing_wait_some(d->zeroing);
			break;
		case CORE_PURGE:
			purge(d, r, &dec);
			break;
		case CORE_EXPORT:
			return export_and_answer(d, r, &now,
						 &dec); /* the step's time: no new read */
		case CORE_PARK:
			ask_reclaims(&dec);
			o->door_ops->park(o, r, dec.deadline_ms);
			return false;
		case CORE_KEEP_WAITING:
			return false;
		case CORE_REFUSE:
			o->door_ops->refuse(o, r, dec.err, dec.why);
			return false;
		}
	}
}

/* Memory came back: every parked request tries again, oldest first. */
static void retry_parked(struct daemon *d)
{
	struct core_request *r, *next;

	if (d->retrying_parked)
		return;
	d->retrying_parked = true;
	for (r = core_parked_first(&d->core); r; r = next) {
		next = core_parked_next(&d->core, r);
		drive(d, r);
	}
	d->retrying_parked = false;
}

/* Times the requests answered here and now, for the latency histogram. */
static void on_alloc(void *ctx, struct owner *o, const struct core_alloc_desc *desc, uint64_t tag)
{
	struct daemon *d = ctx;
	struct core_request r;
	uint64_t start = now_ns();

	core_alloc_begin(&d->core, &r, o, desc, tag);
	if (drive(d, &r))
		metrics_observe_ns(&d->core.metrics, now_ns() - start);
}

static void unexport(void *ctx, struct buffer *b)
{
	struct daemon *d = ctx;

	/* May call service_buffer_released() before returning (memfd): b is gone then. */
	if (core_let_go(&d->core, b))
		d->be->ops->unexport(d->be, buffer_cookie(b));
}

static void on_leave(void *ctx, struct owner *o)
{
	struct daemon *d = ctx;

	core_owner_remove(&d->core, o, unexport, d);
}

static void on_deadline(void *ctx, struct core_request *r)
{
	struct daemon *d = ctx;
	struct core_time now = time_now();
	struct core_decision dec;
	struct owner *o = r->owner;

	core_deadline(&d->core, r, &now, &dec);
	o->door_ops->refuse(o, r, dec.err, dec.why);
}

const struct server_hooks service_hooks = {
	.alloc = on_alloc,
	.let_go = unexport,
	.leave = on_leave,
	.deadline = on_deadline,
};

void service_buffer_released(void *ctx, uint64_t cookie)
{
	struct daemon *d = ctx;
	struct buffer *b = ledger_find(&d->core.ledger, cookie_id(cookie));
	struct owner *o = b ? b->owner : NULL;
	struct core_range zero;
	int ret = core_released(&d->core, cookie, &zero);

	if (o && o->door_ops->released) /* a heap caller may hold nothing now */
		o->door_ops->released(o);

	if (ret == -ENOENT) {
		log_debug("backend released buffer %" PRIu64
			  ", unknown here (released before we listed it)",
			  cookie);
		return;
	}
	log_debug("buffer %" PRIu64 " released", cookie_id(cookie));
	if (ret == 1)
		zero_later(d, &zero);
	else if (ret < 0)
		log_error("buffer %" PRIu64 "'s range could not return to the allocator (%s): "
			  "leaked, never reused",
			  cookie_id(cookie), strerror(-ret));
	retry_parked(d);
}

void service_range_zeroed(void *ctx, uint64_t offset, uint64_t size, int err)
{
	struct daemon *d = ctx;
	int ret = core_zeroed(&d->core, offset, size, err);

	if (err < 0) /* never hand out memory that may hold someone's data */
		log_error("could not zero 0x%" PRIx64 "+%" PRIu64 " (%s): kept out of use", offset,
			  size, strerror(-err));
	else if (ret < 0)
		log_error("range 0x%" PRIx64 "+%" PRIu64 " could not return to the allocator (%s): "
			  "leaked, never reused",
			  offset, size, strerror(-ret));
}

static void denied(void *ctx, struct owner *o)
{
	struct daemon *d = ctx;

	/* A heap caller has no connection to close: its next requests are refused. */
	if (o->door_kind == OWNER_DOOR_HEAP)
		return;
	server_client_denied(&d->server, o);
}

int service_reload(struct daemon *d, char *err, size_t cap)
{
	struct config fresh;
	int ret;

	if (!d->config_path) {
		snprintf(err, cap,
			 "no configuration file was loaded at startup; nothing to reload");
		return -ENOENT;
	}
	ret = config_load(d->config_path, d->core.region.size, &fresh, err, cap);
	if (ret < 0)
		return ret;
	core_policy_replace(&d->core, &fresh, denied, d);
	return 0;
}
