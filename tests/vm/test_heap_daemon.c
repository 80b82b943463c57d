/* SPDX-License-Identifier: MIT */
/*
 * The heap door end to end, inside the VM: the real stub's /dev/dma_heap
 * node, and a real cmabufd on the uio backend deciding every ALLOC, used the
 * way unmodified software uses a dma-heap (open, DMA_HEAP_IOCTL_ALLOC, mmap,
 * DMA_BUF_SET_NAME, close). TAP output; each check names what it saw.
 *
 *   test_heap_daemon        (as root; $CMABUFD is the daemon, as in every VM test)
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmabuf.h"
#include "connection.h"
#include "harness.h"
#include "protocol.h"
#include "tap.h"

#define HEAP_NODE "/dev/dma_heap/cmabuf"
#define PAT_LIST  "/sys/kernel/debug/x86/pat_memtype_list"
#define KiB	  (1ull << 10)
#define MiB	  (1ull << 20)

/*
 * uid 1000 is held to 4 buffers and 4 MiB per process; 1001 and 1002 are not
 * held; root (this test) sees everyone's buffers, offsets and refusals, and
 * its priority takes reclaimable buffers from uid 1002's lower class.
 */
static const char policy[] = "[daemon]\n"
			     "max-bytes-per-uid = unlimited\n" /* uid 1002 fills the region */
			     "[class admin]\n"
			     "uid = 0\n"
			     "dev-addr = yes\n"
			     "priority = 10\n"
			     "[class quota]\n"
			     "uid = 1000\n"
			     "max-buffers = 4\n"
			     "max-bytes = 4M\n"
			     "[class free]\n"
			     "uid = 1001\n"
			     "[class low]\n"
			     "uid = 1002\n";

static struct test_daemon td;
static char config_path[96];

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static int open_heap(void)
{
	return open(HEAP_NODE, O_RDWR | O_CLOEXEC);
}

/* DMA_HEAP_IOCTL_ALLOC as libcamera does it: the fd, or -errno. */
static int heap_alloc_flags(int heap, uint64_t len, uint32_t fd_flags, uint64_t heap_flags)
{
	struct dma_heap_allocation_data a = {
		.len = len, .fd_flags = fd_flags, .heap_flags = heap_flags};

	if (ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &a) < 0)
		return -errno;
	return (int)a.fd;
}

static int heap_alloc(int heap, uint64_t len)
{
	return heap_alloc_flags(heap, len, O_RDWR | O_CLOEXEC, 0);
}

static bool all_zero(const volatile uint8_t *p, uint64_t n)
{
	uint64_t i;

	for (i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* ---- what cmabufd says ---- */

static int status(struct cmabuf_msg_status_reply *st)
{
	return test_daemon_status(&td, st);
}

/* Every live buffer (up to cap), as `cmabufctl buffers` sees them: how many, or -errno. */
static int list_buffers(struct cmabuf_buffer_entry *out, int cap)
{
	struct cmabuf_msg_list_buffers req = {0};
	struct cmabuf_conn c;
	struct cmabuf_msg r;
	int n = 0, ret = cmabuf_conn_open(&c, td.socket);
	unsigned i;

	if (ret < 0)
		return ret;
	do {
		ret = cmabuf_conn_request(&c, CMABUF_MSG_LIST_BUFFERS, &req, sizeof(req), &r, NULL);
		for (i = 0; ret == 0 && i < r.u.buffers_reply.head.count; i++)
			if (n < cap)
				out[n++] = r.u.buffers_reply.entries[i];
		if (ret == 0 && i)
			req.after_id = r.u.buffers_reply.entries[i - 1].id;
	} while (ret == 0 && r.u.buffers_reply.head.more && i);
	cmabuf_conn_close(&c);
	return ret < 0 ? ret : n;
}

/* The heap caller entry of pid in `cmabufctl clients`: 1 found, 0 not, or -errno. */
static int find_heap_client(pid_t pid, struct cmabuf_client_entry *out)
{
	struct cmabuf_msg_list_clients req = {0, 0};
	struct cmabuf_conn c;
	struct cmabuf_msg r;
	int found = 0, ret = cmabuf_conn_open(&c, td.socket);
	unsigned i;

	if (ret < 0)
		return ret;
	do {
		ret = cmabuf_conn_request(&c, CMABUF_MSG_LIST_CLIENTS, &req, sizeof(req), &r, NULL);
		for (i = 0; ret == 0 && i < r.u.clients_reply.head.count; i++) {
			const struct cmabuf_client_entry *e = &r.u.clients_reply.entries[i];

			if ((e->flags & CMABUF_CLIENT_HEAP) && e->pid == (uint32_t)pid) {
				*out = *e;
				found = 1;
			}
		}
		if (ret == 0 && i)
			req.start_conn = r.u.clients_reply.entries[i - 1].conn + 1;
	} while (ret == 0 && r.u.clients_reply.head.more && i);
	cmabuf_conn_close(&c);
	return ret < 0 ? ret : found;
}

/* The newest refusal of pid (`cmabufctl why`): 1 found, 0 not, or -errno. */
static int find_refusal(pid_t pid, struct cmabuf_refusal_entry *out)
{
	struct cmabuf_msg_list_refusals req = {0};
	struct cmabuf_conn c;
	struct cmabuf_msg r;
	int ret = cmabuf_conn_open(&c, td.socket);
	unsigned i;

	if (ret < 0)
		return ret;
	ret = cmabuf_conn_request(&c, CMABUF_MSG_LIST_REFUSALS, &req, sizeof(req), &r, NULL);
	cmabuf_conn_close(&c);
	for (i = 0; ret == 0 && i < r.u.refusals_reply.head.count; i++)
		if (r.u.refusals_reply.entries[i].pid == (uint32_t)pid) {
			*out = r.u.refusals_reply.entries[i];
			return 1;
		}
	return ret < 0 ? ret : 0;
}

/* The ledger holds n buffers and the region is all free or placed, nothing being zeroed. */
static bool settled(uint32_t n)
{
	return test_daemon_wait_buffers(&td, n) == 0;
}

/* Used bytes equal to what the ledger's buffers hold: nothing leaked, nothing counted twice. */
static bool ledger_consistent(void)
{
	static struct cmabuf_buffer_entry v[1024];
	struct cmabuf_msg_status_reply st;
	uint64_t sum = 0;
	int n = list_buffers(v, 1024), i;

	if (n < 0 || status(&st) < 0)
		return false;
	for (i = 0; i < n; i++)
		sum += v[i].size;
	if (sum != st.used || st.used + st.free + st.zeroing != st.region_size)
		diag("ledger: %d buffers, %" PRIu64 " bytes; status used %" PRIu64 " free %" PRIu64
		     " zeroing %" PRIu64 " of %" PRIu64,
		     n, sum, st.used, st.free, st.zeroing, st.region_size);
	return sum == st.used && st.used + st.free + st.zeroing == st.region_size;
}

/* ---- the checks ---- */

#ifdef __x86_64__ /* arm64: tests/vm/test_arm64_mappings.c walks the page tables instead */
/* Every PAT entry over [lo, hi) is write-combining, and one covers it. */
static bool write_combined(uint64_t lo, uint64_t hi)
{
	FILE *f = fopen(PAT_LIST, "r");
	char line[256], type[64];
	uint64_t a, b;
	bool covered = false, all_wc = true;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "PAT: [mem 0x%" SCNx64 "-0x%" SCNx64 "] %63s", &a, &b, type) !=
			    3 ||
		    b <= lo || a >= hi)
			continue;
		all_wc &= strcmp(type, "write-combining") == 0;
		covered |= a <= lo && b >= hi;
	}
	fclose(f);
	return covered && all_wc;
}
#endif

static const struct cmabuf_buffer_entry *entry_by_size(const struct cmabuf_buffer_entry *v, int n,
						       uint64_t size)
{
	int i;

	for (i = 0; i < n; i++)
		if (v[i].size == size)
			return &v[i];
	return NULL;
}

static void no_daemon_fails_at_once(void)
{
	int heap = open_heap(), fd;

	if (!check(heap >= 0, "%s opens (%s)", HEAP_NODE, heap < 0 ? strerror(errno) : "ok"))
		return;
	fd = heap_alloc(heap, 64 * KiB);
	check(fd == -ENODEV, "no daemon: ALLOC fails at once with ENODEV (got %s)",
	      fd < 0 ? strerror(-fd) : "a buffer");
	if (fd >= 0)
		close(fd);
	close(heap);
}

/* An ordinary caller: zeroed, write-combined memory, shown with its pid, name and class. */
static void an_unmodified_caller_gets_a_buffer(void)
{
	struct cmabuf_buffer_entry v[16];
	const struct cmabuf_buffer_entry *e;
	struct cmabuf_msg_status_reply st;
	struct cmabuf_client_entry ce;
	uint64_t len = 3 * MiB + 100, size = 3 * MiB + 4 * KiB;
	int heap = open_heap(), fd, n;
	uint8_t *p;

	prctl(PR_SET_NAME, "heapcam");
	fd = heap_alloc(heap, len);
	if (!check(fd >= 0, "ALLOC of %" PRIu64 " bytes through %s (%s)", len, HEAP_NODE,
		   fd < 0 ? strerror(-fd) : "ok"))
		return;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	check(p != MAP_FAILED && all_zero(p, size), "the buffer maps, page-rounded, all zero");
	n = list_buffers(v, 16);
	e = n > 0 ? entry_by_size(v, n, size) : NULL;
	check(e && e->pid == (uint32_t)getpid() && !strcmp(e->name, "heap:heapcam") &&
		      (e->flags & CMABUF_BUFFER_HEAP) &&
		      !(e->flags & CMABUF_BUFFER_RELEASE_PENDING),
	      "cmabufctl buffers: pid %u name '%s' flags 0x%x (want pid %d, 'heap:heapcam', heap)",
	      e ? e->pid : 0, e ? e->name : "", e ? e->flags : 0, (int)getpid());
#ifdef __x86_64__ /* arm64's evidence is tests/vm/test_arm64_mappings.c's page-table walk */
	check(e && status(&st) == 0 &&
		      write_combined(st.region_base + e->offset, st.region_base + e->offset + size),
	      "its range is write-combining in x86 PAT's list");
#endif
	memset(&ce, 0, sizeof(ce));
	n = find_heap_client(getpid(), &ce);
	check(n == 1 && !strcmp(ce.command, "heapcam") && ce.buffers == 1 && ce.bytes == size &&
		      !strcmp(ce.class_name, "admin"),
	      "cmabufctl clients: a heap caller '%s' with %u buffer(s), %" PRIu64 " bytes, "
	      "class '%s'",
	      ce.command, ce.buffers, ce.bytes, ce.class_name);
	memset(&st, 0, sizeof(st));
	n = status(&st);
	check(n == 0 && st.heap_state == CMABUF_HEAP_SERVED && !strcmp(st.heap_node, HEAP_NODE) &&
		      st.heap_buffers == 1 && st.heap_bytes == size && st.pending_release == 0,
	      "cmabufctl status: heap door %s served, %u buffer(s), %" PRIu64 " bytes",
	      st.heap_node, st.heap_buffers, st.heap_bytes);
	e = NULL;
	if (ioctl(fd, DMA_BUF_SET_NAME_B, "renamed-frame") == 0 && (n = list_buffers(v, 16)) > 0)
		e = entry_by_size(v, n, size);
	check(e && !strcmp(e->name, "renamed-frame"),
	      "DMA_BUF_SET_NAME shows in cmabufctl buffers ('%s')", e ? e->name : "");
	memset(p, 0xa5, size); /* for the next owner of this range to not see */
	munmap(p, size);
	close(fd);
	check(settled(0) && ledger_consistent(), "closed: the buffer leaves the ledger");
	/* The same size again lands on the same range (size affinity): zeroed since. */
	fd = heap_alloc(heap, len);
	p = fd >= 0 ? mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
	check(p != MAP_FAILED && all_zero(p, size),
	      "the next caller of the range sees zeros, not the 0xa5 written before");
	if (p != MAP_FAILED)
		munmap(p, size);
	if (fd >= 0)
		close(fd);
	close(heap);
	check(settled(0) && find_heap_client(getpid(), &ce) == 0,
	      "a caller holding nothing is no client any more");
}

static void bad_requests_are_refused(void)
{
	int heap = open_heap(), fd;
	struct {
		const char *what;
		uint64_t len, heap_flags;
		uint32_t fd_flags;
		int want;
	} bad[] = {
		{"length 0", 0, 0, O_RDWR, -EINVAL},
		{"length 2^64-1", UINT64_MAX, 0, O_RDWR, -EINVAL},
		{"length past the region", td.region_size + 4096, 0, O_RDWR, -ENOMEM},
		{"heap_flags 1", 4096, 1, O_RDWR, -EINVAL},
		{"fd_flags O_APPEND", 4096, 0, O_RDWR | O_APPEND, -EINVAL},
	};
	unsigned i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fd = heap_alloc_flags(heap, bad[i].len, bad[i].fd_flags, bad[i].heap_flags);
		check(fd == bad[i].want, "%s refused with %s (got %s)", bad[i].what,
		      strerror(-bad[i].want), fd < 0 ? strerror(-fd) : "a buffer");
		if (fd >= 0)
			close(fd);
	}
	/* The whole region fits nothing else, but is asked for sensibly: the daemon decides. */
	fd = heap_alloc(heap, td.region_size);
	check(fd >= 0, "the whole region in one buffer (%s)", fd < 0 ? strerror(-fd) : "ok");
	if (fd >= 0)
		close(fd);
	close(heap);
	check(settled(0) && ledger_consistent(), "nothing left behind");
}

/* In a child: become uid, keep the heap node open from before. */
static void become(uid_t uid, const char *comm)
{
	prctl(PR_SET_NAME, comm);
	if (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0)
		_exit(120);
}

static void the_quota_refuses_and_why_says_so(void)
{
	struct cmabuf_refusal_entry why;
	int heap = open_heap(), status_code = -1;
	pid_t pid = fork();

	if (pid == 0) {
		int a, b, c;

		become(1000, "heapquota");
		a = heap_alloc(heap, 3 * MiB);
		b = heap_alloc(heap, 2 * MiB);	 /* 5 MiB held: over max-bytes 4M */
		c = heap_alloc(heap, 512 * KiB); /* 3.5 MiB: fits */
		_exit(a >= 0 && b == -EDQUOT && c >= 0 ? 0 : 1);
	}
	waitpid(pid, &status_code, 0);
	check(WIFEXITED(status_code) && WEXITSTATUS(status_code) == 0,
	      "uid 1000: 3 MiB granted, 2 MiB more refused with EDQUOT, 512 KiB granted");
	memset(&why, 0, sizeof(why));
	status_code = find_refusal(pid, &why);
	check(status_code == 1 && why.error == -EDQUOT && why.uid == 1000 &&
		      !strcmp(why.name, "heap:heapquota") && strstr(why.reason, "max-bytes"),
	      "cmabufctl why: pid %d '%s' %d: %s", (int)pid, why.name, why.error, why.reason);
	close(heap);
	check(settled(0) && ledger_consistent(), "its buffers went with it");
}

struct flood {
	int heap;
	int granted, quota, other;
};

static void *flood_thread(void *arg)
{
	struct flood *f = arg;
	int i, fd;

	for (i = 0; i < 16; i++) {
		fd = heap_alloc(f->heap, 64 * KiB);
		if (fd >= 0)
			__atomic_add_fetch(&f->granted, 1, __ATOMIC_RELAXED);
		else if (fd == -EDQUOT)
			__atomic_add_fetch(&f->quota, 1, __ATOMIC_RELAXED);
		else
			__atomic_add_fetch(&f->other, 1, __ATOMIC_RELAXED);
	}
	return NULL; /* the granted fds stay open until the process exits */
}

/* uid 1000, 32 threads x 16 ALLOCs: 4 granted (max-buffers), the rest EDQUOT. */
static void flood_child(int heap, int report)
{
	struct flood f = {.heap = heap};
	pthread_t t[32];
	int i, result[3];

	become(1000, "heapflood");
	for (i = 0; i < 32; i++)
		pthread_create(&t[i], NULL, flood_thread, &f);
	for (i = 0; i < 32; i++)
		pthread_join(t[i], NULL);
	result[0] = f.granted, result[1] = f.quota, result[2] = f.other;
	if (write(report, result, sizeof(result)) != sizeof(result))
		_exit(1);
	_exit(0);
}

static void a_flood_is_bounded_and_another_uid_allocates(void)
{
	int heap = open_heap(), pipefd[2], result[3] = {0, 0, 0}, i, granted = 0;
	pid_t pid, other;

	if (pipe(pipefd) < 0)
		return;
	pid = fork();
	if (pid == 0)
		flood_child(heap, pipefd[1]);
	close(pipefd[1]);
	other = fork();

	if (other == 0) { /* uid 1001 meanwhile: 24 buffers, none refused */
		become(1001, "heapother");
		for (i = 0; i < 24; i++)
			granted += heap_alloc(heap, 64 * KiB) >= 0;
		_exit(granted == 24 ? 0 : 1);
	}
	if (read(pipefd[0], result, sizeof(result)) != sizeof(result))
		result[0] = -1;
	waitpid(pid, NULL, 0);
	waitpid(other, &i, 0);
	close(pipefd[0]);
	check(result[0] == 4 && result[1] == 32 * 16 - 4 && result[2] == 0,
	      "uid 1000 flooding from 32 threads: %d granted (its 4), %d EDQUOT, %d other errors",
	      result[0], result[1], result[2]);
	check(WIFEXITED(i) && WEXITSTATUS(i) == 0, "uid 1001 got all its 24 buffers meanwhile");
	close(heap);
	check(settled(0) && ledger_consistent(), "all of them released with their processes");
}

struct crowd {
	int heap;
	unsigned proc;
	pthread_barrier_t *held;
	int ok;
};

static void *crowd_thread(void *arg)
{
	struct crowd *c = arg;
	uint32_t seed = c->proc * 1000 + (uint32_t)(uintptr_t)pthread_self() % 1000;
	int fd = heap_alloc(c->heap, 256 * KiB), good;
	uint8_t *p = fd >= 0 ? mmap(NULL, 256 * KiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
			     : MAP_FAILED;

	good = p != MAP_FAILED && all_zero(p, 256 * KiB);
	if (p != MAP_FAILED)
		pattern_fill(p, 256 * KiB, seed);
	pthread_barrier_wait(c->held); /* every thread of every process holds its buffer */
	pthread_barrier_wait(c->held);
	good = good && pattern_check(p, 256 * KiB, seed) == 0;
	if (good)
		__atomic_add_fetch(&c->ok, 1, __ATOMIC_RELAXED);
	return NULL;
}

/* 16 threads; tells the parent when all hold, finishes when it says so. */
static void crowd_child(int heap, unsigned proc, int up, int go)
{
	pthread_barrier_t held;
	struct crowd c = {heap, proc, &held, 0};
	pthread_t t[16];
	char byte = 0;
	int i;

	pthread_barrier_init(&held, NULL, 17);
	for (i = 0; i < 16; i++)
		pthread_create(&t[i], NULL, crowd_thread, &c);
	pthread_barrier_wait(&held);
	if (write(up, &byte, 1) != 1 || read(go, &byte, 1) != 1)
		_exit(2);
	pthread_barrier_wait(&held);
	for (i = 0; i < 16; i++)
		pthread_join(t[i], NULL);
	_exit(c.ok == 16 ? 0 : 1);
}

static bool no_two_overlap(const struct cmabuf_buffer_entry *v, int n)
{
	int i, j;

	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (v[i].offset < v[j].offset + v[j].size &&
			    v[j].offset < v[i].offset + v[i].size)
				return false;
	return true;
}

/* 64 threads in 4 processes at once: 64 distinct zeroed ranges, each keeps its contents. */
static void sixty_four_threads_at_once(void)
{
	static struct cmabuf_buffer_entry v[128];
	int heap = open_heap(), up[2], go[2], n, i, ok = 0, st;
	pid_t pids[4];
	char bytes[4];

	if (pipe(up) < 0 || pipe(go) < 0)
		return;
	for (i = 0; i < 4; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			crowd_child(heap, (unsigned)i, up[1], go[0]);
	}
	for (i = 0; i < 4; i++)
		if (read(up[0], &bytes[i], 1) != 1)
			break;
	n = list_buffers(v, 128);
	check(n == 64 && no_two_overlap(v, n),
	      "64 threads of 4 processes hold 64 buffers, no two overlapping (%d listed)", n);
	if (write(go[1], bytes, 4) != 4)
		diag("cannot release the crowd");
	for (i = 0; i < 4; i++) {
		waitpid(pids[i], &st, 0);
		ok += WIFEXITED(st) && WEXITSTATUS(st) == 0;
	}
	check(ok == 4,
	      "each thread's buffer came zeroed and kept its own contents (%d of 4 "
	      "processes)",
	      ok);
	close(up[0]), close(up[1]), close(go[0]), close(go[1]);
	close(heap);
	check(settled(0) && ledger_consistent(), "all 64 released");
}

struct holder {
	unsigned reclaimed;
};

static void give_back(struct cmabuf *cb, struct cmabuf_buffer *buf, uint32_t deadline_ms,
		      void *userdata)
{
	((struct holder *)userdata)->reclaimed++;
	cmabuf_free(buf);
}

/*
 * uid 1002 (priority 0) fills the region: 7 reclaimable buffers and a
 * purgeable one of region/8, gives back what it is asked for, and reports
 * how many when the parent closes `stop`.
 */
static void holder_child(int up, int stop)
{
	struct cmabuf_alloc_desc d = {.size = td.region_size / 8, .name = "low"};
	struct holder h = {0};
	struct cmabuf_buffer *b;
	struct cmabuf *cb;
	struct pollfd p[2];
	int i;

	become(1002, "heaplow");
	if (cmabuf_connect(td.socket, &cb) < 0)
		_exit(2);
	cmabuf_set_reclaim_handler(cb, give_back, &h);
	for (i = 0; i < 8; i++) {
		d.flags = i < 7 ? CMABUF_ALLOC_RECLAIMABLE : CMABUF_ALLOC_PURGEABLE;
		if (cmabuf_alloc(cb, &d, &b) < 0)
			_exit(3);
	}
	if (write(up, "f", 1) != 1)
		_exit(4);
	p[0] = (struct pollfd){.fd = cmabuf_get_fd(cb), .events = POLLIN};
	p[1] = (struct pollfd){.fd = stop, .events = POLLIN};
	while (!(p[1].revents & (POLLIN | POLLHUP)))
		if (poll(p, 2, -1) > 0 && (p[0].revents & POLLIN))
			cmabuf_dispatch(cb);
	if (write(up, &h.reclaimed, sizeof(h.reclaimed)) != sizeof(h.reclaimed))
		_exit(5);
	cmabuf_disconnect(cb);
	_exit(0);
}

struct asker {
	int heap, fd;
};

static void *ask(void *arg)
{
	struct asker *a = arg;

	a->fd = heap_alloc(a->heap, td.region_size / 8);
	return NULL;
}

/*
 * A heap caller of a higher class gets room the way a socket client would: a
 * purgeable buffer purged at once, reclaimable ones asked back while its
 * request waits, two requests of one process waiting one after the other.
 */
static void a_heap_caller_makes_room_by_eviction(void)
{
	int heap = open_heap(), up[2], stop[2], first, i;
	struct asker two[2] = {{heap, -1}, {heap, -1}};
	unsigned reclaimed = 0;
	pthread_t t[2];
	pid_t pid;
	char c;

	if (pipe(up) < 0 || pipe(stop) < 0)
		return;
	pid = fork();
	if (pid == 0) {
		close(up[0]), close(stop[1]); /* so that the parent's close is a hang-up */
		holder_child(up[1], stop[0]);
	}
	close(up[1]), close(stop[0]);
	if (!check(read(up[0], &c, 1) == 1 && settled(8), "uid 1002 fills the region (8 buffers)"))
		diag("holder: no report");
	first = heap_alloc(heap, td.region_size / 8);
	check(first >= 0, "a heap ALLOC gets the purgeable buffer's room at once (%s)",
	      first < 0 ? strerror(-first) : "ok");
	for (i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, ask, &two[i]);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	close(stop[1]);
	if (read(up[0], &reclaimed, sizeof(reclaimed)) != sizeof(reclaimed))
		reclaimed = 0;
	waitpid(pid, NULL, 0);
	check(two[0].fd >= 0 && two[1].fd >= 0 && reclaimed == 2,
	      "two more from two threads wait, one after the other, for a reclaimable buffer "
	      "each (%d, %d; %u given back)",
	      two[0].fd, two[1].fd, reclaimed);
	for (i = 0; i < 2; i++)
		if (two[i].fd >= 0)
			close(two[i].fd);
	if (first >= 0)
		close(first);
	close(up[0]);
	close(heap);
	check(settled(0) && ledger_consistent(), "all released");
}

/* Until pid sleeps (in the stub's ALLOC, here): 0, or -1 if it never did. */
static int wait_sleeping(pid_t pid)
{
	char path[64], buf[512], *p;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	for (i = 0; i < 500; i++) {
		FILE *f = fopen(path, "r");
		size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

		if (f)
			fclose(f);
		buf[n] = '\0';
		p = strrchr(buf, ')');
		if (p && p[1] == ' ' && p[2] == 'S')
			return 0;
		sleep_ms(10);
	}
	return -1;
}

static void on_alarm(int sig)
{
}

/* Callers that leave before they are answered: killed, or interrupted by a signal. */
static void callers_that_leave_leak_nothing(void)
{
	struct sigaction sa = {.sa_handler = on_alarm}; /* no SA_RESTART: EINTR */
	int heap = open_heap(), round, st, fd;
	pid_t pid;

	for (round = 0; round < 4; round++) {
		kill(td.pid, SIGSTOP); /* the daemon does not answer while it is stopped */
		pid = fork();
		if (pid == 0)
			_exit(heap_alloc(heap, 1 * MiB) >= 0 ? 0 : 1);
		wait_sleeping(pid);
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		kill(td.pid, SIGCONT);
	}
	check(settled(0) && ledger_consistent(), "4 callers SIGKILLed in their ALLOC: no buffer "
						 "kept, the ledger adds up");
	kill(td.pid, SIGSTOP);
	pid = fork();
	if (pid == 0) {
		sigaction(SIGALRM, &sa, NULL);
		_exit(heap_alloc(heap, 1 * MiB) == -EINTR ? 0 : 1);
	}
	wait_sleeping(pid);
	kill(pid, SIGALRM);
	waitpid(pid, &st, 0);
	kill(td.pid, SIGCONT);
	check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a signal interrupts a waiting ALLOC (EINTR)");
	check(settled(0) && ledger_consistent(), "and nothing is kept for it");
	fd = heap_alloc(heap, 1 * MiB);
	check(fd >= 0 && settled(1), "the next caller is served");
	if (fd >= 0)
		close(fd);
	close(heap);
	check(settled(0), "and released");
}

/* The daemon dies with callers waiting: they fail, a new one serves and knows the old buffers. */
static void a_daemon_crash_fails_waiting_callers(const char *const *args)
{
	static struct cmabuf_buffer_entry v[16];
	int heap = open_heap(), kept = heap_alloc(heap, 2 * MiB), i, ok = 0, st, n, fd;
	pid_t pids[4];

	check(kept >= 0 && settled(1), "a buffer held across the crash");
	kill(td.pid, SIGSTOP);
	for (i = 0; i < 4; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			_exit(heap_alloc(heap, 1 * MiB) == -ENODEV ? 0 : 1);
		wait_sleeping(pids[i]);
	}
	kill(td.pid, SIGKILL); /* its control device closes: the stub fails who waits */
	for (i = 0; i < 4; i++) {
		waitpid(pids[i], &st, 0);
		ok += WIFEXITED(st) && WEXITSTATUS(st) == 0;
	}
	check(ok == 4, "4 callers waiting when cmabufd was killed got ENODEV (%d of 4)", ok);
	check(test_daemon_crash_and_restart(&td, args) == 0, "cmabufd restarted");
	n = list_buffers(v, 16);
	check(n == 1 && v[0].size == 2 * MiB && v[0].uid == 0 &&
		      !strcmp(v[0].name, "heap:heapcam") && (v[0].flags & CMABUF_BUFFER_ADOPTED),
	      "the restarted daemon lists the held heap buffer from the stub, under the name the "
	      "stub kept, as adopted (%d buffers, '%s', flags 0x%x)",
	      n, n > 0 ? v[0].name : "", n > 0 ? v[0].flags : 0);
	settled(1); /* the free space is zeroed again after a restart */
	fd = heap_alloc(heap, 1 * MiB);
	check(fd >= 0 && settled(2), "and serves the next caller");
	if (fd >= 0)
		close(fd);
	close(kept);
	close(heap);
	check(settled(0) && ledger_consistent(), "both released; the ledger adds up");
}

/*
 * examples/dma-heap-alloc, which allocates exactly as libcamera's DmaBufAllocator
 * does and knows nothing of cmabuf, gets zeroed buffers under the name it set.
 * It is found beside this test in the build tree (BUILD/examples).
 */
static void the_libcamera_style_example_allocates(void)
{
	char exe[512], example[600], line[256];
	struct cmabuf_buffer_entry v[16];
	int out[2], n, i, named = 0, status = -1;
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	bool holding = false, zeroed = true;
	FILE *f;
	pid_t pid, waited;

	if (!check(len > 0 && pipe(out) == 0, "the example's path and a pipe"))
		return;
	exe[len] = '\0';
	*strrchr(exe, '/') = '\0';
	snprintf(example, sizeof(example), "%s/../../examples/dma-heap-alloc", exe);
	pid = fork();
	if (pid == 0) {
		dup2(out[1], 1);
		execl(example, "dma-heap-alloc", "--heap", "cmabuf", "--count", "2", "--name",
		      "libcam-frame", "--hold", (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	f = fdopen(out[0], "r");
	while (f && !holding && fgets(line, sizeof(line), f)) {
		zeroed &= !strstr(line, "NOT zeroed");
		holding = strstr(line, "holding 2 buffers") != NULL;
	}
	n = holding ? list_buffers(v, 16) : 0;
	for (i = 0; i < n; i++)
		named += v[i].pid == (uint32_t)pid && !strcmp(v[i].name, "libcam-frame") &&
			 (v[i].flags & CMABUF_BUFFER_HEAP);
	check(holding && zeroed && named == 2,
	      "examples/dma-heap-alloc holds 2 zeroed buffers, listed under its pid as "
	      "'libcam-frame' (%d of %d)",
	      named, n);
	kill(pid, SIGINT);
	waited = waitpid(pid, &status, 0);
	check(waited == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "SIGINT: it frees them and exits 0 (status 0x%x)", status);
	if (f)
		fclose(f);
	check(settled(0) && ledger_consistent(), "its buffers leave the ledger");
}

int main(void)
{
	char arg[128];
	const char *args[] = {arg, "--socket-mode=0666", NULL};
	FILE *f;

	if (access(HEAP_NODE, F_OK) < 0) {
		printf("1..0 # SKIP no %s (a stub without the heap door)\n", HEAP_NODE);
		return getenv("CMABUF_VM_REQUIRE") ? 1 : 77;
	}
	no_daemon_fails_at_once();
	snprintf(config_path, sizeof(config_path), "/tmp/cmabuf-heap-%d.conf", (int)getpid());
	f = fopen(config_path, "w");
	if (!f || fputs(policy, f) < 0 || fclose(f) != 0)
		return 1;
	snprintf(arg, sizeof(arg), "--config=%s", config_path);
	setenv("CMABUF_TEST_BACKEND", "uio", 1);
	if (!check(test_daemon_start(&td, 0, args) == 0, "cmabufd starts on the uio backend"))
		return 1;
	/* It zeroes the region first; a caller waiting that long could time out in the stub. */
	check(settled(0), "cmabufd has zeroed the region");
	an_unmodified_caller_gets_a_buffer();
	the_libcamera_style_example_allocates();
	bad_requests_are_refused();
	the_quota_refuses_and_why_says_so();
	a_flood_is_bounded_and_another_uid_allocates();
	sixty_four_threads_at_once();
	callers_that_leave_leak_nothing();
	a_heap_caller_makes_room_by_eviction();
	a_daemon_crash_fails_waiting_callers(args);
	check(test_daemon_stop(&td) == 0, "cmabufd stops cleanly");
	no_daemon_fails_at_once();
	unlink(config_path);
	printf("1..%d\n", n_tests);
	return n_failed ? 1 : 0;
}
