/* SPDX-License-Identifier: MIT */
/*
 * Malformed input from a raw socket: the daemon answers with a reason, closes
 * that connection, keeps no descriptor it was sent, and serves everyone else.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmabuf.h"
#include "connection.h"
#include "harness.h"

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

static void garbage_of_every_length_is_refused(void **state)
{
	const struct test_daemon *td = *state;
	unsigned char junk[CMABUF_MSG_MAX];
	size_t len;
	int before = test_daemon_fd_count(td);

	srand(1234);
	for (len = 1; len <= sizeof(junk); len += len < 64 ? 1 : 97) {
		int fd = raw_connect(td);
		size_t i;

		send_hello(fd, CMABUF_PROTOCOL_VERSION);
		assert_true(recv(fd, junk, sizeof(junk), 0) > 0); /* HELLO_REPLY */
		for (i = 0; i < len; i++)
			junk[i] = (unsigned char)rand();
		assert_int_equal(send(fd, junk, len, 0), (ssize_t)len);
		/* Random bytes can only fail to decode: an error, then the close. */
		assert_true(recv(fd, junk, sizeof(junk), 0) > 0);
		assert_int_equal(recv(fd, junk, sizeof(junk), 0), 0);
		close(fd);
	}
	good_client_still_served(td);
	assert_int_equal(test_daemon_fd_count(td), before);
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

static void unexpected_descriptors_are_closed_not_kept(void **state)
{
	const struct test_daemon *td = *state;
	int before = test_daemon_fd_count(td);
	unsigned char buf[CMABUF_MSG_MAX];
	int fd = raw_connect(td), passed[4], i;
	long n = cmabuf_msg_encode(buf, sizeof(buf), CMABUF_MSG_STATUS, 2, NULL, 0, 0);
	union {
		char space[CMSG_SPACE(sizeof(passed))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {buf, (size_t)n};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.space,
			    .msg_controllen = sizeof(ctl.space)};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

	send_hello(fd, CMABUF_PROTOCOL_VERSION);
	assert_true(recv(fd, buf + 2048, 1024, 0) > 0);
	for (i = 0; i < 4; i++)
		passed[i] = dup(0);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(passed));
	memcpy(CMSG_DATA(cm), passed, sizeof(passed));
	assert_int_equal(sendmsg(fd, &mh, 0), n);
	expect_error_then_close(fd, -EBADMSG, NULL);
	close(fd);
	for (i = 0; i < 4; i++)
		close(passed[i]);
	assert_int_equal(test_daemon_fd_count(td), before);
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
	int before = test_daemon_fd_count(td), fd = raw_connect(td), sent = 0;
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
	assert_int_equal(test_daemon_fd_count(td), before);
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

/* Hundreds of connections from one uid: the limit answers with a reason, others get in. */
static void connections_per_uid_are_limited(void **state)
{
	const char *const extra[] = {"--max-clients-per-uid=16", "--socket-mode=0666", NULL};
	struct cmabuf *cb[300];
	unsigned ok = 0, refused = 0, i;
	int before, status;
	pid_t p;

	assert_int_equal(test_daemon_start(&own, 16u << 20, extra), 0);
	assert_int_equal(chmod(own.dir, 0755), 0);
	before = test_daemon_fd_count(&own);
	for (i = 0; i < 300; i++) {
		int ret = cmabuf_connect(own.socket, &cb[i]);

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
		_exit(as_nobody(own.socket));
	assert_int_equal(waitpid(p, &status, 0), p);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	for (i = 0; i < 300; i++)
		if (cb[i])
			cmabuf_disconnect(cb[i]);
	assert_int_equal(test_daemon_wait_buffers(&own, 0), 0);
	assert_int_equal(test_daemon_fd_count(&own), before);
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
		T(truncated_header_and_lies_about_length),
		T(client_that_never_reads_is_disconnected),
		T(bad_names_are_refused_with_reason),
		cmocka_unit_test_teardown(connections_per_uid_are_limited, stop_own),
		cmocka_unit_test_teardown(refusal_reason_reaches_the_caller, stop_own),
#undef T
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
