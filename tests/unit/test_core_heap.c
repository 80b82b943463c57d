/* SPDX-License-Identifier: MIT */
/*
 * The core's decisions for a dma-heap caller (an owner whose door is
 * OWNER_DOOR_HEAP), without a daemon or a kernel: its buffers are handed
 * over at export (let go at once, charged until the backend reports them
 * released), count against its quota meanwhile, are never planned on for
 * eviction, and its refusals are recorded and counted by door.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "allocator.h"
#include "cmabuf.h"
#include "core.h"

#define MiB   (1ull << 20)
#define GRAIN 4096ull

static const struct core_time now = {1000, 1700000000000ull};

static void start(struct core *c, uint64_t region, const char *conf)
{
	struct core_region r = {.backend = "test", .base = 0, .size = region};
	struct config cfg;
	char err[256];

	if (conf && config_parse_string(conf, "test.conf", region, &cfg, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_int_equal(
		core_init(c, &r, GRAIN, false, conf ? &cfg : NULL, conf ? "test.conf" : NULL, 4242),
		0);
}

static void join(struct core *c, struct owner *o, uid_t uid, enum owner_door door)
{
	struct peer_identity id = {
		.pid = (pid_t)(1000 + uid), .uid = uid, .gid = uid, .unit_known = true};

	core_owner_init(o, &id, NULL, NULL);
	o->door_kind = door;
	core_owner_add(c, o);
	core_classify(c, o);
}

/* Steps an ALLOC to its answer, exporting whatever is placed. */
static enum core_action alloc(struct core *c, struct owner *o, uint64_t size, uint32_t flags,
			      struct core_decision *d)
{
	struct core_alloc_desc desc = {.size = size, .flags = flags};
	struct core_request r;
	unsigned i;

	strcpy(desc.name, o->door_kind == OWNER_DOOR_HEAP ? "heap:cam" : "sock");
	core_alloc_begin(c, &r, o, &desc, 7);
	for (;;) {
		enum core_action act = core_alloc_step(c, &r, &now, d);

		if (act == CORE_EXPORT)
			return core_exported(c, &r, d->buffer, 0, &now, d) < 0 ? CORE_REFUSE
									       : CORE_EXPORT;
		if (act == CORE_COLLECT) /* a caller may have closed one: nothing came here */
			continue;
		if (act != CORE_PURGE)
			return act;
		for (i = 0; i < d->nvictims; i++)
			assert_int_equal(core_purged(c, &r, d->victims[i], 0, NULL), 0);
	}
}

static void release(struct core *c, struct buffer *b)
{
	struct core_range zero;

	assert_int_equal(core_released(c, buffer_cookie(b), &zero), 0);
}

static void the_buffer_is_handed_over_at_export_and_charged_until_released(void **state)
{
	struct core c;
	struct owner h;
	struct core_decision d;
	struct buffer *b;

	start(&c, 64 * MiB, NULL);
	join(&c, &h, 1000, OWNER_DOOR_HEAP);
	assert_int_equal(alloc(&c, &h, 3 * MiB, 0, &d), CORE_EXPORT);
	b = d.buffer;
	/* Let go at once: there is no FREE for it, its holder ends it by closing the fd. */
	assert_true(b->let_go);
	assert_true(b->handed_over);
	assert_null(core_owned_buffer(&c, &h, b->id));
	/* Still its owner's, against its quota, until the backend says released. */
	assert_ptr_equal(b->owner, &h);
	assert_int_equal(h.nbuffers, 1);
	assert_int_equal(h.bytes, 3 * MiB);
	assert_int_equal(c.ledger.handed_over, 1);
	assert_int_equal(c.ledger.handed_over_bytes, 3 * MiB);
	assert_int_equal(c.ledger.pending_release_bytes, 3 * MiB);
	assert_int_equal(c.metrics.door_allocations[OWNER_DOOR_HEAP], 1);
	assert_int_equal(c.metrics.door_allocations[OWNER_DOOR_SOCKET], 0);
	assert_int_equal(core_used_bytes(&c), 3 * MiB);
	release(&c, b);
	assert_int_equal(h.nbuffers, 0);
	assert_int_equal(h.bytes, 0);
	assert_int_equal(c.ledger.handed_over, 0);
	assert_int_equal(c.ledger.handed_over_bytes, 0);
	assert_int_equal(c.ledger.pending_release_bytes, 0);
	assert_int_equal(core_used_bytes(&c), 0);
	core_owner_remove(&c, &h, NULL, NULL); /* nothing left to let go */
	core_fini(&c);
}

static void held_buffers_count_against_the_callers_quota(void **state)
{
	struct core c;
	struct owner h, other;
	struct core_decision d;
	struct buffer *first;
	const struct refusal *why;

	start(&c, 64 * MiB, "[class default]\nmax-buffers = 2\nmax-bytes = 8M\n");
	join(&c, &h, 1000, OWNER_DOOR_HEAP);
	join(&c, &other, 1001, OWNER_DOOR_HEAP);
	assert_int_equal(alloc(&c, &h, 4 * MiB, 0, &d), CORE_EXPORT);
	first = d.buffer;
	assert_int_equal(alloc(&c, &h, 2 * MiB, 0, &d), CORE_EXPORT);
	assert_int_equal(alloc(&c, &h, 4 * MiB, 0, &d), CORE_REFUSE);
	assert_int_equal(d.err, -EDQUOT);
	assert_non_null(strstr(d.why, "max-buffers"));
	/* Recorded for `cmabufctl why` with the caller's pid and the heap name. */
	why = refusals_before(&c.refusals, 0);
	assert_non_null(why);
	assert_int_equal(why->pid, 2000);
	assert_int_equal(why->error, -EDQUOT);
	assert_string_equal(why->name, "heap:cam");
	assert_int_equal(c.metrics.door_failures[OWNER_DOOR_HEAP], 1);
	assert_int_equal(c.metrics.door_failures[OWNER_DOOR_SOCKET], 0);
	/* Another process of the class has its own quota. */
	assert_int_equal(alloc(&c, &other, 8 * MiB, 0, &d), CORE_EXPORT);
	/* The caller closed its first buffer: room in its quota again, bytes too. */
	release(&c, first);
	assert_int_equal(alloc(&c, &h, 8 * MiB, 0, &d), CORE_REFUSE);
	assert_non_null(strstr(d.why, "max-bytes"));
	assert_int_equal(alloc(&c, &h, 6 * MiB, 0, &d), CORE_EXPORT);
	assert_int_equal(h.nbuffers, 2);
	assert_int_equal(h.bytes, 8 * MiB);
	core_fini(&c);
}

/* A heap caller cannot be asked to give a buffer back: nothing of it is a victim. */
static void a_heap_callers_buffers_are_never_evicted(void **state)
{
	struct core c;
	struct owner h, boss;
	struct core_decision d;

	start(&c, 8 * MiB,
	      "[daemon]\nmax-bytes-per-uid = 100%\n[class heap]\nuid = 1000\npriority = 0\n"
	      "[class boss]\nuid = 1001\npriority = 10\n");
	join(&c, &h, 1000, OWNER_DOOR_HEAP);
	join(&c, &boss, 1001, OWNER_DOOR_SOCKET);
	assert_int_equal(alloc(&c, &h, 8 * MiB, 0, &d), CORE_EXPORT);
	assert_int_equal(alloc(&c, &boss, 1 * MiB, 0, &d), CORE_REFUSE);
	assert_int_equal(d.err, -ENOMEM);
	assert_non_null(strstr(d.why, "dma-heap caller"));
	assert_int_equal(c.metrics.reclaims_requested, 0);
	assert_int_equal(c.stats.evictions, 0);
	core_fini(&c);
}

/* The caller left before its answer: the range comes back, nothing is charged. */
static void a_caller_that_left_gets_nothing_and_leaks_nothing(void **state)
{
	struct core c;
	struct owner h;
	struct core_alloc_desc desc = {.size = 2 * MiB};
	struct core_request r;
	struct core_decision d;
	struct allocator_stats st;

	start(&c, 16 * MiB, NULL);
	join(&c, &h, 1000, OWNER_DOOR_HEAP);
	strcpy(desc.name, "heap:cam");
	core_alloc_begin(&c, &r, &h, &desc, 7);
	assert_int_equal(core_alloc_step(&c, &r, &now, &d), CORE_EXPORT);
	core_export_failed(&c, &r, d.buffer, -ENOENT, "the dma-heap caller left", &now, &d);
	assert_int_equal(d.action, CORE_REFUSE);
	assert_int_equal(d.err, -ENOENT);
	assert_int_equal(h.nbuffers, 0);
	assert_int_equal(h.bytes, 0);
	assert_int_equal(c.ledger.count, 0);
	assert_int_equal(c.ledger.handed_over, 0);
	allocator_get_stats(c.alloc, &st);
	assert_int_equal(st.free, 16 * MiB);
	assert_string_equal(refusals_before(&c.refusals, 0)->reason, "the dma-heap caller left");
	assert_int_equal(c.metrics.door_failures[OWNER_DOOR_HEAP], 1);
	assert_int_equal(c.stats.allocations, 0);
	core_fini(&c);
}

/* A class that denies refuses each heap request with EACCES (there is no HELLO to refuse). */
static void a_denied_class_refuses_each_request(void **state)
{
	struct core c;
	struct owner h;
	struct core_decision d;

	start(&c, 16 * MiB, "[class nobody]\nuid = 1000\ndeny = yes\n");
	join(&c, &h, 1000, OWNER_DOOR_HEAP);
	assert_int_equal(alloc(&c, &h, 1 * MiB, 0, &d), CORE_REFUSE);
	assert_int_equal(d.err, -EACCES);
	assert_non_null(strstr(d.why, "nobody"));
	core_fini(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_buffer_is_handed_over_at_export_and_charged_until_released),
		cmocka_unit_test(held_buffers_count_against_the_callers_quota),
		cmocka_unit_test(a_heap_callers_buffers_are_never_evicted),
		cmocka_unit_test(a_caller_that_left_gets_nothing_and_leaks_nothing),
		cmocka_unit_test(a_denied_class_refuses_each_request),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
