/* SPDX-License-Identifier: MIT */
#include "ledger.h"
#include "rbtree.h"

static int buffer_cmp(const struct buffer *a, const struct buffer *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}

RB_GENERATE_LOCAL(buffer_tree, buffer, by_id, buffer_cmp)

static int buffer_uid_cmp(const struct buffer *a, const struct buffer *b)
{
	if (a->uid != b->uid)
		return a->uid < b->uid ? -1 : 1;
	return buffer_cmp(a, b);
}

RB_GENERATE_LOCAL(buffer_uid_tree, buffer, by_uid, buffer_uid_cmp)

void ledger_init(struct ledger *l)
{
	RB_INIT(&l->buffers);
	RB_INIT(&l->by_uid);
	l->count = 0;
	l->pending_release_bytes = 0;
	l->handed_over_bytes = 0;
	l->handed_over = 0;
}

void ledger_insert(struct ledger *l, struct buffer *b)
{
	RB_INSERT(buffer_tree, &l->buffers, b);
	RB_INSERT(buffer_uid_tree, &l->by_uid, b);
	l->count++;
}

void ledger_remove(struct ledger *l, struct buffer *b)
{
	RB_REMOVE(buffer_tree, &l->buffers, b);
	RB_REMOVE(buffer_uid_tree, &l->by_uid, b);
	l->count--;
}

struct buffer *ledger_find(struct ledger *l, uint64_t id)
{
	struct buffer key = {.id = id};

	return RB_FIND(buffer_tree, &l->buffers, &key);
}

/* The tree's functions take a mutable head; looking up changes nothing. */
struct buffer *ledger_next_after(const struct ledger *l, uint64_t after_id)
{
	struct buffer key = {.id = after_id + 1};

	if (after_id == UINT64_MAX)
		return NULL;
	return RB_NFIND(buffer_tree, (struct buffer_tree *)&l->buffers, &key);
}

struct buffer *ledger_next(const struct ledger *l, struct buffer *b)
{
	return RB_NEXT(buffer_tree, (struct buffer_tree *)&l->buffers, b);
}

struct buffer *ledger_uid_next_after(const struct ledger *l, uid_t uid, uint64_t after_id)
{
	struct buffer key = {.uid = uid, .id = after_id + 1}, *b;

	if (after_id == UINT64_MAX)
		return NULL;
	b = RB_NFIND(buffer_uid_tree, (struct buffer_uid_tree *)&l->by_uid, &key);
	return b && b->uid == uid ? b : NULL;
}

struct buffer *ledger_uid_next(const struct ledger *l, struct buffer *b)
{
	struct buffer *n = RB_NEXT(buffer_uid_tree, (struct buffer_uid_tree *)&l->by_uid, b);

	(void)l;
	return n && n->uid == b->uid ? n : NULL;
}
