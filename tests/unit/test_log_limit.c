/* SPDX-License-Identifier: MIT */
/* The log limit (daemon/log_limit.c): per uid and for all clients, never per connection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "log_limit.h"

struct reports {
	unsigned n, global_suppressed, uid_suppressed;
	uid_t last_uid;
};

static void report(void *ctx, bool global, uid_t uid, unsigned suppressed)
{
	struct reports *r = ctx;

	r->n++;
	if (global)
		r->global_suppressed += suppressed;
	else
		r->uid_suppressed += suppressed, r->last_uid = uid;
}

static void test_per_uid_burst_then_report(void **state)
{
	struct reports r = {0};
	unsigned written = 0, i;

	(void)state;
	log_limit_reset();
	for (i = 0; i < 2000; i++) {
		enum log_verdict v = log_limit_check(1000, 5, report, &r);

		written += v != LOG_SUPPRESS;
		if (i == LOG_UID_BURST - 1)
			assert_int_equal(v, LOG_WRITE_LAST_UID);
	}
	assert_int_equal(written, LOG_UID_BURST);
	assert_int_equal(r.n, 0);
	/* another uid is not silenced by the first */
	assert_int_equal(log_limit_check(2000, 6, report, &r), LOG_WRITE);
	/* the window ends: what was suppressed is told once, and lines flow again */
	log_limit_flush(5 + LOG_WINDOW_MS, report, &r);
	assert_int_equal(r.uid_suppressed, 2000 - LOG_UID_BURST);
	assert_int_equal(r.last_uid, 1000);
	assert_int_equal(log_limit_check(1000, 5 + LOG_WINDOW_MS, report, &r), LOG_WRITE);
}

static void test_global_bound_over_many_uids(void **state)
{
	struct reports r = {0};
	unsigned written = 0, global_last = 0;
	uid_t uid;

	(void)state;
	log_limit_reset();
	/* 500 uids, 3 lines each: more uids than slots, and more lines than the global burst */
	for (uid = 0; uid < 500; uid++)
		for (int k = 0; k < 3; k++) {
			enum log_verdict v = log_limit_check(uid, 7, report, &r);

			written += v != LOG_SUPPRESS;
			global_last += v == LOG_WRITE_LAST_GLOBAL;
		}
	assert_int_equal(written, LOG_GLOBAL_BURST);
	assert_int_equal(global_last, 1);
	log_limit_flush(7 + LOG_WINDOW_MS, report, &r);
	assert_int_equal(r.global_suppressed, 1500 - LOG_GLOBAL_BURST);
}

/* A disconnect tells the count so far, once per window: reconnecting in a loop cannot flood. */
static void test_disconnect_reports_once_per_window(void **state)
{
	struct reports r = {0};
	unsigned i;

	(void)state;
	log_limit_reset();
	for (i = 0; i < 50; i++)
		log_limit_check(1000, 9, report, &r);
	log_limit_flush_uid(1000, 9, report, &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.uid_suppressed, 40);
	for (i = 0; i < 1000; i++) { /* a connection per line, each one closing */
		log_limit_check(1000, 10, report, &r);
		log_limit_flush_uid(1000, 10, report, &r);
	}
	assert_int_equal(r.n, 1);
	log_limit_flush(9 + LOG_WINDOW_MS, report, &r);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.uid_suppressed, 1040);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_per_uid_burst_then_report),
		cmocka_unit_test(test_global_bound_over_many_uids),
		cmocka_unit_test(test_disconnect_reports_once_per_window),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
