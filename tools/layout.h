/* SPDX-License-Identifier: MIT */
/*
 * The region as cmabufctl map draws it: every byte in exactly one segment, in
 * address order. Buffers come from LIST_BUFFERS, free extents from
 * LIST_EXTENTS; what lies in neither is being zeroed, or, for a client that
 * sees only its own uid's buffers, hidden (another user's buffer or zeroing).
 */
#ifndef CMABUF_LAYOUT_H
#define CMABUF_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl.h"

enum seg_kind { SEG_BUFFER, SEG_FREE, SEG_ZEROING, SEG_HIDDEN };

struct seg {
	uint64_t offset, size;
	enum seg_kind kind;
	unsigned owner; /* SEG_BUFFER: index into layout.owners */
	struct cmabuf_buffer_entry buf;
};

struct owner {
	uint32_t pid, uid;
	unsigned buffers;
	uint64_t bytes;
	bool heap; /* a /dev/dma_heap caller (CMABUF_BUFFER_HEAP) */
};

struct layout {
	uint64_t region_size;
	struct seg *v;
	size_t n;
	struct owner *owners; /* in order of their first buffer's address */
	unsigned nowners;
	bool sees_everyone;
};

/* Reads buffers and free extents from the daemon. Returns 0 or a negative errno. */
int layout_read(struct ctl *ctl, struct layout *l);
void layout_free(struct layout *l);

/* "buffer", "free", "zeroing", "hidden". */
const char *seg_kind_name(enum seg_kind k);

#endif
