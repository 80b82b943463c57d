/* SPDX-License-Identifier: MIT */
/*
 * cmabufd killed with SIGKILL while clients hold buffers, then restarted:
 * the clients' buffers stay intact, their old connection fails cleanly, they
 * reconnect and allocate again, and (on the stub, where ranges are physical)
 * no surviving range is handed out twice.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmabuf.h"
#include "harness.h"

#define MB	(1ull << 20)
#define HELD	4
#define HELD_SZ (8 * MB)

struct range {
	uint64_t addr, size;
};

static int holder(const char *socket, int report, int go)
{
	struct cmabuf_alloc_desc d = {.size = HELD_SZ, .name = "survivor"};
	struct cmabuf_buffer *b[HELD], *fresh;
	struct cmabuf *cb;
	struct range r[HELD];
	char c;
	int i, ret;

	if (cmabuf_connect(socket, &cb) < 0)
		return 1;
	for (i = 0; i < HELD; i++) {
		if (cmabuf_alloc(cb, &d, &b[i]) < 0 || !cmabuf_map(b[i]))
			return 2;
		pattern_fill(cmabuf_map(b[i]), HELD_SZ, 500 + i);
		cmabuf_buffer_dev_addr(b[i], &r[i].addr);
		r[i].size = HELD_SZ;
	}
	if (write(report, r, sizeof(r)) != sizeof(r) || read(go, &c, 1) != 1)
		return 3;
	/* The daemon we knew is gone: a clean error, not a hang or a crash. */
	ret = cmabuf_alloc(cb, &d, &fresh);
	if (ret != -ECONNRESET && ret != -EPIPE && ret != -ENOTCONN)
		return 4;
	cmabuf_disconnect(cb);
	if (cmabuf_connect(socket, &cb) < 0)
		return 5;
	d.size = 4 * MB;
	d.name = "after-restart";
	if (cmabuf_alloc(cb, &d, &fresh) < 0)
		return 6;
	for (i = 0; i < HELD; i++) /* the memory survived with its contents */
		if (pattern_check(cmabuf_map(b[i]), HELD_SZ, 500 + i))
			return 7;
	cmabuf_free(fresh);
	cmabuf_disconnect(cb);
	return 0;
}

static bool overlaps(uint64_t a, uint64_t as, const struct range *r)
{
	return a < r->addr + r->size && r->addr < a + as;
}

static void kill_9_under_load_loses_nothing(void **state)
{
	struct test_daemon td;
	struct cmabuf_msg_status_reply st;
	struct range held[HELD];
	struct cmabuf_buffer *mine[64];
	struct cmabuf *cb;
	int report[2], go[2], status, n = 0, i, j;
	bool physical;
	pid_t pid;

	assert_int_equal(test_daemon_start(&td, 64 * MB, NULL), 0);
	assert_int_equal(pipe(report), 0);
	assert_int_equal(pipe(go), 0);
	pid = fork();
	if (pid == 0)
		_exit(holder(td.socket, report[1], go[0]));
	assert_int_equal(read(report[0], held, sizeof(held)), sizeof(held));

	assert_int_equal(test_daemon_crash_and_restart(&td, NULL), 0);
	assert_int_equal(test_daemon_status(&td, &st), 0);
	physical = strcmp(st.backend, "uio") == 0;
	if (physical) /* the stub's LIST: every survivor is accounted for */
		assert_int_equal(st.buffers, HELD);

	/* Fill what the new daemon will give, leaving room for the holder's 4 MiB. */
	assert_int_equal(cmabuf_connect(td.socket, &cb), 0);
	while (n < 64) {
		struct cmabuf_alloc_desc d = {.size = 4 * MB, .name = "filler"};
		uint64_t addr;

		if (cmabuf_alloc(cb, &d, &mine[n]) < 0)
			break;
		cmabuf_buffer_dev_addr(mine[n], &addr);
		for (j = 0; physical && j < HELD; j++)
			if (overlaps(addr, 4 * MB, &held[j]))
				fail_msg("range 0x%" PRIx64 " handed out twice after restart",
					 addr);
		n++;
	}
	assert_true(n > 0);
	cmabuf_free(mine[--n]);

	assert_int_equal(write(go[1], "g", 1), 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	for (i = 0; i < n; i++)
		cmabuf_free(mine[i]);
	cmabuf_disconnect(cb);
	assert_int_equal(test_daemon_wait_buffers(&td, 0), 0);
	assert_int_equal(test_daemon_status(&td, &st), 0);
	assert_int_equal(st.largest_free, td.region_size);
	assert_int_equal(test_daemon_stop(&td), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(kill_9_under_load_loses_nothing),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
