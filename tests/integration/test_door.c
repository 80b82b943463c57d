/* SPDX-License-Identifier: MIT */
/*
 * The front door under attack: what a raw client can do to the daemon's loop,
 * its descriptors and its log, and what the daemon tells it before it closes.
 * Each test runs its own daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmabuf.h"
#include "connection.h"
#include "fuse_stall.h"
#include "harness.h"
#include "scm.h"

#define MB (1ull << 20)
/* Not a timing assertion: how long a test waits for what must happen before calling it a hang. */
#define HANG_MS 30000

static struct test_daemon the_daemon; /* cleanup() stops it even after a failure */
static struct fuse_stall the_fuse;
static int stalled_fd = -1;

static int cleanup(void **state)
{
	(void)state;
	/* The FUSE server first: a close() waiting for it (ours, or a daemon's) then returns. */
	fuse_stall_stop(&the_fuse);
	if (stalled_fd >= 0)
		close(stalled_fd);
	stalled_fd = -1;
	if (the_daemon.pid > 0)
		assert_int_equal(test_daemon_stop(&the_daemon), 0);
	return 0;
}

static int raw_connect(const struct test_daemon *td)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_true(strlen(td->socket) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, td->socket, strlen(td->socket) + 1);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void send_msg(int fd, uint16_t type, uint32_t seq, const void *payload, size_t len)
{
	unsigned char buf[CMABUF_MSG_MAX];
	long n = cmabuf_msg_encode(buf, sizeof(buf), type, seq, payload, len, 0);

	assert_true(n > 0);
	assert_int_equal(send(fd, buf, (size_t)n, MSG_NOSIGNAL), n);
}

/* Waits (HANG_MS at most, else fails: the daemon hangs) until fd is readable. */
static void wait_readable(int fd, const char *what)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	if (poll(&p, 1, HANG_MS) != 1)
		fail_msg("no answer %s in %d s: the daemon hangs", what, HANG_MS / 1000);
}

/* The next datagram, decoded: its length (0 at the end), or a negative errno from recv. */
static ssize_t recv_msg(int fd, struct cmabuf_msg *m)
{
	unsigned char buf[CMABUF_MSG_MAX];
	ssize_t r = recv(fd, buf, sizeof(buf), 0);

	if (r < 0)
		return -errno;
	if (r > 0)
		assert_int_equal(cmabuf_msg_decode(buf, (size_t)r, 0, CMABUF_TO_CLIENT, m), 0);
	return r;
}

/* A raw client says HELLO and must get HELLO_REPLY, whatever else goes on. */
static int greeted_client(const struct test_daemon *td)
{
	struct cmabuf_msg_hello h = {.version = CMABUF_PROTOCOL_VERSION};
	struct cmabuf_msg m;
	int fd = raw_connect(td);

	send_msg(fd, CMABUF_MSG_HELLO, 1, &h, sizeof(h));
	wait_readable(fd, "to HELLO");
	assert_true(recv_msg(fd, &m) > 0);
	assert_int_equal(m.hdr.type, CMABUF_MSG_HELLO_REPLY);
	return fd;
}

static void status_served(const struct test_daemon *td)
{
	struct cmabuf_msg m;
	int fd = greeted_client(td);

	send_msg(fd, CMABUF_MSG_STATUS, 2, NULL, 0);
	wait_readable(fd, "to STATUS");
	assert_true(recv_msg(fd, &m) > 0);
	assert_int_equal(m.hdr.type, CMABUF_MSG_STATUS_REPLY);
	close(fd);
}

/* SIGTERM, and the daemon must exit 0 (within HANG_MS, or it hangs). */
static void stops_on_sigterm(struct test_daemon *td)
{
	int pidfd = (int)syscall(SYS_pidfd_open, td->pid, 0);

	assert_true(pidfd >= 0);
	assert_int_equal(kill(td->pid, SIGTERM), 0);
	wait_readable(pidfd, "to SIGTERM (exit)");
	close(pidfd);
	assert_int_equal(test_daemon_stop(td), 0);
}

static bool kernel_refuses_fds(void)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0), v;
	socklen_t len = sizeof(v);
	bool has = fd >= 0 && getsockopt(fd, SOL_SOCKET, 83 /* SO_PASSRIGHTS */, &v, &len) == 0;

	close(fd);
	return has;
}

/*
 * A descriptor of a FUSE file whose server never answers FLUSH, attached to a
 * request: a daemon that close()s it waits in the kernel for the attacker, and
 * serves nobody, SIGTERM and SIGKILL included. The daemon must never own it:
 * the kernel refuses to pass it (SO_PASSRIGHTS, 6.16+) or drops it because the
 * daemon reads without a control buffer (earlier kernels; the daemon's
 * --test-fds-reach-socket makes this one take that path too). Either way no
 * FLUSH ever comes from the daemon, others are served, and SIGTERM stops it.
 */
static void fuse_descriptor(bool reach_socket)
{
	const char *const plain[] = {NULL};
	const char *const reach[] = {"--test-fds-reach-socket", NULL};
	struct test_daemon *td = &the_daemon;
	union scm_one_fd ctl;
	unsigned char buf[CMABUF_MSG_MAX];
	struct iovec iov = {buf, 0};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmabuf_msg m;
	int fd, ret, i;
	ssize_t r;

	if (geteuid() != 0) {
		print_message("needs root (mounting a FUSE file system)\n");
		skip();
	}
	ret = fuse_stall_start(&the_fuse);
	if (ret < 0) {
		print_message("cannot mount FUSE here: %s\n", strerror(-ret));
		skip();
	}
	/* The daemon first: its forked child closes every descriptor of ours before exec. */
	assert_int_equal(test_daemon_start(td, 16 * MB, reach_socket ? reach : plain), 0);
	stalled_fd = open(the_fuse.file, O_RDWR | O_CLOEXEC);
	assert_true(stalled_fd >= 0);

	for (i = 0; i < 3; i++) { /* before HELLO, and after it, twice */
		fd = i ? greeted_client(td) : raw_connect(td);
		iov.iov_len = (size_t)cmabuf_msg_encode(buf, sizeof(buf), CMABUF_MSG_STATUS, 2,
							NULL, 0, 0);
		scm_attach_fd(&mh, &ctl, stalled_fd);
		r = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (r < 0) {
			assert_int_equal(errno, EPERM);
			assert_true(kernel_refuses_fds() && !reach_socket);
		} else {
			assert_int_equal(r, (ssize_t)iov.iov_len);
			assert_true(!kernel_refuses_fds() || reach_socket);
			wait_readable(fd, "to a request with a FUSE descriptor");
			assert_true(recv_msg(fd, &m) > 0);
			assert_int_equal(m.hdr.type, CMABUF_MSG_ERROR);
			assert_int_equal(m.u.error.error, -EBADMSG);
			wait_readable(fd, "(the close)");
			assert_int_equal(recv_msg(fd, &m), 0);
		}
		close(fd);
		status_served(td); /* the loop goes on */
	}
	assert_int_equal(fuse_stall_flushes_by(&the_fuse, td->pid), 0);
	stops_on_sigterm(td);
}

static void fuse_descriptor_cannot_freeze_the_daemon(void **state)
{
	(void)state;
	fuse_descriptor(false);
}

static void fuse_descriptor_cannot_freeze_the_daemon_without_passrights(void **state)
{
	(void)state;
	fuse_descriptor(true);
}

/*
 * A raw client queues a malformed datagram and many requests behind it, all
 * before the daemon reads: the daemon answers the first with an error and
 * closes with the rest unread. The client must read that error, reason and
 * all, and then the end: not ECONNRESET instead (a Unix socket closed with
 * unread input resets its peer, whose recv() then fails before it sees what
 * was queued for it).
 */
static void reason_arrives_before_the_close_not_a_reset(void **state)
{
	const char *const extra[] = {"--max-clients=2", NULL};
	struct test_daemon *td = &the_daemon;
	unsigned char junk[40], status[64];
	struct mmsghdr mm[24];
	struct iovec iov[24];
	struct cmabuf_msg m;
	int fd, held, i;
	ssize_t r;

	(void)state;
	assert_int_equal(test_daemon_start(td, 16 * MB, extra), 0);
	for (int round = 0; round < 8; round++) {
		fd = greeted_client(td);
		memset(junk, 0xee, sizeof(junk));
		memset(mm, 0, sizeof(mm));
		iov[0] = (struct iovec){junk, sizeof(junk)};
		for (i = 1; i < 24; i++)
			iov[i] = (struct iovec){status, (size_t)cmabuf_msg_encode(
								status, sizeof(status),
								CMABUF_MSG_STATUS, 2, NULL, 0, 0)};
		for (i = 0; i < 24; i++) {
			mm[i].msg_hdr.msg_iov = &iov[i];
			mm[i].msg_hdr.msg_iovlen = 1;
		}
		/* all, unless the daemon shut its side while they went (then EPIPE ends it) */
		assert_true(sendmmsg(fd, mm, 24, MSG_NOSIGNAL) >= 1);
		wait_readable(fd, "to a malformed datagram");
		r = recv_msg(fd, &m);
		if (r < 0)
			fail_msg("round %d: recv: %s before the reason", round, strerror((int)-r));
		assert_int_equal(m.hdr.type, CMABUF_MSG_ERROR);
		assert_int_equal(m.u.error.error, -EBADMSG);
		assert_non_null(strstr(m.u.error.reason, "closing the connection"));
		assert_int_equal(recv_msg(fd, &m), 0);
		close(fd);
	}
	/* A connection refused at accept, whose HELLO is already queued: the same. */
	held = greeted_client(td);
	fd = greeted_client(td);
	for (int round = 0; round < 8; round++) {
		struct cmabuf_msg_hello h = {.version = CMABUF_PROTOCOL_VERSION};
		int late = raw_connect(td);
		unsigned char buf[CMABUF_MSG_MAX];
		long n = cmabuf_msg_encode(buf, sizeof(buf), CMABUF_MSG_HELLO, 1, &h, sizeof(h), 0);

		if (send(late, buf, (size_t)n, MSG_NOSIGNAL) < 0)
			assert_int_equal(errno, EPIPE); /* refused before it could send */
		wait_readable(late, "to a connection over --max-clients");
		r = recv_msg(late, &m);
		if (r < 0)
			fail_msg("refused connection: recv: %s before the reason",
				 strerror((int)-r));
		assert_int_equal(m.hdr.type, CMABUF_MSG_ERROR);
		assert_int_equal(m.u.error.error, -EUSERS);
		assert_non_null(strstr(m.u.error.reason, "--max-clients"));
		assert_int_equal(recv_msg(late, &m), 0);
		close(late);
	}
	close(fd);
	close(held);
}

/* A raw client's HELLO: 0 for HELLO_REPLY, else the ERROR's errno with its reason in why. */
static int try_hello(const struct test_daemon *td, int *fd_out, char *why, size_t cap)
{
	struct cmabuf_msg_hello h = {.version = CMABUF_PROTOCOL_VERSION};
	unsigned char buf[CMABUF_MSG_MAX];
	int fd = raw_connect(td);
	long n = cmabuf_msg_encode(buf, sizeof(buf), CMABUF_MSG_HELLO, 1, &h, sizeof(h), 0);
	struct cmabuf_msg m;
	ssize_t r;

	if (send(fd, buf, (size_t)n, MSG_NOSIGNAL) < 0)
		assert_int_equal(errno, EPIPE); /* refused before it could send */
	wait_readable(fd, "to HELLO");
	r = recv_msg(fd, &m);
	if (r <= 0)
		fail_msg("HELLO: %s", r ? strerror((int)-r) : "closed without a reason");
	if (m.hdr.type == CMABUF_MSG_HELLO_REPLY) {
		*fd_out = fd;
		return 0;
	}
	assert_int_equal(m.hdr.type, CMABUF_MSG_ERROR);
	snprintf(why, cap, "%s", m.u.error.reason);
	assert_int_equal(recv_msg(fd, &m), 0);
	close(fd);
	*fd_out = -1;
	return m.u.error.error;
}

static int count_fds_of(pid_t pid)
{
	char path[64];
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "ls /proc/%d/fd | wc -l", (int)pid);
	f = popen(path, "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%d", &n), 1);
	pclose(f);
	return n;
}

/*
 * Out of descriptors, accept() fails with EMFILE and leaves the connection in
 * the backlog: a level-triggered listen event then woke the loop again at
 * once, for ever, at full CPU, with a log line each time. Now every connection
 * attempt is accepted on a reserve descriptor and refused with a reason
 * (EMFILE), the episode is logged once, and once descriptors free up the
 * daemon serves again.
 */
static void out_of_descriptors_refuses_with_a_reason_and_logs_once(void **state)
{
	const char *const extra[] = {"--max-clients-per-uid=1024", NULL};
	struct test_daemon *td = &the_daemon;
	struct rlimit rl;
	int held[64], nheld = 0, refused = 0, i, fd, ret;
	char why[CMABUF_REASON_LEN];

	(void)state;
	assert_int_equal(test_daemon_start_logged(td, 16 * MB, extra), 0);
	status_served(td);
	/* room for a few connections more than it holds now (made-ahead buffers included) */
	struct rlimit was;

	assert_int_equal(prlimit(td->pid, RLIMIT_NOFILE, NULL, &was), 0);
	rl.rlim_cur = (rlim_t)count_fds_of(td->pid) + 8;
	rl.rlim_max = was.rlim_max; /* the soft limit only: raising it back needs no privilege */
	if (prlimit(td->pid, RLIMIT_NOFILE, &rl, NULL) < 0) {
		print_message("cannot lower the daemon's RLIMIT_NOFILE: %s\n", strerror(errno));
		skip();
	}
	for (i = 0; i < 300; i++) {
		ret = try_hello(td, &fd, why, sizeof(why));
		if (ret == 0) {
			assert_true(nheld < 64);
			held[nheld++] = fd;
			continue;
		}
		assert_int_equal(ret, -EMFILE);
		assert_non_null(strstr(why, "out of file descriptors"));
		refused++;
	}
	print_message("%d connections held, %d refused (limit %llu)\n", nheld, refused,
		      (unsigned long long)rl.rlim_cur);
	assert_true(refused >= 300 - 64);
	assert_int_equal(test_daemon_log_lines(td, "out of file descriptors"), 1);
	assert_int_equal(test_daemon_log_lines(td, "accept:"), 0);
	while (nheld)
		close(held[--nheld]);
	assert_int_equal(prlimit(td->pid, RLIMIT_NOFILE, &was, NULL), 0);
	status_served(td);
	assert_int_equal(test_daemon_log_lines(td, "file descriptors available again"), 1);
}

/* Sends one malformed datagram on a new connection and reads the error and the close. */
static void one_bad_connection(const struct test_daemon *td)
{
	unsigned char junk[8];
	struct cmabuf_msg m;
	int fd = raw_connect(td);

	memset(junk, 0xee, sizeof(junk));
	assert_int_equal(send(fd, junk, sizeof(junk), MSG_NOSIGNAL), sizeof(junk));
	wait_readable(fd, "to a malformed datagram");
	assert_true(recv_msg(fd, &m) > 0);
	assert_int_equal(m.hdr.type, CMABUF_MSG_ERROR);
	assert_int_equal(recv_msg(fd, &m), 0);
	close(fd);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * The log limit was per connection: 20,000 one-datagram connections wrote
 * 3.3 MB of log. Now it is per uid (10 lines per 10 s window) and for all
 * clients (100): 2,000 bad connections from one uid leave at most 10 lines per
 * window they took (however long that was: the bound follows the windows, it
 * asserts no duration), one line saying the rest is suppressed, and another
 * uid's trouble is still logged.
 */
static void log_limit_holds_per_uid_across_connections(void **state)
{
	const char *const extra[] = {"--socket-mode=0666", NULL};
	struct test_daemon *td = &the_daemon;
	uint64_t start, windows;
	int i, lines, status;
	pid_t pid;

	(void)state;
	assert_int_equal(test_daemon_start_logged(td, 16 * MB, extra), 0);
	start = mono_ms();
	for (i = 0; i < 2000; i++)
		one_bad_connection(td);
	windows = (mono_ms() - start) / 10000 + 2; /* a window may begin just before the first */
	lines = test_daemon_log_lines(td, "malformed message");
	print_message("2000 bad connections: %d lines about them, %d in all (%" PRIu64
		      " windows at most)\n",
		      lines, test_daemon_log_lines(td, NULL), windows);
	assert_true(lines >= 10);
	assert_true((uint64_t)lines <= 10 * windows);
	assert_true(test_daemon_log_lines(td, "further messages about uid 0 are suppressed") >= 1);
	assert_true((uint64_t)test_daemon_log_lines(td, NULL) <= 12 * windows + 8);
	/* another uid is not silenced by the first one's flood */
	if (geteuid() == 0) {
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			if (setgid(65534) < 0 || setuid(65534) < 0)
				_exit(2);
			one_bad_connection(td);
			_exit(0);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		assert_int_equal(test_daemon_log_lines(td, "uid 65534]"), 1);
	}
}

/*
 * A connection holds its slot (--max-clients, --max-clients-per-uid) from
 * accept on; one that never says HELLO held it for ever. Now it is told why
 * and closed after --hello-timeout. The greeted connection made before it
 * (so its own timer, had it one that counted, ran out first) is still served.
 */
static void connection_without_hello_is_closed_with_a_reason(void **state)
{
	const char *const extra[] = {"--hello-timeout=200", NULL};
	struct test_daemon *td = &the_daemon;
	struct cmabuf_msg m;
	int greeted, silent;

	(void)state;
	assert_int_equal(test_daemon_start(td, 16 * MB, extra), 0);
	greeted = greeted_client(td);
	silent = raw_connect(td);
	wait_readable(silent, "to a connection that never says HELLO");
	assert_true(recv_msg(silent, &m) > 0);
	assert_int_equal(m.hdr.type, CMABUF_MSG_ERROR);
	assert_int_equal(m.u.error.error, -ETIMEDOUT);
	assert_non_null(strstr(m.u.error.reason, "--hello-timeout"));
	assert_int_equal(recv_msg(silent, &m), 0);
	close(silent);
	send_msg(greeted, CMABUF_MSG_STATUS, 2, NULL, 0);
	wait_readable(greeted, "to STATUS");
	assert_true(recv_msg(greeted, &m) > 0);
	assert_int_equal(m.hdr.type, CMABUF_MSG_STATUS_REPLY);
	close(greeted);
}

/* In a child running as uid: allocates one-page buffers (kept) until refused; reports how many. */
static void allocate_until_refused(const struct test_daemon *td, uid_t uid, unsigned most,
				   int report_fd, int hold_fd)
{
	struct cmabuf_alloc_desc d = {.size = 4096, .name = "fd-hog"};
	struct cmabuf_buffer *b;
	struct cmabuf *cb;
	int result[2] = {0, 0};
	char c;

	if (setgroups(0, NULL) < 0 || setgid(uid) < 0 || setuid(uid) < 0 ||
	    cmabuf_connect(td->socket, &cb) < 0)
		_exit(2);
	while ((unsigned)result[0] < most && (result[1] = cmabuf_alloc(cb, &d, &b)) == 0)
		result[0]++;
	if (write(report_fd, result, sizeof(result)) != sizeof(result))
		_exit(3);
	if (read(hold_fd, &c, 1) < 0) /* holds everything until the test is done */
		_exit(4);
	_exit(0);
}

static pid_t hog(const struct test_daemon *td, uid_t uid, unsigned most, int result[2], int *hold_w)
{
	int rep[2], hold[2];
	pid_t pid;

	assert_int_equal(pipe(rep), 0);
	assert_int_equal(pipe(hold), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(rep[0]);
		close(hold[1]);
		allocate_until_refused(td, uid, most, rep[1], hold[0]);
	}
	close(rep[1]);
	close(hold[0]);
	assert_int_equal(read(rep[0], result, 2 * sizeof(int)), 2 * sizeof(int));
	close(rep[0]);
	*hold_w = hold[1];
	return pid;
}

/*
 * On memfd every buffer costs the daemon a descriptor for as long as anyone
 * holds it, so one user with tiny buffers could take the daemon's whole
 * descriptor table (and then nobody could allocate or even connect). Each uid
 * but root now gets a quarter of RLIMIT_NOFILE: past it, EMFILE for that uid
 * alone, and another uid still allocates.
 */
static void one_uid_cannot_take_all_descriptors(void **state)
{
	const char *const extra[] = {"--socket-mode=0666", NULL};
	struct test_daemon *td = &the_daemon;
	struct rlimit rl, was;
	int first[2], second[2], hold1, hold2, status;
	pid_t a, b;

	(void)state;
	if (geteuid() != 0) {
		print_message("needs root (clients as other uids, prlimit)\n");
		skip();
	}
	assert_int_equal(test_daemon_start(td, 64 * MB, extra), 0);
	assert_int_equal(prlimit(td->pid, RLIMIT_NOFILE, NULL, &was), 0);
	rl.rlim_cur = 400; /* a share of 100 per uid */
	rl.rlim_max = was.rlim_max;
	assert_int_equal(prlimit(td->pid, RLIMIT_NOFILE, &rl, NULL), 0);
	a = hog(td, 65534, 1000, first, &hold1);
	print_message("uid 65534 got %d buffers, then %s\n", first[0], strerror(-first[1]));
	b = hog(td, 65533, 20, second, &hold2);
	assert_int_equal(first[0], 100);
	assert_int_equal(first[1], -EMFILE);
	assert_int_equal(second[0], 20); /* another uid is not locked out */
	close(hold1);
	close(hold2);
	assert_int_equal(waitpid(a, &status, 0), a);
	assert_int_equal(waitpid(b, &status, 0), b);
	assert_int_equal(prlimit(td->pid, RLIMIT_NOFILE, &was, NULL), 0);
	assert_int_equal(test_daemon_wait_buffers(td, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(fuse_descriptor_cannot_freeze_the_daemon, cleanup),
		cmocka_unit_test_teardown(
			fuse_descriptor_cannot_freeze_the_daemon_without_passrights, cleanup),
		cmocka_unit_test_teardown(reason_arrives_before_the_close_not_a_reset, cleanup),
		cmocka_unit_test_teardown(out_of_descriptors_refuses_with_a_reason_and_logs_once,
					  cleanup),
		cmocka_unit_test_teardown(log_limit_holds_per_uid_across_connections, cleanup),
		cmocka_unit_test_teardown(connection_without_hello_is_closed_with_a_reason,
					  cleanup),
		cmocka_unit_test_teardown(one_uid_cannot_take_all_descriptors, cleanup),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
