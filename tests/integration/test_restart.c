/* SPDX-License-Identifier: MIT */
/*
 * cmabufd killed with SIGKILL while clients hold buffers and another churns
 * allocations, then restarted: the clients' buffers stay intact, their old
 * connection fails cleanly, they reconnect and allocate again, and no
 * surviving buffer's memory is handed out twice — on the stub no surviving
 * range is (ranges are physical, and the stub's LIST gives every survivor
 * back), on memfd no new buffer shares a survivor's pages (the same offsets
 * may come back: without systemd's store a memfd daemon cannot know them).
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
#include <sys/mman.h>
#include <sys/socket.h>
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

/* Allocates and frees until killed, through the crash too: the kill lands under load. */
static void churn(const char *socket, int ready)
{
	struct cmabuf_alloc_desc d = {.size = 1 * MB, .name = "churn"};
	struct cmabuf_buffer *b;
	struct cmabuf *cb = NULL;
	unsigned n = 0;

	for (;;) {
		if (!cb && cmabuf_connect(socket, &cb) < 0) {
			cb = NULL;
			usleep(1000);
			continue;
		}
		if (cmabuf_alloc(cb, &d, &b) < 0) {
			cmabuf_disconnect(cb);
			cb = NULL;
			continue;
		}
		cmabuf_free(b);
		if (++n == 100 && write(ready, "c", 1) != 1)
			_exit(1);
	}
}

static int holder(const char *socket, int report, int go, int fds)
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
		if (test_send_fd(fds, cmabuf_buffer_fd(b[i])) < 0)
			return 8;
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

/* A survivor, mapped by the test itself from the holder's descriptor. */
static const void *map_survivor(int fd)
{
	void *p = mmap(NULL, HELD_SZ, PROT_READ, MAP_SHARED, fd, 0);

	assert_true(p != MAP_FAILED);
	return p;
}

static void kill_9_under_load_loses_nothing(void **state)
{
	struct test_daemon td;
	struct cmabuf_msg_status_reply st;
	struct range held[HELD];
	struct cmabuf_buffer *mine[64];
	const void *survivor[HELD];
	struct cmabuf *cb;
	int report[2], go[2], ready[2], fds[2], status, n = 0, i, j;
	bool physical;
	pid_t pid, churner;
	char c;

	assert_int_equal(test_daemon_start(&td, 64 * MB, NULL), 0);
	assert_int_equal(pipe(report), 0);
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, fds), 0);
	pid = fork();
	if (pid == 0)
		_exit(holder(td.socket, report[1], go[0], fds[1]));
	assert_int_equal(read(report[0], held, sizeof(held)), sizeof(held));
	for (i = 0; i < HELD; i++) {
		int fd = test_recv_fd(fds[0]);

		assert_true(fd >= 0);
		survivor[i] = map_survivor(fd);
		close(fd);
	}
	churner = fork();
	if (churner == 0)
		churn(td.socket, ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1); /* it has allocated a hundred times */

	assert_int_equal(test_daemon_crash_and_restart(&td, NULL), 0);
	/* The churner's last buffer, if it held one at the kill, goes with it. */
	kill(churner, SIGKILL);
	assert_int_equal(waitpid(churner, NULL, 0), churner);
	assert_int_equal(test_daemon_status(&td, &st), 0);
	physical = strcmp(st.backend, "uio") == 0;
	/* The stub's LIST gives every survivor back; memfd without systemd's store cannot. */
	assert_int_equal(test_daemon_wait_buffers(&td, physical ? HELD : 0), 0);

	/* Fill what the new daemon will give, leaving room for the holder's 4 MiB. */
	assert_int_equal(cmabuf_connect(td.socket, &cb), 0);
	while (n < 64) {
		struct cmabuf_alloc_desc d = {.size = 4 * MB, .name = "filler"};
		uint64_t addr;

		if (cmabuf_alloc(cb, &d, &mine[n]) < 0)
			break;
		assert_non_null(cmabuf_map(mine[n]));
		pattern_fill(cmabuf_map(mine[n]), 4 * MB, 900 + (uint32_t)n);
		cmabuf_buffer_dev_addr(mine[n], &addr);
		for (j = 0; physical && j < HELD; j++)
			if (overlaps(addr, 4 * MB, &held[j]))
				fail_msg("range 0x%" PRIx64 " handed out twice after restart",
					 addr);
		n++;
	}
	assert_true(n > 0);
	/* Whatever was handed out, no survivor's memory was: each still reads its pattern. */
	for (i = 0; i < HELD; i++)
		assert_int_equal(pattern_check(survivor[i], HELD_SZ, 500 + (uint32_t)i), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(pattern_check(cmabuf_map(mine[i]), 4 * MB, 900 + (uint32_t)i), 0);
	cmabuf_free(mine[--n]);

	assert_int_equal(write(go[1], "g", 1), 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	for (i = 0; i < HELD; i++)
		munmap((void *)survivor[i], HELD_SZ);
	for (i = 0; i < n; i++)
		cmabuf_free(mine[i]);
	cmabuf_disconnect(cb);
	assert_int_equal(test_daemon_wait_buffers(&td, 0), 0);
	assert_int_equal(test_daemon_status(&td, &st), 0);
	assert_int_equal(st.largest_free, td.region_size);
	assert_int_equal(test_daemon_stop(&td), 0);
	for (i = 0; i < 2; i++) {
		close(report[i]);
		close(go[i]);
		close(ready[i]);
		close(fds[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(kill_9_under_load_loses_nothing),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
