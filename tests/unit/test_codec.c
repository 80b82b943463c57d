/* SPDX-License-Identifier: MIT */
/* The decoder is the daemon's first line of defence: every shape of bad input is refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "protocol.h"

static long encode_alloc(unsigned char *buf, uint64_t size, const char *name)
{
	struct cmabuf_msg_alloc a;

	memset(&a, 0, sizeof(a));
	a.size = size;
	cmabuf_copy_name(a.name, sizeof(a.name), name);
	return cmabuf_msg_encode(buf, CMABUF_MSG_MAX, CMABUF_MSG_ALLOC, 7, &a, sizeof(a), 0);
}

static void round_trip_alloc(void **state)
{
	unsigned char buf[CMABUF_MSG_MAX];
	struct cmabuf_msg m;
	long n = encode_alloc(buf, 3110400, "nv12-1080p");

	assert_int_equal(n, sizeof(struct cmabuf_msg_header) + sizeof(struct cmabuf_msg_alloc));
	assert_int_equal(cmabuf_msg_decode(buf, (size_t)n, 0, CMABUF_TO_SERVER, &m), 0);
	assert_int_equal(m.hdr.type, CMABUF_MSG_ALLOC);
	assert_int_equal(m.hdr.seq, 7);
	assert_int_equal(m.u.alloc.size, 3110400);
	assert_string_equal(m.u.alloc.name, "nv12-1080p");
}

static void round_trip_every_fixed_reply(void **state)
{
	unsigned char buf[CMABUF_MSG_MAX];
	struct cmabuf_msg m;
	struct cmabuf_msg_alloc_reply ar = {.id = 42, .size = 4096, .dev_addr = 0x40000000};
	struct cmabuf_msg_error er = {.error = -ENOMEM, .request_type = CMABUF_MSG_ALLOC};
	long n;

	n = cmabuf_msg_encode(buf, sizeof(buf), CMABUF_MSG_ALLOC_REPLY, 3, &ar, sizeof(ar), 1);
	assert_true(n > 0);
	assert_int_equal(cmabuf_msg_decode(buf, (size_t)n, 1, CMABUF_TO_CLIENT, &m), 0);
	assert_int_equal(m.u.alloc_reply.id, 42);
	assert_int_equal(m.u.alloc_reply.dev_addr, 0x40000000);

	strcpy(er.reason, "out of contiguous memory");
	n = cmabuf_msg_encode(buf, sizeof(buf), CMABUF_MSG_ERROR, 3, &er, sizeof(er), 0);
	assert_int_equal(cmabuf_msg_decode(buf, (size_t)n, 0, CMABUF_TO_CLIENT, &m), 0);
	assert_int_equal(m.u.error.error, -ENOMEM);
	assert_string_equal(m.u.error.reason, "out of contiguous memory");

	n = cmabuf_msg_encode(buf, sizeof(buf), CMABUF_MSG_OK, 9, NULL, 0, 0);
	assert_int_equal(n, sizeof(struct cmabuf_msg_header));
	assert_int_equal(cmabuf_msg_decode(buf, (size_t)n, 0, CMABUF_TO_CLIENT, &m), 0);
	assert_int_equal(m.hdr.seq, 9);
}

static void round_trip_list_reply(void **state)
{
	unsigned char buf[CMABUF_MSG_MAX];
	struct cmabuf_msg src, m;
	size_t len;
	long n;
	unsigned i, count = CMABUF_LIST_MAX_ENTRIES;

	memset(&src, 0, sizeof(src));
	src.u.buffers_reply.head.count = count;
	for (i = 0; i < count; i++) {
		src.u.buffers_reply.entries[i].id = i + 1;
		strcpy(src.u.buffers_reply.entries[i].name, "frame");
	}
	len = sizeof(struct cmabuf_msg_buffers_reply) + count * sizeof(struct cmabuf_buffer_entry);
	n = cmabuf_msg_encode(buf, sizeof(buf), CMABUF_MSG_LIST_BUFFERS_REPLY, 1, &src.u, len, 0);
	assert_true(n > 0);
	assert_int_equal(cmabuf_msg_decode(buf, (size_t)n, 0, CMABUF_TO_CLIENT, &m), 0);
	assert_int_equal(m.u.buffers_reply.head.count, count);
	assert_int_equal(m.u.buffers_reply.entries[count - 1].id, count);

	/* A count that disagrees with the length is refused. */
	((struct cmabuf_msg_buffers_reply *)(buf + sizeof(struct cmabuf_msg_header)))->count =
		count - 1;
	assert_int_equal(cmabuf_msg_decode(buf, (size_t)n, 0, CMABUF_TO_CLIENT, &m), -EBADMSG);
}

static void rejects_every_truncation(void **state)
{
	unsigned char buf[CMABUF_MSG_MAX];
	struct cmabuf_msg m;
	long n = encode_alloc(buf, 4096, "x");
	size_t len;

	for (len = 0; len < (size_t)n; len++)
		assert_int_equal(cmabuf_msg_decode(buf, len, 0, CMABUF_TO_SERVER, &m), -EBADMSG);
}

static void rejects_bad_lengths_and_sizes(void **state)
{
	unsigned char buf[CMABUF_MSG_MAX + 16];
	struct cmabuf_msg_header *h = (struct cmabuf_msg_header *)buf;
	struct cmabuf_msg m;
	long n = encode_alloc(buf, 4096, "x");

	/* A header claiming more than arrived. */
	h->length += 1;
	assert_int_equal(cmabuf_msg_decode(buf, (size_t)n, 0, CMABUF_TO_SERVER, &m), -EBADMSG);
	/* Extra bytes after a fixed-size payload. */
	n = encode_alloc(buf, 4096, "x");
	h->length += 8;
	assert_int_equal(cmabuf_msg_decode(buf, (size_t)n + 8, 0, CMABUF_TO_SERVER, &m), -EBADMSG);
	/* Oversize datagrams. */
	assert_int_equal(cmabuf_msg_decode(buf, CMABUF_MSG_MAX + 1, 0, CMABUF_TO_SERVER, &m),
			 -EMSGSIZE);
	/* Non-zero reserved field. */
	n = encode_alloc(buf, 4096, "x");
	h->reserved = 1;
	assert_int_equal(cmabuf_msg_decode(buf, (size_t)n, 0, CMABUF_TO_SERVER, &m), -EBADMSG);
}

static void rejects_unknown_types_and_wrong_direction(void **state)
{
	unsigned char buf[CMABUF_MSG_MAX];
	struct cmabuf_msg_header *h = (struct cmabuf_msg_header *)buf;
	struct cmabuf_msg m;
	long n = encode_alloc(buf, 4096, "x");
	uint16_t types[] = {0, CMABUF_MSG_TYPE_COUNT, 0xffff};
	unsigned i;

	assert_int_equal(cmabuf_msg_decode(buf, (size_t)n, 0, CMABUF_TO_CLIENT, &m), -EPROTO);
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		h->type = types[i];
		assert_int_equal(cmabuf_msg_decode(buf, (size_t)n, 0, CMABUF_TO_SERVER, &m),
				 -EPROTO);
	}
}

static void rejects_wrong_fd_counts(void **state)
{
	unsigned char buf[CMABUF_MSG_MAX];
	struct cmabuf_msg_header *h = (struct cmabuf_msg_header *)buf;
	struct cmabuf_msg_alloc_reply ar = {.id = 1};
	struct cmabuf_msg m;
	long n = encode_alloc(buf, 4096, "x");

	/* A request that came with a descriptor, whether or not the header admits it. */
	assert_int_equal(cmabuf_msg_decode(buf, (size_t)n, 1, CMABUF_TO_SERVER, &m), -EBADMSG);
	h->nfds = 1;
	assert_int_equal(cmabuf_msg_decode(buf, (size_t)n, 1, CMABUF_TO_SERVER, &m), -EBADMSG);
	/* A reply that should carry one but does not. */
	n = cmabuf_msg_encode(buf, sizeof(buf), CMABUF_MSG_ALLOC_REPLY, 1, &ar, sizeof(ar), 1);
	assert_int_equal(cmabuf_msg_decode(buf, (size_t)n, 0, CMABUF_TO_CLIENT, &m), -EBADMSG);
	/* The encoder refuses to attach descriptors a type does not carry. */
	assert_int_equal(cmabuf_msg_encode(buf, sizeof(buf), CMABUF_MSG_OK, 1, NULL, 0, 1),
			 -EINVAL);
}

static void rejects_unterminated_strings(void **state)
{
	unsigned char buf[CMABUF_MSG_MAX];
	struct cmabuf_msg m;
	long n = encode_alloc(buf, 4096, "x");
	size_t off = sizeof(struct cmabuf_msg_header) + offsetof(struct cmabuf_msg_alloc, name);

	memset(buf + off, 'A', CMABUF_NAME_LEN);
	assert_int_equal(cmabuf_msg_decode(buf, (size_t)n, 0, CMABUF_TO_SERVER, &m), -EBADMSG);
}

static void copy_name_truncates(void **state)
{
	char dst[8];

	cmabuf_copy_name(dst, sizeof(dst), "a-very-long-name");
	assert_string_equal(dst, "a-very-");
	cmabuf_copy_name(dst, sizeof(dst), NULL);
	assert_string_equal(dst, "");
}

/* Encodes payload as type, decodes it back (nfds 0), and returns the decoder's verdict. */
static int round_trip(uint16_t type, enum cmabuf_msg_dir dir, const void *payload, size_t len,
		      struct cmabuf_msg *out)
{
	unsigned char buf[CMABUF_MSG_MAX];
	long n = cmabuf_msg_encode(buf, sizeof(buf), type, 5, payload, len, 0);

	if (n < 0)
		return (int)n;
	return cmabuf_msg_decode(buf, (size_t)n, 0, dir, out);
}

/* Every fixed-size observability message: one byte short or long is malformed. */
static void names_must_be_short_printable_utf8(void **state)
{
	char longest[CMABUF_NAME_LEN], too_long[CMABUF_NAME_LEN + 1];
	static const char *const good[] = {"",	     "camera0 NV12 1920x1080", "κάμερα",
					   "日本語", "\xf0\x9f\x8e\xa5 4K",    "\xef\xbf\xbd"};
	static const char *const bad[] = {"\xff",
					  "\xc0\xaf" /* overlong '/' */,
					  "\xe0\x80\xaf",
					  "\xed\xa0\x80" /* surrogate */,
					  "\xf4\x90\x80\x80" /* > U+10FFFF */,
					  "\xce",
					  "abc\xce\x20",
					  "a\nb",
					  "\x1b[31m",
					  "\x7f",
					  "\xc2\x85" /* NEL */,
					  "\xc2\x9b"};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_null(cmabuf_name_problem(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_non_null(cmabuf_name_problem(bad[i]));
	assert_string_equal(cmabuf_name_problem("a\tb"), "contains a control character");
	assert_string_equal(cmabuf_name_problem("\xc3"), "is not valid UTF-8");
	memset(longest, 'x', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	assert_null(cmabuf_name_problem(longest));
	memset(too_long, 'x', sizeof(too_long) - 1);
	too_long[sizeof(too_long) - 1] = '\0';
	assert_string_equal(cmabuf_name_problem(too_long), "is longer than 63 bytes");
	assert_null(cmabuf_name_problem(NULL)); /* no name is a fine name */
}

static void observability_fixed_sizes(void **state)
{
	static const struct {
		uint16_t type;
		enum cmabuf_msg_dir dir;
		size_t len;
	} fixed[] = {
		{CMABUF_MSG_METRICS, CMABUF_TO_SERVER, 0},
		{CMABUF_MSG_METRICS_REPLY, CMABUF_TO_CLIENT,
		 sizeof(struct cmabuf_msg_metrics_reply)},
		{CMABUF_MSG_LIST_CLIENTS, CMABUF_TO_SERVER, sizeof(struct cmabuf_msg_list_clients)},
		{CMABUF_MSG_LIST_EXTENTS, CMABUF_TO_SERVER, sizeof(struct cmabuf_msg_list_extents)},
		{CMABUF_MSG_LIST_REFUSALS, CMABUF_TO_SERVER,
		 sizeof(struct cmabuf_msg_list_refusals)},
		{CMABUF_MSG_FREE_NOREPLY, CMABUF_TO_SERVER, sizeof(struct cmabuf_msg_free)},
	};
	unsigned char buf[CMABUF_MSG_MAX], zero[CMABUF_MSG_MAX];
	struct cmabuf_msg_header *h = (struct cmabuf_msg_header *)buf;
	struct cmabuf_msg m;
	unsigned i;

	memset(zero, 0, sizeof(zero));
	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		size_t len = fixed[i].len;

		assert_int_equal(round_trip(fixed[i].type, fixed[i].dir, zero, len, &m), 0);
		assert_int_equal(m.hdr.type, fixed[i].type);
		/* The encoder refuses wrong sizes, and so does the decoder. */
		assert_int_equal(round_trip(fixed[i].type, fixed[i].dir, zero, len + 1, &m),
				 -EINVAL);
		memset(buf, 0, sizeof(buf));
		h->type = fixed[i].type;
		h->length = (uint32_t)len + 1;
		assert_int_equal(cmabuf_msg_decode(buf, sizeof(*h) + len + 1, 0, fixed[i].dir, &m),
				 -EBADMSG);
		if (len) {
			h->length = (uint32_t)len - 1;
			assert_int_equal(
				cmabuf_msg_decode(buf, sizeof(*h) + len - 1, 0, fixed[i].dir, &m),
				-EBADMSG);
		}
		/* And each travels one way only. */
		h->length = (uint32_t)len;
		assert_int_equal(cmabuf_msg_decode(buf, sizeof(*h) + len, 0,
						   fixed[i].dir == CMABUF_TO_SERVER
							   ? CMABUF_TO_CLIENT
							   : CMABUF_TO_SERVER,
						   &m),
				 -EPROTO);
	}
}

/*
 * Every message of a fixed size, in both codecs: the encoder writes exactly the
 * header and the payload and refuses a byte more or less (HELLO may grow: later
 * versions append), and the decoder refuses a payload one byte short.
 */
static void every_fixed_message_is_exactly_its_size(void **state)
{
	static const struct {
		uint16_t type;
		enum cmabuf_msg_dir dir;
		size_t len;
		unsigned nfds;
		bool grows;
	} fixed[] = {
		{CMABUF_MSG_HELLO, CMABUF_TO_SERVER, sizeof(struct cmabuf_msg_hello), 0, true},
		{CMABUF_MSG_HELLO_REPLY, CMABUF_TO_CLIENT, sizeof(struct cmabuf_msg_hello_reply), 0,
		 false},
		{CMABUF_MSG_ERROR, CMABUF_TO_CLIENT, sizeof(struct cmabuf_msg_error), 0, false},
		{CMABUF_MSG_ALLOC, CMABUF_TO_SERVER, sizeof(struct cmabuf_msg_alloc), 0, false},
		{CMABUF_MSG_ALLOC_REPLY, CMABUF_TO_CLIENT, sizeof(struct cmabuf_msg_alloc_reply), 1,
		 false},
		{CMABUF_MSG_FREE, CMABUF_TO_SERVER, sizeof(struct cmabuf_msg_free), 0, false},
		{CMABUF_MSG_OK, CMABUF_TO_CLIENT, 0, 0, false},
		{CMABUF_MSG_STATUS, CMABUF_TO_SERVER, 0, 0, false},
		{CMABUF_MSG_STATUS_REPLY, CMABUF_TO_CLIENT, sizeof(struct cmabuf_msg_status_reply),
		 0, false},
		{CMABUF_MSG_LIST_BUFFERS, CMABUF_TO_SERVER, sizeof(struct cmabuf_msg_list_buffers),
		 0, false},
		{CMABUF_MSG_SET_PURGEABLE, CMABUF_TO_SERVER,
		 sizeof(struct cmabuf_msg_set_purgeable), 0, false},
		{CMABUF_MSG_PURGEABLE_REPLY, CMABUF_TO_CLIENT,
		 sizeof(struct cmabuf_msg_purgeable_reply), 0, false},
		{CMABUF_MSG_RECLAIM, CMABUF_TO_CLIENT, sizeof(struct cmabuf_msg_reclaim), 0, false},
		{CMABUF_MSG_METRICS, CMABUF_TO_SERVER, 0, 0, false},
		{CMABUF_MSG_METRICS_REPLY, CMABUF_TO_CLIENT,
		 sizeof(struct cmabuf_msg_metrics_reply), 0, false},
		{CMABUF_MSG_LIST_CLIENTS, CMABUF_TO_SERVER, sizeof(struct cmabuf_msg_list_clients),
		 0, false},
		{CMABUF_MSG_LIST_EXTENTS, CMABUF_TO_SERVER, sizeof(struct cmabuf_msg_list_extents),
		 0, false},
		{CMABUF_MSG_LIST_REFUSALS, CMABUF_TO_SERVER,
		 sizeof(struct cmabuf_msg_list_refusals), 0, false},
		{CMABUF_MSG_FREE_NOREPLY, CMABUF_TO_SERVER, sizeof(struct cmabuf_msg_free), 0,
		 false},
	};
	unsigned char buf[CMABUF_MSG_MAX], zero[CMABUF_MSG_MAX];
	struct cmabuf_msg_header *h = (struct cmabuf_msg_header *)buf;
	struct cmabuf_msg m;
	unsigned i;

	memset(zero, 0, sizeof(zero));
	/* The list covers every type but the four list replies (tested with their entries). */
	assert_int_equal(sizeof(fixed) / sizeof(fixed[0]) + 4, CMABUF_MSG_TYPE_COUNT - 1);
	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		size_t len = fixed[i].len;
		long n = cmabuf_msg_encode(buf, sizeof(buf), fixed[i].type, 9, zero, len,
					   fixed[i].nfds);

		assert_int_equal(n, (long)(sizeof(*h) + len));
		assert_int_equal(h->length, len);
		assert_int_equal(h->type, fixed[i].type);
		if (len)
			assert_int_equal(cmabuf_msg_encode(buf, sizeof(buf), fixed[i].type, 9, zero,
							   len - 1, fixed[i].nfds),
					 -EINVAL);
		n = cmabuf_msg_encode(buf, sizeof(buf), fixed[i].type, 9, zero, len + 1,
				      fixed[i].nfds);
		assert_int_equal(n, fixed[i].grows ? (long)(sizeof(*h) + len + 1) : -EINVAL);
		if (!len)
			continue;
		memset(buf, 0, sizeof(buf));
		h->type = fixed[i].type;
		h->length = (uint32_t)len - 1;
		assert_int_equal(cmabuf_msg_decode(buf, sizeof(*h) + len - 1, fixed[i].nfds,
						   fixed[i].dir, &m),
				 -EBADMSG);
	}
}

static void round_trip_metrics(void **state)
{
	static struct cmabuf_msg_metrics_reply r, bad;
	struct cmabuf_msg m;

	memset(&r, 0, sizeof(r));
	r.used = 7u << 20;
	r.allocations = 3;
	r.failures[CMABUF_FAIL_QUOTA] = 2;
	r.latency[4] = 3;
	r.latency_count = 3;
	r.nclasses = CMABUF_METRICS_MAX_CLASSES;
	strcpy(r.classes[CMABUF_METRICS_MAX_CLASSES - 1].name, "default");
	r.classes[CMABUF_METRICS_MAX_CLASSES - 1].bytes = 7u << 20;
	r.nuids = CMABUF_METRICS_MAX_UIDS;
	r.uids[CMABUF_METRICS_MAX_UIDS - 1] = (struct cmabuf_uid_usage){1000, 3, 7u << 20};
	r.flags = CMABUF_METRICS_ALL_UIDS;
	assert_true(sizeof(struct cmabuf_msg_header) + sizeof(r) <= CMABUF_MSG_MAX);
	assert_int_equal(round_trip(CMABUF_MSG_METRICS_REPLY, CMABUF_TO_CLIENT, &r, sizeof(r), &m),
			 0);
	assert_memory_equal(&m.u.metrics_reply, &r, sizeof(r));

	bad = r;
	bad.nclasses = CMABUF_METRICS_MAX_CLASSES + 1;
	assert_int_equal(
		round_trip(CMABUF_MSG_METRICS_REPLY, CMABUF_TO_CLIENT, &bad, sizeof(bad), &m),
		-EBADMSG);
	bad = r;
	bad.nuids = CMABUF_METRICS_MAX_UIDS + 1;
	assert_int_equal(
		round_trip(CMABUF_MSG_METRICS_REPLY, CMABUF_TO_CLIENT, &bad, sizeof(bad), &m),
		-EBADMSG);
	bad = r;
	bad.flags = 2;
	assert_int_equal(
		round_trip(CMABUF_MSG_METRICS_REPLY, CMABUF_TO_CLIENT, &bad, sizeof(bad), &m),
		-EBADMSG);
	bad = r;
	memset(bad.classes[0].name, 'x', CMABUF_CLASS_LEN);
	assert_int_equal(
		round_trip(CMABUF_MSG_METRICS_REPLY, CMABUF_TO_CLIENT, &bad, sizeof(bad), &m),
		-EBADMSG);
}

static void round_trip_list_requests(void **state)
{
	struct cmabuf_msg_list_clients lc = {.start_conn = 7};
	struct cmabuf_msg_list_extents le = {.start_offset = 1u << 20};
	struct cmabuf_msg_list_refusals lr = {.before_serial = 9};
	struct cmabuf_msg m;

	assert_int_equal(round_trip(CMABUF_MSG_LIST_CLIENTS, CMABUF_TO_SERVER, &lc, sizeof(lc), &m),
			 0);
	assert_int_equal(m.u.list_clients.start_conn, 7);
	lc.pad = 1;
	assert_int_equal(round_trip(CMABUF_MSG_LIST_CLIENTS, CMABUF_TO_SERVER, &lc, sizeof(lc), &m),
			 -EBADMSG);
	assert_int_equal(round_trip(CMABUF_MSG_LIST_EXTENTS, CMABUF_TO_SERVER, &le, sizeof(le), &m),
			 0);
	assert_int_equal(m.u.list_extents.start_offset, 1u << 20);
	assert_int_equal(
		round_trip(CMABUF_MSG_LIST_REFUSALS, CMABUF_TO_SERVER, &lr, sizeof(lr), &m), 0);
	assert_int_equal(m.u.list_refusals.before_serial, 9);
}

/*
 * A list reply full to the brim round-trips; a count that disagrees with the
 * length, a count one past the page, and a bad entry are refused.
 */
static void check_list_reply(uint16_t type, struct cmabuf_msg *src, size_t entry, unsigned max,
			     void (*spoil)(struct cmabuf_msg *))
{
	struct cmabuf_msg_buffers_reply *h = (struct cmabuf_msg_buffers_reply *)&src->u;
	unsigned char buf[CMABUF_MSG_MAX];
	size_t len = sizeof(*h) + max * entry;
	struct cmabuf_msg m;
	long n;

	h->count = max;
	h->more = 1;
	assert_true(sizeof(struct cmabuf_msg_header) + len <= CMABUF_MSG_MAX);
	assert_true(sizeof(struct cmabuf_msg_header) + len + entry > CMABUF_MSG_MAX);
	assert_int_equal(round_trip(type, CMABUF_TO_CLIENT, &src->u, len, &m), 0);
	assert_memory_equal(&m.u, &src->u, len);

	n = cmabuf_msg_encode(buf, sizeof(buf), type, 1, &src->u, len, 0);
	((struct cmabuf_msg_buffers_reply *)(buf + sizeof(struct cmabuf_msg_header)))->count =
		max - 1;
	assert_int_equal(cmabuf_msg_decode(buf, (size_t)n, 0, CMABUF_TO_CLIENT, &m), -EBADMSG);
	((struct cmabuf_msg_buffers_reply *)(buf + sizeof(struct cmabuf_msg_header)))->count =
		max + 1;
	assert_int_equal(cmabuf_msg_decode(buf, (size_t)n, 0, CMABUF_TO_CLIENT, &m), -EBADMSG);
	((struct cmabuf_msg_buffers_reply *)(buf + sizeof(struct cmabuf_msg_header)))->count =
		0xffffffffu;
	assert_int_equal(cmabuf_msg_decode(buf, (size_t)n, 0, CMABUF_TO_CLIENT, &m), -EBADMSG);
	/* A length that is not header + whole entries. */
	assert_int_equal(round_trip(type, CMABUF_TO_CLIENT, &src->u, len - 1, &m), -EINVAL);

	h->more = 2;
	assert_int_equal(round_trip(type, CMABUF_TO_CLIENT, &src->u, len, &m), -EBADMSG);
	h->more = 0;
	spoil(src);
	assert_int_equal(round_trip(type, CMABUF_TO_CLIENT, &src->u, len, &m), -EBADMSG);
}

static void spoil_client(struct cmabuf_msg *m)
{
	m->u.clients_reply.entries[3].flags = 1u << 7;
}

static void spoil_extent(struct cmabuf_msg *m)
{
	m->u.extents_reply.entries[5].size = 0;
}

static void spoil_refusal(struct cmabuf_msg *m)
{
	memset(m->u.refusals_reply.entries[2].reason, 'x', CMABUF_REASON_LEN);
}

static void round_trip_observability_lists(void **state)
{
	static struct cmabuf_msg src;
	unsigned i;

	memset(&src, 0, sizeof(src));
	for (i = 0; i < CMABUF_LIST_MAX_CLIENTS; i++) {
		src.u.clients_reply.entries[i].conn = i + 3;
		src.u.clients_reply.entries[i].flags = CMABUF_CLIENT_WAITING;
		strcpy(src.u.clients_reply.entries[i].class_name, "camera");
	}
	check_list_reply(CMABUF_MSG_LIST_CLIENTS_REPLY, &src, sizeof(struct cmabuf_client_entry),
			 CMABUF_LIST_MAX_CLIENTS, spoil_client);

	memset(&src, 0, sizeof(src));
	for (i = 0; i < CMABUF_LIST_MAX_EXTENTS; i++)
		src.u.extents_reply.entries[i] = (struct cmabuf_extent_entry){i * 8192u, 4096};
	check_list_reply(CMABUF_MSG_LIST_EXTENTS_REPLY, &src, sizeof(struct cmabuf_extent_entry),
			 CMABUF_LIST_MAX_EXTENTS, spoil_extent);
	/* An extent that wraps around is refused too. */
	src.u.extents_reply.head.count = 1;
	src.u.extents_reply.entries[0] = (struct cmabuf_extent_entry){UINT64_MAX - 4095, 8192};
	assert_int_equal(round_trip(CMABUF_MSG_LIST_EXTENTS_REPLY, CMABUF_TO_CLIENT, &src.u,
				    8 + sizeof(struct cmabuf_extent_entry), &src),
			 -EBADMSG);

	memset(&src, 0, sizeof(src));
	for (i = 0; i < CMABUF_LIST_MAX_REFUSALS; i++) {
		src.u.refusals_reply.entries[i].serial = 100 - i;
		src.u.refusals_reply.entries[i].error = -ENOMEM;
		strcpy(src.u.refusals_reply.entries[i].reason, "out of contiguous memory");
	}
	check_list_reply(CMABUF_MSG_LIST_REFUSALS_REPLY, &src, sizeof(struct cmabuf_refusal_entry),
			 CMABUF_LIST_MAX_REFUSALS, spoil_refusal);
	memset(src.u.refusals_reply.entries[2].reason, 0, CMABUF_REASON_LEN);
	src.u.refusals_reply.entries[0].error = 0; /* a refusal always carries an errno */
	assert_int_equal(
		round_trip(CMABUF_MSG_LIST_REFUSALS_REPLY, CMABUF_TO_CLIENT, &src.u,
			   8 + CMABUF_LIST_MAX_REFUSALS * sizeof(struct cmabuf_refusal_entry),
			   &src),
		-EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip_alloc),
		cmocka_unit_test(round_trip_every_fixed_reply),
		cmocka_unit_test(round_trip_list_reply),
		cmocka_unit_test(rejects_every_truncation),
		cmocka_unit_test(rejects_bad_lengths_and_sizes),
		cmocka_unit_test(rejects_unknown_types_and_wrong_direction),
		cmocka_unit_test(rejects_wrong_fd_counts),
		cmocka_unit_test(rejects_unterminated_strings),
		cmocka_unit_test(copy_name_truncates),
		cmocka_unit_test(names_must_be_short_printable_utf8),
		cmocka_unit_test(observability_fixed_sizes),
		cmocka_unit_test(every_fixed_message_is_exactly_its_size),
		cmocka_unit_test(round_trip_metrics),
		cmocka_unit_test(round_trip_list_requests),
		cmocka_unit_test(round_trip_observability_lists),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
