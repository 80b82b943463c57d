/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"

const char *seg_kind_name(enum seg_kind k)
{
	static const char *const names[] = {"buffer", "free", "zeroing", "hidden"};

	return names[k];
}

static int push(struct layout *l, size_t *cap, const struct seg *s)
{
	if (l->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		struct seg *v = realloc(l->v, ncap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		*cap = ncap;
	}
	l->v[l->n++] = *s;
	return 0;
}

static int read_buffers(struct ctl *ctl, struct layout *l, size_t *cap)
{
	struct cmabuf_msg_list_buffers req = {0};
	struct cmabuf_msg r;
	unsigned i;
	int ret;

	do {
		ret = cmabuf_conn_request(&ctl->conn, CMABUF_MSG_LIST_BUFFERS, &req, sizeof(req),
					  &r, NULL);
		for (i = 0; ret == 0 && i < r.u.buffers_reply.head.count; i++) {
			const struct cmabuf_buffer_entry *e = &r.u.buffers_reply.entries[i];
			struct seg s = {e->offset, e->size, SEG_BUFFER, 0, *e};

			/* Purged: holds no range; offset withheld: its place is not known. */
			if (!(e->flags & (CMABUF_BUFFER_PURGED | CMABUF_BUFFER_OFFSET_HIDDEN)))
				ret = push(l, cap, &s);
		}
		if (ret < 0)
			return ret;
		if (i)
			req.after_id = r.u.buffers_reply.entries[i - 1].id;
	} while (r.u.buffers_reply.head.more && i);
	return 0;
}

static int read_extents(struct ctl *ctl, struct layout *l, size_t *cap)
{
	struct cmabuf_msg_list_extents req = {0};
	struct cmabuf_msg r;
	unsigned i;
	int ret;

	do {
		ret = cmabuf_conn_request(&ctl->conn, CMABUF_MSG_LIST_EXTENTS, &req, sizeof(req),
					  &r, NULL);
		for (i = 0; ret == 0 && i < r.u.extents_reply.head.count; i++) {
			const struct cmabuf_extent_entry *e = &r.u.extents_reply.entries[i];
			struct seg s = {e->offset, e->size, SEG_FREE, 0, {0}};

			ret = push(l, cap, &s);
		}
		if (ret < 0)
			return ret;
		if (i)
			req.start_offset = r.u.extents_reply.entries[i - 1].offset +
					   r.u.extents_reply.entries[i - 1].size;
	} while (r.u.extents_reply.head.more && i);
	return 0;
}

static int by_offset(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;

	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Everything between known segments: zeroing, or hidden from this client. */
static int fill_gaps(struct layout *l, size_t *cap)
{
	enum seg_kind gap = l->sees_everyone ? SEG_ZEROING : SEG_HIDDEN;
	size_t i, n = l->n;
	uint64_t at = 0;
	int ret = 0;

	for (i = 0; i <= n && ret == 0; i++) {
		uint64_t next = i < n ? l->v[i].offset : l->region_size;

		if (next > at) {
			struct seg s = {at, next - at, gap, 0, {0}};

			ret = push(l, cap, &s);
		}
		/* The two lists are not one snapshot: never step backwards. */
		if (i < n && l->v[i].offset + l->v[i].size > at)
			at = l->v[i].offset + l->v[i].size;
	}
	if (ret == 0)
		qsort(l->v, l->n, sizeof(*l->v), by_offset);
	return ret;
}

static int find_owners(struct layout *l)
{
	size_t i;
	unsigned j;

	l->owners = calloc(l->n + 1, sizeof(*l->owners));
	if (!l->owners)
		return -ENOMEM;
	for (i = 0; i < l->n; i++) {
		struct seg *s = &l->v[i];

		if (s->kind != SEG_BUFFER)
			continue;
		for (j = 0; j < l->nowners; j++) {
			if (l->owners[j].pid == s->buf.pid && l->owners[j].uid == s->buf.uid)
				break;
		}
		if (j == l->nowners)
			l->owners[l->nowners++] =
				(struct owner){s->buf.pid, s->buf.uid, 0, 0, false};
		l->owners[j].heap |= (s->buf.flags & CMABUF_BUFFER_HEAP) != 0;
		s->owner = j;
		l->owners[j].buffers++;
		l->owners[j].bytes += s->size;
	}
	return 0;
}

int layout_read(struct ctl *ctl, struct layout *l)
{
	size_t cap = 0;
	int ret;

	memset(l, 0, sizeof(*l));
	l->region_size = ctl->conn.server.region_size;
	l->sees_everyone = ctl_sees_everyone(ctl);
	ret = read_buffers(ctl, l, &cap);
	if (ret == 0)
		ret = read_extents(ctl, l, &cap);
	if (ret == 0) {
		if (l->n) /* nothing read: v is NULL, which qsort() must not get */
			qsort(l->v, l->n, sizeof(*l->v), by_offset);
		ret = fill_gaps(l, &cap);
	}
	if (ret == 0)
		ret = find_owners(l);
	if (ret < 0)
		layout_free(l);
	return ret;
}

void layout_free(struct layout *l)
{
	free(l->v);
	free(l->owners);
	memset(l, 0, sizeof(*l));
}
