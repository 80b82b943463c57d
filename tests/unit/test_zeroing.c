/* SPDX-License-Identifier: MIT */
/* The zeroing thread: every queued byte is cleared once, reported on the loop, failures kept. */
#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "zeroing.h"

#define REGION (64u << 20)
#define PAGE   4096u

struct fake {
	unsigned char cleared[REGION / PAGE]; /* how often each page was cleared */
	unsigned char reported[REGION / PAGE];
	pthread_t loop_thread;
	int fail_at_offset; /* clear fails for the chunk starting here, or -1 */
	int errors;
	int wrong_thread;
};

static int fake_clear(void *ctx, uint64_t offset, uint64_t size)
{
	struct fake *f = ctx;
	uint64_t p;

	if ((int64_t)offset == f->fail_at_offset)
		return -EIO;
	for (p = offset / PAGE; p < (offset + size) / PAGE; p++)
		f->cleared[p]++;
	return 0;
}

static void fake_done(void *ctx, uint64_t offset, uint64_t size, int err)
{
	struct fake *f = ctx;
	uint64_t p;

	f->wrong_thread |= !pthread_equal(pthread_self(), f->loop_thread);
	if (err < 0) {
		f->errors++;
		return;
	}
	for (p = offset / PAGE; p < (offset + size) / PAGE; p++)
		f->reported[p]++;
}

static void every_byte_cleared_once_and_reported_on_the_loop(void **state)
{
	static struct fake f;
	struct event_base *base = event_base_new();
	struct zeroing *z;
	unsigned i;

	memset(&f, 0, sizeof(f));
	f.loop_thread = pthread_self();
	f.fail_at_offset = -1;
	z = zeroing_new(base, fake_clear, fake_done, &f);
	assert_non_null(z);
	/* A large range (split into chunks) and small ones. */
	assert_int_equal(zeroing_submit(z, 0, 40u << 20), 0);
	assert_int_equal(zeroing_submit(z, 48u << 20, PAGE), 0);
	assert_int_equal(zeroing_submit(z, 60u << 20, 4u << 20), 0);
	assert_true(zeroing_pending(z) > 0);
	zeroing_wait_all(z);
	assert_int_equal(zeroing_pending(z), 0);
	for (i = 0; i < REGION / PAGE; i++) {
		int want = i < (40u << 20) / PAGE || i == (48u << 20) / PAGE ||
			   i >= (60u << 20) / PAGE;

		assert_int_equal(f.cleared[i], want);
		assert_int_equal(f.reported[i], want);
	}
	assert_false(f.wrong_thread);
	zeroing_free(z);
	event_base_free(base);
}

static void a_failed_clear_is_reported_as_an_error(void **state)
{
	static struct fake f;
	struct event_base *base = event_base_new();
	struct zeroing *z;

	memset(&f, 0, sizeof(f));
	f.loop_thread = pthread_self();
	f.fail_at_offset = 8 << 20; /* the second 8 MiB chunk */
	z = zeroing_new(base, fake_clear, fake_done, &f);
	assert_int_equal(zeroing_submit(z, 0, 24u << 20), 0);
	zeroing_wait_all(z);
	assert_int_equal(f.errors, 1);
	assert_int_equal(f.reported[(8u << 20) / PAGE], 0); /* never offered for reuse */
	assert_int_equal(f.reported[0], 1);
	assert_int_equal(f.reported[(16u << 20) / PAGE], 1);
	zeroing_free(z);
	event_base_free(base);
}

static void completion_arrives_through_the_event_loop(void **state)
{
	static struct fake f;
	struct event_base *base = event_base_new();
	struct zeroing *z;
	int i;

	memset(&f, 0, sizeof(f));
	f.loop_thread = pthread_self();
	f.fail_at_offset = -1;
	z = zeroing_new(base, fake_clear, fake_done, &f);
	assert_int_equal(zeroing_submit(z, 0, PAGE), 0);
	for (i = 0; i < 1000 && !f.reported[0]; i++)
		event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(f.reported[0], 1);
	assert_int_equal(zeroing_pending(z), 0);
	zeroing_free(z);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_byte_cleared_once_and_reported_on_the_loop),
		cmocka_unit_test(a_failed_clear_is_reported_as_an_error),
		cmocka_unit_test(completion_arrives_through_the_event_loop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
