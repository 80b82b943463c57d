/* SPDX-License-Identifier: MIT */
/*
 * The heap door (daemon/front/heap.c) without a kernel: the stub's side is
 * played by fake hooks (who asked, the answer, a buffer's name), and the
 * wiring's drive by a few lines that step the core as service.c does. What
 * is checked: an owner per process and credentials, a caller that left gets
 * nothing and leaks nothing, a process's requests wait behind its parked
 * one, --max-clients-per-uid holds for heap callers, owners go once they
 * hold nothing, and refusals reach the stub with their errno.
 */
#include <errno.h>
#include <event2/event.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "allocator.h"
#include "cmabuf.h"
#include "core.h"
#include "door.h"
#include "heap.h"
#include "log.h"
#include "server.h"

#define MiB (1ull << 20)

/* The daemon's log is not linked: its lines are not what these cases check. */
void log_msg(int priority, const char *fmt, ...)
{
}

/* ---- the stub, faked ---- */

struct fake_req {
	uint64_t id;
	struct heap_caller who;
	bool left;    /* HEAP_CALLER and HEAP_ANSWER say ENOENT */
	bool leaves;  /* it leaves once HEAP_CALLER is answered: HEAP_ANSWER says ENOENT */
	int answered; /* 0: not yet; 1: a buffer; -errno: refused */
	uint64_t size;
};

static struct fake_req reqs[16];
static unsigned nreqs;
static struct core core;
static struct heap_door door;
static struct event_base *base;

static struct fake_req *req(uint64_t id)
{
	unsigned i;

	for (i = 0; i < nreqs; i++)
		if (reqs[i].id == id)
			return &reqs[i];
	return NULL;
}

static int fake_caller(void *ctx, uint64_t id, struct heap_caller *out)
{
	struct fake_req *q = req(id);

	if (!q || q->left)
		return -ENOENT;
	*out = q->who;
	out->groups = calloc(1, sizeof(gid_t)); /* the door takes it over */
	out->groups[0] = 44;
	out->ngroups = 1;
	return 0;
}

static int fake_answer(void *ctx, uint64_t id, const struct buffer *b, const char *name, int error)
{
	struct fake_req *q = req(id);

	assert_non_null(q);
	assert_int_equal(q->answered, 0); /* one answer per request */
	if (q->left || q->leaves)
		return -ENOENT;
	q->answered = b ? 1 : -error;
	q->size = b ? b->size : 0;
	return 0;
}

static const struct heap_hooks hooks = {.caller = fake_caller, .answer = fake_answer};

/* ---- the wiring, reduced to stepping the core ---- */

static void drive(struct core_request *r)
{
	struct core_time now = {1000, 1700000000000ull};
	struct owner *o = r->owner;
	struct core_decision d;
	char why[512];

	for (;;) {
		switch (core_alloc_step(&core, r, &now, &d)) {
		case CORE_COLLECT:
			continue;
		case CORE_EXPORT:
			if (o->door_ops->deliver(o, r, d.buffer, why, sizeof(why)) < 0) {
				core_export_failed(&core, r, d.buffer, -ENOENT, why, &now, &d);
				o->door_ops->refuse(o, r, d.err, d.why);
				return;
			}
			core_exported(&core, r, d.buffer, 0, &now, &d);
			o->door_ops->answer(o, r, d.buffer, -1);
			return;
		case CORE_PARK:
			for (unsigned i = 0; i < d.nvictims; i++)
				d.victims[i]->owner->door_ops->reclaim(d.victims[i]->owner,
								       d.victims[i], d.deadline_ms);
			o->door_ops->park(o, r, d.deadline_ms);
			return;
		case CORE_REFUSE:
			o->door_ops->refuse(o, r, d.err, d.why);
			return;
		default:
			return;
		}
	}
}

static void svc_alloc(void *ctx, struct owner *o, const struct core_alloc_desc *desc, uint64_t tag)
{
	struct core_request r;

	core_alloc_begin(&core, &r, o, desc, tag);
	drive(&r);
}

static void svc_leave(void *ctx, struct owner *o)
{
	core_owner_remove(&core, o, NULL, NULL);
}

static void svc_deadline(void *ctx, struct core_request *r)
{
	fail_msg("no deadline passes in these cases");
}

static const struct server_hooks svc = {
	.alloc = svc_alloc, .leave = svc_leave, .deadline = svc_deadline};

/* ---- helpers ---- */

static void start(const char *conf)
{
	struct core_region region = {.backend = "test", .size = 16 * MiB};
	struct config cfg;
	char err[256];

	if (conf && config_parse_string(conf, "t.conf", region.size, &cfg, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_int_equal(core_init(&core, &region, 4096, false, conf ? &cfg : NULL,
				   conf ? "t.conf" : NULL, 4242),
			 0);
	base = event_base_new();
	assert_non_null(base);
	assert_int_equal(heap_door_init(&door, base, &core, &svc, NULL, &hooks, NULL,
					HEAP_DOOR_SERVED, "/dev/dma_heap/cmabuf", 5000),
			 0);
	nreqs = 0;
	memset(reqs, 0, sizeof(reqs));
}

static void stop(void)
{
	heap_door_fini(&door);
	core_fini(&core);
	event_base_free(base);
}

/* The stub forwards an ALLOC of len bytes from (tgid, uid); the loop takes it. */
static struct fake_req *ask(uint64_t id, pid_t tgid, uid_t uid, uint64_t len)
{
	struct fake_req *q = &reqs[nreqs++];

	q->id = id;
	q->who.tgid = tgid;
	q->who.uid = uid;
	q->who.gid = uid;
	q->who.len = len;
	strcpy(q->who.comm, "cam");
	heap_door_request(&door, id, len);
	return q;
}

static void run_loop(void)
{
	event_base_loop(base, EVLOOP_NONBLOCK);
}

/* The stub says the buffer of the request's answer was released (the caller closed it). */
static void release_all(void)
{
	struct core_range zero;
	struct buffer *b;

	while ((b = ledger_next_after(&core.ledger, 0))) {
		struct owner *o = b->owner;

		assert_int_equal(core_released(&core, buffer_cookie(b), &zero), 0);
		if (o)
			o->door_ops->released(o);
	}
}

/* ---- the cases ---- */

/* The test's own pid, whose start time and units can be read: one owner, named after it. */
static void one_owner_per_process_and_credentials(void **state)
{
	struct buffer *b;

	start(NULL);
	ask(1, getpid(), 1000, 1 * MiB);
	ask(2, getpid(), 1000, 2 * MiB);
	ask(3, getpid(), 1001, 1 * MiB); /* changed its credentials: another client */
	run_loop();
	assert_int_equal(reqs[0].answered, 1);
	assert_int_equal(reqs[1].answered, 1);
	assert_int_equal(reqs[2].answered, 1);
	assert_int_equal(door.nowners, 2);
	assert_int_equal(door.waiting, 0);
	b = ledger_next_after(&core.ledger, 0);
	assert_non_null(b);
	assert_string_equal(b->name, "heap:cam");
	assert_true(b->handed_over);
	assert_int_equal(b->owner->nbuffers, 2);
	assert_int_equal(b->owner->bytes, 3 * MiB);
	assert_int_equal(b->owner->id.ngroups, 1);
	assert_int_equal(b->owner->id.groups[0], 44);
	/* Closed by their holders: the owners hold nothing and go. */
	release_all();
	run_loop();
	assert_int_equal(door.nowners, 0);
	assert_int_equal(core.nowners, 0);
	stop();
}

/*
 * A caller's command name cut mid-character (the kernel keeps 15 bytes) or
 * holding a tab is still served, under a printable name.
 */
static void a_command_name_of_any_bytes_is_served(void **state)
{
	struct fake_req *q;
	struct buffer *b;

	start(NULL);
	q = ask(1, getpid(), 1000, 1 * MiB);
	strcpy(q->who.comm, "\xd0\xb2\xd0\tx\x1b[");
	q = ask(2, getpid(), 1001, 1 * MiB);
	strcpy(q->who.comm, "\xe2\x80\xae"
			    "evil");
	run_loop();
	assert_int_equal(reqs[0].answered, 1);
	assert_int_equal(reqs[1].answered, 1);
	b = ledger_next_after(&core.ledger, 0);
	assert_non_null(b);
	assert_string_equal(b->name, "heap:????x?[");
	b = ledger_next_after(&core.ledger, b->id);
	assert_non_null(b);
	assert_string_equal(b->name, "heap:???evil");
	release_all();
	run_loop();
	stop();
}

static void callers_that_leave_leak_nothing(void **state)
{
	struct allocator_stats st;
	const struct refusal *why;

	start(NULL);
	ask(1, getpid(), 1000, 1 * MiB)->left = true; /* gone before HEAP_CALLER */
	run_loop();
	assert_int_equal(reqs[0].answered, 0);
	assert_int_equal(door.nowners, 0);
	assert_int_equal(door.waiting, 0);
	assert_null(refusals_before(&core.refusals, 0)); /* nothing to tell anyone */
	/* Gone between HEAP_CALLER and HEAP_ANSWER: placed, then undone. */
	ask(2, getpid(), 1000, 4 * MiB)->leaves = true;
	run_loop();
	assert_int_equal(reqs[1].answered, 0);
	assert_int_equal(core.ledger.count, 0);
	allocator_get_stats(core.alloc, &st);
	assert_int_equal(st.free, 16 * MiB);
	why = refusals_before(&core.refusals, 0);
	assert_non_null(why);
	assert_int_equal(why->pid, getpid());
	assert_string_equal(why->name, "heap:cam");
	assert_non_null(strstr(why->reason, "left before it was answered"));
	assert_int_equal(door.nowners, 0); /* it holds nothing: gone with its request */
	assert_int_equal(door.waiting, 0);
	stop();
}

static void refusals_reach_the_caller_with_their_errno(void **state)
{
	start("[class cam]\nuid = 1000\nmax-buffers = 1\n[class no]\nuid = 1001\ndeny = yes\n");
	ask(1, getpid(), 1000, 1 * MiB);
	ask(2, getpid(), 1000, 1 * MiB);
	ask(3, getpid(), 1001, 1 * MiB);
	ask(4, getpid(), 1000, 0); /* the stub refuses these itself; the core too */
	run_loop();
	assert_int_equal(reqs[0].answered, 1);
	assert_int_equal(reqs[1].answered, -EDQUOT);
	assert_int_equal(reqs[2].answered, -EACCES);
	assert_int_equal(reqs[3].answered, -EINVAL);
	assert_int_equal(core.metrics.door_failures[OWNER_DOOR_HEAP], 3);
	assert_int_equal(core.metrics.door_allocations[OWNER_DOOR_HEAP], 1);
	release_all();
	run_loop();
	assert_int_equal(door.nowners, 0);
	stop();
}

static void forking_does_not_multiply_a_quota(void **state)
{
	const struct refusal *why;

	start(NULL);
	door.max_owners_per_uid = 1;
	ask(1, getpid(), 1000, 1 * MiB);
	ask(2, getppid(), 1000, 1 * MiB); /* another process of the uid */
	ask(3, getppid(), 1001, 1 * MiB); /* another uid */
	run_loop();
	assert_int_equal(reqs[0].answered, 1);
	assert_int_equal(reqs[1].answered, -EDQUOT);
	assert_int_equal(reqs[2].answered, 1);
	why = refusals_before(&core.refusals, 0);
	assert_non_null(why);
	assert_int_equal(why->pid, getppid());
	assert_non_null(strstr(why->reason, "--max-clients-per-uid"));
	release_all();
	run_loop();
	assert_int_equal(door.nowners, 0);
	stop();
}

/* A socket client of lower priority with reclaimable buffers, as the core sees one. */
static void fake_reclaim(struct owner *o, const struct buffer *b, uint32_t deadline_ms)
{
	(*(unsigned *)o->door)++;
}

static const struct door_ops socket_ops = {.reclaim = fake_reclaim};

static struct buffer *hold_reclaimable(struct owner *o, uint64_t size)
{
	struct core_time now = {1000, 1700000000000ull};
	struct core_alloc_desc desc = {.size = size, .flags = CMABUF_ALLOC_RECLAIMABLE};
	struct core_request r;
	struct core_decision d;

	core_alloc_begin(&core, &r, o, &desc, 0);
	assert_int_equal(core_alloc_step(&core, &r, &now, &d), CORE_EXPORT);
	assert_int_equal(core_exported(&core, &r, d.buffer, 0, &now, &d), 0);
	return d.buffer;
}

/* The holder frees b and the backend reports it; parked requests try again (service.c). */
static void give_back(struct buffer *b)
{
	struct core_range zero;
	struct core_request *r, *next;

	assert_true(core_let_go(&core, b));
	assert_int_equal(core_released(&core, buffer_cookie(b), &zero), 0);
	for (r = core_parked_first(&core); r; r = next) {
		next = core_parked_next(&core, r);
		drive(r);
	}
}

static void a_processs_requests_wait_behind_its_parked_one(void **state)
{
	struct peer_identity id = {.pid = 1, .uid = 2000, .gid = 2000, .unit_known = true};
	struct buffer *v1, *v2;
	struct owner low;
	unsigned asked = 0;

	start("[daemon]\nmax-bytes-per-uid = 100%\n[class cam]\nuid = 1000\npriority = 10\n"
	      "[class low]\nuid = 2000\n");
	core_owner_init(&low, &id, &socket_ops, &asked);
	core_owner_add(&core, &low);
	core_classify(&core, &low);
	v1 = hold_reclaimable(&low, 8 * MiB);
	v2 = hold_reclaimable(&low, 8 * MiB);
	ask(1, getpid(), 1000, 8 * MiB);
	ask(2, getpid(), 1000, 8 * MiB);
	run_loop();
	/* The first waits for a reclaimed buffer; the second waits behind it, not refused. */
	assert_int_equal(reqs[0].answered, 0);
	assert_int_equal(reqs[1].answered, 0);
	assert_int_equal(asked, 1);
	assert_int_equal(door.waiting, 2);
	give_back(v1);
	run_loop(); /* the first is answered; the second goes, and waits in turn */
	assert_int_equal(reqs[0].answered, 1);
	assert_int_equal(reqs[1].answered, 0);
	assert_int_equal(asked, 2);
	give_back(v2);
	run_loop();
	assert_int_equal(reqs[1].answered, 1);
	assert_int_equal(door.waiting, 0);
	release_all();
	run_loop();
	assert_int_equal(door.nowners, 0);
	core_owner_remove(&core, &low, NULL, NULL);
	stop();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(one_owner_per_process_and_credentials),
		cmocka_unit_test(a_command_name_of_any_bytes_is_served),
		cmocka_unit_test(callers_that_leave_leak_nothing),
		cmocka_unit_test(refusals_reach_the_caller_with_their_errno),
		cmocka_unit_test(forking_does_not_multiply_a_quota),
		cmocka_unit_test(a_processs_requests_wait_behind_its_parked_one),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
