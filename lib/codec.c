/* SPDX-License-Identifier: MIT */
/* Encoder and pure decoder for the wire protocol in protocol.h. */
#include <errno.h>
#include <string.h>

#include "protocol.h"

typedef int (*payload_check_fn)(const struct cmabuf_msg *msg);

struct msg_rule {
	const char *name;
	enum cmabuf_msg_dir dir;
	size_t fixed;  /* payload bytes before any entries */
	size_t entry;  /* bytes per trailing entry; 0 for fixed-size messages */
	unsigned nfds; /* descriptors that must accompany it */
	payload_check_fn check;
	int grows; /* later versions may append fields: longer payloads are accepted */
};

static int terminated(const char *field, size_t cap)
{
	return memchr(field, '\0', cap) != NULL;
}

static int check_hello_reply(const struct cmabuf_msg *m)
{
	return terminated(m->u.hello_reply.backend, CMABUF_BACKEND_LEN) ? 0 : -EBADMSG;
}

static int check_error(const struct cmabuf_msg *m)
{
	if (m->u.error.error >= 0)
		return -EBADMSG;
	return terminated(m->u.error.reason, CMABUF_REASON_LEN) ? 0 : -EBADMSG;
}

static int check_alloc(const struct cmabuf_msg *m)
{
	const struct cmabuf_msg_alloc *a = &m->u.alloc;

	if (a->pad != 0)
		return -EBADMSG;
	if (!terminated(a->pool, CMABUF_POOL_LEN) || !terminated(a->name, CMABUF_NAME_LEN))
		return -EBADMSG;
	return 0;
}

static int check_alloc_reply(const struct cmabuf_msg *m)
{
	return m->u.alloc_reply.pad == 0 ? 0 : -EBADMSG;
}

static int check_status_reply(const struct cmabuf_msg *m)
{
	const struct cmabuf_msg_status_reply *r = &m->u.status_reply;

	return terminated(r->backend, CMABUF_BACKEND_LEN) &&
			       terminated(r->heap_node, CMABUF_HEAP_NODE_LEN)
		       ? 0
		       : -EBADMSG;
}

static int check_buffers_reply(const struct cmabuf_msg *m)
{
	const struct cmabuf_msg_buffers_reply *h = &m->u.buffers_reply.head;
	uint32_t i;

	if (h->more > 1)
		return -EBADMSG;
	for (i = 0; i < h->count; i++) {
		if (!terminated(m->u.buffers_reply.entries[i].name, CMABUF_NAME_LEN))
			return -EBADMSG;
	}
	return 0;
}

/*
 * HELLO may grow: whatever a future client appends, the daemon must still
 * read the version and answer a mismatch with both numbers. Its flags are
 * checked by the server, after the version.
 */
static int check_set_purgeable(const struct cmabuf_msg *m)
{
	const struct cmabuf_msg_set_purgeable *p = &m->u.set_purgeable;

	return p->purgeable <= 1 && p->pad == 0 ? 0 : -EBADMSG;
}

static int check_purgeable_reply(const struct cmabuf_msg *m)
{
	const struct cmabuf_msg_purgeable_reply *p = &m->u.purgeable_reply;

	return p->was_purged <= 1 && p->pad == 0 ? 0 : -EBADMSG;
}

static int check_reclaim(const struct cmabuf_msg *m)
{
	return m->hdr.seq == 0 && m->u.reclaim.pad == 0 ? 0 : -EBADMSG;
}

static int check_metrics_reply(const struct cmabuf_msg *m)
{
	const struct cmabuf_msg_metrics_reply *r = &m->u.metrics_reply;
	uint32_t i;

	if (r->nclasses > CMABUF_METRICS_MAX_CLASSES || r->nuids > CMABUF_METRICS_MAX_UIDS ||
	    (r->flags & ~CMABUF_METRICS_ALL_UIDS))
		return -EBADMSG;
	for (i = 0; i < r->nclasses; i++) {
		if (!terminated(r->classes[i].name, CMABUF_CLASS_LEN) || r->classes[i].pad != 0)
			return -EBADMSG;
	}
	return 0;
}

static int check_list_clients(const struct cmabuf_msg *m)
{
	return m->u.list_clients.pad == 0 ? 0 : -EBADMSG;
}

static int check_clients_reply(const struct cmabuf_msg *m)
{
	const struct cmabuf_msg_buffers_reply *h = &m->u.clients_reply.head;
	uint32_t i, known = CMABUF_CLIENT_WAITING | CMABUF_CLIENT_SELF | CMABUF_CLIENT_HEAP;

	if (h->more > 1)
		return -EBADMSG;
	for (i = 0; i < h->count; i++) {
		const struct cmabuf_client_entry *e = &m->u.clients_reply.entries[i];

		if (!terminated(e->class_name, CMABUF_CLASS_LEN) ||
		    !terminated(e->command, sizeof(e->command)) || (e->flags & ~known))
			return -EBADMSG;
	}
	return 0;
}

static int check_extents_reply(const struct cmabuf_msg *m)
{
	const struct cmabuf_msg_buffers_reply *h = &m->u.extents_reply.head;
	uint32_t i;

	if (h->more > 1)
		return -EBADMSG;
	for (i = 0; i < h->count; i++) {
		const struct cmabuf_extent_entry *e = &m->u.extents_reply.entries[i];

		/* Empty or wrapping extents would send a pager round in circles. */
		if (e->size == 0 || e->offset + e->size < e->offset)
			return -EBADMSG;
	}
	return 0;
}

static int check_refusals_reply(const struct cmabuf_msg *m)
{
	const struct cmabuf_msg_buffers_reply *h = &m->u.refusals_reply.head;
	uint32_t i;

	if (h->more > 1)
		return -EBADMSG;
	for (i = 0; i < h->count; i++) {
		const struct cmabuf_refusal_entry *e = &m->u.refusals_reply.entries[i];

		if (e->error >= 0 || e->pad != 0 || !terminated(e->name, CMABUF_NAME_LEN) ||
		    !terminated(e->reason, CMABUF_REASON_LEN))
			return -EBADMSG;
	}
	return 0;
}

#define FIXED(t) sizeof(t), 0
#define LIST(e)	 sizeof(struct cmabuf_msg_buffers_reply), sizeof(e)
static const struct msg_rule rules[CMABUF_MSG_TYPE_COUNT] = {
	[CMABUF_MSG_HELLO] = {"HELLO", CMABUF_TO_SERVER, FIXED(struct cmabuf_msg_hello), 0, NULL,
			      1},
	[CMABUF_MSG_HELLO_REPLY] = {"HELLO_REPLY", CMABUF_TO_CLIENT,
				    FIXED(struct cmabuf_msg_hello_reply), 0, check_hello_reply},
	[CMABUF_MSG_ERROR] = {"ERROR", CMABUF_TO_CLIENT, FIXED(struct cmabuf_msg_error), 0,
			      check_error},
	[CMABUF_MSG_ALLOC] = {"ALLOC", CMABUF_TO_SERVER, FIXED(struct cmabuf_msg_alloc), 0,
			      check_alloc},
	[CMABUF_MSG_ALLOC_REPLY] = {"ALLOC_REPLY", CMABUF_TO_CLIENT,
				    FIXED(struct cmabuf_msg_alloc_reply), 1, check_alloc_reply},
	[CMABUF_MSG_FREE] = {"FREE", CMABUF_TO_SERVER, FIXED(struct cmabuf_msg_free), 0, NULL},
	[CMABUF_MSG_OK] = {"OK", CMABUF_TO_CLIENT, 0, 0, 0, NULL},
	[CMABUF_MSG_STATUS] = {"STATUS", CMABUF_TO_SERVER, 0, 0, 0, NULL},
	[CMABUF_MSG_STATUS_REPLY] = {"STATUS_REPLY", CMABUF_TO_CLIENT,
				     FIXED(struct cmabuf_msg_status_reply), 0, check_status_reply},
	[CMABUF_MSG_LIST_BUFFERS] = {"LIST_BUFFERS", CMABUF_TO_SERVER,
				     FIXED(struct cmabuf_msg_list_buffers), 0, NULL},
	[CMABUF_MSG_LIST_BUFFERS_REPLY] = {"LIST_BUFFERS_REPLY", CMABUF_TO_CLIENT,
					   sizeof(struct cmabuf_msg_buffers_reply),
					   sizeof(struct cmabuf_buffer_entry), 0,
					   check_buffers_reply},
	[CMABUF_MSG_SET_PURGEABLE] = {"SET_PURGEABLE", CMABUF_TO_SERVER,
				      FIXED(struct cmabuf_msg_set_purgeable), 0,
				      check_set_purgeable},
	[CMABUF_MSG_PURGEABLE_REPLY] = {"PURGEABLE_REPLY", CMABUF_TO_CLIENT,
					FIXED(struct cmabuf_msg_purgeable_reply), 0,
					check_purgeable_reply},
	[CMABUF_MSG_RECLAIM] = {"RECLAIM", CMABUF_TO_CLIENT, FIXED(struct cmabuf_msg_reclaim), 0,
				check_reclaim},
	[CMABUF_MSG_METRICS] = {"METRICS", CMABUF_TO_SERVER, 0, 0, 0, NULL},
	[CMABUF_MSG_METRICS_REPLY] = {"METRICS_REPLY", CMABUF_TO_CLIENT,
				      FIXED(struct cmabuf_msg_metrics_reply), 0,
				      check_metrics_reply},
	[CMABUF_MSG_LIST_CLIENTS] = {"LIST_CLIENTS", CMABUF_TO_SERVER,
				     FIXED(struct cmabuf_msg_list_clients), 0, check_list_clients},
	[CMABUF_MSG_LIST_CLIENTS_REPLY] = {"LIST_CLIENTS_REPLY", CMABUF_TO_CLIENT,
					   LIST(struct cmabuf_client_entry), 0,
					   check_clients_reply},
	[CMABUF_MSG_LIST_EXTENTS] = {"LIST_EXTENTS", CMABUF_TO_SERVER,
				     FIXED(struct cmabuf_msg_list_extents), 0, NULL},
	[CMABUF_MSG_LIST_EXTENTS_REPLY] = {"LIST_EXTENTS_REPLY", CMABUF_TO_CLIENT,
					   LIST(struct cmabuf_extent_entry), 0,
					   check_extents_reply},
	[CMABUF_MSG_LIST_REFUSALS] = {"LIST_REFUSALS", CMABUF_TO_SERVER,
				      FIXED(struct cmabuf_msg_list_refusals), 0, NULL},
	[CMABUF_MSG_LIST_REFUSALS_REPLY] = {"LIST_REFUSALS_REPLY", CMABUF_TO_CLIENT,
					    LIST(struct cmabuf_refusal_entry), 0,
					    check_refusals_reply},
	[CMABUF_MSG_FREE_NOREPLY] = {"FREE_NOREPLY", CMABUF_TO_SERVER,
				     FIXED(struct cmabuf_msg_free), 0, NULL},
};
#undef FIXED
#undef LIST

static const struct msg_rule *rule_for(unsigned type)
{
	if (type == 0 || type >= CMABUF_MSG_TYPE_COUNT)
		return NULL;
	return &rules[type];
}

const char *cmabuf_msg_type_name(unsigned type)
{
	const struct msg_rule *r = rule_for(type);

	return r ? r->name : "UNKNOWN";
}

/* Whether a payload of len bytes has the shape the rule allows. */
static int payload_len_ok(const struct msg_rule *r, const void *payload, size_t len)
{
	uint32_t count;

	if (r->grows)
		return len >= r->fixed;
	if (r->entry == 0)
		return len == r->fixed;
	if (len < r->fixed)
		return 0;
	/*
	 * The fixed part says how many entries follow; the length must agree. The
	 * count is bounded by what one datagram holds before it is multiplied.
	 * Copied out: the encoder's payload is any caller's bytes, not necessarily
	 * aligned for the struct (a misaligned load is undefined, and traps on
	 * some ARM cores).
	 */
	memcpy(&count, (const char *)payload + offsetof(struct cmabuf_msg_buffers_reply, count),
	       sizeof(count));
	return count <= (CMABUF_MSG_MAX - sizeof(struct cmabuf_msg_header) - r->fixed) / r->entry &&
	       len == r->fixed + count * r->entry;
}

int cmabuf_msg_decode(const void *buf, size_t len, unsigned nfds, enum cmabuf_msg_dir dir,
		      struct cmabuf_msg *out)
{
	struct cmabuf_msg msg;
	const struct msg_rule *r;

	if (len > CMABUF_MSG_MAX)
		return -EMSGSIZE;
	if (len < sizeof(msg.hdr))
		return -EBADMSG;
	memcpy(&msg.hdr, buf, sizeof(msg.hdr));
	if (msg.hdr.length != len - sizeof(msg.hdr) || msg.hdr.reserved != 0)
		return -EBADMSG;
	r = rule_for(msg.hdr.type);
	if (!r || r->dir != dir)
		return -EPROTO;
	if (msg.hdr.nfds != nfds || nfds != r->nfds)
		return -EBADMSG;
	/* Copy first: the fixed part of a list reply must be read to check the length. */
	memset(&msg.u, 0, sizeof(msg.u));
	memcpy(&msg.u, (const char *)buf + sizeof(msg.hdr), msg.hdr.length);
	if (msg.hdr.length < r->fixed || !payload_len_ok(r, &msg.u, msg.hdr.length))
		return -EBADMSG;
	if (r->check) {
		int ret = r->check(&msg);

		if (ret < 0)
			return ret;
	}
	memcpy(out, &msg, sizeof(msg.hdr) + msg.hdr.length);
	return 0;
}

long cmabuf_msg_encode(void *buf, size_t cap, uint16_t type, uint32_t seq, const void *payload,
		       size_t payload_len, unsigned nfds)
{
	const struct msg_rule *r = rule_for(type);
	struct cmabuf_msg_header hdr = {
		.type = type,
		.nfds = (uint16_t)nfds,
		.length = (uint32_t)payload_len,
		.seq = seq,
	};
	size_t total = sizeof(hdr) + payload_len;

	if (!r || nfds != r->nfds || !payload_len_ok(r, payload, payload_len))
		return -EINVAL;
	if (total > cap || total > CMABUF_MSG_MAX)
		return -EMSGSIZE;
	memcpy(buf, &hdr, sizeof(hdr));
	if (payload_len)
		memcpy((char *)buf + sizeof(hdr), payload, payload_len);
	return (long)total;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0: no overlongs, surrogates or > U+10FFFF. */
static size_t utf8_sequence(const unsigned char *s)
{
	unsigned cp, n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

const char *cmabuf_label_problem(const char *label, size_t cap)
{
	const unsigned char *s = (const unsigned char *)label;
	size_t n;

	if (!label)
		return NULL;
	if (strnlen(label, cap) == cap) /* constant texts: callers may be on any thread */
		return cap == CMABUF_NAME_LEN	? "is longer than 63 bytes"
		       : cap == CMABUF_POOL_LEN ? "is longer than 31 bytes"
						: "is too long";
	for (; *s; s += n) {
		/* C0, DEL and C1 (U+0080..U+009F, encoded C2 80..C2 9F) */
		if (*s < 0x20 || *s == 0x7f || (s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f))
			return "contains a control character";
		n = utf8_sequence(s);
		if (!n)
			return "is not valid UTF-8";
	}
	return NULL;
}

const char *cmabuf_name_problem(const char *name)
{
	return cmabuf_label_problem(name, CMABUF_NAME_LEN);
}

void cmabuf_copy_name(char *dst, size_t cap, const char *src)
{
	size_t n = 0;

	if (cap == 0)
		return;
	if (src) {
		n = strnlen(src, cap - 1);
		memcpy(dst, src, n);
	}
	memset(dst + n, 0, cap - n);
}
