/* SPDX-License-Identifier: MIT */
/*
 * What each uid holds, all its clients together (and its buffers whose owner
 * left, and survivors of an earlier daemon): the per-uid byte limit
 * ([daemon] max-bytes-per-uid) is checked against this. One entry per uid
 * that has a buffer in the ledger, kept while any of them is; looked up in
 * O(log uids) on every ALLOC, so one uid's flood of buffers costs others
 * nothing.
 */
#ifndef CMABUF_UID_USAGE_H
#define CMABUF_UID_USAGE_H

#include <stdint.h>
#include <sys/types.h>

#include "rbtree.h"

struct uid_usage {
	uid_t uid;
	uint64_t bytes;	  /* of its buffers whose memory counts (bytes_charged) */
	uint32_t buffers; /* ledger entries pointing here: the entry's lifetime */
	RB_ENTRY(uid_usage) link;
};

RB_HEAD(uid_usage_tree, uid_usage);

/* uid's entry, made on first use with one more buffer counted; NULL: out of memory. */
struct uid_usage *uid_usage_get(struct uid_usage_tree *t, uid_t uid);
/* One buffer fewer: the entry goes with its last one. */
void uid_usage_put(struct uid_usage_tree *t, struct uid_usage *u);
/* Bytes uid holds (0 for a uid with no buffer). */
uint64_t uid_usage_bytes(const struct uid_usage_tree *t, uid_t uid);

#endif
