/* SPDX-License-Identifier: MIT */
/*
 * Who a client is: the kernel's answer at accept, never a guess. Real cgroups
 * (cgroup2, as root) stand in for systemd units, since sd_pid_get_unit() reads
 * nothing else; real supplementary groups (setgroups) for group classes. Skips
 * (77) without root or a writable cgroup2 hierarchy.
 */
#include <errno.h>
#include <grp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "connection.h"
#include "harness.h"

#define MB	       (1ull << 20)
#define CGROUP2_MAGIC_ 0x63677270

static struct test_daemon the_daemon; /* cleanup() stops it even after a failure */
static char conf_path[64];
static char cg_root[64];     /* where cgroup2 is mounted */
static char cg_made[8][256]; /* directories this test made, deepest last */
static unsigned ncg_made;

static bool no_peer_pidfd; /* the next daemon pins processes as before Linux 6.5 */

static struct test_daemon *start(const char *conf)
{
	char arg[96];
	const char *extra[] = {arg, "--socket-mode=0666",
			       no_peer_pidfd ? "--test-no-peer-pidfd" : NULL, NULL};
	FILE *f;
	int fd;

	strcpy(conf_path, "/tmp/cmabuf-identity-XXXXXX");
	fd = mkstemp(conf_path);
	assert_true(fd >= 0);
	close(fd);
	chmod(conf_path, 0644);
	f = fopen(conf_path, "w");
	assert_non_null(f);
	assert_true(fputs(conf, f) >= 0);
	assert_int_equal(fclose(f), 0);
	snprintf(arg, sizeof(arg), "--config=%s", conf_path);
	assert_int_equal(test_daemon_start(&the_daemon, 16 * MB, extra), 0);
	return &the_daemon;
}

static int cleanup(void **state)
{
	(void)state;
	if (the_daemon.pid > 0)
		assert_int_equal(test_daemon_stop(&the_daemon), 0);
	if (conf_path[0])
		unlink(conf_path);
	conf_path[0] = '\0';
	while (ncg_made)
		rmdir(cg_made[--ncg_made]);
	no_peer_pidfd = false;
	return 0;
}

static void need_root(void)
{
	if (geteuid() != 0) {
		print_message("needs root (cgroups, setgroups, setuid)\n");
		skip();
	}
}

/* The cgroup2 mount: /sys/fs/cgroup (unified) or /sys/fs/cgroup/unified (hybrid). */
static void need_cgroup2(void)
{
	static const char *const where[] = {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"};
	struct statfs sf;
	unsigned i;

	need_root();
	for (i = 0; i < 2; i++)
		if (statfs(where[i], &sf) == 0 && sf.f_type == CGROUP2_MAGIC_ &&
		    access(where[i], W_OK) == 0) {
			snprintf(cg_root, sizeof(cg_root), "%s", where[i]);
			return;
		}
	print_message("no writable cgroup2 hierarchy\n");
	skip();
}

/* Makes cg_root/rel (and its parents), remembered for cleanup(). */
static void make_cgroup(const char *rel)
{
	char path[256];
	const char *p = rel;

	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - rel) : strlen(rel);

		snprintf(path, sizeof(path), "%s/%.*s", cg_root, (int)n, rel);
		if (mkdir(path, 0755) == 0) {
			assert_true(ncg_made < 8);
			strcpy(cg_made[ncg_made++], path);
		} else if (errno != EEXIST) {
			fail_msg("mkdir %s: %s", path, strerror(errno));
		}
		if (!slash)
			break;
		p = slash + 1;
	}
}

/* In a child: moves the calling process into cg_root/rel. */
static int join_cgroup(const char *rel)
{
	char path[320];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/cgroup.procs", cg_root, rel);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f, "%d\n", (int)getpid());
	return fclose(f) == 0 ? 0 : -1;
}

struct outcome {
	int ret; /* cmabuf_conn_open()'s */
	uint32_t flags;
	char reason[CMABUF_REASON_LEN + 64];
};

/* A child in cgroup rel (NULL: stays), as uid (0: stays root), connects and reports. */
static struct outcome connect_as(const struct test_daemon *td, const char *rel, uid_t uid)
{
	struct outcome out;
	int pfd[2], status;
	pid_t pid;

	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct cmabuf_conn c;

		memset(&out, 0, sizeof(out));
		if ((rel && join_cgroup(rel) < 0) ||
		    (uid && (setgroups(0, NULL) < 0 || setgid(uid) < 0 || setuid(uid) < 0)))
			_exit(2);
		out.ret = cmabuf_conn_open(&c, td->socket);
		out.flags = out.ret == 0 ? c.server.flags : 0;
		snprintf(out.reason, sizeof(out.reason), "%s", c.last_error);
		if (out.ret == 0)
			cmabuf_conn_close(&c);
		_exit(write(pfd[1], &out, sizeof(out)) == sizeof(out) ? 0 : 3);
	}
	close(pfd[1]);
	assert_int_equal(read(pfd[0], &out, sizeof(out)), sizeof(out));
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return out;
}

/*
 * systemd-run --user --unit=camera.service puts a user's process in
 * …/user@UID.service/app.slice/camera.service: its system unit is
 * user@UID.service, and the class of the system camera.service (device
 * addresses here) is not its to take. A class that names the user unit with
 * user-unit = gets it, and only for its uid.
 */
static void user_unit_never_passes_for_a_system_unit(void **state)
{
	static const char sys[] = "cmabuf-test.slice/camera.service";
	static const char user[] = "cmabuf-test.slice/user@4321.service/app.slice/camera.service";
	const struct test_daemon *td;
	struct outcome o;

	(void)state;
	need_cgroup2();
	make_cgroup(sys);
	make_cgroup(user);
	td = start("[class camera]\nunit = camera.service\ndev-addr = yes\n"
		   "[class mine]\nuid = 4321\nuser-unit = camera.service\ndev-addr = yes\n");

	o = connect_as(td, sys, 0); /* the system unit itself */
	assert_int_equal(o.ret, 0);
	assert_true(o.flags & CMABUF_HELLO_HAS_DEV_ADDR);
	o = connect_as(td, user, 0); /* root's process in uid 4321's manager: not 4321 */
	assert_int_equal(o.ret, 0);
	assert_false(o.flags & CMABUF_HELLO_HAS_DEV_ADDR);
	o = connect_as(td, user, 4321); /* uid and user unit: class "mine" */
	assert_int_equal(o.ret, 0);
	assert_true(o.flags & CMABUF_HELLO_HAS_DEV_ADDR);
	o = connect_as(td, NULL, 4321); /* the uid outside that unit: default */
	assert_int_equal(o.ret, 0);
	assert_false(o.flags & CMABUF_HELLO_HAS_DEV_ADDR);
}

static int raw_connect(const char *socket_path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (fd < 0 || strlen(socket_path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* HELLO on fd: 0 for a HELLO_REPLY, else the ERROR's errno (reason into why). */
static int hello_on(int fd, char *why, size_t cap)
{
	unsigned char buf[CMABUF_MSG_MAX];
	struct cmabuf_msg_hello h = {.version = CMABUF_PROTOCOL_VERSION};
	struct cmabuf_msg m;
	long n = cmabuf_msg_encode(buf, sizeof(buf), CMABUF_MSG_HELLO, 1, &h, sizeof(h), 0);
	ssize_t r;

	if (n < 0 || send(fd, buf, (size_t)n, MSG_NOSIGNAL) != n)
		return -EIO;
	r = recv(fd, buf, sizeof(buf), 0);
	if (r <= 0 || cmabuf_msg_decode(buf, (size_t)r, 0, CMABUF_TO_CLIENT, &m) < 0)
		return -EIO;
	if (m.hdr.type == CMABUF_MSG_HELLO_REPLY)
		return 0;
	if (m.hdr.type != CMABUF_MSG_ERROR)
		return -EIO;
	snprintf(why, cap, "%s", m.u.error.reason);
	return m.u.error.error;
}

/*
 * A process in a denied unit connects, hands the socket to a child and exits;
 * only once it is gone (the daemon stopped meanwhile, so it is gone before the
 * accept too) does the child say HELLO. The daemon must not read "no unit" for
 * a pid that no longer exists (or now names another process): the connection
 * is refused because its unit cannot be known.
 */
static void unit_deny_after_exit(void)
{
	static const char denied[] = "cmabuf-test.slice/cmabuf-denied.service";
	const struct test_daemon *td;
	int go[2], res[2], status;
	char why[CMABUF_REASON_LEN + 8];
	pid_t a;
	int ret;

	need_cgroup2();
	make_cgroup(denied);
	td = start("[class blocked]\nunit = cmabuf-denied.service\ndeny = yes\n");
	/* Stopped, the daemon accepts nothing: A is surely gone by the time it does. */
	assert_int_equal(kill(td->pid, SIGSTOP), 0);
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(res), 0);
	a = fork();
	assert_true(a >= 0);
	if (a == 0) {
		int fd;
		pid_t b;
		char c;

		if (join_cgroup(denied) < 0 || (fd = raw_connect(td->socket)) < 0)
			_exit(2);
		b = fork();
		if (b == 0) { /* the child, on the inherited socket */
			close(go[1]);
			if (read(go[0], &c, 1) != 0) /* EOF: the parent test saw A reaped */
				_exit(3);
			ret = hello_on(fd, why, sizeof(why));
			if (write(res[1], &ret, sizeof(ret)) != sizeof(ret) ||
			    write(res[1], why, sizeof(why)) != sizeof(why))
				_exit(4);
			_exit(0);
		}
		_exit(b > 0 ? 0 : 5);
	}
	close(res[1]);
	close(go[0]);
	assert_int_equal(waitpid(a, &status, 0), a);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(kill(td->pid, SIGCONT), 0);
	close(go[1]); /* A is gone (reaped): now B speaks */
	memset(why, 0, sizeof(why));
	assert_int_equal(read(res[0], &ret, sizeof(ret)), sizeof(ret));
	assert_int_equal(read(res[0], why, sizeof(why)), sizeof(why));
	close(res[0]);
	print_message("refused: %s\n", why);
	assert_int_equal(ret, -EACCES);
	assert_non_null(strstr(why, "could not read the systemd unit"));
	/* and an ordinary client, in no unit, is still served */
	assert_int_equal(connect_as(td, NULL, 0).ret, 0);
}

static void unit_deny_holds_after_the_connecting_process_exits(void **state)
{
	(void)state;
	no_peer_pidfd = false;
	unit_deny_after_exit();
}

/* The same where the kernel has no SO_PEERPIDFD: the pid's start time, read before and after. */
static void unit_deny_holds_after_the_connecting_process_exits_without_pidfd(void **state)
{
	(void)state;
	no_peer_pidfd = true; /* cleanup() resets it */
	unit_deny_after_exit();
}

/* A child with n supplementary groups (3000, 3001, …, and extra last if not 0) connects. */
static struct outcome connect_with_groups(const struct test_daemon *td, unsigned n, gid_t extra)
{
	struct outcome out;
	int pfd[2], status;
	pid_t pid;

	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		gid_t groups[200];
		struct cmabuf_conn c;
		unsigned i;

		for (i = 0; i < n; i++)
			groups[i] = 3000 + i;
		if (extra)
			groups[n++] = extra;
		memset(&out, 0, sizeof(out));
		if (setgroups(n, groups) < 0 || setgid(2999) < 0 || setuid(2999) < 0)
			_exit(2);
		out.ret = cmabuf_conn_open(&c, td->socket);
		snprintf(out.reason, sizeof(out.reason), "%s", c.last_error);
		if (out.ret == 0)
			cmabuf_conn_close(&c);
		_exit(write(pfd[1], &out, sizeof(out)) == sizeof(out) ? 0 : 3);
	}
	close(pfd[1]);
	assert_int_equal(read(pfd[0], &out, sizeof(out)), sizeof(out));
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return out;
}

/* SO_PEERGROUPS into a fixed 64-entry array failed with ERANGE past 64: a deny stopped denying. */
static void deny_by_group_holds_past_64_groups(void **state)
{
	const struct test_daemon *td;
	struct outcome o;

	(void)state;
	need_root();
	td = start("[class blocked]\ngid = 4000\ndeny = yes\n");
	o = connect_with_groups(td, 3, 4000);
	assert_int_equal(o.ret, -EACCES);
	o = connect_with_groups(td, 150, 4000); /* the denied group is the 151st */
	assert_int_equal(o.ret, -EACCES);
	assert_non_null(strstr(o.reason, "class 'blocked'"));
	o = connect_with_groups(td, 150, 0); /* and many groups alone are no reason */
	assert_int_equal(o.ret, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(user_unit_never_passes_for_a_system_unit, cleanup),
		cmocka_unit_test_teardown(unit_deny_holds_after_the_connecting_process_exits,
					  cleanup),
		cmocka_unit_test_teardown(
			unit_deny_holds_after_the_connecting_process_exits_without_pidfd, cleanup),
		cmocka_unit_test_teardown(deny_by_group_holds_past_64_groups, cleanup),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
