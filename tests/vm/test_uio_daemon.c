/* SPDX-License-Identifier: MIT */
/*
 * cmabufd on the real stub, inside the VM: coherent mappings only (checked
 * against x86 PAT's own bookkeeping, on arm64 against the page-table entries
 * tests/vm/ptewalk reads), and a range returns to the pool only when the stub
 * says the last holder let go.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmabuf.h"
#include "connection.h"
#include "harness.h"
#include "protocol.h"
#include "ptewalk_client.h"

#define PAT_LIST "/sys/kernel/debug/x86/pat_memtype_list"

static int setup(void **state)
{
	static struct test_daemon td;

	setenv("CMABUF_TEST_BACKEND", "uio", 1);
	if (test_daemon_start(&td, 0, NULL) < 0)
		return -1;
	*state = &td;
	return 0;
}

static int teardown(void **state)
{
	return test_daemon_stop(*state) == 0 ? 0 : -1;
}

static struct cmabuf_buffer *alloc_or_fail(struct cmabuf *cb, uint64_t size, const char *name)
{
	struct cmabuf_alloc_desc d = {.size = size, .name = name};
	struct cmabuf_buffer *b = NULL;

	if (cmabuf_alloc(cb, &d, &b) < 0)
		fail_msg("alloc %s: %s", name, cmabuf_last_error(cb));
	return b;
}

#if defined(__x86_64__)
/*
 * Every PAT entry that touches the region must be write-combining, and the
 * mapped buffers must be covered by one. Returns the number of such entries.
 */
static int check_pat(uint64_t base, uint64_t size, uint64_t want_lo, uint64_t want_hi)
{
	FILE *f = fopen(PAT_LIST, "r");
	char line[256], type[64];
	uint64_t lo, hi;
	int n = 0, covered = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "PAT: [mem 0x%" SCNx64 "-0x%" SCNx64 "] %63s", &lo, &hi, type) !=
		    3)
			continue;
		if (hi <= base || lo >= base + size)
			continue;
		n++;
		if (strcmp(type, "write-combining") != 0)
			fail_msg("region range %#" PRIx64 "-%#" PRIx64
				 " is %s, not write-combining",
				 lo, hi, type);
		covered |= lo <= want_lo && hi >= want_hi;
	}
	fclose(f);
	assert_true(covered);
	return n;
}

/*
 * x86: PAT's list covers every mapping of the range, the daemon's included,
 * so one look per buffer checks them all.
 */
static void check_mappings(const struct cmabuf_msg_status_reply *st, void *map, uint64_t addr,
			   uint64_t size)
{
	(void)map;
	assert_true(check_pat(st->region_base, st->region_size, addr, addr + size) > 0);
}
#elif defined(__aarch64__)
/*
 * arm64: the page-table entries of this client's mapping (its first, middle
 * and last page) must say Normal-NC at the buffer's physical address.
 * ptewalk reads only the calling process's table, so the daemon's mappings
 * are not walked here: it maps the region through UIO's map0 and dma-buf
 * mmap, the two paths test_arm64_mappings walks in a process of its own.
 */
static void check_mappings(const struct cmabuf_msg_status_reply *st, void *map, uint64_t addr,
			   uint64_t size)
{
	const uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t offs[] = {0, (size / 2) & ~(page - 1), (size - 1) & ~(page - 1)};
	char type[32], why[256];

	(void)st;
	assert_int_equal(ptewalk_load(), 0);
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		if (ptewalk_user_type((char *)map + offs[i], addr + offs[i], type, sizeof(type),
				      why, sizeof(why)) < 0 ||
		    strcmp(type, "Normal-NC") != 0)
			fail_msg("buffer at %#" PRIx64 " + %#" PRIx64
				 " is not mapped Normal-NC: %s",
				 addr, offs[i], why);
	}
}
#else
#error "test_uio_daemon: no evidence of mapping attributes for this architecture"
#endif

static void every_mapping_is_write_combining(void **state)
{
	struct test_daemon *td = *state;
	struct cmabuf_msg_status_reply st;
	struct cmabuf *cb;
	struct cmabuf_buffer *b[3];
	uint64_t addr;
	int i;

	assert_int_equal(cmabuf_connect(td->socket, &cb), 0);
	assert_int_equal(test_daemon_status(td, &st), 0);
	assert_string_equal(st.backend, "uio");
	for (i = 0; i < 3; i++) {
		b[i] = alloc_or_fail(cb, 3110400, "pat-check");
		memset(cmabuf_map(b[i]), 0xa5, cmabuf_buffer_size(b[i]));
		assert_int_equal(cmabuf_buffer_dev_addr(b[i], &addr), 0);
		check_mappings(&st, cmabuf_map(b[i]), addr, cmabuf_buffer_size(b[i]));
	}
	for (i = 0; i < 3; i++)
		cmabuf_free(b[i]);
	cmabuf_disconnect(cb);
}

/* A child that holds a dma-buf fd until told to let go. */
static pid_t spawn_holder(int fd, int *release_pipe)
{
	int p[2];
	pid_t pid;
	char c;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[1]);
		(void)fd; /* inherited: the child's reference keeps the dma-buf alive */
		if (read(p[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(p[0]);
	*release_pipe = p[1];
	return pid;
}

static void range_returns_only_when_last_holder_closes(void **state)
{
	struct test_daemon *td = *state;
	struct cmabuf_msg_status_reply st;
	struct cmabuf *cb;
	struct cmabuf_buffer *held, *other, *again;
	uint64_t held_addr, other_addr, again_addr, size = 8u << 20;
	int release, status;
	pid_t holder;

	assert_int_equal(cmabuf_connect(td->socket, &cb), 0);
	held = alloc_or_fail(cb, size, "held-elsewhere");
	assert_int_equal(cmabuf_buffer_dev_addr(held, &held_addr), 0);
	holder = spawn_holder(cmabuf_buffer_fd(held), &release);
	assert_int_equal(cmabuf_free(held), 0); /* the owner lets go; the holder does not */

	assert_int_equal(test_daemon_status(td, &st), 0);
	assert_int_equal(st.buffers, 1);
	assert_int_equal(st.pending_release, size);
	other = alloc_or_fail(cb, size, "meanwhile");
	assert_int_equal(cmabuf_buffer_dev_addr(other, &other_addr), 0);
	assert_true(other_addr >= held_addr + size || other_addr + size <= held_addr);

	assert_int_equal(write(release, "x", 1), 1); /* the holder exits: last reference gone */
	assert_int_equal(waitpid(holder, &status, 0), holder);
	close(release);
	assert_int_equal(test_daemon_wait_buffers(td, 1), 0);
	assert_int_equal(test_daemon_status(td, &st), 0);
	assert_int_equal(st.pending_release, 0);

	cmabuf_free(other);
	assert_int_equal(test_daemon_wait_buffers(td, 0), 0);
	/* The whole region fits again, so the held range is back in use. */
	again = alloc_or_fail(cb, td->region_size, "reuse");
	assert_int_equal(cmabuf_buffer_dev_addr(again, &again_addr), 0);
	assert_true(again_addr <= held_addr);
	cmabuf_free(again);
	cmabuf_disconnect(cb);
}

/*
 * A new owner never sees the last one's data: the range is cleared by the
 * stub before reuse. The whole region is then allocated at once, so the
 * reallocation certainly covers the dirty range (and has to wait for the
 * zeroing if it is still running).
 */
static void reused_memory_reads_back_zero(void **state)
{
	struct test_daemon *td = *state;
	struct cmabuf *cb;
	struct cmabuf_buffer *dirty, *all;
	uint64_t dirty_addr, all_addr, size = 4u << 20, i;
	const uint8_t *p;

	assert_int_equal(cmabuf_connect(td->socket, &cb), 0);
	dirty = alloc_or_fail(cb, size, "dirty");
	assert_int_equal(cmabuf_buffer_dev_addr(dirty, &dirty_addr), 0);
	memset(cmabuf_map(dirty), 0x5a, size);
	assert_int_equal(cmabuf_free(dirty), 0);
	assert_int_equal(test_daemon_wait_buffers(td, 0), 0);

	all = alloc_or_fail(cb, td->region_size, "everything");
	assert_int_equal(cmabuf_buffer_dev_addr(all, &all_addr), 0);
	p = cmabuf_map(all);
	assert_non_null(p);
	p += dirty_addr - all_addr;
	for (i = 0; i < size; i++)
		if (p[i] != 0)
			fail_msg("byte %" PRIu64 " of the reused range is 0x%02x, not zero", i,
				 p[i]);
	cmabuf_free(all);
	cmabuf_disconnect(cb);
}

/*
 * Free, then at once ask for the whole region again: the stub's release event
 * may still be queued when the ALLOC arrives, and must be read before "full".
 */
static void free_then_alloc_at_once_never_sees_a_full_region(void **state)
{
	struct test_daemon *td = *state;
	struct cmabuf_buffer *b;
	struct cmabuf *cb;

	assert_int_equal(cmabuf_connect(td->socket, &cb), 0);
	for (int i = 0; i < 20; i++) {
		b = alloc_or_fail(cb, td->region_size, "whole region");
		assert_int_equal(cmabuf_free(b), 0);
	}
	cmabuf_disconnect(cb);
}

/* The name in /proc/PID/fdinfo/FD ("name:\t..."), or "" if none. */
static void fdinfo_name(int fd, char *out, size_t cap)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	assert_non_null(f);
	out[0] = '\0';
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "name:\t", 6) == 0) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(out, cap, "%s", line + 6);
		}
	fclose(f);
}

/* The stub keeps 31 bytes of a name: the cut falls between characters, never inside one. */
static void long_names_are_cut_between_characters(void **state)
{
	struct test_daemon *td = *state;
	/* 30 ASCII bytes, then "é" (2 bytes) straddling the 31-byte limit */
	const char *name = "camera0-nv12-1920x1080-frames-\xc3\xa9tc";
	struct cmabuf_buffer *b;
	struct cmabuf *cb;
	char seen[256];

	assert_int_equal(cmabuf_connect(td->socket, &cb), 0);
	b = alloc_or_fail(cb, 4096, name);
	fdinfo_name(cmabuf_buffer_fd(b), seen, sizeof(seen));
	assert_string_equal(seen, "camera0-nv12-1920x1080-frames-");
	cmabuf_free(b);
	cmabuf_disconnect(cb);
}

/* Reads the daemon's log until a line containing what; false at its end. */
static bool log_says(FILE *log, const char *what)
{
	char line[512];

	while (fgets(line, sizeof(line), log))
		if (strstr(line, what))
			return true;
	return false;
}

/* backend: "--backend=uio", or NULL for none (auto). */
static pid_t spawn_daemon(const char *backend, const char *socket_arg, FILE **log)
{
	int out[2];
	pid_t pid;

	assert_int_equal(pipe(out), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(out[1], STDERR_FILENO);
		close(out[0]);
		if (backend)
			execl(getenv("CMABUFD"), "cmabufd", backend, socket_arg, (char *)NULL);
		else
			execl(getenv("CMABUFD"), "cmabufd", socket_arg, (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	*log = fdopen(out[0], "r");
	assert_non_null(*log);
	return pid;
}

/* With the stub unloaded, a cmabufd of its own socket in a new directory dir (a mkdtemp template).
 */
static pid_t start_unloaded(char *dir, char *sock, size_t socklen, const char *backend, FILE **log)
{
	char arg[80];

	assert_int_equal(system("rmmod uio_cma"), 0);
	assert_non_null(mkdtemp(dir));
	snprintf(sock, socklen, "%s/cmabufd.sock", dir);
	snprintf(arg, sizeof(arg), "--socket=%s", sock);
	return spawn_daemon(backend, arg, log);
}

/* SIGTERM: it must exit 0. */
static void stop_cleanly(pid_t pid)
{
	int status;

	assert_int_equal(kill(pid, SIGTERM), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Loads the stub the way the architecture gives it the region (see below). */
static void load_stub(const char *ko, const char *base, const char *size)
{
	char cmd[512];

#if defined(__x86_64__)
	snprintf(cmd, sizeof(cmd), "insmod '%s' base=%s size=%s", ko, base, size);
#else
	(void)base;
	(void)size;
	snprintf(cmd, sizeof(cmd), "insmod '%s'", ko);
#endif
	assert_int_equal(system(cmd), 0);
}

/*
 * --backend=uio started before the stub is loaded serves nobody, says why,
 * and takes the region when it appears (no udevd here: the kernel's own
 * uevents must do). Runs last: it unloads and reloads uio_cma, the way the
 * architecture gives the region: x86 as base=/size= (memmap=), arm64 without
 * parameters (the device tree's cmabuf,uio-cma nodes bind again).
 */
static void region_loaded_later_is_adopted(void **state)
{
	const char *ko = getenv("CMABUF_VM_KO"), *base = getenv("CMABUF_VM_BASE"),
		   *size = getenv("CMABUF_VM_SIZE");
	char dir[] = "/tmp/cmabuf-late-XXXXXX", sock[64];
	struct cmabuf_buffer *b;
	struct cmabuf *cb;
	uint64_t addr, lo;
	FILE *log;
	pid_t pid;

	assert_true(ko && base && size);
	pid = start_unloaded(dir, sock, sizeof(sock), "--backend=uio", &log);
	assert_true(log_says(log, "no uio_cma region yet; waiting for one to appear"));
	assert_int_not_equal(access(sock, F_OK), 0); /* no memory, no socket */
	load_stub(ko, base, size);
	assert_true(log_says(log, "(region appeared)"));
	assert_int_equal(cmabuf_connect(sock, &cb), 0);
	b = alloc_or_fail(cb, 1 << 20, "late");
	assert_int_equal(cmabuf_buffer_dev_addr(b, &addr), 0); /* root may know */
	lo = strtoull(base, NULL, 0);
	assert_true(addr >= lo && addr + (1 << 20) <= lo + strtoull(size, NULL, 0));
	assert_int_equal(cmabuf_free(b), 0);
	cmabuf_disconnect(cb);
	stop_cleanly(pid);
	fclose(log);
	rmdir(dir);
}

static uint32_t status_flags(const char *sock, char *backend, size_t cap)
{
	struct cmabuf_conn c;
	struct cmabuf_msg r;

	assert_int_equal(cmabuf_conn_open(&c, sock), 0);
	assert_int_equal(cmabuf_conn_request(&c, CMABUF_MSG_STATUS, NULL, 0, &r, NULL), 0);
	cmabuf_conn_close(&c);
	snprintf(backend, cap, "%s", r.u.status_reply.backend);
	return r.u.status_reply.flags;
}

/*
 * No --backend, started before the stub is loaded: memfd, and it stays so
 * (its buffers cannot move), but when the region appears it says so once,
 * with what to do, in the log and in STATUS (cmabufctl status). Runs last:
 * it unloads and reloads uio_cma.
 */
static void auto_started_before_the_region_says_how_to_move(void **state)
{
	const char *ko = getenv("CMABUF_VM_KO"), *base = getenv("CMABUF_VM_BASE"),
		   *size = getenv("CMABUF_VM_SIZE");
	char dir[] = "/tmp/cmabuf-auto-XXXXXX", sock[64], be[16], line[512];
	struct cmabuf_buffer *b;
	struct cmabuf *cb;
	unsigned again = 0;
	uint8_t *p;
	FILE *log;
	pid_t pid;

	assert_true(ko && base && size);
	pid = start_unloaded(dir, sock, sizeof(sock), NULL, &log);
	assert_true(log_says(log, "backend memfd (default: no uio_cma region found)"));
	assert_int_equal(cmabuf_connect(sock, &cb), 0);
	b = alloc_or_fail(cb, 1 << 20, "before");
	p = cmabuf_map(b);
	assert_non_null(p);
	memset(p, 0x5a, 1 << 20);
	assert_int_equal(status_flags(sock, be, sizeof(be)), 0);
	load_stub(ko, base, size);
	assert_true(log_says(log, "a uio_cma region appeared (uio"));
	assert_int_equal(status_flags(sock, be, sizeof(be)), CMABUF_STATUS_UIO_REGION_UNUSED);
	assert_string_equal(be, "memfd"); /* no switch under a live buffer */
	assert_int_equal(p[0], 0x5a);
	assert_int_equal(p[(1 << 20) - 1], 0x5a);
	/* Once: another add event for the same device says nothing more. */
	assert_int_equal(system("for u in /sys/class/uio/uio*/uevent; do echo add > $u; done"), 0);
	assert_int_equal(cmabuf_free(b), 0);
	cmabuf_disconnect(cb);
	assert_int_equal(status_flags(sock, be, sizeof(be)), CMABUF_STATUS_UIO_REGION_UNUSED);
	stop_cleanly(pid);
	while (fgets(line, sizeof(line), log))
		again += strstr(line, "a uio_cma region appeared") != NULL;
	assert_int_equal(again, 0);
	fclose(log);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(every_mapping_is_write_combining, setup, teardown),
		cmocka_unit_test_setup_teardown(range_returns_only_when_last_holder_closes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(reused_memory_reads_back_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(long_names_are_cut_between_characters, setup,
						teardown),
		cmocka_unit_test_setup_teardown(free_then_alloc_at_once_never_sees_a_full_region,
						setup, teardown),
		cmocka_unit_test(region_loaded_later_is_adopted), /* these reload the stub */
		cmocka_unit_test(auto_started_before_the_region_says_how_to_move),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
