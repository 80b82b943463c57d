/* SPDX-License-Identifier: MIT */
/*
 * How a buffer leaves: its owner lets go (FREE or disconnect), then the
 * backend reports it released, and only then does its range return to the
 * allocator. Between the two it stays in the ledger as "release pending",
 * still charged to its owner (V4L2, KMS or another process may hold it).
 */
#include <inttypes.h>
#include <stdlib.h>

#include "allocator.h"
#include "backend.h"
#include "client.h"
#include "daemon.h"
#include "log.h"

static void uncharge(struct buffer *b)
{
	struct client *c = b->owner;

	TAILQ_REMOVE(&c->buffers, b, owner_link);
	c->nbuffers--;
	c->bytes -= b->size;
	b->owner = NULL;
}

void daemon_buffer_unexport(struct daemon *d, struct buffer *b)
{
	b->let_go = true;
	d->ledger.pending_release_bytes += b->size;
	/* May call daemon_buffer_released() before returning (memfd): b is gone then. */
	d->be->ops->unexport(d->be, b->id);
}

void daemon_buffer_released(void *ctx, uint64_t cookie)
{
	struct daemon *d = ctx;
	struct buffer *b = ledger_find(&d->ledger, cookie);
	int ret;

	if (!b) {
		log_debug("backend released buffer %" PRIu64
			  ", unknown here (released before we listed it)",
			  cookie);
		return;
	}
	if (b->owner)
		uncharge(b);
	if (b->let_go)
		d->ledger.pending_release_bytes -= b->size;
	ret = allocator_release(d->alloc, b->offset, b->size);
	if (ret < 0)
		log_error("buffer %" PRIu64 " at 0x%" PRIx64 "+%" PRIu64 " could not return to the "
			  "allocator (%d): range leaked, not reused",
			  b->id, b->offset, b->size, ret);
	ledger_remove(&d->ledger, b);
	log_debug("buffer %" PRIu64 " released", b->id);
	free(b);
}
