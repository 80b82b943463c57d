/* SPDX-License-Identifier: MIT */
/*
 * Malformed input from a raw socket: the daemon answers with a reason, closes
 * that connection, keeps no descriptor it was sent, and serves everyone else.
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
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>

#include <cmocka.h>

#include "cmabuf.h"
#include "connection.h"
#include "harness.h"
#include "scm.h"

static int setup(void **state)
{
	static struct test_daemon td;

	if (test_daemon_start(&td, 16u << 20, NULL) < 0)
		return -1;
	*state = &td;
	return 0;
}

static int teardown(void **state)
{
	return test_daemon_stop(*state) == 0 ? 0 : -1;
}

static int raw_connect(const struct test_daemon *td)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	struct timeval tv = {5, 0};

	assert_true(fd >= 0);
	strcpy(sa.sun_path, td->socket);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* The daemon's descriptor count; an error is a failure, never a number to compare. */
static int fd_count(const struct test_daemon *td)
{
	int n = test_daemon_fd_count(td);

	if (n < 0)
		fail_msg("cannot count the daemon's descriptors: %s", strerror(-n));
	return n;
}

/* What the daemon holds, for a failure message. */
static void print_daemon_fds(const struct test_daemon *td)
{
	char dir[64], path[352], target[256];
	struct dirent *e;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)td->pid);
	d = opendir(dir);
	if (!d)
		return;
	while ((e = readdir(d))) {
		ssize_t n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		print_message("  daemon fd %s -> %s\n", e->d_name, target);
	}
	closedir(d);
}

/*
 * The count to come back to. A buffer whose holders are gone still has the
 * daemon's own descriptor (memfd) until its release is confirmed, so wait for
 * the ledger to empty first.
 */
static int baseline_fds(const struct test_daemon *td)
{
	struct timespec ts = {0, 20 * 1000000L};
	int i, n, prev;

	assert_int_equal(test_daemon_wait_buffers(td, 0), 0);
	/*
	 * The made-ahead worker may be building a spare memfd, which counts once
	 * until it is finished (test_daemon_fd_count leaves finished spares out):
	 * a count taken then is one too high. Take it once it holds still.
	 */
	n = fd_count(td);
	for (i = 0, prev = -1; i < 250 && n != prev; i++) {
		nanosleep(&ts, NULL);
		prev = n;
		n = fd_count(td);
	}
	return n;
}

/*
 * The daemon closes a connection when it next reads from it, so just after a
 * burst of hang-ups it may still hold a few: wait (5 s at most) for the count
 * to come back before requiring it.
 */
static void fd_count_returns_to(const struct test_daemon *td, int before)
{
	struct timespec ts = {0, 20 * 1000000L};
	int i, n = fd_count(td);

	for (i = 0; i < 250 && n != before; i++) {
		nanosleep(&ts, NULL);
		n = fd_count(td);
	}
	if (n != before) {
		print_daemon_fds(td);
		fail_msg("the daemon holds %d descriptors, %d before", n, before);
	}
}

static void send_hello(int fd, uint32_t version)
{
	unsigned char buf[CMABUF_MSG_MAX];
	struct cmabuf_msg_hello h = {.version = version};
	long n = cmabuf_msg_encode(buf, sizeof(buf), CMABUF_MSG_HELLO, 1, &h, sizeof(h), 0);

	assert_int_equal(send(fd, buf, (size_t)n, 0), n);
}

/* Reads what the daemon says, then requires the connection to be closed. */
static void expect_error_then_close(int fd, int err, const char *reason)
{
	unsigned char buf[CMABUF_MSG_MAX];
	struct cmabuf_msg m;
	ssize_t n = recv(fd, buf, sizeof(buf), 0);

	assert_true(n > 0);
	assert_int_equal(cmabuf_msg_decode(buf, (size_t)n, 0, CMABUF_TO_CLIENT, &m), 0);
	assert_int_equal(m.hdr.type, CMABUF_MSG_ERROR);
	assert_int_equal(m.u.error.error, err);
	if (reason)
		assert_non_null(strstr(m.u.error.reason, reason));
	assert_int_equal(recv(fd, buf, sizeof(buf), 0), 0);
}

/* A well-behaved client allocates while others misbehave. */
static void good_client_still_served(const struct test_daemon *td)
{
	struct cmabuf *cb;
	struct cmabuf_alloc_desc d = {.size = 4096, .name = "good"};
	struct cmabuf_buffer *b;

	assert_int_equal(cmabuf_connect(td->socket, &cb), 0);
	assert_int_equal(cmabuf_alloc(cb, &d, &b), 0);
	assert_int_equal(cmabuf_free(b), 0);
	cmabuf_disconnect(cb);
	/* Released once the backend sees it closed (memfd asks the kernel 1 ms later). */
	assert_int_equal(test_daemon_wait_buffers(td, 0), 0);
}

static void version_mismatch_is_explained(void **state)
{
	int fd = raw_connect(*state);

	send_hello(fd, 99);
	expect_error_then_close(fd, -EPROTONOSUPPORT, "cmabufd speaks version 1");
	close(fd);
	good_client_still_served(*state);
}

/* A future client's HELLO may be longer: it still learns which version we speak. */
static void longer_hello_from_a_future_client_is_explained(void **state)
{
	unsigned char buf[64];
	struct cmabuf_msg_header h = {.type = CMABUF_MSG_HELLO, .length = 24, .seq = 1};
	uint32_t future[6] = {2, 0x5, 7, 7, 7, 7};
	int fd = raw_connect(*state);

	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), future, sizeof(future));
	assert_int_equal(send(fd, buf, sizeof(h) + sizeof(future), 0), sizeof(h) + sizeof(future));
	expect_error_then_close(fd, -EPROTONOSUPPORT, "protocol version 2 is not supported");
	close(fd);
}

static void request_before_hello_is_refused(void **state)
{
	unsigned char buf[CMABUF_MSG_MAX];
	int fd = raw_connect(*state);
	long n = cmabuf_msg_encode(buf, sizeof(buf), CMABUF_MSG_STATUS, 1, NULL, 0, 0);

	assert_int_equal(send(fd, buf, (size_t)n, 0), n);
	expect_error_then_close(fd, -EPROTO, "say HELLO first");
	close(fd);
}

/*
 * Every length from 0 to one byte over the largest datagram. An empty
 * datagram reads as a hang-up (recv() returns 0 for it too), so the daemon just
 * closes; random bytes can only fail to decode: an error, then the close; one
 * byte too many is -EMSGSIZE, whatever the bytes.
 */
static void garbage_of_every_length_is_refused(void **state)
{
	const struct test_daemon *td = *state;
	unsigned char junk[CMABUF_MSG_MAX + 1];
	size_t len;
	int before = baseline_fds(td);

	srand(1234);
	for (len = 0; len <= sizeof(junk); len++) {
		int fd = raw_connect(td);
		struct cmabuf_msg m;
		size_t i;
		ssize_t n;

		send_hello(fd, CMABUF_PROTOCOL_VERSION);
		assert_true(recv(fd, junk, sizeof(junk), 0) > 0); /* HELLO_REPLY */
		for (i = 0; i < len; i++)
			junk[i] = (unsigned char)rand();
		assert_int_equal(send(fd, junk, len, 0), (ssize_t)len);
		n = recv(fd, junk, sizeof(junk), 0);
		if (len > 0) {
			assert_true(n > 0);
			assert_int_equal(
				cmabuf_msg_decode(junk, (size_t)n, 0, CMABUF_TO_CLIENT, &m), 0);
			assert_int_equal(m.hdr.type, CMABUF_MSG_ERROR);
			if (len > CMABUF_MSG_MAX)
				assert_int_equal(m.u.error.error, -EMSGSIZE);
			n = recv(fd, junk, sizeof(junk), 0);
		}
		assert_int_equal(n, 0);
		close(fd);
	}
	good_client_still_served(td);
	fd_count_returns_to(td, before);
}

static void oversize_datagram_is_refused(void **state)
{
	const struct test_daemon *td = *state;
	static unsigned char big[3 * CMABUF_MSG_MAX];
	int fd = raw_connect(td);

	send_hello(fd, CMABUF_PROTOCOL_VERSION);
	assert_true(recv(fd, big, sizeof(big), 0) > 0);
	memset(big, 0, sizeof(big));
	assert_int_equal(send(fd, big, sizeof(big), 0), (ssize_t)sizeof(big));
	expect_error_then_close(fd, -EMSGSIZE, NULL);
	close(fd);
	good_client_still_served(td);
}

/*
 * A request carrying nfds descriptors. With greet false it is the HELLO itself
 * that carries them. Returns the error the daemon answered with.
 */
static int send_with_fds(const struct test_daemon *td, bool greet, unsigned nfds)
{
	unsigned char buf[CMABUF_MSG_MAX];
	struct cmabuf_msg_hello h = {.version = CMABUF_PROTOCOL_VERSION};
	int fd = raw_connect(td), passed[64];
	long n = greet ? cmabuf_msg_encode(buf, sizeof(buf), CMABUF_MSG_STATUS, 2, NULL, 0, 0)
		       : cmabuf_msg_encode(buf, sizeof(buf), CMABUF_MSG_HELLO, 1, &h, sizeof(h), 0);
	union {
		char space[CMSG_SPACE(sizeof(passed))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {buf, (size_t)n};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.space,
			    .msg_controllen = CMSG_SPACE(nfds * sizeof(int))};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	struct cmabuf_msg m;
	unsigned i;
	ssize_t r;

	assert_true(nfds >= 1 && nfds <= 64);
	if (greet) {
		send_hello(fd, CMABUF_PROTOCOL_VERSION);
		assert_true(recv(fd, buf + 2048, 1024, 0) > 0);
	}
	for (i = 0; i < nfds; i++) {
		passed[i] = dup(0);
		assert_true(passed[i] >= 0);
	}
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
	memcpy(CMSG_DATA(cm), passed, nfds * sizeof(int));
	r = sendmsg(fd, &mh, 0);
	for (i = 0; i < nfds; i++)
		close(passed[i]);
	if (r < 0 && errno == EPERM) { /* SO_PASSRIGHTS: the kernel refused to pass them */
		close(fd);
		return -EPERM;
	}
	assert_int_equal(r, n);
	r = recv(fd, buf, sizeof(buf), 0);
	assert_true(r > 0);
	assert_int_equal(cmabuf_msg_decode(buf, (size_t)r, 0, CMABUF_TO_CLIENT, &m), 0);
	assert_int_equal(m.hdr.type, CMABUF_MSG_ERROR);
	assert_int_equal(recv(fd, buf, sizeof(buf), 0), 0);
	close(fd);
	return m.u.error.error;
}

/*
 * No request carries descriptors: whatever arrives is closed, the request
 * refused. 64 is more than the daemon's control buffer holds, so the kernel
 * truncates (and itself closes the rest): -EMSGSIZE rather than -EBADMSG.
 */
/* Whether this kernel has SO_PASSRIGHTS (6.16), which the daemon sets to refuse descriptors. */
static bool kernel_refuses_fds(void)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0), v;
	socklen_t len = sizeof(v);
	bool has = fd >= 0 && getsockopt(fd, SOL_SOCKET, 83 /* SO_PASSRIGHTS */, &v, &len) == 0;

	close(fd);
	return has;
}

/*
 * The daemon never takes a descriptor a client attaches: where the kernel can, it refuses to
 * pass one at all (sendmsg fails with EPERM); elsewhere the daemon reads without a control
 * buffer, the kernel drops the descriptors, and the request is malformed (EBADMSG).
 */
static void unexpected_descriptors_are_closed_not_kept(void **state)
{
	const struct test_daemon *td = *state;
	int before = baseline_fds(td), want = kernel_refuses_fds() ? -EPERM : -EBADMSG;

	assert_int_equal(send_with_fds(td, true, 1), want);
	assert_int_equal(send_with_fds(td, true, 4), want);
	assert_int_equal(send_with_fds(td, true, 64), want);
	assert_int_equal(send_with_fds(td, false, 4), want); /* on the HELLO itself */
	fd_count_returns_to(td, before);
	good_client_still_served(td);
}

/*
 * The next datagram from a daemon that may close with our datagrams unread:
 * the kernel then reports ECONNRESET once, before or after what it had sent.
 * Returns its length, 0 at the end, or -1 if the end was a reset.
 */
static ssize_t recv_past_reset(int fd, void *buf, size_t cap, bool *reset)
{
	ssize_t n = recv(fd, buf, cap, 0);

	if (n < 0 && errno == ECONNRESET && !*reset) {
		*reset = true;
		n = recv(fd, buf, cap, MSG_DONTWAIT);
		if (n < 0 && errno == EAGAIN)
			return -1; /* nothing was queued behind the reset: the end */
	}
	return n;
}

/*
 * The daemon reads what a client queued several datagrams at a time: a
 * request behind a malformed one is never served, and a descriptor riding on
 * one is closed all the same. The four go in one sendmmsg(), so they are
 * usually queued together; however the daemon reads them (the last two may
 * even be refused by a connection it already closed), the client sees the
 * same: the STATUS answered, the error, the close (a reset when the daemon
 * closed with datagrams of ours unread).
 */
static void requests_queued_behind_a_malformed_one_are_not_served(void **state)
{
	const struct test_daemon *td = *state;
	struct cmabuf_msg_alloc a = {.size = 4096};
	unsigned char status[64], junk[40], alloc[256], status2[64], buf[CMABUF_MSG_MAX];
	int before = baseline_fds(td), fd = raw_connect(td), passed = dup(0), i;
	struct iovec iov[4] = {{status, 0}, {junk, sizeof(junk)}, {alloc, 0}, {status2, 0}};
	struct mmsghdr mm[4];
	union scm_one_fd ctl;
	struct cmabuf_msg m;
	bool reset = false;
	ssize_t r;

	iov[0].iov_len =
		(size_t)cmabuf_msg_encode(status, sizeof(status), CMABUF_MSG_STATUS, 2, NULL, 0, 0);
	memset(junk, 0xee, sizeof(junk));
	iov[2].iov_len = (size_t)cmabuf_msg_encode(alloc, sizeof(alloc), CMABUF_MSG_ALLOC, 4, &a,
						   sizeof(a), 0);
	iov[3].iov_len = (size_t)cmabuf_msg_encode(status2, sizeof(status2), CMABUF_MSG_STATUS, 5,
						   NULL, 0, 0);
	memset(mm, 0, sizeof(mm));
	for (i = 0; i < 4; i++) {
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	assert_true(passed >= 0);
	scm_attach_fd(&mm[3].msg_hdr, &ctl, passed);
	send_hello(fd, CMABUF_PROTOCOL_VERSION);
	assert_true(recv(fd, buf, sizeof(buf), 0) > 0);
	assert_true(sendmmsg(fd, mm, 4, 0) >= 2);
	close(passed);
	r = recv_past_reset(fd, buf, sizeof(buf), &reset);
	assert_true(r > 0);
	assert_int_equal(cmabuf_msg_decode(buf, (size_t)r, 0, CMABUF_TO_CLIENT, &m), 0);
	assert_int_equal(m.hdr.type, CMABUF_MSG_STATUS_REPLY);
	assert_int_equal(m.hdr.seq, 2);
	r = recv_past_reset(fd, buf, sizeof(buf), &reset);
	assert_true(r > 0);
	assert_int_equal(cmabuf_msg_decode(buf, (size_t)r, 0, CMABUF_TO_CLIENT, &m), 0);
	assert_int_equal(m.hdr.type, CMABUF_MSG_ERROR);
	assert_int_equal(m.u.error.error, -EBADMSG);
	assert_non_null(strstr(m.u.error.reason, "malformed message"));
	r = recv_past_reset(fd, buf, sizeof(buf), &reset);
	assert_true(r == 0 || (r < 0 && reset)); /* closed: nothing more was answered */
	close(fd);
	assert_int_equal(test_daemon_wait_buffers(td, 0), 0); /* the ALLOC never ran */
	fd_count_returns_to(td, before);
	good_client_still_served(td);
}

static void truncated_header_and_lies_about_length(void **state)
{
	const struct test_daemon *td = *state;
	unsigned char buf[CMABUF_MSG_MAX];
	struct cmabuf_msg_alloc a = {.size = 4096};
	long n = cmabuf_msg_encode(buf, sizeof(buf), CMABUF_MSG_ALLOC, 2, &a, sizeof(a), 0);
	int fd = raw_connect(td);

	send_hello(fd, CMABUF_PROTOCOL_VERSION);
	assert_true(recv(fd, buf + 2048, 1024, 0) > 0);
	/* Half an ALLOC: the header says more than arrived. */
	assert_int_equal(send(fd, buf, (size_t)n / 2, 0), n / 2);
	expect_error_then_close(fd, -EBADMSG, "malformed");
	close(fd);
	good_client_still_served(td);
}

/* A client that sends and never reads is cut off once its replies pile up; others are served. */
static void client_that_never_reads_is_disconnected(void **state)
{
	const struct test_daemon *td = *state;
	unsigned char buf[CMABUF_MSG_MAX];
	long n = cmabuf_msg_encode(buf, sizeof(buf), CMABUF_MSG_STATUS, 3, NULL, 0, 0);
	int before = baseline_fds(td), fd = raw_connect(td), sent = 0;
	struct timeval tv = {10, 0};
	ssize_t r;

	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	send_hello(fd, CMABUF_PROTOCOL_VERSION);
	/* Keep asking, never read: the daemon must hang up rather than buffer forever. */
	while (sent < 100000 && send(fd, buf, (size_t)n, MSG_NOSIGNAL) == n)
		sent++;
	assert_true(sent < 100000);
	assert_true(errno == EPIPE || errno == ECONNRESET);
	good_client_still_served(td);
	/*
	 * Drain what was delivered: the stream ends, not an endless backlog. The
	 * kernel reports the end as EOF or, because the daemon closed with our
	 * requests unread, as ECONNRESET; a timeout (EAGAIN) would mean it did not.
	 */
	do
		r = recv(fd, buf, sizeof(buf), 0);
	while (r > 0);
	assert_true(r == 0 || errno == ECONNRESET);
	close(fd);
	fd_count_returns_to(td, before);
}

/* Names reach logs, JSON and fdinfo: the daemon itself refuses what the library would. */
static void bad_names_are_refused_with_reason(void **state)
{
	const struct test_daemon *td = *state;
	static const char *const bad[] = {"\xff\xfe", "cam\nfake log line", "\xed\xa0\x80"};
	static const char *const why[] = {"not valid UTF-8", "control character",
					  "not valid UTF-8"};
	struct cmabuf_alloc_desc d = {.size = 4096};
	struct cmabuf_msg_alloc a = {.size = 4096};
	struct cmabuf_conn c;
	struct cmabuf_msg r;
	char long_name[100];
	struct cmabuf *cb;
	struct cmabuf_buffer *b;

	assert_int_equal(cmabuf_conn_open(&c, td->socket), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		strcpy(a.name, bad[i]);
		assert_int_equal(cmabuf_conn_request(&c, CMABUF_MSG_ALLOC, &a, sizeof(a), &r, NULL),
				 -EINVAL);
		assert_non_null(strstr(c.last_error, why[i]));
	}
	a.name[0] = '\0';
	strcpy(a.pool, "camera\nfake log line");
	assert_int_equal(cmabuf_conn_request(&c, CMABUF_MSG_ALLOC, &a, sizeof(a), &r, NULL),
			 -EINVAL);
	assert_non_null(strstr(c.last_error, "pool name contains a control character"));
	cmabuf_conn_close(&c);
	/* The library says so before asking, and does not truncate behind the caller's back. */
	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	d.name = long_name;
	assert_int_equal(cmabuf_connect(td->socket, &cb), 0);
	assert_int_equal(cmabuf_alloc(cb, &d, &b), -EINVAL);
	assert_non_null(strstr(cmabuf_last_error(cb), "longer than 63 bytes"));
	cmabuf_disconnect(cb);
	good_client_still_served(td);
}

/* A test's own daemon, started with its options; stopped even when an assertion fails. */
static struct test_daemon own;

static int stop_own(void **state)
{
	test_daemon_stop(&own);
	return 0;
}

/* Allocates one page as uid/gid nobody; the exit status says how far it got. */
static int as_nobody(const char *socket)
{
	struct cmabuf_alloc_desc d = {.size = 4096, .name = "nobody"};
	struct cmabuf_buffer *b;
	struct cmabuf *cb;

	if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
		return 2;
	if (cmabuf_connect(socket, &cb) < 0)
		return 3;
	return cmabuf_alloc(cb, &d, &b) == 0 ? 0 : 4;
}

/*
 * 300 connections from our uid to a daemon started with
 * --max-clients-per-uid=16 and a socket anyone may use: exactly 16 get in, the
 * rest are refused with -EUSERS, and meanwhile uid nobody still gets in.
 */
static void hundreds_of_connections_from_one_uid(const struct test_daemon *td)
{
	struct cmabuf *cb[300];
	unsigned ok = 0, refused = 0, i;
	int before = baseline_fds(td), status;
	pid_t p;

	for (i = 0; i < 300; i++) {
		int ret = cmabuf_connect(td->socket, &cb[i]);

		if (ret == 0) {
			ok++;
			continue;
		}
		cb[i] = NULL;
		assert_int_equal(ret, -EUSERS);
		refused++;
	}
	assert_int_equal(ok, 16);
	assert_int_equal(refused, 284);
	p = fork();
	assert_true(p >= 0);
	if (p == 0)
		_exit(as_nobody(td->socket));
	assert_int_equal(waitpid(p, &status, 0), p);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	for (i = 0; i < 300; i++)
		if (cb[i])
			cmabuf_disconnect(cb[i]);
	assert_int_equal(test_daemon_wait_buffers(td, 0), 0);
	fd_count_returns_to(td, before);
}

/* Hundreds of connections from one uid: the limit answers with a reason, others get in. */
static void connections_per_uid_are_limited(void **state)
{
	const char *const extra[] = {"--max-clients-per-uid=16", "--socket-mode=0666", NULL};

	assert_int_equal(test_daemon_start(&own, 16u << 20, extra), 0);
	assert_int_equal(chmod(own.dir, 0755), 0);
	hundreds_of_connections_from_one_uid(&own);
	assert_int_equal(test_daemon_stop(&own), 0);
}

/* Requests no allocator could honour, straight to the daemon (the library checks some first). */
static void absurd_sizes_and_alignments_are_refused(void **state)
{
	const struct test_daemon *td = *state;
	const uint64_t region = td->region_size;
	const struct {
		uint64_t size, align;
		uint32_t flags;
	} bad[] = {
		{0, 0, 0},
		{UINT64_MAX, 0, 0},
		{UINT64_MAX - 4095, 0, 0}, /* rounds up to the page: wraps to 0 */
		{region + 1, 0, 0},
		{region * 2, 0, 0},
		{1ull << 63, 0, 0},
		{4096, 3 << 12, 0},
		{4096, UINT64_MAX, 0},
		{4096, 1ull << 63, 0},
		{4096, region * 2, 0},
		{4096, 0, 1u << 30},
		{4096, 0, UINT32_MAX},
	};
	struct cmabuf_msg_alloc a = {0};
	struct cmabuf_conn c;
	struct cmabuf_msg r;
	size_t i;
	int fd;

	assert_int_equal(cmabuf_conn_open(&c, td->socket), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		a.size = bad[i].size;
		a.align = bad[i].align;
		a.flags = bad[i].flags;
		fd = -1;
		if (cmabuf_conn_request(&c, CMABUF_MSG_ALLOC, &a, sizeof(a), &r, &fd) != -EINVAL)
			fail_msg("ALLOC size %" PRIu64 " align %" PRIu64 " flags %#x: not -EINVAL",
				 a.size, a.align, a.flags);
		assert_int_equal(fd, -1);
		assert_true(c.last_error[0] != '\0');
	}
	/* The odd but legal ones at the edges: one byte, alignment 1, the whole region. */
	a.flags = 0;
	a.align = 1;
	a.size = 1;
	fd = -1;
	assert_int_equal(cmabuf_conn_request(&c, CMABUF_MSG_ALLOC, &a, sizeof(a), &r, &fd), 0);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(cmabuf_conn_send(&c, CMABUF_MSG_FREE_NOREPLY,
					  &(struct cmabuf_msg_free){.id = r.u.alloc_reply.id},
					  sizeof(struct cmabuf_msg_free)),
			 0);
	assert_int_equal(test_daemon_wait_buffers(td, 0), 0); /* its range is zeroed and back */
	a.align = 0;
	a.size = region;
	fd = -1;
	assert_int_equal(cmabuf_conn_request(&c, CMABUF_MSG_ALLOC, &a, sizeof(a), &r, &fd), 0);
	assert_int_equal(r.u.alloc_reply.size, region);
	close(fd);
	cmabuf_conn_close(&c); /* a hang-up with a live buffer: the daemon lets it go */
	assert_int_equal(test_daemon_wait_buffers(td, 0), 0);
	good_client_still_served(td);
}

/* reason with every decimal rendering of id replaced by "ID", for comparing refusals. */
static void without_id(const char *reason, uint64_t id, char *out, size_t cap)
{
	char num[24];
	size_t k = (size_t)snprintf(num, sizeof(num), "%" PRIu64, id), o = 0;

	while (*reason && o + 3 < cap) {
		if (strncmp(reason, num, k) == 0) {
			memcpy(out + o, "ID", 2);
			o += 2;
			reason += k;
		} else {
			out[o++] = *reason++;
		}
	}
	out[o] = '\0';
}

/*
 * Another connection's buffer, probed by id: every request says exactly what
 * it says for an id that does not exist (same errno, same words but the
 * number), and nothing happens to the buffer or its bytes.
 */
static void another_clients_buffer_looks_missing(void **state)
{
	const struct test_daemon *td = *state;
	struct cmabuf_alloc_desc d = {.size = 65536, .name = "victim"};
	struct cmabuf_buffer *b;
	struct cmabuf *owner;
	struct cmabuf_conn c;
	struct cmabuf_msg r;
	uint64_t id, missing;
	char theirs[2][CMABUF_REASON_LEN + 64], none[2][CMABUF_REASON_LEN + 64];
	int round;

	/* Buffers freed just before may still be in the ledger, awaiting their release. */
	assert_int_equal(test_daemon_wait_buffers(td, 0), 0);
	assert_int_equal(cmabuf_connect(td->socket, &owner), 0);
	assert_int_equal(cmabuf_alloc(owner, &d, &b), 0);
	pattern_fill(cmabuf_map(b), d.size, 77);
	id = cmabuf_buffer_id(b);
	missing = id + 1000000;
	assert_int_equal(cmabuf_conn_open(&c, td->socket), 0);
	for (round = 0; round < 2; round++) {
		uint64_t target = round ? missing : id;
		struct cmabuf_msg_set_purgeable sp = {.id = target, .purgeable = 1};
		struct cmabuf_msg_free f = {.id = target};
		char(*out)[CMABUF_REASON_LEN + 64] = round ? none : theirs;

		assert_int_equal(cmabuf_conn_request(&c, CMABUF_MSG_FREE, &f, sizeof(f), &r, NULL),
				 -ENOENT);
		without_id(c.last_error, target, out[0], sizeof(out[0]));
		assert_int_equal(cmabuf_conn_request(&c, CMABUF_MSG_SET_PURGEABLE, &sp, sizeof(sp),
						     &r, NULL),
				 -ENOENT);
		without_id(c.last_error, target, out[1], sizeof(out[1]));
		assert_int_equal(cmabuf_conn_send(&c, CMABUF_MSG_FREE_NOREPLY, &f, sizeof(f)), 0);
	}
	assert_string_equal(theirs[0], none[0]);
	assert_string_equal(theirs[1], none[1]);
	/* STATUS is answered after the FREE_NOREPLYs: the buffer is still there, still pinned. */
	assert_int_equal(cmabuf_conn_request(&c, CMABUF_MSG_STATUS, NULL, 0, &r, NULL), 0);
	assert_int_equal(r.u.status_reply.buffers, 1);
	cmabuf_conn_close(&c);
	assert_int_equal(pattern_check(cmabuf_map(b), d.size, 77), 0);
	bool purged = true;
	assert_int_equal(cmabuf_set_purgeable(b, false, &purged), 0);
	assert_false(purged);
	assert_int_equal(cmabuf_free(b), 0);
	cmabuf_disconnect(owner);
	assert_int_equal(test_daemon_wait_buffers(td, 0), 0);
}

/* A connection that holds buffers and then sends garbage: cut off, its buffers let go. */
static void holder_cut_off_for_garbage(const struct test_daemon *td)
{
	struct cmabuf_msg_alloc a = {.size = 1u << 20, .name = "cut-off"};
	unsigned char junk[64];
	struct cmabuf_conn c;
	struct cmabuf_msg r;
	int fds[3], i;

	assert_int_equal(cmabuf_conn_open(&c, td->socket), 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(
			cmabuf_conn_request(&c, CMABUF_MSG_ALLOC, &a, sizeof(a), &r, &fds[i]), 0);
	memset(junk, 0xee, sizeof(junk));
	assert_int_equal(send(c.fd, junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
	assert_true(recv(c.fd, junk, sizeof(junk), 0) > 0);
	assert_int_equal(recv(c.fd, junk, sizeof(junk), 0), 0);
	cmabuf_conn_close(&c);
	for (i = 0; i < 3; i++)
		close(fds[i]);
}

/* A client that allocates and dies without a word. */
static void client_killed_holding_buffers(const struct test_daemon *td)
{
	int go[2], status;
	char ch;
	pid_t p;

	assert_int_equal(pipe(go), 0);
	p = fork();
	assert_true(p >= 0);
	if (p == 0) {
		struct cmabuf_alloc_desc d = {.size = 256u << 10, .name = "killed"};
		struct cmabuf_buffer *b;
		struct cmabuf *cb;
		int i;

		close(go[0]);
		if (cmabuf_connect(td->socket, &cb) < 0)
			_exit(1);
		for (i = 0; i < 4; i++) {
			if (cmabuf_alloc(cb, &d, &b) < 0 || !cmabuf_map(b))
				_exit(2);
			memset(cmabuf_map(b), 0xa5, d.size); /* stale bytes for the next owner */
		}
		if (write(go[1], "k", 1) != 1)
			_exit(3);
		pause();
		_exit(4);
	}
	close(go[1]);
	assert_int_equal(read(go[0], &ch, 1), 1);
	close(go[0]);
	assert_int_equal(kill(p, SIGKILL), 0);
	assert_int_equal(waitpid(p, &status, 0), p);
	assert_true(WIFSIGNALED(status));
}

/* Every kind of abuse in this file, once, against td (started with --max-clients-per-uid=16). */
static void abuse_round(struct test_daemon *td)
{
	void *st = td;

	version_mismatch_is_explained(&st);
	longer_hello_from_a_future_client_is_explained(&st);
	request_before_hello_is_refused(&st);
	garbage_of_every_length_is_refused(&st);
	oversize_datagram_is_refused(&st);
	unexpected_descriptors_are_closed_not_kept(&st);
	truncated_header_and_lies_about_length(&st);
	client_that_never_reads_is_disconnected(&st);
	bad_names_are_refused_with_reason(&st);
	absurd_sizes_and_alignments_are_refused(&st);
	another_clients_buffer_looks_missing(&st);
	holder_cut_off_for_garbage(td);
	client_killed_holding_buffers(td);
	hundreds_of_connections_from_one_uid(td);
}

/*
 * All of it against one daemon: afterwards it holds exactly the descriptors
 * it held before, its memory is back where it was, every byte of the region
 * is free and unowned, and an ordinary client is served as ever.
 *
 * Memory: the first round warms the daemon (libevent's and malloc's arenas
 * grow to the high-water mark of a burst of hundreds of connections, output
 * queues and reason strings; the allocator's metadata grows its node pool),
 * and only then is VmRSS taken. Three more rounds follow
 * ($CMABUF_ABUSE_ROUNDS; the VM runs one): 3 x ~4,450 connections, of which ~4,100 are cut off
 * mid-conversation, ~40 allocations and 3 x 300 connection attempts past the per-uid limit. A leak
 * of as little as 64 bytes per dropped connection would add ~800 KiB; RSS in a steady state moves
 * by malloc's trim granularity and libevent's buffer chains, well under 100 KiB in practice. 512
 * KiB is the bound: it catches any per-connection leak worth the name and no steady-state noise,
 * and it is not a timing assertion (the rounds take as long as they take).
 */
/* The whole region, to a new owner: every byte zero, whatever the rounds left in it. */
static void whole_region_reads_back_zero(const struct test_daemon *td)
{
	struct cmabuf_alloc_desc d = {.size = td->region_size, .name = "after"};
	struct cmabuf_buffer *b;
	const volatile uint64_t *p;
	struct cmabuf *cb;
	uint64_t i;

	assert_int_equal(cmabuf_connect(td->socket, &cb), 0);
	assert_int_equal(cmabuf_alloc(cb, &d, &b), 0);
	p = cmabuf_map(b);
	assert_non_null(p);
	for (i = 0; i < d.size / 8; i++)
		if (p[i])
			fail_msg("byte %" PRIu64 " of a new buffer is not zero", i * 8);
	assert_int_equal(cmabuf_free(b), 0);
	cmabuf_disconnect(cb);
}

static unsigned env_or(const char *name, unsigned dflt)
{
	const char *v = getenv(name);

	return v && *v ? (unsigned)strtoul(v, NULL, 10) : dflt;
}

static void all_abuse_against_one_daemon_leaves_nothing_behind(void **state)
{
	const char *const extra[] = {"--max-clients-per-uid=16", "--socket-mode=0666", NULL};
	struct cmabuf_msg_status_reply st;
	unsigned rounds = env_or("CMABUF_ABUSE_ROUNDS", 3), i;
	long rss_before, rss_after;
	int fds_before;

	assert_int_equal(test_daemon_start(&own, 16u << 20, extra), 0);
	assert_int_equal(chmod(own.dir, 0755), 0);
	abuse_round(&own); /* warm-up */
	assert_int_equal(test_daemon_wait_buffers(&own, 0), 0);
	fds_before = baseline_fds(&own);
	rss_before = test_daemon_proc_status(&own, "VmRSS");
	assert_true(rss_before > 0);

	for (i = 0; i < rounds; i++)
		abuse_round(&own);

	assert_int_equal(test_daemon_wait_buffers(&own, 0), 0);
	fd_count_returns_to(&own, fds_before);
	rss_after = test_daemon_proc_status(&own, "VmRSS");
	assert_true(rss_after > 0);
	print_message("daemon: %d fds before and after; VmRSS %ld KiB before, %ld KiB after\n",
		      fds_before, rss_before, rss_after);
#ifndef __SANITIZE_ADDRESS__
	if (rss_after > rss_before + 512)
		fail_msg("VmRSS grew from %ld KiB to %ld KiB over %u rounds of abuse", rss_before,
			 rss_after, rounds);
#else
	/*
	 * Under ASan freed memory sits in quarantine (256 MiB by default), so RSS
	 * says nothing about leaks; there LeakSanitizer checks the daemon's heap
	 * when it exits instead, and dev/sanitize fails on any report it writes.
	 */
#endif
	assert_int_equal(test_daemon_status(&own, &st), 0);
	assert_int_equal(st.used, 0);
	assert_int_equal(st.buffers, 0);
	assert_int_equal(st.pending_release, 0);
	assert_int_equal(st.free, own.region_size);
	assert_int_equal(st.free_extents, 1);
	good_client_still_served(&own);
	assert_int_equal(test_daemon_wait_buffers(&own, 0), 0);
	whole_region_reads_back_zero(&own);
	assert_int_equal(test_daemon_wait_buffers(&own, 0), 0);
	assert_int_equal(test_daemon_stop(&own), 0);
}

/* The refusal reaches the library's caller as words, not a bare errno. */
static void refusal_reason_reaches_the_caller(void **state)
{
	const char *const extra[] = {"--max-clients-per-uid=1", NULL};
	struct cmabuf *a, *b;
	struct cmabuf_conn c;

	assert_int_equal(test_daemon_start(&own, 16u << 20, extra), 0);
	assert_int_equal(cmabuf_connect(own.socket, &a), 0);
	assert_int_equal(cmabuf_conn_open(&c, own.socket), -EUSERS);
	assert_non_null(strstr(c.last_error, "--max-clients-per-uid"));
	assert_int_equal(cmabuf_connect(own.socket, &b), -EUSERS);
	cmabuf_disconnect(a);
	assert_int_equal(test_daemon_stop(&own), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(version_mismatch_is_explained),
		T(longer_hello_from_a_future_client_is_explained),
		T(request_before_hello_is_refused),
		T(garbage_of_every_length_is_refused),
		T(oversize_datagram_is_refused),
		T(unexpected_descriptors_are_closed_not_kept),
		T(requests_queued_behind_a_malformed_one_are_not_served),
		T(truncated_header_and_lies_about_length),
		T(client_that_never_reads_is_disconnected),
		T(bad_names_are_refused_with_reason),
		T(absurd_sizes_and_alignments_are_refused),
		T(another_clients_buffer_looks_missing),
		cmocka_unit_test_teardown(connections_per_uid_are_limited, stop_own),
		cmocka_unit_test_teardown(refusal_reason_reaches_the_caller, stop_own),
		cmocka_unit_test_teardown(all_abuse_against_one_daemon_leaves_nothing_behind,
					  stop_own),
#undef T
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
