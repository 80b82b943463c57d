/* SPDX-License-Identifier: MIT */
/*
 * Writes the hand-made seeds of tests/fuzz/corpus: every message type of the
 * protocol (encoded by the real encoder, so they stay valid when a struct
 * changes), image requests for every format at common, odd and absurd sizes,
 * and policy files covering every key and every kind of error. Inputs found
 * by fuzzing (crash-*, regress-*) are kept in the corpus by hand, not here.
 *
 * Usage: fuzz_make_seeds CORPUS_DIR EXAMPLE_CONF
 *   e.g. build/tests/fuzz/fuzz_make_seeds tests/fuzz/corpus docs/cmabufd.conf.example
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <drm_fourcc.h>

#include "cmabuf.h"
#include "formats.h"
#include "protocol.h"

static const char *corpus;

static void write_seed(const char *target, const char *name, const void *data, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", corpus, target, name);
	f = fopen(path, "wbe");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		exit(1);
	}
}

/* ---- codec --------------------------------------------------------------------------- */

static void msg(const char *name, uint16_t type, uint32_t seq, const void *payload, size_t len,
		unsigned nfds)
{
	static uint8_t buf[CMABUF_MSG_MAX];
	long n = cmabuf_msg_encode(buf, sizeof(buf), type, seq, payload, len, nfds);

	if (n < 0) {
		fprintf(stderr, "seed %s: cannot encode: %s\n", name, strerror((int)-n));
		exit(1);
	}
	write_seed("codec", name, buf, (size_t)n);
}

/* A list reply: head plus count entries of entry_size bytes, each filled by fill(). */
static void list(const char *name, uint16_t type, size_t entry_size, uint32_t count,
		 void (*fill)(void *entry, uint32_t i))
{
	static union {
		struct cmabuf_msg_buffers_reply head;
		uint8_t raw[CMABUF_MSG_MAX];
	} u;
	uint8_t *entries = u.raw + sizeof(u.head);

	memset(&u, 0, sizeof(u));
	u.head.count = count;
	u.head.more = count > 1;
	for (uint32_t i = 0; i < count; i++)
		fill(entries + i * entry_size, i);
	msg(name, type, 7, &u, sizeof(u.head) + count * entry_size, 0);
}

static void fill_buffer(void *p, uint32_t i)
{
	struct cmabuf_buffer_entry *e = p;

	e->id = i + 1;
	e->offset = (uint64_t)i << 20;
	e->size = 1u << 20;
	e->created_ms = 1700000000000ull;
	e->pid = 100 + i;
	e->uid = 1000;
	e->flags = i % 2 ? CMABUF_BUFFER_PURGEABLE : CMABUF_BUFFER_RELEASE_PENDING;
	snprintf(e->name, sizeof(e->name), "NV12 1920x1080 #%u", i);
}

static void fill_client(void *p, uint32_t i)
{
	struct cmabuf_client_entry *e = p;

	e->conn = i;
	e->pid = 200 + i;
	e->uid = i;
	e->priority = -50 + (int)i;
	e->buffers = i;
	e->flags = i == 0 ? CMABUF_CLIENT_SELF : CMABUF_CLIENT_WAITING;
	e->bytes = (uint64_t)i << 12;
	snprintf(e->class_name, sizeof(e->class_name), "camera");
}

static void fill_extent(void *p, uint32_t i)
{
	struct cmabuf_extent_entry *e = p;

	e->offset = (uint64_t)i << 21;
	e->size = 4096;
}

static void fill_refusal(void *p, uint32_t i)
{
	struct cmabuf_refusal_entry *e = p;

	e->serial = 10 - i;
	e->time_ms = 1700000000000ull;
	e->size = 64ull << 20;
	e->pid = 300;
	e->uid = 1000;
	e->error = -ENOMEM;
	snprintf(e->name, sizeof(e->name), "frame");
	snprintf(e->reason, sizeof(e->reason), "no 64 MiB hole, even after eviction");
}

static void label(const char *name, uint8_t cap_selector, const char *text)
{
	uint8_t buf[CMABUF_NAME_LEN + 1];
	size_t len = strlen(text);

	buf[0] = cap_selector;
	memcpy(buf + 1, text, len);
	write_seed("codec", name, buf, len + 1);
}

static void codec_seeds(void)
{
	struct cmabuf_msg_hello hello = {CMABUF_PROTOCOL_VERSION, 0};
	struct {
		struct cmabuf_msg_hello hello;
		uint32_t future[2];
	} hello_v2 = {{2, 0}, {1, 2}};
	struct cmabuf_msg_hello_reply hello_reply = {
		CMABUF_PROTOCOL_VERSION, CMABUF_HELLO_HAS_DEV_ADDR, 256ull << 20, "memfd"};
	struct cmabuf_msg_error error = {-ENOMEM, CMABUF_MSG_ALLOC, "no 3 MiB hole in pool camera"};
	struct cmabuf_msg_alloc alloc = {3110400, 0,	    CMABUF_ALLOC_PURGEABLE,
					 0,	  "camera", "NV12 1920x1080"};
	struct cmabuf_msg_alloc alloc_absurd = {UINT64_MAX, 1ull << 63, 0xffffffffu, 0, "", ""};
	struct cmabuf_msg_alloc_reply alloc_reply = {42, 3112960, 0x40000000,
						     CMABUF_BUFFER_DEV_ADDR_VALID, 0};
	struct cmabuf_msg_free free_msg = {42};
	struct cmabuf_msg_status_reply status = {.backend = "uio",
						 .region_base = 0x40000000,
						 .region_size = 256ull << 20,
						 .used = 1 << 20,
						 .free = 255ull << 20,
						 .largest_free = 255ull << 20,
						 .free_extents = 1,
						 .buffers = 1,
						 .clients = 2};
	struct cmabuf_msg_list_buffers list_buffers = {41};
	struct cmabuf_msg_set_purgeable purgeable = {42, 1, 0};
	struct cmabuf_msg_purgeable_reply purgeable_reply = {1, 0};
	struct cmabuf_msg_reclaim reclaim = {42, 2000, 0};
	static struct cmabuf_msg_metrics_reply metrics;
	struct cmabuf_msg_list_clients list_clients = {3, 0};
	struct cmabuf_msg_list_extents list_extents = {1 << 20};
	struct cmabuf_msg_list_refusals list_refusals = {5};
	uint8_t raw[CMABUF_MSG_MAX + 1];
	struct cmabuf_msg_header hdr;

	msg("hello", CMABUF_MSG_HELLO, 1, &hello, sizeof(hello), 0);
	msg("hello-longer", CMABUF_MSG_HELLO, 1, &hello_v2, sizeof(hello_v2), 0);
	msg("hello-reply", CMABUF_MSG_HELLO_REPLY, 1, &hello_reply, sizeof(hello_reply), 0);
	msg("error", CMABUF_MSG_ERROR, 2, &error, sizeof(error), 0);
	msg("alloc", CMABUF_MSG_ALLOC, 2, &alloc, sizeof(alloc), 0);
	msg("alloc-absurd", CMABUF_MSG_ALLOC, 3, &alloc_absurd, sizeof(alloc_absurd), 0);
	msg("alloc-reply", CMABUF_MSG_ALLOC_REPLY, 2, &alloc_reply, sizeof(alloc_reply), 1);
	msg("free", CMABUF_MSG_FREE, 4, &free_msg, sizeof(free_msg), 0);
	msg("free-noreply", CMABUF_MSG_FREE_NOREPLY, 4, &free_msg, sizeof(free_msg), 0);
	msg("ok", CMABUF_MSG_OK, 4, NULL, 0, 0);
	msg("status", CMABUF_MSG_STATUS, 5, NULL, 0, 0);
	msg("status-reply", CMABUF_MSG_STATUS_REPLY, 5, &status, sizeof(status), 0);
	msg("list-buffers", CMABUF_MSG_LIST_BUFFERS, 6, &list_buffers, sizeof(list_buffers), 0);
	list("list-buffers-reply-0", CMABUF_MSG_LIST_BUFFERS_REPLY,
	     sizeof(struct cmabuf_buffer_entry), 0, fill_buffer);
	list("list-buffers-reply-3", CMABUF_MSG_LIST_BUFFERS_REPLY,
	     sizeof(struct cmabuf_buffer_entry), 3, fill_buffer);
	list("list-buffers-reply-full", CMABUF_MSG_LIST_BUFFERS_REPLY,
	     sizeof(struct cmabuf_buffer_entry), CMABUF_LIST_MAX_ENTRIES, fill_buffer);
	msg("set-purgeable", CMABUF_MSG_SET_PURGEABLE, 8, &purgeable, sizeof(purgeable), 0);
	msg("purgeable-reply", CMABUF_MSG_PURGEABLE_REPLY, 8, &purgeable_reply,
	    sizeof(purgeable_reply), 0);
	msg("reclaim", CMABUF_MSG_RECLAIM, 0, &reclaim, sizeof(reclaim), 0);
	msg("metrics", CMABUF_MSG_METRICS, 9, NULL, 0, 0);
	metrics.region_size = 256ull << 20;
	metrics.nclasses = 2;
	snprintf(metrics.classes[0].name, CMABUF_CLASS_LEN, "camera");
	snprintf(metrics.classes[1].name, CMABUF_CLASS_LEN, "default");
	metrics.nuids = 1;
	metrics.uids[0].uid = 1000;
	metrics.flags = CMABUF_METRICS_ALL_UIDS;
	msg("metrics-reply", CMABUF_MSG_METRICS_REPLY, 9, &metrics, sizeof(metrics), 0);
	msg("list-clients", CMABUF_MSG_LIST_CLIENTS, 10, &list_clients, sizeof(list_clients), 0);
	list("list-clients-reply", CMABUF_MSG_LIST_CLIENTS_REPLY,
	     sizeof(struct cmabuf_client_entry), 3, fill_client);
	msg("list-extents", CMABUF_MSG_LIST_EXTENTS, 11, &list_extents, sizeof(list_extents), 0);
	list("list-extents-reply", CMABUF_MSG_LIST_EXTENTS_REPLY,
	     sizeof(struct cmabuf_extent_entry), 4, fill_extent);
	list("list-extents-reply-full", CMABUF_MSG_LIST_EXTENTS_REPLY,
	     sizeof(struct cmabuf_extent_entry), CMABUF_LIST_MAX_EXTENTS, fill_extent);
	msg("list-refusals", CMABUF_MSG_LIST_REFUSALS, 12, &list_refusals, sizeof(list_refusals),
	    0);
	list("list-refusals-reply", CMABUF_MSG_LIST_REFUSALS_REPLY,
	     sizeof(struct cmabuf_refusal_entry), 2, fill_refusal);

	/*
	 * Labels for cmabuf_label_problem(), behind the byte fuzz_codec.c reads as the field
	 * size (0: a buffer name's, 1: a pool name's): fine UTF-8, C1 control, surrogate,
	 * overlong, a pool name one byte too long.
	 */
	label("label-utf8", 0,
	      "cam\xc3\xa9"
	      "ra \xf0\x9f\x93\xb7 1080p");
	label("label-c1-control", 0,
	      "cam\xc2\x85"
	      "era");
	label("label-surrogate", 0, "\xed\xa0\x80");
	label("label-overlong", 0, "\xc0\xaf");
	label("label-pool-too-long", 1, "abcdefghijklmnopqrstuvwxyz012345");

	/* Malformed ones the decoder must refuse, as starting points for mutation. */
	write_seed("codec", "bad-empty", raw, 0);
	memset(&hdr, 0, sizeof(hdr));
	hdr.type = CMABUF_MSG_HELLO;
	hdr.length = sizeof(hello);
	memcpy(raw, &hdr, sizeof(hdr));
	write_seed("codec", "bad-truncated", raw, sizeof(hdr) + 2);
	hdr.type = CMABUF_MSG_TYPE_COUNT;
	hdr.length = 0;
	memcpy(raw, &hdr, sizeof(hdr));
	write_seed("codec", "bad-unknown-type", raw, sizeof(hdr));
	hdr.type = CMABUF_MSG_ALLOC;
	hdr.length = sizeof(alloc);
	memset(alloc.name, 'x', sizeof(alloc.name)); /* not terminated */
	memcpy(raw, &hdr, sizeof(hdr));
	memcpy(raw + sizeof(hdr), &alloc, sizeof(alloc));
	write_seed("codec", "bad-unterminated-name", raw, sizeof(hdr) + sizeof(alloc));
	hdr.type = CMABUF_MSG_LIST_EXTENTS_REPLY;
	hdr.length = CMABUF_MSG_MAX + 1 - sizeof(hdr);
	memset(raw, 0, sizeof(raw));
	memcpy(raw, &hdr, sizeof(hdr));
	write_seed("codec", "bad-oversize", raw, sizeof(raw));
}

/* ---- image --------------------------------------------------------------------------- */

/* What fuzz_image.c reads, big-endian as fuzz_take() takes it. */
struct image_req {
	uint32_t fourcc; /* 0: format table index idx */
	unsigned idx;
	uint32_t w, h;
	uint64_t modifier;
	int with_desc;
	uint64_t size;
	uint32_t pitch_align, plane_align, pitch;
	uint8_t why_len, max;
};

static size_t put(uint8_t *p, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
	return bytes;
}

static void image(const char *name, const struct image_req *r)
{
	uint8_t buf[64];
	size_t n = 0;

	if (r->fourcc) {
		n += put(buf + n, 0x80, 1);
		n += put(buf + n, r->fourcc, 4);
	} else {
		n += put(buf + n, r->idx, 1);
	}
	n += put(buf + n, r->w, 4);
	n += put(buf + n, r->h, 4);
	n += put(buf + n, (r->modifier != DRM_FORMAT_MOD_LINEAR) | (r->with_desc ? 2 : 0), 1);
	if (r->modifier != DRM_FORMAT_MOD_LINEAR)
		n += put(buf + n, r->modifier, 8);
	if (r->with_desc) {
		n += put(buf + n, r->size, 8);
		n += put(buf + n, r->pitch_align, 4);
		n += put(buf + n, r->plane_align, 4);
		n += put(buf + n, r->pitch, 4);
	}
	n += put(buf + n, r->why_len, 1);
	n += put(buf + n, r->max, 1);
	write_seed("image", name, buf, n);
}

static void image_seeds(void)
{
	char name[64], fcc[16];

	for (unsigned i = 0; cmabuf_format_at(i); i++) {
		const char *f = cmabuf_fourcc_str(cmabuf_format_at(i), fcc, sizeof(fcc));
		struct image_req hd = {.idx = i, .w = 1920, .h = 1080, .why_len = 255, .max = 4};
		struct image_req odd = {.idx = i,
					.w = 5,
					.h = 3,
					.with_desc = 1,
					.pitch_align = 1,
					.plane_align = 1,
					.why_len = 255,
					.max = 3};
		struct image_req odd_default = {.idx = i, .w = 641, .h = 361, .max = 2};
		struct image_req v4l2 = {.idx = i,
					 .w = 640,
					 .h = 480,
					 .with_desc = 1,
					 .size = 1 << 20,
					 .plane_align = 1,
					 .pitch = 640 * 4,
					 .why_len = 40,
					 .max = 4};
		struct image_req absurd = {
			.idx = i, .w = UINT32_MAX, .h = UINT32_MAX, .why_len = 255, .max = 4};

		snprintf(name, sizeof(name), "%s-1920x1080", f);
		image(name, &hd);
		snprintf(name, sizeof(name), "%s-5x3-unaligned", f);
		image(name, &odd);
		snprintf(name, sizeof(name), "%s-641x361", f);
		image(name, &odd_default);
		snprintf(name, sizeof(name), "%s-640x480-v4l2-pitch", f);
		image(name, &v4l2);
		snprintf(name, sizeof(name), "%s-4Gx4G", f);
		image(name, &absurd);
	}
	image("nv12-1x1", &(struct image_req){.idx = 0, .w = 1, .h = 1, .why_len = 255, .max = 2});
	image("nv12-0x1080",
	      &(struct image_req){.idx = 0, .w = 0, .h = 1080, .why_len = 255, .max = 2});
	image("nv12-4096-aligned", &(struct image_req){.idx = 0,
						       .w = 1283,
						       .h = 721,
						       .with_desc = 1,
						       .pitch_align = 256,
						       .plane_align = 4096,
						       .why_len = 255,
						       .max = 2});
	image("nv12-pitch-align-48", &(struct image_req){.idx = 0,
							 .w = 64,
							 .h = 64,
							 .with_desc = 1,
							 .pitch_align = 48,
							 .why_len = 255,
							 .max = 2});
	image("nv12-plane-align-2G", &(struct image_req){.idx = 0,
							 .w = 64,
							 .h = 64,
							 .with_desc = 1,
							 .plane_align = 1u << 31,
							 .why_len = 255,
							 .max = 2});
	image("nv12-pitch-too-small", &(struct image_req){.idx = 0,
							  .w = 1920,
							  .h = 1080,
							  .with_desc = 1,
							  .pitch = 1919,
							  .why_len = 255,
							  .max = 2});
	image("yuv420-odd-pitch", &(struct image_req){.idx = 5,
						      .w = 641,
						      .h = 361,
						      .with_desc = 1,
						      .pitch = 641,
						      .why_len = 255,
						      .max = 3});
	image("xrgb-pitch-4G",
	      &(struct image_req){.idx = 13, .w = 0x40000000, .h = 1, .why_len = 255, .max = 1});
	image("nv12-sizeimage-4G", &(struct image_req){.idx = 0,
						       .w = 16,
						       .h = 16,
						       .with_desc = 1,
						       .size = UINT64_MAX,
						       .why_len = 255,
						       .max = 2});
	image("nv12-tiled", &(struct image_req){.idx = 0,
						.w = 1920,
						.h = 1080,
						.modifier = I915_FORMAT_MOD_X_TILED,
						.why_len = 255,
						.max = 2});
	image("unknown-fourcc",
	      &(struct image_req){
		      .fourcc = DRM_FORMAT_NV61, .w = 1920, .h = 1080, .why_len = 255, .max = 2});
	image("unprintable-fourcc",
	      &(struct image_req){.fourcc = 0x01020304, .w = 1, .h = 1, .why_len = 7, .max = 1});
	image("short-why",
	      &(struct image_req){.fourcc = DRM_FORMAT_R8, .w = 1, .h = 1, .why_len = 1, .max = 0});
}

/* ---- config -------------------------------------------------------------------------- */

static const struct {
	const char *name, *text;
} configs[] = {
	{"empty", ""},
	{"comments-only", "# nothing\n; at all\n\n   \n"},
	{"full",
	 "; a full configuration\n[daemon]\nreclaim-deadline = 500ms\n\n[pool camera]\nmin = "
	 "64M\nmax = 128MiB\n\n[pool display]\n\tmin = 16M  ; indented, with an inline "
	 "comment\n\tmax = 0x2000000\n\n[class camera]\nunit = camera.service\nunit = "
	 "isp.service, app-viewer@1.scope\npool = camera\nmax-bytes = 100M\nmax-buffers = "
	 "64\npriority = 50\ndev-addr = yes\n\n[class compositor]\nuid = 0, 1000\ngid = root\ngid "
	 "= 44\npool = display\npriority = -20\ndev-addr = true\ndeny = false\n\n[class "
	 "banned]\nuid = 666\ndeny = 1\n\n[class default]\nmax-bytes = 1G\nmax-buffers = "
	 "unlimited\npriority = +5\ndeny = no\n"},
	{"crlf-bom", "\xEF\xBB\xBF[pool a]\r\nmin = 1M\r\n[class x]\r\nuid = 1\r\npool = a\r\n"},
	{"forward-pool", "[class a]\nuid = 1\npool = later\n[pool later]\nmin = 1M\n"},
	{"policy-quota", "[class default]\nmax-buffers = 2\nmax-bytes = 12M\n"},
	{"policy-camera",
	 "[pool camera]\nmin = 16M\n\n[class camera]\nuid = 65534\npool = camera\n"},
	{"policy-dev-addr", "[class trusted]\nuid = 0\ndev-addr = yes\n"},
	{"policy-deny", "[class default]\ndeny = yes\n"},
	{"policy-user-unit",
	 "[class cam]\nunit = camera.service\n[class mine]\nuid = 1000\nuser-unit = "
	 "camera.service, viewer.service\ndev-addr = yes\n"},
	{"policy-priority", "[class camera]\nuid = 0\npriority = 10\n"},
	{"policy-minimums", "[pool camera]\nmin = 64M\n\n[pool isp]\nmin = 64M\n"},
	{"min-over-region", "[pool a]\nmin = 200M\n[pool b]\nmin = 100M\n"},
	{"min-saturating", "[pool a]\nmin = 4096\n[pool b]\nmin = 0xffffffffffffffff\n"},
	{"err-section", "[daemon]\n[pools camera]\n"},
	{"err-key", "[pool camera]\nmin = 1M\nsize = 4M\n"},
	{"err-no-name", "[pool]\n"},
	{"err-daemon-name", "[daemon x]\n"},
	{"err-bad-name", "[pool two words]\n"},
	{"err-after-bracket", "[pool camera] min = 1M\n"},
	{"err-no-equals", "[pool a]\nmin = 1M\njust some words\n"},
	{"err-size", "[pool a]\nmin = 64X\n"},
	{"err-negative", "[pool a]\nmax = -1\n"},
	{"err-buffers", "[class a]\nuid = 1\nmax-buffers = 4294967296\n"},
	{"err-priority", "[class a]\nuid = 1\npriority = -101\n"},
	{"err-bool", "[class a]\nuid = 1\ndev-addr = maybe\n"},
	{"err-deadline", "[daemon]\nreclaim-deadline = 601s\n"},
	{"err-uid-range", "[class a]\nuid = 4294967295\n"},
	{"err-empty-item", "[class a]\nuid = 0,,1\n"},
	{"err-unit", "[class a]\nunit = camera\n"},
	{"err-user-unit-alone", "[class a]\nuser-unit = camera.service\n"},
	{"err-user-unit-gid", "[class a]\nuid = 1\ngid = 2\nuser-unit = camera.service\n"},
	{"err-unknown-user", "[class a]\nuid = root, no-such-user-cmabuf\n"},
	{"err-unknown-group", "[class a]\n\ngid = no-such-group-cmabuf\n"},
	{"err-undefined-pool", "[pool camera]\n[class a]\nuid = 1\npool = camra\n"},
	{"err-twice", "[pool camera]\nmin = 1M\n\n[pool camera]\n"},
	{"err-key-twice", "[class a]\nuid = 1\npriority = 1\npriority = 2\n"},
	{"err-min-max", "[pool a]\nmin = 128M\nmax = 64M\n"},
	{"err-matches-nobody", "[class a]\npool = default\n"},
	{"err-default-matcher", "[class default]\nuid = 1000\n"},
	{"err-outside", "min = 1M\n[pool a]\n"},
	{"err-no-bracket", "[pool a\nmin = 1M\n"},
};

static void config_seeds(const char *example)
{
	char buf[16384];
	size_t n;
	FILE *f = fopen(example, "re");

	if (!f || (n = fread(buf, 1, sizeof(buf), f)) == 0 || !feof(f)) {
		fprintf(stderr, "%s: cannot read\n", example);
		exit(1);
	}
	fclose(f);
	write_seed("config", "example.conf", buf, n);
	for (size_t i = 0; i < sizeof(configs) / sizeof(configs[0]); i++) {
		snprintf(buf, sizeof(buf), "%s.conf", configs[i].name);
		write_seed("config", buf, configs[i].text, strlen(configs[i].text));
	}
}

/* ---- model --------------------------------------------------------------------------- */

/*
 * The model driver reads its choices from the input: any bytes make a run. Seeds of
 * a few lengths from a fixed generator (splitmix64), so every kind of step is reached
 * from the start; libFuzzer finds the rest.
 */
static void model_seeds(void)
{
	static const size_t lens[] = {16,   200,  1000, 2500, 4096, 4096, 4096, 4096,
				      4096, 4096, 4096, 4096, 4096, 4096, 4096, 4096};
	static uint8_t buf[4096];
	uint64_t x = 0x6d6f64656cull; /* "model" */

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		char name[32];

		for (size_t j = 0; j < lens[i]; j++) {
			uint64_t z = (x += 0x9e3779b97f4a7c15ull);

			z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
			z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
			buf[j] = (uint8_t)(z ^ (z >> 31));
		}
		if (i < 5) /* the first five, as they were */
			snprintf(name, sizeof(name), "random-%zu", lens[i]);
		else
			snprintf(name, sizeof(name), "random-%zu-%zu", lens[i], i - 4);
		write_seed("model", name, buf, lens[i]);
	}
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s CORPUS_DIR EXAMPLE_CONF\n", argv[0]);
		return 2;
	}
	corpus = argv[1];
	codec_seeds();
	image_seeds();
	config_seeds(argv[2]);
	model_seeds();
	return 0;
}
