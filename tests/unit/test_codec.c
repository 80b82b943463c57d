/* SPDX-License-Identifier: MIT */
/* The decoder is the daemon's first line of defence: every shape of bad input is refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
