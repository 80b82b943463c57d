/* SPDX-License-Identifier: MIT */
/* memfd buffers made ahead (daemon/backend/memfd_ready.c), on real memfds. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "memfd_ready.h"

#define MiB (1u << 20)

/* Descriptors open in this process, not counting the one that reads them. */
static unsigned open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	unsigned n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;
}

static void fill_all(struct memfd_ready *r)
{
	unsigned guard = 0;

	while (memfd_ready_fill(r))
		assert_true(++guard < 100);
}

/* What the memfd backend relies on: size, seals, name, and a counted second description. */
static void assert_buffer(int own, int client, uint64_t size, const char *name)
{
	char link[128], path[32], want[96];
	struct stat st;
	ssize_t n;

	assert_int_equal(fstat(own, &st), 0);
	assert_int_equal((uint64_t)st.st_size, size);
	/* Not F_SEAL_SHRINK: a purge cuts the file to 0 bytes. */
	assert_int_equal(fcntl(own, F_GET_SEALS) & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
			 F_SEAL_GROW | F_SEAL_SEAL);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", own);
	n = readlink(path, link, sizeof(link) - 1);
	assert_true(n > 0);
	link[n] = 0;
	snprintf(want, sizeof(want), "/memfd:cmabuf:%s (deleted)", name);
	assert_string_equal(link, want);
	/* The client's description is counted: the release probe sees it, then its close. */
	assert_int_equal(fcntl(own, F_SETLEASE, F_RDLCK), -1);
	assert_int_equal(errno, EAGAIN);
	close(client);
	assert_int_equal(fcntl(own, F_SETLEASE, F_RDLCK), 0);
	close(own);
}

static void a_kind_asked_for_once_is_not_made_ahead(void **state)
{
	struct memfd_ready *r = memfd_ready_new(true, false);
	int own, client;

	(void)state;
	assert_int_equal(memfd_ready_take(r, MiB, "once", &own, &client), -ENOENT);
	assert_false(memfd_ready_fill(r));
	assert_int_equal(memfd_ready_count(r), 0);
	memfd_ready_destroy(r);
}

static void a_kind_asked_for_again_is_made_and_handed_out(void **state)
{
	struct memfd_ready *r = memfd_ready_new(true, false);
	int own = -1, client = -1;

	(void)state;
	assert_int_equal(memfd_ready_take(r, 3110400, "frame", &own, &client), -ENOENT);
	assert_int_equal(memfd_ready_take(r, 3110400, "frame", &own, &client), -ENOENT);
	fill_all(r);
	assert_int_equal(memfd_ready_count(r), 1);
	assert_int_equal(memfd_ready_take(r, 3110400, "frame", &own, &client), 0);
	assert_int_equal(memfd_ready_count(r), 0);
	assert_buffer(own, client, 3110400, "frame");
	memfd_ready_destroy(r);
}

static void another_size_or_name_is_another_kind(void **state)
{
	struct memfd_ready *r = memfd_ready_new(true, false);
	int own, client;

	(void)state;
	memfd_ready_take(r, MiB, "a", &own, &client);
	memfd_ready_take(r, MiB, "a", &own, &client);
	fill_all(r);
	assert_int_equal(memfd_ready_count(r), 1);
	assert_int_equal(memfd_ready_take(r, 2 * MiB, "a", &own, &client), -ENOENT);
	assert_int_equal(memfd_ready_take(r, MiB, "b", &own, &client), -ENOENT);
	assert_int_equal(memfd_ready_count(r), 1); /* still there for its own kind */
	assert_int_equal(memfd_ready_take(r, MiB, "a", &own, &client), 0);
	assert_buffer(own, client, MiB, "a");
	memfd_ready_destroy(r);
}

/*
 * A stream start asks for frames back to back: each time the last waiting one
 * is taken (or none waited), twice as many are kept.
 */
static void a_burst_raises_how_many_are_kept(void **state)
{
	struct memfd_ready *r = memfd_ready_new(true, false);
	int own, client, i;
	unsigned kept = 1;

	(void)state;
	memfd_ready_take(r, MiB, "burst", &own, &client);
	assert_int_equal(memfd_ready_take(r, MiB, "burst", &own, &client), -ENOENT);
	for (i = 0; i < 6; i++) {
		fill_all(r);
		assert_int_equal(memfd_ready_count(r), kept);
		while (memfd_ready_count(r)) { /* taken back to back, the last one too */
			assert_int_equal(memfd_ready_take(r, MiB, "burst", &own, &client), 0);
			close(own);
			close(client);
		}
		kept = kept * 2 > MEMFD_READY_MAX ? MEMFD_READY_MAX : kept * 2;
	}
	memfd_ready_destroy(r);
}

/* One frame freed and one allocated at a time: two are kept, one always waiting. */
static void one_at_a_time_keeps_one_waiting(void **state)
{
	struct memfd_ready *r = memfd_ready_new(true, false);
	int own, client, i;

	(void)state;
	memfd_ready_take(r, MiB, "steady", &own, &client);
	memfd_ready_take(r, MiB, "steady", &own, &client);
	fill_all(r);
	assert_int_equal(memfd_ready_take(r, MiB, "steady", &own, &client), 0); /* the last */
	close(own);
	close(client);
	for (i = 0; i < 50; i++) {
		fill_all(r);
		assert_int_equal(memfd_ready_count(r), 2);
		assert_int_equal(memfd_ready_take(r, MiB, "steady", &own, &client), 0);
		close(own);
		close(client);
		assert_int_equal(memfd_ready_count(r), 1);
	}
	memfd_ready_destroy(r);
}

static void no_more_than_the_maximum_wait_in_all(void **state)
{
	struct memfd_ready *r = memfd_ready_new(true, false);
	unsigned base = open_fds(), k, i;
	int own, client;
	char name[16];

	(void)state;
	for (k = 0; k < MEMFD_READY_KINDS; k++) { /* every kind wants the maximum */
		snprintf(name, sizeof(name), "k%u", k);
		for (i = 0; i < 8; i++)
			memfd_ready_take(r, MiB, name, &own, &client);
	}
	fill_all(r);
	assert_int_equal(memfd_ready_count(r), MEMFD_READY_MAX);
	assert_int_equal(open_fds(), base + 2 * MEMFD_READY_MAX);
	memfd_ready_destroy(r);
	assert_int_equal(open_fds(), base);
}

/*
 * A kind whose burst took every slot must not keep them from a kind in use
 * after it: the newer kind gets its buffers made ahead, from the older one's.
 * (Before, the newer kind had none made ahead for as long as the older one
 * was not asked for again: every one of its requests made its memfd itself.)
 */
static void a_kind_in_use_takes_slots_from_an_older_one(void **state)
{
	struct memfd_ready *r = memfd_ready_new(true, false);
	int own, client, i;

	(void)state;
	for (i = 0; i < 8; i++) /* misses until it wants the maximum */
		memfd_ready_take(r, MiB, "old", &own, &client);
	fill_all(r);
	assert_int_equal(memfd_ready_count(r), MEMFD_READY_MAX);
	memfd_ready_take(r, 2 * MiB, "new", &own, &client);
	assert_int_equal(memfd_ready_take(r, 2 * MiB, "new", &own, &client), -ENOENT);
	fill_all(r);
	assert_int_equal(memfd_ready_count(r), MEMFD_READY_MAX);
	for (i = 0; i < 50; i++) { /* steady use: one there every time */
		assert_int_equal(memfd_ready_take(r, 2 * MiB, "new", &own, &client), 0);
		assert_buffer(own, client, 2 * MiB, "new");
		fill_all(r);
	}
	assert_int_equal(memfd_ready_take(r, MiB, "old", &own, &client), 0); /* it kept the rest */
	close(own);
	close(client);
	memfd_ready_destroy(r);
}

/* A ninth kind takes the place of the one asked for longest ago, whose buffers close. */
static void the_least_recently_asked_kind_makes_room(void **state)
{
	struct memfd_ready *r = memfd_ready_new(true, false);
	unsigned base = open_fds(), k;
	int own, client;
	char name[16];

	(void)state;
	for (k = 0; k < MEMFD_READY_KINDS; k++) {
		snprintf(name, sizeof(name), "k%u", k);
		memfd_ready_take(r, MiB, name, &own, &client);
		memfd_ready_take(r, MiB, name, &own, &client);
	}
	fill_all(r);
	assert_int_equal(memfd_ready_count(r), MEMFD_READY_KINDS);
	assert_int_equal(memfd_ready_take(r, MiB, "newcomer", &own, &client), -ENOENT);
	assert_int_equal(memfd_ready_count(r), MEMFD_READY_KINDS - 1);
	assert_int_equal(memfd_ready_take(r, MiB, "k0", &own, &client),
			 -ENOENT); /* k0 was the oldest */
	assert_int_equal(memfd_ready_take(r, MiB, "k7", &own, &client), 0);
	close(own);
	close(client);
	memfd_ready_drop(r);
	assert_int_equal(memfd_ready_count(r), 0);
	assert_int_equal(open_fds(), base);
	memfd_ready_destroy(r);
}

/* Out of descriptors: making ahead stops quietly; what was asked still fails cleanly. */
static void out_of_descriptors_stops_making_ahead(void **state)
{
	struct memfd_ready *r = memfd_ready_new(true, false);
	struct rlimit old, low;
	int own, client;

	(void)state;
	memfd_ready_take(r, MiB, "tight", &own, &client);
	memfd_ready_take(r, MiB, "tight", &own, &client);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)dup(0); /* the lowest free number: every one below is taken */
	close((int)low.rlim_cur);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	assert_false(memfd_ready_fill(r));
	assert_int_equal(memfd_pair_make("x", MiB, true, &own, &client), -EMFILE);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(memfd_ready_count(r), 0);
	/* Asked for again, it is made again once descriptors are back. */
	assert_int_equal(memfd_ready_take(r, MiB, "tight", &own, &client), -ENOENT);
	fill_all(r);
	assert_int_equal(memfd_ready_count(r), 1);
	memfd_ready_destroy(r);
}

/* Without leases the client's descriptor is a dup: the same description. */
static void uncounted_pairs_share_one_description(void **state)
{
	int own, client;

	(void)state;
	assert_int_equal(memfd_pair_make("dup", MiB, false, &own, &client), 0);
	assert_int_equal(fcntl(own, F_SETFL, O_NONBLOCK), 0);
	assert_true(fcntl(client, F_GETFL) & O_NONBLOCK); /* status flags live in the description */
	close(own);
	close(client);
}

/* Polls (5 s at most) until count buffers wait: the worker makes them on its own time. */
static void wait_count(struct memfd_ready *r, unsigned count)
{
	int i;

	for (i = 0; i < 500 && memfd_ready_count(r) != count; i++)
		usleep(10000);
	assert_int_equal(memfd_ready_count(r), count);
}

/*
 * Threaded, as the daemon runs it: the loop's idle turns make them
 * (memfd_ready_fill, on the caller), and the worker is woken only when a
 * request found none waiting; everything made is closed at the end. A wake-up
 * after every take cost a context switch per request and, unpinned, moved the
 * daemon off the client's CPU (bench/RESULTS.md).
 */
static void the_worker_is_woken_only_by_a_miss(void **state)
{
	unsigned base = open_fds();
	struct memfd_ready *r = memfd_ready_new(true, true);
	int own, client, i;

	(void)state;
	assert_int_equal(memfd_ready_take(r, MiB, "w", &own, &client), -ENOENT);
	assert_int_equal(memfd_ready_take(r, MiB, "w", &own, &client), -ENOENT);
	wait_count(r, 1); /* the miss woke it */
	assert_int_equal(memfd_ready_take(r, MiB, "w", &own, &client), 0);
	assert_buffer(own, client, MiB, "w");
	usleep(20000);
	assert_int_equal(memfd_ready_count(r), 0); /* the last one went: no wake-up for that */
	assert_true(memfd_ready_fill(r));	   /* two are kept now: one made, one more wanted */
	assert_false(memfd_ready_fill(r));
	assert_int_equal(memfd_ready_count(r), 2);
	for (i = 0; i < 20; i++) {
		assert_int_equal(memfd_ready_take(r, MiB, "w", &own, &client), 0);
		assert_buffer(own, client, MiB, "w");
		assert_false(memfd_ready_fill(r)); /* made up for on the idle turn */
		assert_int_equal(memfd_ready_count(r), 2);
	}
	/* None waiting (dropped) is a miss: the worker makes twice as many from then on. */
	memfd_ready_drop(r);
	assert_int_equal(memfd_ready_take(r, MiB, "w", &own, &client), -ENOENT);
	wait_count(r, 4);
	memfd_ready_destroy(r);
	assert_int_equal(open_fds(), base);
}

/* The policy of each thread of ours but the caller's, or -1 if there is none. */
static int other_thread_policy(void)
{
	struct dirent *e;
	int policy = -1;
	DIR *dir = opendir("/proc/self/task");

	assert_non_null(dir);
	while ((e = readdir(dir)))
		if (e->d_name[0] != '.' && atoi(e->d_name) != gettid())
			policy = sched_getscheduler(atoi(e->d_name));
	closedir(dir);
	return policy;
}

/*
 * The worker must not preempt the client that just got its reply, nor the
 * loop (bench/RESULTS.md, section 1): it runs as SCHED_BATCH.
 */
static void the_worker_yields_to_the_threads_it_serves(void **state)
{
	struct memfd_ready *r = memfd_ready_new(true, true);
	struct timespec ts = {0, 10 * 1000000L};
	int i;

	(void)state;
	assert_int_equal(other_thread_policy(), SCHED_BATCH);
	memfd_ready_destroy(r);
	/*
	 * Joined is not yet reaped: the kernel lists an exited thread in
	 * /proc/self/task for a moment after pthread_join returns. Wait (5 s at
	 * most) for it to go rather than read the moment.
	 */
	for (i = 0; i < 500 && other_thread_policy() != -1; i++)
		nanosleep(&ts, NULL);
	assert_int_equal(other_thread_policy(), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_kind_asked_for_once_is_not_made_ahead),
		cmocka_unit_test(a_kind_asked_for_again_is_made_and_handed_out),
		cmocka_unit_test(another_size_or_name_is_another_kind),
		cmocka_unit_test(a_burst_raises_how_many_are_kept),
		cmocka_unit_test(one_at_a_time_keeps_one_waiting),
		cmocka_unit_test(no_more_than_the_maximum_wait_in_all),
		cmocka_unit_test(a_kind_in_use_takes_slots_from_an_older_one),
		cmocka_unit_test(the_least_recently_asked_kind_makes_room),
		cmocka_unit_test(out_of_descriptors_stops_making_ahead),
		cmocka_unit_test(uncounted_pairs_share_one_description),
		cmocka_unit_test(the_worker_is_woken_only_by_a_miss),
		cmocka_unit_test(the_worker_yields_to_the_threads_it_serves),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
