/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon_child.h"
#include "args.h"
#include "floor.h"
#include "uio_cma.h"

/* The same seals cmabufd's memfd backend applies. */
#define SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

struct floor_request {
	uint64_t size; /* | FLOOR_SOCKET_ONLY: the same memfd of that size every time */
};

#define FLOOR_SOCKET_ONLY (1ull << 63)
#define FLOOR_TRACKED	  (1ull << 62) /* reply.size is the id the FREE names */
#define FLOOR_FREE	  (1ull << 61) /* | id: no reply */
#define FLOOR_SETTLE	  (1ull << 60) /* uio: reply (no fd) once the last range is clean */
#define FLOOR_FLAGS	  (FLOOR_SOCKET_ONLY | FLOOR_TRACKED | FLOOR_FREE | FLOOR_SETTLE)

struct floor_reply {
	int32_t error; /* 0 or a negative errno; an fd is attached on success */
	uint32_t pad;
	uint64_t size;
};

static void set_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	snprintf(sa->sun_path, sizeof(sa->sun_path), "%s", path);
}

static int make_memfd(uint64_t size)
{
	int fd = memfd_create("floor", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0 || fcntl(fd, F_ADD_SEALS, SEALS) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int send_reply(int sock, const struct floor_reply *r, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = (void *)r, .iov_len = sizeof(*r)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *cm;

	if (fd >= 0) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/*
 * The uio floor (in the VM): the stub's EXPORT of the region's first pages.
 * The client closes each buffer before asking again, so the range is free;
 * the stub exports only cleared pages, and a SETTLE request (untimed, as
 * cmabufd's zeroing is) clears what the last buffer used once it is released.
 */
static int uio_ctl = -1;
static unsigned uio_live;  /* exports not yet released */
static uint64_t uio_dirty; /* bytes from offset 0 not cleared since */

static int make_export(uint64_t size)
{
	static uint64_t cookie = 1ull << 62; /* far from any daemon's */
	struct uio_cma_export ex;
	int fd;

	memset(&ex, 0, sizeof(ex));
	ex.size = (size + 4095) / 4096 * 4096;
	ex.cookie = ++cookie;
	memcpy(ex.name, "floor", 6);
	fd = ioctl(uio_ctl, UIO_CMA_IOC_EXPORT, &ex);
	if (fd >= 0) {
		uio_live++;
		uio_dirty = ex.size > uio_dirty ? ex.size : uio_dirty;
	}
	return fd < 0 ? -errno : fd;
}

static void drain_uio_events(void)
{
	struct uio_cma_event ev[64];
	ssize_t n, i;

	while (uio_ctl >= 0 && (n = read(uio_ctl, ev, sizeof(ev))) > 0)
		for (i = 0; i < n / (ssize_t)sizeof(ev[0]); i++)
			uio_live -= ev[i].type == UIO_CMA_EVENT_RELEASED && uio_live;
}

/* Waits (10 s at most) for every export's release, then clears what they used. */
static int settle_uio(void)
{
	struct uio_cma_clear c = {.offset = 0};
	struct pollfd p = {.fd = uio_ctl, .events = POLLIN};

	drain_uio_events();
	while (uio_live && poll(&p, 1, 10000) == 1)
		drain_uio_events();
	if (uio_live)
		return -ETIMEDOUT;
	c.size = uio_dirty;
	if (c.size && ioctl(uio_ctl, UIO_CMA_IOC_CLEAR, &c) < 0)
		return -errno;
	uio_dirty = 0;
	return 0;
}

/*
 * The socket floor: one memfd per size, made once and kept, so a request costs
 * only the socket and the descriptor passing (what no allocator can avoid).
 */
static int kept_memfd(uint64_t size)
{
	static struct {
		uint64_t size;
		int fd;
	} kept[8];
	static unsigned n;
	unsigned i;

	for (i = 0; i < n; i++)
		if (kept[i].size == size)
			return kept[i].fd;
	if (n == 8)
		return -ENOSPC;
	kept[n].fd = make_memfd(size);
	if (kept[n].fd < 0)
		return kept[n].fd;
	kept[n].size = size;
	return kept[n++].fd;
}

/*
 * The tracking floor: what the memfd backend does for the release rule and no
 * more. The client gets a second description opened through /proc (counted as
 * a writer, as cmabufd's), the server keeps memfd_create()'s; on the client's
 * FREE the server asks for a read lease, which is granted only once no client
 * description is left, and closes its own then; a buffer still held is asked
 * about again at the next FREEs (at most 64 waiting, then the oldest is
 * dropped: a benchmark's clients close first, so none should wait).
 */
#define TRACK_PENDING 64
static int pending[TRACK_PENDING];
static unsigned npending;

static int make_tracked(uint64_t size, uint64_t *id)
{
	char path[32];
	int fd = make_memfd(size), client;

	if (fd < 0)
		return fd;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	client = open(path, O_RDWR | O_CLOEXEC);
	if (client < 0) {
		client = -errno;
		close(fd);
		return client;
	}
	*id = (uint64_t)fd;
	return client;
}

static int released(int fd)
{
	return fcntl(fd, F_SETLEASE, F_RDLCK) == 0;
}

static void track_free(int fd)
{
	unsigned i = 0;

	while (i < npending)
		if (released(pending[i])) {
			close(pending[i]);
			pending[i] = pending[--npending];
		} else {
			i++;
		}
	if (released(fd)) {
		close(fd);
		return;
	}
	if (npending == TRACK_PENDING)
		close(pending[--npending]);
	pending[npending++] = fd;
}

/* Returns false when the client is gone. */
static int serve_one(int sock)
{
	struct floor_request req;
	struct floor_reply r = {0, 0, 0};
	ssize_t n = recv(sock, &req, sizeof(req), 0);
	int fd;

	if (n != (ssize_t)sizeof(req))
		return 0;
	if (req.size & FLOOR_FREE) {
		track_free((int)(req.size & ~FLOOR_FLAGS));
		return 1;
	}
	if (req.size & FLOOR_SETTLE) {
		r.error = uio_ctl >= 0 ? settle_uio() : 0;
		return send(sock, &r, sizeof(r), MSG_NOSIGNAL) == (ssize_t)sizeof(r);
	}
	if (req.size & FLOOR_TRACKED) {
		fd = make_tracked(req.size & ~FLOOR_FLAGS, &r.size);
		r.error = fd < 0 ? fd : 0;
		n = send_reply(sock, &r, fd);
		if (fd >= 0)
			close(fd);
		return n == 0;
	}
	if (req.size & FLOOR_SOCKET_ONLY) {
		fd = kept_memfd(req.size & ~FLOOR_SOCKET_ONLY);
		r.error = fd < 0 ? fd : 0;
		r.size = req.size & ~FLOOR_SOCKET_ONLY;
		return send_reply(sock, &r, fd) == 0;
	}
	fd = uio_ctl >= 0 ? make_export(req.size) : make_memfd(req.size);
	r.error = fd < 0 ? fd : 0;
	r.size = req.size;
	n = send_reply(sock, &r, fd);
	if (fd >= 0)
		close(fd);
	drain_uio_events();
	return n == 0;
}

static void accept_all(int ep, int lfd)
{
	struct epoll_event ev = {.events = EPOLLIN};
	int c;

	while ((c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
		ev.data.fd = c;
		epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
	}
}

static void __attribute__((noreturn)) server_main(int lfd)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd}, evs[64];
	int ep = epoll_create1(EPOLL_CLOEXEC), i, n;

	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
		_exit(1);
	for (;;) {
		n = epoll_wait(ep, evs, 64, -1);
		for (i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == lfd)
				accept_all(ep, lfd);
			else if (!serve_one(fd))
				close(fd); /* also leaves the epoll set */
		}
	}
}

/* The running server, stopped by the exit handler of the process that started it. */
static struct floor_server running;
static pid_t owner;

static void stop_at_exit(void)
{
	if (getpid() == owner && running.pid > 0)
		floor_server_stop(&running);
}

void floor_server_start_uio(struct floor_server *fs, const char *ctl)
{
	/* Opened here, inherited by the server: the control device takes one opener. */
	struct uio_cma_info info;

	uio_ctl = open(ctl, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (uio_ctl < 0 || ioctl(uio_ctl, UIO_CMA_IOC_INFO, &info) < 0) {
		perror(ctl);
		exit(1);
	}
	uio_dirty = info.size; /* whoever had the region last left it as it was */
	floor_server_start(fs);
	close(uio_ctl);
	uio_ctl = -1;
}

void floor_server_start(struct floor_server *fs)
{
	pid_t parent = getpid();

	struct sockaddr_un sa;
	int lfd;

	snprintf(fs->dir, sizeof(fs->dir), "/tmp/cmabuf-floor.XXXXXX");
	if (!mkdtemp(fs->dir)) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(fs->socket, sizeof(fs->socket), "%s/sock", fs->dir);
	set_addr(&sa, fs->socket);
	/* Bound and listening before the fork, so the parent can connect at once. */
	lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4096) < 0) {
		perror("floor server socket");
		exit(1);
	}
	fflush(NULL);
	fs->pid = fork();
	if (fs->pid < 0) {
		perror("fork");
		exit(1);
	}
	if (fs->pid == 0) {
		die_with_parent(parent);
		bench_pin("BENCH_SERVER_CPU");
		server_main(lfd);
	}
	close(lfd);
	if (running.pid > 0) {
		fprintf(stderr, "bench: one floor server at a time\n");
		exit(1);
	}
	running = *fs;
	if (!owner) {
		owner = getpid();
		atexit(stop_at_exit);
	}
}

void floor_server_stop(struct floor_server *fs)
{
	pid_t pid = fs->pid; /* fs may be `running` itself */

	fs->pid = 0;
	if (pid > 0) {
		running.pid = 0;
		/* TERM, not KILL: under valgrind (bench/cost) a killed process writes no profile */
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
	unlink(fs->socket);
	rmdir(fs->dir);
}

int floor_connect(const char *path)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	set_addr(&sa, path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("floor connect");
		exit(1);
	}
	return fd;
}

static int request_fd(int sock, uint64_t size, uint64_t *reply_size)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct floor_request req = {size};
	struct floor_reply r;
	struct iovec iov = {.iov_base = &r, .iov_len = sizeof(r)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *cm;
	int fd = -1;

	if (send(sock, &req, sizeof(req), MSG_NOSIGNAL) != (ssize_t)sizeof(req))
		return -errno;
	mh.msg_control = u.buf;
	mh.msg_controllen = sizeof(u.buf);
	if (recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) != (ssize_t)sizeof(r))
		return -EPROTO;
	cm = CMSG_FIRSTHDR(&mh);
	if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	if (r.error < 0 || fd < 0) {
		if (fd >= 0)
			close(fd);
		return r.error < 0 ? r.error : -EPROTO;
	}
	if (reply_size)
		*reply_size = r.size;
	return fd;
}

int floor_alloc(int sock, uint64_t size)
{
	return request_fd(sock, size, NULL);
}

int floor_settle(int sock)
{
	struct floor_request req = {FLOOR_SETTLE};
	struct floor_reply r;

	if (send(sock, &req, sizeof(req), MSG_NOSIGNAL) != (ssize_t)sizeof(req))
		return -errno;
	if (recv(sock, &r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -EPROTO;
	return r.error;
}

int floor_socket_only(int sock, uint64_t size)
{
	return request_fd(sock, size | FLOOR_SOCKET_ONLY, NULL);
}

int floor_tracked_alloc(int sock, uint64_t size, uint64_t *id)
{
	return request_fd(sock, size | FLOOR_TRACKED, id);
}

int floor_tracked_free(int sock, uint64_t id)
{
	struct floor_request req = {id | FLOOR_FREE};

	return send(sock, &req, sizeof(req), MSG_NOSIGNAL) == (ssize_t)sizeof(req) ? 0 : -errno;
}
