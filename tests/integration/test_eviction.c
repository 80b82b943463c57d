/* SPDX-License-Identifier: MIT */
/*
 * Eviction on the memfd backend: purgeable buffers make room for a request
 * that cannot otherwise be placed, pinned ones never move, the cheapest
 * contiguous window wins, and the holder learns its buffer was purged.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmabuf.h"
#include "harness.h"

#define REGION (64ull << 20)	       /* memfd; with uio the stub's region decides */
#define SLOT   (f->td.region_size / 8) /* the region holds exactly 8 of these */

struct fixture {
	struct test_daemon td;
	struct cmabuf *holder, *asker;
	struct cmabuf_buffer *slot[8];
};

static int setup(void **state)
{
	static struct fixture f;
	int i;

	memset(&f, 0, sizeof(f));
	if (test_daemon_start(&f.td, REGION, NULL) < 0 || cmabuf_connect(f.td.socket, &f.holder) ||
	    cmabuf_connect(f.td.socket, &f.asker))
		return -1;
	for (i = 0; i < 8; i++) {
		struct cmabuf_alloc_desc d = {.size = f.td.region_size / 8, .name = "slot"};

		if (cmabuf_alloc(f.holder, &d, &f.slot[i]) < 0 || !cmabuf_map(f.slot[i])) {
			test_daemon_stop(&f.td); /* cmocka skips teardown when setup fails */
			return -1;
		}
		pattern_fill(cmabuf_map(f.slot[i]), d.size, 100 + i);
	}
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int i;

	/* Close every dma-buf: on the stub a held one outlives the daemon. */
	for (i = 0; i < 8; i++)
		cmabuf_free(f->slot[i]);
	cmabuf_disconnect(f->asker);
	cmabuf_disconnect(f->holder);
	return test_daemon_stop(&f->td) == 0 ? 0 : -1;
}

static void make_purgeable(struct fixture *f, int i)
{
	bool purged = true;

	assert_int_equal(cmabuf_set_purgeable(f->slot[i], true, &purged), 0);
	assert_false(purged);
}

static bool was_purged(struct fixture *f, int i)
{
	bool purged = false;

	assert_int_equal(cmabuf_set_purgeable(f->slot[i], false, &purged), 0);
	return purged;
}

/* 1 if touching (writing when write, else reading) every page of p faults with SIGBUS. */
static bool touch_faults(volatile uint8_t *p, uint64_t size, bool write)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		uint64_t off;

		/* cmocka's handler would catch the fault and run the suite on in this child */
		signal(SIGBUS, SIG_DFL);
		for (off = 0; off < size; off += 4096) {
			if (write)
				p[off] = 0xa5;
			else
				(void)p[off];
		}
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS;
}

/*
 * What the holder of a purged buffer sees, on either backend: the mapping is
 * gone and a touch is SIGBUS (memfd: the file was cut to 0 bytes; the stub:
 * the mapping was zapped).
 */
static bool contents_gone(struct fixture *f, int i)
{
	return touch_faults(cmabuf_map(f->slot[i]), SLOT, false);
}

static int ask(struct fixture *f, uint64_t size, struct cmabuf_buffer **out)
{
	struct cmabuf_alloc_desc d = {.size = size, .name = "big"};

	return cmabuf_alloc(f->asker, &d, out);
}

static void purgeable_neighbours_make_room_pinned_untouched(void **state)
{
	struct fixture *f = *state;
	struct cmabuf_buffer *big;
	int i;

	make_purgeable(f, 2);
	make_purgeable(f, 3);
	assert_int_equal(ask(f, 2 * SLOT, &big), 0);
	assert_true(was_purged(f, 2));
	assert_true(was_purged(f, 3));
	assert_true(contents_gone(f, 2));
	for (i = 0; i < 8; i++) {
		if (i == 2 || i == 3)
			continue;
		assert_false(was_purged(f, i));
		assert_int_equal(pattern_check(cmabuf_map(f->slot[i]), SLOT, 100 + i), 0);
	}
	cmabuf_free(big);
}

static void pinned_buffer_between_purgeables_blocks_and_is_named(void **state)
{
	struct fixture *f = *state;
	struct cmabuf_buffer *big = NULL;

	make_purgeable(f, 1);
	make_purgeable(f, 3); /* slot 2 between them stays pinned */
	assert_int_equal(ask(f, 2 * SLOT, &big), -ENOMEM);
	assert_null(big);
	assert_non_null(strstr(cmabuf_last_error(f->asker), "pinned"));
	assert_false(was_purged(f, 1));
	assert_false(was_purged(f, 3));
}

/* Until the monotonic clock, which the daemon stamps uses with in ms, has moved on. */
static void next_millisecond(void)
{
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < 2);
}

/* Two purgeable windows, one used longer ago: that one goes, wherever it lies. */
static void lru_window(struct fixture *f, int older, int newer)
{
	struct cmabuf_buffer *big;

	make_purgeable(f, older);
	make_purgeable(f, older + 1);
	next_millisecond();
	make_purgeable(f, newer);
	make_purgeable(f, newer + 1);
	assert_int_equal(ask(f, 2 * SLOT, &big), 0);
	assert_true(was_purged(f, older));
	assert_true(was_purged(f, older + 1));
	assert_false(was_purged(f, newer));
	assert_false(was_purged(f, newer + 1));
	cmabuf_free(big);
}

static void least_recently_used_window_is_taken(void **state)
{
	lru_window(*state, 5, 0); /* the older one higher in the region */
}

static void least_recently_used_window_is_taken_lower_in_the_region_too(void **state)
{
	lru_window(*state, 0, 5);
}

/* Purgeable once, pinned again: no longer the daemon's to take. */
static void a_buffer_pinned_again_is_not_purged(void **state)
{
	struct fixture *f = *state;
	struct cmabuf_buffer *big = NULL;
	bool purged = true;

	make_purgeable(f, 3);
	assert_int_equal(cmabuf_set_purgeable(f->slot[3], false, &purged), 0);
	assert_false(purged);
	assert_int_equal(ask(f, SLOT, &big), -ENOMEM);
	assert_null(big);
	assert_non_null(strstr(cmabuf_last_error(f->asker), "pinned"));
	assert_false(was_purged(f, 3));
	assert_int_equal(pattern_check(cmabuf_map(f->slot[3]), SLOT, 100 + 3), 0);
}

/* Purgeable, then freed while another process holds it: no longer the daemon's to take. */
static void a_freed_buffer_still_held_is_not_purged(void **state)
{
	struct fixture *f = *state;
	struct cmabuf_buffer *big = NULL;
	int held = dup(cmabuf_buffer_fd(f->slot[4]));
	void *p = mmap(NULL, SLOT, PROT_READ, MAP_SHARED, held, 0); /* ours, past the free */

	assert_true(held >= 0);
	assert_true(p != MAP_FAILED);
	make_purgeable(f, 4);
	assert_int_equal(cmabuf_free(f->slot[4]), 0); /* our mapping and descriptor stay */
	f->slot[4] = NULL;
	assert_int_equal(ask(f, SLOT, &big), -ENOMEM);
	assert_null(big);
	assert_non_null(strstr(cmabuf_last_error(f->asker), "eviction blocked by"));
	assert_int_equal(pattern_check(p, SLOT, 100 + 4), 0); /* its memory is still there */
	munmap(p, SLOT);
	close(held);
}

static void purged_buffer_can_still_be_freed_and_space_reused(void **state)
{
	struct fixture *f = *state;
	struct cmabuf_buffer *big, *again;
	struct cmabuf_msg_status_reply st;

	make_purgeable(f, 7);
	assert_int_equal(ask(f, SLOT, &big), 0);
	assert_true(was_purged(f, 7));
	assert_int_equal(cmabuf_free(f->slot[7]), 0);
	f->slot[7] = NULL;
	assert_int_equal(test_daemon_status(&f->td, &st), 0);
	assert_int_equal(st.buffers, 8);
	assert_int_equal(st.used, f->td.region_size);
	cmabuf_free(big);
	assert_int_equal(ask(f, SLOT, &again), 0);
	cmabuf_free(again);
}

/*
 * Issue 14 item 11: a purged buffer's holder must not get its pages back by
 * writing. Before the fix the memfd backend only punched the pages out, and
 * the holder's writes (mapping, write(), fallocate()) brought them back: memory
 * the daemon counted as free while the holder kept it, without bound.
 */
static void purged_memory_cannot_be_written_back(void **state)
{
	struct fixture *f = *state;
	struct cmabuf_msg_status_reply st;
	struct cmabuf_buffer *big;
	static char page[4096];
	struct stat sb;
	int fd = cmabuf_buffer_fd(f->slot[4]);

	make_purgeable(f, 4);
	assert_int_equal(ask(f, SLOT, &big), 0);
	assert_true(was_purged(f, 4));
	/* Every page of the old mapping, written: the first write faults. */
	assert_true(touch_faults(cmabuf_map(f->slot[4]), SLOT, true));
	assert_int_equal(test_daemon_status(&f->td, &st), 0);
	if (strcmp(st.backend, "memfd") == 0) {
		/* Nor through the descriptor: write(), fallocate() and growing all refused. */
		memset(page, 0x5a, sizeof(page));
		assert_int_equal(pwrite(fd, page, sizeof(page), 0), -1);
		assert_int_equal(errno, EPERM);
		assert_int_equal(fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)SLOT), -1);
		assert_int_equal(errno, EPERM);
		assert_int_equal(ftruncate(fd, (off_t)SLOT), -1);
		assert_int_equal(errno, EPERM);
		/* And a new writable mapping of it holds no page either. */
		{
			void *again = mmap(NULL, SLOT, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

			assert_true(again != MAP_FAILED);
			assert_true(touch_faults(again, SLOT, true));
			munmap(again, SLOT);
		}
		/* The file holds no memory at all, whatever the holder tried. */
		assert_int_equal(fstat(fd, &sb), 0);
		assert_int_equal(sb.st_blocks, 0);
		assert_int_equal(sb.st_size, 0);
	}
	/* The region is full as the daemon says: no room was made out of the holder's pages. */
	assert_int_equal(st.used, f->td.region_size);
	cmabuf_free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(purgeable_neighbours_make_room_pinned_untouched),
		T(pinned_buffer_between_purgeables_blocks_and_is_named),
		T(least_recently_used_window_is_taken),
		T(least_recently_used_window_is_taken_lower_in_the_region_too),
		T(a_buffer_pinned_again_is_not_purged),
		T(a_freed_buffer_still_held_is_not_purged),
		T(purged_buffer_can_still_be_freed_and_space_reused),
		T(purged_memory_cannot_be_written_back),
#undef T
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
