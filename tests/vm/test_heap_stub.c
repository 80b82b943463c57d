/* SPDX-License-Identifier: MIT */
/*
 * test_heap_stub: the stub's heap door (/dev/dma_heap/cmabuf) against the
 * real module, in the VM (tests/vm/vm-run, as root). This program plays a
 * minimal daemon itself on /dev/uio_cma0 (HEAP_SERVE, events, HEAP_CALLER,
 * CLEAR + HEAP_ANSWER) and checks what callers in child processes see.
 * Prints TAP; exit 0 if every check passed, 77 if there is no stub.
 *
 *   test_heap_stub [--device /dev/uio_cma0] [--heap /dev/dma_heap/cmabuf]
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <xf86drm.h>

#include "heap_door.h"
#include "tap.h"

#define KIB	      1024ull
#define MIB	      (1024ull * 1024ull)
#define WAIT_MS	      20000 /* for what must come: TCG on a loaded machine is slow */
#define QUIET_MS      300   /* for what must not */
#define PARAM_TIMEOUT "/sys/module/uio_cma/parameters/heap_timeout_ms"
/*
 * heap_timeout_ms while the test answers (the default, 5 s, could pass on a
 * loaded machine while 64 callers wait their turn); reloading the module at
 * the end brings the default back.
 */
#define CALM_MS 60000

static struct heap_door door;
static const char *dev = "/dev/uio_cma0";
static const char *heap = "/dev/dma_heap/cmabuf";

/* DMA_HEAP_IOCTL_ALLOC through a struct of usize bytes: the fd, or -errno. */
static int alloc_sized(int hfd, void *data, size_t usize)
{
	unsigned long cmd = _IOC(_IOC_READ | _IOC_WRITE, 'H', 0, usize);

	return ioctl(hfd, cmd, data) < 0 ? -errno
					 : (int)((struct dma_heap_allocation_data *)data)->fd;
}

static int heap_alloc(int hfd, uint64_t len, uint32_t fd_flags, uint64_t heap_flags)
{
	struct dma_heap_allocation_data d = {
		.len = len, .fd_flags = fd_flags, .heap_flags = heap_flags};

	return alloc_sized(hfd, &d, sizeof(d));
}

static bool no_event(void)
{
	struct uio_cma_event ev;

	return hd_read(&door, &ev, QUIET_MS) == 0;
}

static int caller_info(uint64_t id, struct uio_cma_heap_caller *c, uint32_t *groups, uint32_t cap)
{
	memset(c, 0, sizeof(*c));
	c->id = id;
	c->groups = (uintptr_t)groups;
	c->groups_cap = cap;
	return ioctl(door.ctl, UIO_CMA_IOC_HEAP_CALLER, c) < 0 ? -errno : 0;
}

/* ---- callers in child processes ---- */

/* What a caller reports to the test through a pipe. */
struct result {
	int err;       /* 0, or the ALLOC's errno */
	int phase;     /* 0: after the ALLOC; 1: after the hold */
	pid_t tid;     /* the thread that called */
	uint64_t size; /* of the dma-buf */
	bool mapped, zero, cloexec, dmabuf, ro_refused, intact;
};

struct call {
	uint64_t len;
	uint32_t fd_flags;
	int open_flags;	  /* of the heap node */
	int heap_fd;	  /* >= 0: the node, opened already (then dup'ed) */
	uid_t uid;	  /* 0: stay root */
	const char *comm; /* thread name */
	int sig;	  /* a handler for it, SA_RESTART if restart */
	bool restart;
	bool fill_fds; /* RLIMIT_NOFILE reached before the ALLOC */
	const char *set_name;
	int hold;    /* read end: keep the buffer until a byte comes (each thread one) */
	uint8_t tag; /* written over the buffer, checked after the hold */
	int wfd;     /* where results go */
};

static void on_signal(int sig)
{
	(void)sig;
}

static bool fdinfo_is_ours(int fd)
{
	char path[64], line[256];
	bool ok = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f))
		if (strcmp(line, "exp_name:\tuio_cma\n") == 0)
			ok = true;
	if (f)
		fclose(f);
	return ok;
}

static void send_result(const struct call *c, struct result *r)
{
	r->tid = gettid();
	if (write(c->wfd, r, sizeof(*r)) != sizeof(*r))
		_exit(3);
}

static void sig_mask(int sig, int how)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, sig);
	pthread_sigmask(how, &set, NULL);
}

/* One ALLOC as c says, the buffer checked, then held until told. */
static void *do_call(void *arg)
{
	const struct call *c = arg;
	struct result r = {0};
	char byte;
	int hfd, fd;

	if (c->comm)
		prctl(PR_SET_NAME, c->comm);
	if (c->sig)
		sig_mask(c->sig, SIG_UNBLOCK);
	hfd = c->heap_fd >= 0 ? dup(c->heap_fd) : open(heap, c->open_flags | O_CLOEXEC);
	if (hfd < 0) {
		r.err = errno;
		send_result(c, &r);
		return NULL;
	}
	if (c->fill_fds) {
		struct rlimit rl;
		int lowest = dup(0);

		close(lowest);
		rl.rlim_cur = rl.rlim_max = (rlim_t)lowest;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	fd = heap_alloc(hfd, c->len, c->fd_flags, 0);
	close(hfd);
	r.err = fd < 0 ? -fd : 0;
	if (fd >= 0) {
		void *p;

		r.size = (uint64_t)lseek(fd, 0, SEEK_END);
		r.cloexec = fcntl(fd, F_GETFD) & FD_CLOEXEC;
		r.dmabuf = fdinfo_is_ours(fd);
		p = mmap(NULL, r.size, PROT_READ, MAP_SHARED, fd, 0);
		r.mapped = p != MAP_FAILED;
		if (r.mapped) {
			r.zero = true;
			for (uint64_t i = 0; i < r.size; i++)
				if (((volatile uint8_t *)p)[i])
					r.zero = false;
			munmap(p, r.size);
		}
		p = mmap(NULL, r.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		r.ro_refused = p == MAP_FAILED;
		if (p != MAP_FAILED && c->tag) {
			memset(p, c->tag, r.size);
			r.intact = true;
		}
		if (c->set_name)
			ioctl(fd, DMA_BUF_SET_NAME, c->set_name);
		send_result(c, &r);
		if (c->hold >= 0) {
			if (read(c->hold, &byte, 1) < 0)
				byte = 0;
			if (p != MAP_FAILED && c->tag) {
				for (uint64_t i = 0; i < r.size; i++)
					if (((volatile uint8_t *)p)[i] != c->tag)
						r.intact = false;
			}
			r.phase = 1;
			send_result(c, &r);
		}
		if (p != MAP_FAILED)
			munmap(p, r.size);
		close(fd);
	} else {
		send_result(c, &r);
	}
	return NULL;
}

/* Drops to c->uid (gid uid + 1, groups uid + 2..4), keeping nothing. */
static void become(const struct call *c)
{
	gid_t groups[3] = {c->uid + 2, c->uid + 3, c->uid + 4};

	if (!c->uid)
		return;
	if (setgroups(3, groups) || setresgid(c->uid + 1, c->uid + 1, c->uid + 1) ||
	    setresuid(c->uid, c->uid, c->uid))
		_exit(4);
}

/*
 * Forks a caller process making nthreads calls as c says (each from a
 * thread of its own); results come to *rfd. Returns the pid.
 */
static pid_t spawn_callers(struct call c, int nthreads, int *rfd)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid == 0) {
		pthread_t t[256];
		struct sigaction sa = {.sa_handler = on_signal};

		close(p[0]);
		close(door.ctl); /* else the daemon's close would not be a close */
		c.wfd = p[1];
		if (c.sig) {
			sa.sa_flags = c.restart ? SA_RESTART : 0;
			sigaction(c.sig, &sa, NULL);
		}
		if (c.uid) {
			/* The node is root's 0600: opened now, used after the drop. */
			c.heap_fd = open(heap, c.open_flags | O_CLOEXEC);
			if (c.heap_fd < 0)
				_exit(5);
			become(&c);
		}
		/* A signal for the process must reach a caller, not this thread. */
		if (c.sig)
			sig_mask(c.sig, SIG_BLOCK);
		for (int i = 0; i < nthreads && i < 256; i++)
			pthread_create(&t[i], NULL, do_call, &c);
		for (int i = 0; i < nthreads && i < 256; i++)
			pthread_join(t[i], NULL);
		_exit(0);
	}
	close(p[1]);
	*rfd = p[0];
	return pid;
}

static pid_t spawn_one(struct call c, int *rfd)
{
	return spawn_callers(c, 1, rfd);
}

/* One result within timeout_ms: true if read. */
static bool get_result(int rfd, struct result *r, int timeout_ms)
{
	struct pollfd p = {.fd = rfd, .events = POLLIN};

	memset(r, 0, sizeof(*r));
	return poll(&p, 1, timeout_ms) == 1 && read(rfd, r, sizeof(*r)) == sizeof(*r);
}

static int reap(pid_t pid)
{
	int status = -1;

	waitpid(pid, &status, 0);
	return status;
}

/*
 * Lets n holders go: a byte each (every child has the write end too, so
 * closing it would never be an EOF).
 */
static void release_holders(int wfd, int n)
{
	for (int i = 0; i < n; i++)
		if (write(wfd, "", 1) != 1)
			break;
	close(wfd);
}

static struct call a_call(uint64_t len)
{
	return (struct call){.len = len,
			     .fd_flags = O_RDWR | O_CLOEXEC,
			     .open_flags = O_RDWR,
			     .heap_fd = -1,
			     .hold = -1};
}

static int set_timeout_ms(unsigned int ms)
{
	FILE *f = fopen(PARAM_TIMEOUT, "we");
	int ret;

	if (!f)
		return -errno;
	ret = fprintf(f, "%u\n", ms) > 0 ? 0 : -EIO;
	return fclose(f) ? -errno : ret;
}

/* ---- the tests ---- */

/* Before HEAP_SERVE nobody answers: ENODEV at once, and no event. */
static void test_unserved(const char *when)
{
	int hfd = open(heap, O_RDWR | O_CLOEXEC);
	int fd = hfd >= 0 ? heap_alloc(hfd, 4096, O_RDWR | O_CLOEXEC, 0) : -errno;

	check(fd == -ENODEV, "%s: ALLOC fails at once with ENODEV (%s)", when, strerror(-fd));
	check(no_event(), "%s: and queues no event", when);
	if (hfd >= 0)
		close(hfd);
}

static void test_node(void)
{
	struct stat st = {0};
	struct dirent *de;
	DIR *d = opendir("/dev/dma_heap");

	/* What else the kselftest will walk. */
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.')
			diag("/dev/dma_heap/%s", de->d_name);
	if (d)
		closedir(d);

	int ret = stat(heap, &st);

	check(ret == 0 && S_ISCHR(st.st_mode) && (st.st_mode & 0777) == 0600 && st.st_uid == 0,
	      "%s is a character device, root's, mode 0600 (%o)", heap,
	      (unsigned int)(st.st_mode & 0777));
	check(access("/sys/class/misc/cmabuf_heap0", F_OK) == 0,
	      "its sysfs name is cmabuf_heap0 (misc), apart from any real dma-heap");
}

/* Refused before the daemon hears of it. */
static void test_bad_input(void)
{
	int hfd = open(heap, O_RDWR | O_CLOEXEC), fd;
	struct dma_heap_allocation_data d = {.len = 4096, .fd = 3, .fd_flags = O_RDWR};
	uint64_t tiny = 4096;

	fd = heap_alloc(hfd, 0, O_RDWR | O_CLOEXEC, 0);
	check(fd == -EINVAL, "len 0: EINVAL (%s)", strerror(-fd));
	fd = heap_alloc(hfd, UINT64_MAX, O_RDWR | O_CLOEXEC, 0);
	check(fd == -EINVAL, "len 2^64-1 (rounds past 2^64): EINVAL (%s)", strerror(-fd));
	fd = heap_alloc(hfd, UINT64_MAX - 4095, O_RDWR | O_CLOEXEC, 0);
	check(fd == -ENOMEM, "len 2^64-4096: ENOMEM (%s)", strerror(-fd));
	fd = heap_alloc(hfd, door.info.size + 1, O_RDWR | O_CLOEXEC, 0);
	check(fd == -ENOMEM, "len one byte over the region: ENOMEM (%s)", strerror(-fd));
	fd = heap_alloc(hfd, 4096, O_RDWR | O_CLOEXEC, 1);
	check(fd == -EINVAL, "heap_flags 1: EINVAL (%s)", strerror(-fd));
	fd = heap_alloc(hfd, 4096, O_RDWR | O_CLOEXEC | O_NONBLOCK, 0);
	check(fd == -EINVAL, "fd_flags with O_NONBLOCK: EINVAL (%s)", strerror(-fd));
	fd = heap_alloc(hfd, 4096, ~(uint32_t)(O_RDWR | O_CLOEXEC), 0);
	check(fd == -EINVAL, "fd_flags ~(O_RDWR | O_CLOEXEC): EINVAL (%s)", strerror(-fd));
	fd = alloc_sized(hfd, &d, sizeof(d));
	check(fd == -EINVAL, "fd not 0 on the way in: EINVAL (%s)", strerror(-fd));
	fd = alloc_sized(hfd, &tiny, sizeof(tiny));
	check(fd == -ENOTTY, "an 8-byte struct (no fd_flags): ENOTTY (%s)", strerror(-fd));
	fd = ioctl(hfd, _IOW('H', 0, struct dma_heap_allocation_data), &d) < 0 ? -errno : 0;
	check(fd == -ENOTTY, "the ALLOC number without _IOC_READ: ENOTTY (%s)", strerror(-fd));
	check(no_event(), "none of them reached the daemon");
	close(hfd);
}

/* One caller, answered: a zeroed dma-buf of the rounded size, its fd its own. */
static void test_basic(void)
{
	struct call c = a_call(1 * MIB + 1);
	struct uio_cma_heap_caller who;
	struct uio_cma_query q = {0};
	struct uio_cma_event ev;
	uint64_t cookie = 0;
	struct result r;
	int hold[2], rfd, ret;
	pid_t pid;

	if (pipe2(hold, O_CLOEXEC))
		return;
	c.hold = hold[0];
	c.set_name = "set-by-caller";
	pid = spawn_one(c, &rfd);
	close(hold[0]);
	if (!check(hd_take_alloc(&door, &ev, WAIT_MS) == 1, "basic: a HEAP_ALLOC event"))
		goto out;
	check(ev.type == UIO_CMA_EVENT_HEAP_ALLOC && ev.cookie != 0 && ev.offset == 0 &&
		      ev.size == 1 * MIB + 4096 && ev.flags == 0,
	      "basic: event id %" PRIu64 ", size rounded up to %" PRIu64, (uint64_t)ev.cookie,
	      (uint64_t)ev.size);
	ret = caller_info(ev.cookie, &who, NULL, 0);
	check(ret == 0 && who.tgid == (uint32_t)pid && who.len == ev.size &&
		      who.fd_flags == (O_RDWR | O_CLOEXEC) && who.uid == 0 && who.gid == 0,
	      "basic: HEAP_CALLER: tgid %u (child %d), uid %u, len, fd_flags (%s)", who.tgid, pid,
	      who.uid, strerror(-ret));
	ret = hd_answer(&door, ev.cookie, ev.size, "heap:test", &cookie);
	check(ret == 0, "basic: HEAP_ANSWER exports (%s)", strerror(-ret));
	ret = caller_info(ev.cookie, &who, NULL, 0);
	check(ret == -ENOENT, "basic: HEAP_CALLER after the answer: ENOENT (%s)", strerror(-ret));
	if (!check(get_result(rfd, &r, WAIT_MS), "basic: the caller returns"))
		goto out;
	check(r.err == 0 && r.dmabuf, "basic: the caller has a uio_cma dma-buf fd (%s)",
	      strerror(r.err));
	check(r.size == 1 * MIB + 4096, "basic: of the rounded size (%" PRIu64 ")", r.size);
	check(r.mapped && r.zero && !r.ro_refused, "basic: it maps read-write and reads zero");
	check(r.cloexec, "basic: O_CLOEXEC as asked");
	q.cookie = cookie;
	ret = ioctl(door.ctl, UIO_CMA_IOC_QUERY, &q) < 0 ? -errno : 0;
	check(ret == 0 && strcmp(q.name, "set-by-caller") == 0 && q.attached == 0 && q.vmapped == 0,
	      "basic: QUERY sees the name the caller set (\"%s\"), nothing attached (%s)", q.name,
	      strerror(-ret));
out:
	release_holders(hold[1], 1);
	check(cookie && hd_await_released(&door, cookie, WAIT_MS),
	      "basic: RELEASED once the caller closed it");
	close(rfd);
	reap(pid);
}

/* Who asks, as the kernel saw it: a non-root caller with groups, from a thread. */
static void test_identity(void)
{
	struct call c = a_call(4096);
	struct uio_cma_heap_caller who;
	uint32_t groups[8] = {0};
	struct uio_cma_event ev;
	struct result r;
	int rfd, ret;
	pid_t pid;

	c.uid = 1234;
	c.comm = "heapcaller";
	pid = spawn_one(c, &rfd);
	if (!check(hd_take_alloc(&door, &ev, WAIT_MS) == 1, "identity: event"))
		goto out;
	ret = caller_info(ev.cookie, &who, groups, 2);
	check(ret == 0 && who.uid == 1234 && who.gid == 1235 && who.ngroups == 3 &&
		      groups[0] == 1236 && groups[1] == 1237 && groups[2] == 0,
	      "identity: uid %u gid %u, %u groups (%u %u), only groups_cap copied (%s)", who.uid,
	      who.gid, who.ngroups, groups[0], groups[1], strerror(-ret));
	ret = caller_info(ev.cookie, &who, groups, 8);
	check(ret == 0 && groups[2] == 1238 && who.ngroups == 3, "identity: all three groups");
	check(who.tgid == (uint32_t)pid && strcmp(who.comm, "heapcaller") == 0,
	      "identity: tgid %u, comm \"%s\"", who.tgid, who.comm);
	ret = hd_answer_error(&door, ev.cookie, ENOSPC);
	check(ret == 0, "identity: HEAP_ANSWER with error ENOSPC (%s)", strerror(-ret));
	if (!get_result(rfd, &r, WAIT_MS))
		r.err = -1; /* no result */
	check(r.err == ENOSPC, "identity: the caller's ALLOC fails with ENOSPC (%s)",
	      strerror(r.err));
	check(who.tid == (uint32_t)r.tid && who.tid != who.tgid,
	      "identity: tid %u is the calling thread's (%d)", who.tid, r.tid);
out:
	close(rfd);
	reap(pid);
}

/* The answer's own checks: the request stays pending through a bad one. */
static void test_bad_answers(void)
{
	struct uio_cma_heap_answer a = {0};
	struct call c = a_call(64 * KIB);
	struct uio_cma_event ev;
	uint64_t cookie = 0;
	struct result r;
	int rfd, ret;
	int64_t off;
	pid_t pid;

	ret = hd_answer_error(&door, 999999, EIO);
	check(ret == -ENOENT, "HEAP_ANSWER to an unknown id: ENOENT (%s)", strerror(-ret));
	pid = spawn_one(c, &rfd);
	if (!check(hd_take_alloc(&door, &ev, WAIT_MS) == 1, "bad answers: event"))
		goto out;
	ret = hd_answer_error(&door, ev.cookie, 4096);
	check(ret == -EINVAL, "error 4096: EINVAL (%s)", strerror(-ret));
	ret = hd_answer_error(&door, ev.cookie, 513); /* ERESTARTNOINTR */
	check(ret == -EINVAL, "error 513, a kernel-internal code: EINVAL (%s)", strerror(-ret));
	off = hd_place(&door, 64 * KIB);
	a.id = ev.cookie;
	a.offset = (uint64_t)off;
	a.size = 64 * KIB;
	a.cookie = 77;
	/* Never cleared since the module loaded: the dirty map refuses it. */
	if (hd_clear(&door, a.offset, 60 * KIB) == 0) {
		ret = ioctl(door.ctl, UIO_CMA_IOC_HEAP_ANSWER, &a) < 0 ? -errno : 0;
		check(ret == -EACCES, "a range not wholly cleared: EACCES (%s)", strerror(-ret));
	}
	hd_clear(&door, a.offset, a.size);
	a.size = 60 * KIB;
	ret = ioctl(door.ctl, UIO_CMA_IOC_HEAP_ANSWER, &a) < 0 ? -errno : 0;
	check(ret == -EINVAL, "size below the request's len: EINVAL (%s)", strerror(-ret));
	a.size = 64 * KIB;
	a.flags = 1;
	ret = ioctl(door.ctl, UIO_CMA_IOC_HEAP_ANSWER, &a) < 0 ? -errno : 0;
	check(ret == -EINVAL, "flags 1: EINVAL (%s)", strerror(-ret));
	a.flags = 0;
	a.offset = door.info.size;
	ret = ioctl(door.ctl, UIO_CMA_IOC_HEAP_ANSWER, &a) < 0 ? -errno : 0;
	check(ret == -EINVAL, "a range outside the region: EINVAL (%s)", strerror(-ret));
	memset(door.used + off / door.info.page_size, 0, 64 * KIB / door.info.page_size);
	ret = hd_answer(&door, ev.cookie, 64 * KIB, "after", &cookie);
	check(ret == 0, "then a good answer still reaches the caller (%s)", strerror(-ret));
	if (!get_result(rfd, &r, WAIT_MS))
		r.err = -1; /* no result */
	check(r.err == 0 && r.size == 64 * KIB, "the caller has it (%s)", strerror(r.err));
	check(cookie && hd_await_released(&door, cookie, WAIT_MS), "and it is released");
out:
	close(rfd);
	reap(pid);
}

/* The oldest (16 bytes) and a newer, larger struct, as the kselftest tries. */
static void test_struct_sizes(void)
{
	struct {
		uint64_t len;
		uint32_t fd, fd_flags;
	} old = {.len = 4096, .fd_flags = O_RDWR | O_CLOEXEC};
	struct {
		uint64_t len;
		uint32_t fd, fd_flags;
		uint64_t heap_flags, garbage[3];
	} big = {.len = 8192, .fd_flags = O_RDWR | O_CLOEXEC, .garbage = {1, 2, 3}};
	struct uio_cma_event ev;
	uint64_t cookie = 0;
	int hfd = open(heap, O_RDWR | O_CLOEXEC);
	int p[2], fd = -1;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC))
		return;
	/* The ALLOC blocks; a child makes it and hands back what it saw. */
	pid = fork();
	if (pid == 0) {
		close(door.ctl);
		int r1 = alloc_sized(hfd, &old, sizeof(old));
		int r2 = alloc_sized(hfd, &big, sizeof(big));
		int out[3] = {r1, r2,
			      big.garbage[0] == 1 && big.garbage[1] == 2 && big.garbage[2] == 3};

		_exit(write(p[1], out, sizeof(out)) == sizeof(out) ? 0 : 1);
	}
	for (int i = 0; i < 2; i++) {
		if (hd_take_alloc(&door, &ev, WAIT_MS) == 1)
			hd_answer(&door, ev.cookie, ev.size, "sizes", &cookie);
		check(ev.size == (i ? 8192u : 4096u), "%s struct: the len is read (%" PRIu64 ")",
		      i ? "a 40-byte" : "the 16-byte", (uint64_t)ev.size);
	}
	int out[3] = {-1, -1, 0};
	struct pollfd pf = {.fd = p[0], .events = POLLIN};

	fd = poll(&pf, 1, WAIT_MS) == 1 && read(p[0], out, sizeof(out)) == sizeof(out);
	check(fd && out[0] >= 0, "the 16-byte struct gets an fd (%d)", out[0]);
	check(fd && out[1] >= 0, "the 40-byte struct gets an fd (%d)", out[1]);
	check(fd && out[2], "the newer struct's tail is left as it was");
	reap(pid);
	close(p[0]);
	close(p[1]);
	close(hfd);
}

/* O_RDONLY opens of the node allocate; fd_flags O_RDONLY gives a read-only buffer. */
static void test_readonly(void)
{
	struct call c = a_call(4096);
	struct uio_cma_event ev;
	struct result r;
	int rfd;
	pid_t pid;

	c.open_flags = O_RDONLY;
	c.fd_flags = O_RDONLY;
	pid = spawn_one(c, &rfd);
	if (hd_take_alloc(&door, &ev, WAIT_MS) == 1)
		hd_answer(&door, ev.cookie, ev.size, "ro", NULL);
	if (!get_result(rfd, &r, WAIT_MS))
		r.err = -1; /* no result */
	check(r.err == 0, "an O_RDONLY open of the node allocates (%s)", strerror(r.err));
	check(r.mapped && r.ro_refused && !r.cloexec,
	      "fd_flags O_RDONLY: maps read-only, PROT_WRITE refused, no O_CLOEXEC");
	close(rfd);
	reap(pid);
}

/* A signal while waiting: EINTR (no SA_RESTART), and the request is gone. */
static void test_signal(bool restart)
{
	const char *what = restart ? "SA_RESTART" : "signal";
	struct call c = a_call(4096);
	struct uio_cma_heap_caller who;
	struct uio_cma_event ev, ev2;
	struct result r;
	int rfd, ret;
	pid_t pid;

	c.sig = SIGUSR1;
	c.restart = restart;
	pid = spawn_one(c, &rfd);
	if (!check(hd_take_alloc(&door, &ev, WAIT_MS) == 1, "%s: event", what))
		goto out;
	kill(pid, SIGUSR1);
	if (restart) {
		/* The ALLOC left and came back as a new request. */
		ret = hd_take_alloc(&door, &ev2, WAIT_MS);
		check(ret == 1 && ev2.cookie != ev.cookie && ev2.size == ev.size,
		      "SA_RESTART: the ALLOC comes back as request %" PRIu64 " (was %" PRIu64 ")",
		      (uint64_t)ev2.cookie, (uint64_t)ev.cookie);
		ret = hd_answer_error(&door, ev.cookie, EIO);
		check(ret == -ENOENT, "SA_RESTART: the old request: ENOENT (%s)", strerror(-ret));
		ret = hd_answer(&door, ev2.cookie, ev2.size, "restarted", NULL);
		if (ret || !get_result(rfd, &r, WAIT_MS))
			r.err = -1;
		check(ret == 0 && r.err == 0,
		      "SA_RESTART: the new one is answered, the caller has its fd (%s)",
		      strerror(r.err));
		goto out;
	}
	if (!get_result(rfd, &r, WAIT_MS))
		r.err = -1; /* no result */
	check(r.err == EINTR, "signal: the caller's ALLOC fails with EINTR (%s)", strerror(r.err));
	ret = caller_info(ev.cookie, &who, NULL, 0);
	check(ret == -ENOENT, "signal: HEAP_CALLER then: ENOENT (%s)", strerror(-ret));
	ret = hd_answer(&door, ev.cookie, 4096, "late", NULL);
	check(ret == -ENOENT, "signal: HEAP_ANSWER then: ENOENT, nothing exported (%s)",
	      strerror(-ret));
out:
	close(rfd);
	reap(pid);
}

/* SIGKILL while waiting: the request is gone. */
static void test_killed_waiting(void)
{
	struct uio_cma_event ev;
	struct uio_cma_info in;
	int rfd, ret, status;
	pid_t pid;

	pid = spawn_one(a_call(4096), &rfd);
	if (!check(hd_take_alloc(&door, &ev, WAIT_MS) == 1, "SIGKILL: event"))
		return;
	kill(pid, SIGKILL);
	status = reap(pid);
	check(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "SIGKILL: the caller died");
	ret = hd_answer(&door, ev.cookie, 4096, "dead", NULL);
	check(ret == -ENOENT, "SIGKILL: HEAP_ANSWER then: ENOENT (%s)", strerror(-ret));
	check(ioctl(door.ctl, UIO_CMA_IOC_INFO, &in) == 0 && in.live == 0,
	      "SIGKILL: nothing left exported (%u live)", in.live);
	close(rfd);
}

/*
 * Answered, but the caller cannot take it: its fd table is full (EMFILE),
 * or it is killed right after the answer (before or after it woke: either
 * way). The export is released with an event, and the range is dirty.
 */
static void test_answered_dropped(bool kill_it)
{
	const char *what = kill_it ? "killed after the answer" : "EMFILE";
	struct call c = a_call(64 * KIB);
	struct uio_cma_event ev;
	struct hd_live *l;
	uint64_t cookie = 0;
	struct result r;
	int rfd, ret, fd;
	pid_t pid;

	c.fill_fds = !kill_it;
	pid = spawn_one(c, &rfd);
	if (!check(hd_take_alloc(&door, &ev, WAIT_MS) == 1, "%s: event", what))
		goto out;
	ret = hd_answer(&door, ev.cookie, ev.size, "dropped", &cookie);
	if (kill_it)
		kill(pid, SIGKILL);
	check(ret == 0, "%s: HEAP_ANSWER succeeds (%s)", what, strerror(-ret));
	if (!kill_it) {
		if (!get_result(rfd, &r, WAIT_MS))
			r.err = -1; /* no result */
		check(r.err == EMFILE, "EMFILE: the caller's ALLOC fails with EMFILE (%s)",
		      strerror(r.err));
	}
	check(cookie && hd_await_released(&door, cookie, WAIT_MS),
	      "%s: RELEASED for cookie %" PRIu64, what, cookie);
	l = hd_find(&door, cookie);
	if (!l)
		goto out;
	fd = ioctl(door.ctl, UIO_CMA_IOC_EXPORT,
		   &(struct uio_cma_export){.offset = l->offset, .size = l->size, .cookie = 5});
	check(fd < 0 && errno == EACCES, "%s: the range is free but dirty (EXPORT: %s)", what,
	      strerror(fd < 0 ? errno : 0));
	if (fd >= 0)
		close(fd);
out:
	close(rfd);
	reap(pid);
}

/* Nobody answers within heap_timeout_ms: ETIMEDOUT, and the request is gone. */
static void test_timeout(void)
{
	struct uio_cma_event ev;
	struct result r;
	int rfd, ret;
	pid_t pid;

	ret = set_timeout_ms(300);
	if (!check(ret == 0, "heap_timeout_ms = 300 (%s)", strerror(-ret)))
		return;
	pid = spawn_one(a_call(4096), &rfd);
	check(hd_take_alloc(&door, &ev, WAIT_MS) == 1, "timeout: event");
	if (!get_result(rfd, &r, WAIT_MS))
		r.err = -1; /* no result */
	check(r.err == ETIMEDOUT, "timeout: the caller's ALLOC fails with ETIMEDOUT (%s)",
	      strerror(r.err));
	ret = hd_answer(&door, ev.cookie, 4096, "late", NULL);
	check(ret == -ENOENT, "timeout: HEAP_ANSWER then: ENOENT (%s)", strerror(-ret));
	set_timeout_ms(CALM_MS);
	close(rfd);
	reap(pid);
}

/* A request that leaves before the daemon read its event takes the event along. */
static void test_left_unread(void)
{
	struct pollfd p = {.fd = door.ctl, .events = POLLIN};
	struct call c = a_call(4096);
	struct result r;
	int rfd;
	pid_t pid;

	c.sig = SIGUSR1;
	pid = spawn_one(c, &rfd);
	/* POLLIN: the event is queued, so the caller waits; nothing is read. */
	if (check(poll(&p, 1, WAIT_MS) == 1, "left unread: an event is queued")) {
		kill(pid, SIGUSR1);
		if (!get_result(rfd, &r, WAIT_MS))
			r.err = -1; /* no result */
		check(r.err == EINTR, "left unread: EINTR (%s)", strerror(r.err));
		check(no_event(), "left unread: its event is gone with it");
	}
	close(rfd);
	reap(pid);
	set_timeout_ms(300);
	pid = spawn_one(c, &rfd);
	if (!get_result(rfd, &r, WAIT_MS))
		r.err = -1; /* no result */
	check(r.err == ETIMEDOUT && no_event(),
	      "left unread: a timed-out request leaves no event either (%s)", strerror(r.err));
	set_timeout_ms(CALM_MS);
	close(rfd);
	reap(pid);
}

/* The daemon goes away while callers wait: they fail with ENODEV. */
static void test_control_closed(void)
{
	struct uio_cma_event ev;
	int rfd[3], got = 0, ret;
	struct result r;
	pid_t pid[3];

	for (int i = 0; i < 3; i++)
		pid[i] = spawn_one(a_call(4096), &rfd[i]);
	for (int i = 0; i < 3; i++)
		got += hd_take_alloc(&door, &ev, WAIT_MS) == 1;
	check(got == 3, "control closed: 3 requests pending");
	close(door.ctl);
	got = 0;
	for (int i = 0; i < 3; i++) {
		got += get_result(rfd[i], &r, WAIT_MS) && r.err == ENODEV;
		close(rfd[i]);
		reap(pid[i]);
	}
	check(got == 3, "control closed: every waiting caller fails with ENODEV (%d of 3)", got);
	door.ctl = open(dev, O_RDWR | O_CLOEXEC);
	door.nstash = 0;
	test_unserved("after the control device closed and reopened");
	ret = hd_serve(&door);
	check(ret == 0, "HEAP_SERVE again (%s)", strerror(-ret));
}

/*
 * UIO_CMA_HEAP_PENDING_UID requests of one uid wait at once, the next get
 * EAGAIN, and another uid still gets through.
 */
static void test_pending_limit(void)
{
	const int n = UIO_CMA_HEAP_PENDING_UID + 2;
	uint64_t ids[UIO_CMA_HEAP_PENDING_UID + 2];
	struct call c = a_call(4096);
	struct uio_cma_heap_caller who;
	int rfd, rfd2, got = 0, again = 0, cancelled = 0;
	struct uio_cma_event ev;
	struct result r;
	pid_t pid, pid2;

	set_timeout_ms(600000); /* nothing times out while the flood waits */
	c.uid = 1001;
	pid = spawn_callers(c, n, &rfd);
	while (got < UIO_CMA_HEAP_PENDING_UID && hd_take_alloc(&door, &ev, WAIT_MS) == 1)
		ids[got++] = ev.cookie;
	for (int i = 0; i < n - got && get_result(rfd, &r, WAIT_MS); i++)
		again += r.err == EAGAIN;
	check(got == UIO_CMA_HEAP_PENDING_UID && again == n - got,
	      "uid 1001: %d requests wait, %d of %d more get EAGAIN", got, again, n - got);
	check(no_event(), "uid 1001: no more requests than the limit reach the daemon");
	c.uid = 1002;
	pid2 = spawn_one(c, &rfd2);
	check(hd_take_alloc(&door, &ev, WAIT_MS) == 1 &&
		      caller_info(ev.cookie, &who, NULL, 0) == 0 && who.uid == 1002,
	      "uid 1002 still gets through");
	if (hd_answer(&door, ev.cookie, 4096, "other", NULL) || !get_result(rfd2, &r, WAIT_MS))
		r.err = -1;
	check(r.err == 0, "and is answered (%s)", strerror(r.err));
	for (int i = 0; i < got; i++)
		hd_answer_error(&door, ids[i], ECANCELED);
	for (int i = 0; i < got && get_result(rfd, &r, WAIT_MS); i++)
		cancelled += r.err == ECANCELED;
	check(cancelled == got, "the %d waiting ones get the daemon's ECANCELED (%d)", got,
	      cancelled);
	set_timeout_ms(CALM_MS);
	close(rfd);
	close(rfd2);
	reap(pid);
	reap(pid2);
}

/* UIO_CMA_HEAP_PENDING requests in all wait at once; the next, of any uid, gets EAGAIN. */
static void test_pending_total(void)
{
	enum { UIDS = UIO_CMA_HEAP_PENDING / UIO_CMA_HEAP_PENDING_UID };
	static uint64_t ids[UIO_CMA_HEAP_PENDING];
	int rfd[UIDS + 1], got = 0, cancelled = 0;
	struct call c = a_call(4096);
	struct uio_cma_event ev;
	pid_t pid[UIDS + 1];
	struct result r;

	set_timeout_ms(600000);
	for (int i = 0; i < UIDS; i++) {
		c.uid = 2001 + 10 * i;
		pid[i] = spawn_callers(c, UIO_CMA_HEAP_PENDING_UID, &rfd[i]);
	}
	while (got < UIO_CMA_HEAP_PENDING && hd_take_alloc(&door, &ev, WAIT_MS) == 1)
		ids[got++] = ev.cookie;
	check(got == UIO_CMA_HEAP_PENDING, "%d uids: %d requests wait (the limit)", UIDS, got);
	c.uid = 3001;
	pid[UIDS] = spawn_one(c, &rfd[UIDS]);
	if (!get_result(rfd[UIDS], &r, WAIT_MS))
		r.err = -1; /* no result */
	check(r.err == EAGAIN && no_event(), "one more, of a new uid: EAGAIN, no event (%s)",
	      strerror(r.err));
	for (int i = 0; i < got; i++)
		hd_answer_error(&door, ids[i], ECANCELED);
	for (int i = 0; i < UIDS; i++)
		for (int t = 0; t < UIO_CMA_HEAP_PENDING_UID && get_result(rfd[i], &r, WAIT_MS);
		     t++)
			cancelled += r.err == ECANCELED;
	check(cancelled == got, "and all %d get ECANCELED once answered (%d)", got, cancelled);
	set_timeout_ms(CALM_MS);
	for (int i = 0; i <= UIDS; i++) {
		close(rfd[i]);
		reap(pid[i]);
	}
}

/* Entries of LIST, sorted by the stub: true if none overlaps the next. */
static bool list_disjoint(int *count)
{
	static struct uio_cma_list_entry e[512];
	struct uio_cma_list l = {.entries = (uintptr_t)e, .capacity = 512};
	int n = ioctl(door.ctl, UIO_CMA_IOC_LIST, &l);

	*count = n;
	for (int i = 1; i < n && i < 512; i++)
		if (e[i - 1].offset + e[i - 1].size > e[i].offset)
			return false;
	return n >= 0;
}

/* 64 threads in 4 processes at once: all answered, every buffer its own. */
static void test_many(void)
{
	enum { PROCS = 4, THREADS = 16 };
	int rfd[PROCS], hold[PROCS][2], answered = 0, ready = 0, intact = 0, live = 0;
	struct uio_cma_event ev;
	struct result r;
	pid_t pid[PROCS];

	for (int i = 0; i < PROCS; i++) {
		struct call c = a_call(64 * KIB + 4096 * (uint64_t)i);

		if (pipe2(hold[i], O_CLOEXEC))
			return;
		c.hold = hold[i][0];
		c.tag = (uint8_t)(0x10 + i);
		pid[i] = spawn_callers(c, THREADS, &rfd[i]);
		close(hold[i][0]);
	}
	while (answered < PROCS * THREADS && hd_take_alloc(&door, &ev, WAIT_MS) == 1)
		answered += hd_answer(&door, ev.cookie, ev.size, "many", NULL) == 0;
	check(answered == PROCS * THREADS, "64 callers: %d answered", answered);
	for (int i = 0; i < PROCS; i++)
		for (int t = 0; t < THREADS && get_result(rfd[i], &r, WAIT_MS); t++)
			ready += r.err == 0 && r.phase == 0 && r.zero &&
				 r.size == 64 * KIB + 4096 * (uint64_t)i;
	check(ready == PROCS * THREADS, "64 callers: %d have a zeroed buffer of their size", ready);
	bool disjoint = list_disjoint(&live);

	check(disjoint && live == PROCS * THREADS,
	      "64 callers: LIST shows %d exports, none overlapping", live);
	/* Each has filled its buffer with its process's tag: none was overwritten. */
	for (int i = 0; i < PROCS; i++) {
		release_holders(hold[i][1], THREADS);
		for (int t = 0; t < THREADS && get_result(rfd[i], &r, WAIT_MS); t++)
			intact += r.phase == 1 && r.intact;
	}
	check(intact == PROCS * THREADS, "64 callers: %d buffers kept their own contents", intact);
	for (int i = 0; i < PROCS; i++) {
		close(rfd[i]);
		reap(pid[i]);
	}
}

/* QUERY of a plain EXPORT: the name DMA_BUF_SET_NAME gave it, vgem's attachment. */
static void test_query(void)
{
	struct uio_cma_query q = {.cookie = 4242};
	uint32_t handle = 0;
	int fd, dfd = -1, ret;
	int64_t off;

	ret = ioctl(door.ctl, UIO_CMA_IOC_QUERY, &q) < 0 ? -errno : 0;
	check(ret == -ENOENT, "QUERY of an unknown cookie: ENOENT (%s)", strerror(-ret));
	q.flags = 1;
	ret = ioctl(door.ctl, UIO_CMA_IOC_QUERY, &q) < 0 ? -errno : 0;
	check(ret == -EINVAL, "QUERY with flags 1: EINVAL (%s)", strerror(-ret));
	off = hd_place(&door, 1 * MIB);
	hd_clear(&door, (uint64_t)off, 1 * MIB);
	fd = ioctl(
		door.ctl, UIO_CMA_IOC_EXPORT,
		&(struct uio_cma_export){
			.offset = (uint64_t)off, .size = 1 * MIB, .cookie = 4242, .name = "first"});
	if (!check(fd >= 0, "QUERY: EXPORT"))
		return;
	*hd_slot(&door) = (struct hd_live){4242, (uint64_t)off, 1 * MIB, false};
	q = (struct uio_cma_query){.cookie = 4242};
	ret = ioctl(door.ctl, UIO_CMA_IOC_QUERY, &q) < 0 ? -errno : 0;
	check(ret == 0 && strcmp(q.name, "first") == 0, "QUERY: the export's name (\"%s\")",
	      q.name);
	ioctl(fd, DMA_BUF_SET_NAME, "renamed");
	for (int i = 0; i < 16 && dfd < 0; i++) {
		char path[32];
		drmVersionPtr v;

		snprintf(path, sizeof(path), "/dev/dri/card%d", i);
		dfd = open(path, O_RDWR | O_CLOEXEC);
		v = dfd >= 0 ? drmGetVersion(dfd) : NULL;
		if (dfd >= 0 && !(v && strcmp(v->name, "vgem") == 0)) {
			close(dfd);
			dfd = -1;
		}
		drmFreeVersion(v);
	}
	check(dfd >= 0 && drmPrimeFDToHandle(dfd, fd, &handle) == 0, "QUERY: vgem imports it");
	ret = ioctl(door.ctl, UIO_CMA_IOC_QUERY, &q) < 0 ? -errno : 0;
	check(ret == 0 && strcmp(q.name, "renamed") == 0 && q.attached == 1 && q.vmapped == 0,
	      "QUERY: name \"%s\" from DMA_BUF_SET_NAME, %u attached, %u vmapped", q.name,
	      q.attached, q.vmapped);
	if (handle)
		drmCloseBufferHandle(dfd, handle);
	ret = ioctl(door.ctl, UIO_CMA_IOC_QUERY, &q) < 0 ? -errno : 0;
	check(ret == 0 && q.attached == 0, "QUERY: 0 attached once vgem let go");
	if (dfd >= 0)
		close(dfd);
	close(fd);
	check(hd_await_released(&door, 4242, WAIT_MS), "QUERY: RELEASED once closed");
}

/* A caller's open heap node pins the module, even with no daemon. */
static void test_pinned(void)
{
	int hfd = open(heap, O_RDWR | O_CLOEXEC), ret;

	close(door.ctl);
	door.ctl = -1;
	ret = syscall(SYS_delete_module, "uio_cma", O_NONBLOCK) == 0 ? 0 : -errno;
	check(hfd >= 0 && (ret == -EWOULDBLOCK || ret == -EBUSY),
	      "rmmod refused while the heap node is open (%s)", strerror(-ret));
	if (hfd >= 0)
		close(hfd);
}

/* finit_module(2) of $CMABUF_VM_KO over the same region, with extra: 0 or -errno. */
static int reload(const char *extra)
{
	const char *ko = getenv("CMABUF_VM_KO"), *arch = getenv("CMABUF_VM_ARCH");
	char params[256];
	int fd, ret;

	if (syscall(SYS_delete_module, "uio_cma", O_NONBLOCK) != 0 && errno != ENOENT)
		return -errno;
	fd = ko ? open(ko, O_RDONLY | O_CLOEXEC) : -1;
	if (fd < 0)
		return -ENOENT;
	/* arm64 binds the device tree's regions: no base=/size= there. */
	if (arch && strcmp(arch, "arm64") == 0)
		snprintf(params, sizeof(params), "%s", extra);
	else
		snprintf(params, sizeof(params), "base=%#" PRIx64 " size=%#" PRIx64 " %s",
			 (uint64_t)door.info.base, (uint64_t)door.info.size, extra);
	ret = syscall(SYS_finit_module, fd, params, 0) == 0 ? 0 : -errno;
	close(fd);
	return ret;
}

static bool param_is(const char *path, const char *want)
{
	char buf[32] = "";
	FILE *f = fopen(path, "re");
	bool ok = f && fgets(buf, sizeof(buf), f) && strncmp(buf, want, strlen(want)) == 0 &&
		  buf[strlen(want)] == '\n';

	if (f)
		fclose(f);
	return ok;
}

/* Waits (devtmpfs and udev are asynchronous) until path exists or not. */
static bool appears(const char *path, bool present)
{
	for (int i = 0; i < 100; i++) {
		if ((access(path, F_OK) == 0) == present)
			return true;
		usleep(20000);
	}
	return false;
}

/* heap= names the node or, empty, leaves it out; a name with a '/' is refused. */
static void test_heap_param(void)
{
	struct uio_cma_heap_serve sv = {0};
	int ret, fd;

	ret = reload("heap=camera");
	check(ret == 0 && appears("/dev/dma_heap/camera", true) &&
		      appears("/dev/dma_heap/cmabuf", false),
	      "heap=camera: the node is /dev/dma_heap/camera (%s)", strerror(-ret));
	ret = reload("heap=");
	fd = open(dev, O_RDWR | O_CLOEXEC);
	check(ret == 0 && appears("/dev/dma_heap/camera", false) &&
		      access("/sys/class/misc/cmabuf_heap0", F_OK) != 0,
	      "heap= (empty): no heap node (%s)", strerror(-ret));
	ret = fd >= 0 && ioctl(fd, UIO_CMA_IOC_HEAP_SERVE, &sv) < 0 ? -errno : 0;
	check(ret == -ENODEV, "heap= (empty): HEAP_SERVE says ENODEV (%s)", strerror(-ret));
	if (fd >= 0)
		close(fd);
	ret = reload("heap=a/b");
#if defined(__x86_64__)
	check(ret == -EINVAL, "heap=a/b: the load fails with EINVAL (%s)", strerror(-ret));
#else
	/*
	 * arm64: the regions are DT devices, probed after the load succeeds; a
	 * failed probe is not the module's error (x86's base=/size= device is).
	 */
	check(ret == 0 && appears(dev, false) && appears("/dev/dma_heap/a", false),
	      "heap=a/b: each region's probe refuses it, no region and no node (%s)",
	      strerror(-ret));
#endif
	ret = reload("");
	check(ret == 0 && appears(heap, true), "reloaded with the default heap (%s)",
	      strerror(-ret));
	check(param_is(PARAM_TIMEOUT, "5000"), "and heap_timeout_ms is 5000 by default");
}

int main(int argc, char **argv)
{
	int ret;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) {
			dev = argv[++i];
		} else if (strcmp(argv[i], "--heap") == 0 && i + 1 < argc) {
			heap = argv[++i];
		} else {
			fprintf(stderr, "usage: %s [--device /dev/uio_cma0] [--heap PATH]\n",
				argv[0]);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	ret = hd_open(&door, dev);
	if (ret) {
		printf("1..0 # SKIP %s: %s (run me under tests/vm/vm-run)\n", dev, strerror(-ret));
		return 77;
	}
	test_node();
	test_unserved("before HEAP_SERVE");
	ret = hd_serve(&door);
	check(ret == 0, "HEAP_SERVE (%s)", strerror(-ret));
	ret = set_timeout_ms(CALM_MS);
	check(ret == 0, "heap_timeout_ms is writable (%s)", strerror(-ret));
	test_bad_input();
	test_basic();
	test_identity();
	test_bad_answers();
	test_struct_sizes();
	test_readonly();
	test_signal(false);
	test_signal(true);
	test_killed_waiting();
	test_answered_dropped(false);
	test_answered_dropped(true);
	test_timeout();
	test_left_unread();
	test_control_closed();
	test_pending_limit();
	test_pending_total();
	test_many();
	test_query();
	test_pinned();
	test_heap_param();

	printf("1..%d\n", n_tests);
	printf("%d passed, %d failed\n", n_tests - n_failed, n_failed);
	return n_failed ? 1 : 0;
}
