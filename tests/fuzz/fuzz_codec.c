/* SPDX-License-Identifier: MIT */
/*
 * The wire-protocol decoder over arbitrary datagrams: every fd count the
 * daemon could see (0..2, one more than any message carries) in both
 * directions. The decoder is what stands between an unprivileged client and
 * the daemon, so besides not crashing it must keep its documented contract:
 * *out untouched on failure, and whatever it accepts re-encodes to exactly
 * the bytes it was given (every type has one canonical encoding). The same
 * bytes, as a C string, also go through the buffer/pool name check, against
 * the byte ranges of RFC 3629.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "protocol.h"

static void check_accepted(const uint8_t *data, size_t size, unsigned nfds,
			   const struct cmabuf_msg *m)
{
	static uint8_t again[CMABUF_MSG_MAX];
	long n;

	FUZZ_CHECK(m->hdr.length == size - sizeof(m->hdr));
	FUZZ_CHECK(m->hdr.nfds == nfds && nfds <= CMABUF_MSG_MAX_FDS);
	FUZZ_CHECK(m->hdr.reserved == 0);
	FUZZ_CHECK(strcmp(cmabuf_msg_type_name(m->hdr.type), "UNKNOWN") != 0);
	n = cmabuf_msg_encode(again, sizeof(again), m->hdr.type, m->hdr.seq, &m->u, m->hdr.length,
			      nfds);
	FUZZ_CHECK(n >= 0 && (size_t)n == size);
	FUZZ_CHECK(memcmp(again, data, size) == 0);
}

/* Exactly one direction may carry a known type; an unknown one is refused both ways. */
static void decode_both_ways(const uint8_t *data, size_t size, unsigned nfds)
{
	static struct cmabuf_msg out, untouched;
	int ret[2];

	for (int dir = 0; dir < 2; dir++) {
		memset(&out, 0xa5, sizeof(out));
		ret[dir] = cmabuf_msg_decode(data, size, nfds, (enum cmabuf_msg_dir)dir, &out);
		FUZZ_CHECK(ret[dir] == 0 || ret[dir] == -EBADMSG || ret[dir] == -EPROTO ||
			   ret[dir] == -EMSGSIZE);
		if (ret[dir] == 0) {
			check_accepted(data, size, nfds, &out);
		} else {
			memset(&untouched, 0xa5, sizeof(untouched));
			FUZZ_CHECK(memcmp(&out, &untouched, sizeof(out)) == 0);
		}
	}
	FUZZ_CHECK(ret[0] != 0 || ret[1] != 0);
	if (size > CMABUF_MSG_MAX)
		FUZZ_CHECK(ret[0] == -EMSGSIZE && ret[1] == -EMSGSIZE);
}

/*
 * The encoder on the same bytes taken as a payload: it may refuse, but what it
 * produces must never be oversize, and a decoder must not call it a protocol
 * violation of the other kind (oversize or unknown type in both directions).
 */
static void encode_as_payload(const uint8_t *data, size_t size)
{
	static uint8_t buf[CMABUF_MSG_MAX];
	static struct cmabuf_msg out;
	uint16_t type;
	long n;

	if (size < 2)
		return;
	type = (uint16_t)(data[0] % (CMABUF_MSG_TYPE_COUNT + 1));
	for (unsigned nfds = 0; nfds <= 1; nfds++) {
		n = cmabuf_msg_encode(buf, sizeof(buf), type, data[1], data + 2, size - 2, nfds);
		FUZZ_CHECK(n < 0 || (n >= (long)sizeof(struct cmabuf_msg_header) &&
				     n <= (long)CMABUF_MSG_MAX));
		if (n < 0)
			continue;
		FUZZ_CHECK(cmabuf_msg_decode(buf, (size_t)n, nfds, CMABUF_TO_SERVER, &out) !=
				   -EPROTO ||
			   cmabuf_msg_decode(buf, (size_t)n, nfds, CMABUF_TO_CLIENT, &out) !=
				   -EPROTO);
	}
}

/* Well-formed UTF-8 by RFC 3629's table of byte ranges: the length of the sequence at s, or 0. */
static size_t rfc3629_sequence(const unsigned char *s)
{
	static const struct {
		unsigned char lead_lo, lead_hi, second_lo, second_hi;
		size_t len;
	} forms[] = {
		{0x00, 0x7f, 0, 0, 1},	     {0xc2, 0xdf, 0x80, 0xbf, 2},
		{0xe0, 0xe0, 0xa0, 0xbf, 3}, {0xe1, 0xec, 0x80, 0xbf, 3},
		{0xed, 0xed, 0x80, 0x9f, 3}, {0xee, 0xef, 0x80, 0xbf, 3},
		{0xf0, 0xf0, 0x90, 0xbf, 4}, {0xf1, 0xf3, 0x80, 0xbf, 4},
		{0xf4, 0xf4, 0x80, 0x8f, 4},
	};

	for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
		if (s[0] < forms[f].lead_lo || s[0] > forms[f].lead_hi)
			continue;
		if (forms[f].len == 1)
			return 1;
		if (s[1] < forms[f].second_lo || s[1] > forms[f].second_hi)
			return 0;
		for (size_t i = 2; i < forms[f].len; i++)
			if (s[i] < 0x80 || s[i] > 0xbf)
				return 0;
		return forms[f].len;
	}
	return 0;
}

/* The code point of the well-formed sequence of n bytes at s. */
static unsigned code_point(const unsigned char *s, size_t n)
{
	static const unsigned char lead_bits[] = {0, 0x7f, 0x1f, 0x0f, 0x07};
	unsigned cp = s[0] & lead_bits[n];

	for (size_t i = 1; i < n; i++)
		cp = cp << 6 | (s[i] & 0x3f);
	return cp;
}

/*
 * Buffer and pool names reach the journal, JSON and fdinfo: cmabuf_label_problem() must refuse
 * exactly the labels that do not fit the field with their NUL, are not UTF-8 by RFC 3629's
 * table of byte ranges, or hold a C0 or C1 control character or DEL. The first input byte
 * picks the field size: a buffer name's, a pool name's, or any from 1 to 80.
 */
static void check_label(const uint8_t *data, size_t size)
{
	char label[96];
	size_t cap, len, n;
	const unsigned char *s = (const unsigned char *)label;
	const char *problem;
	int bad;

	if (size < 1)
		return;
	if (data[0] % 4 == 0)
		cap = CMABUF_NAME_LEN;
	else if (data[0] % 4 == 1)
		cap = CMABUF_POOL_LEN;
	else
		cap = 1 + (size_t)data[0] % 80;
	len = size - 1 < sizeof(label) - 1 ? size - 1 : sizeof(label) - 1;
	memcpy(label, data + 1, len);
	label[len] = '\0';
	len = strlen(label);
	bad = len >= cap;
	for (size_t i = 0; i < len && !bad; i += n) {
		unsigned cp;

		n = rfc3629_sequence(s + i);
		if (!n) {
			bad = 1;
			break;
		}
		cp = code_point(s + i, n);
		bad = cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
	}
	problem = cmabuf_label_problem(label, cap);
	FUZZ_CHECK(!problem == !bad);
	FUZZ_CHECK(!problem || *problem);
	if (cap == CMABUF_NAME_LEN)
		FUZZ_CHECK(cmabuf_name_problem(label) == problem);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (unsigned nfds = 0; nfds <= 2; nfds++)
		decode_both_ways(data, size, nfds);
	encode_as_payload(data, size);
	check_label(data, size);
	return 0;
}
