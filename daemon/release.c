/* SPDX-License-Identifier: MIT */
/*
 * How a buffer leaves: its owner lets go (FREE or disconnect), then the
 * backend reports it released, and only then does its range return to the
 * allocator. Between the two it stays in the ledger as "release pending",
 * still charged to its owner (V4L2, KMS or another process may hold it).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "allocator.h"
#include "backend.h"
#include "client.h"
#include "daemon.h"
#include "log.h"
#include "policy.h"
#include "requests.h"
#include "zeroing.h"

static void uncharge(struct buffer *b)
{
	struct client *c = b->owner;

	TAILQ_REMOVE(&c->buffers, b, owner_link);
	c->nbuffers--;
	c->bytes -= b->size;
	b->owner = NULL;
}

static void rejoin_allocator(struct daemon *d, uint64_t offset, uint64_t size)
{
	int ret = allocator_release(d->alloc, offset, size);

	if (ret < 0)
		log_error("range 0x%" PRIx64 "+%" PRIu64 " could not return to the allocator (%s): "
			  "leaked, never reused",
			  offset, size, strerror(-ret));
}

void daemon_range_zeroed(void *ctx, uint64_t offset, uint64_t size, int err)
{
	struct daemon *d = ctx;

	if (err < 0) { /* never hand out memory that may hold someone's data */
		log_error("could not zero 0x%" PRIx64 "+%" PRIu64 " (%s): kept out of use", offset,
			  size, strerror(-err));
		return;
	}
	rejoin_allocator(d, offset, size);
}

void daemon_range_free(struct daemon *d, uint64_t offset, uint64_t size)
{
	if (!d->zeroing) {
		rejoin_allocator(d, offset, size);
		return;
	}
	if (zeroing_submit(d->zeroing, offset, size) < 0)
		log_error("out of memory queueing 0x%" PRIx64 "+%" PRIu64 " for zeroing: leaked",
			  offset, size);
}

/* The buffer is gone for good: out of its owner's charge and the ledger. */
static void forget_buffer(struct daemon *d, struct buffer *b)
{
	if (b->owner)
		uncharge(b);
	if (b->let_go && !b->purged)
		d->ledger.pending_release_bytes -= b->size;
	policy_forget(d, b);
	ledger_remove(&d->ledger, b);
	free(b);
}

void daemon_forget_all_buffers(struct daemon *d)
{
	struct buffer *b;

	while ((b = ledger_next_after(&d->ledger, 0)))
		forget_buffer(d, b);
}

void daemon_buffer_unexport(struct daemon *d, struct buffer *b)
{
	b->let_go = true;
	if (b->purged) { /* its memory went back when it was purged */
		forget_buffer(d, b);
		return;
	}
	d->ledger.pending_release_bytes += b->size;
	/* May call daemon_buffer_released() before returning (memfd): b is gone then. */
	d->be->ops->unexport(d->be, buffer_cookie(b));
}

void daemon_buffer_released(void *ctx, uint64_t cookie)
{
	struct daemon *d = ctx;
	struct buffer *b = ledger_find(&d->ledger, cookie_id(cookie));

	if (!b) {
		log_debug("backend released buffer %" PRIu64
			  ", unknown here (released before we listed it)",
			  cookie);
		return;
	}
	log_debug("buffer %" PRIu64 " released", b->id);
	if (!b->purged)
		daemon_range_free(d, b->offset, b->size);
	forget_buffer(d, b); /* uncharges its bytes too */
	pending_allocs_retry(d);
}
