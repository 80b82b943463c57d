/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "scm.h"
#include "memfd_ready.h"

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void exec_daemon(const struct test_daemon *td, const char *const *extra)
{
	const char *bin = getenv("CMABUFD");
	const char *backend = getenv("CMABUF_TEST_BACKEND");
	char sock[160], be[64], region[64];
	const char *argv[32];
	int n = 0;

	snprintf(sock, sizeof(sock), "--socket=%s", td->socket);
	snprintf(be, sizeof(be), "--backend=%s", backend && *backend ? backend : "memfd");
	snprintf(region, sizeof(region), "--region-size=%" PRIu64, td->region_size);
	argv[n++] = bin ? bin : "cmabufd";
	argv[n++] = sock;
	argv[n++] = be;
	if (td->region_size) /* 0: the backend decides (uio) */
		argv[n++] = region;
	while (extra && *extra && n < 31)
		argv[n++] = *extra++;
	argv[n] = NULL;
	if (td->log[0]) {
		int log = open(td->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

		if (log < 0 || dup2(log, 2) < 0)
			_exit(126);
	}
	/*
	 * Users start cmabufd with 0-2 only (systemd, a shell). A test's own
	 * descriptors (a pipe, a buffer, a client socket) held by the daemon too
	 * would keep files open the test expects closed.
	 */
	close_range(3, ~0u, 0);
	/*
	 * A failed assertion can leave a test's daemon in a local nobody stops: it
	 * must not outlive the test, or it holds the test's stdout and meson waits
	 * for a timeout instead of reporting the failure at once.
	 */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() == 1)
		_exit(126);
	execvp(argv[0], (char *const *)argv);
	fprintf(stderr, "harness: cannot run %s: %s (set $CMABUFD)\n", argv[0], strerror(errno));
	_exit(127);
}

/* Starts the daemon on td's socket and waits until it answers. */
static int spawn(struct test_daemon *td, const char *const *extra)
{
	struct cmabuf_conn c;
	int i;

	td->pid = fork();
	if (td->pid < 0)
		return -errno;
	if (td->pid == 0)
		exec_daemon(td, extra);
	for (i = 0; i < 500; i++) { /* up to 10 s on a loaded machine */
		int ret = cmabuf_conn_open(&c, td->socket);

		if (ret == -EACCES) /* up, but its policy turns us away */
			return 0;
		if (ret == 0) {
			/* The backend decides the region: uio ignores --region-size. */
			td->region_size = c.server.region_size;
			cmabuf_conn_close(&c);
			return 0;
		}
		if (waitpid(td->pid, NULL, WNOHANG) == td->pid) {
			td->pid = 0;
			return -ECHILD;
		}
		sleep_ms(20);
	}
	test_daemon_stop(td);
	return -ETIMEDOUT;
}

int test_daemon_start(struct test_daemon *td, uint64_t region_size, const char *const *extra)
{
	memset(td, 0, sizeof(*td));
	strcpy(td->dir, "/tmp/cmabuf-test-XXXXXX");
	if (!mkdtemp(td->dir))
		return -errno;
	chmod(td->dir, 0755); /* tests run some clients as another user */
	snprintf(td->socket, sizeof(td->socket), "%s/cmabufd.sock", td->dir);
	td->region_size = region_size;
	return spawn(td, extra);
}

int test_daemon_start_logged(struct test_daemon *td, uint64_t region_size, const char *const *extra)
{
	memset(td, 0, sizeof(*td));
	strcpy(td->dir, "/tmp/cmabuf-test-XXXXXX");
	if (!mkdtemp(td->dir))
		return -errno;
	chmod(td->dir, 0755);
	snprintf(td->socket, sizeof(td->socket), "%s/cmabufd.sock", td->dir);
	snprintf(td->log, sizeof(td->log), "%s/cmabufd.log", td->dir);
	td->region_size = region_size;
	return spawn(td, extra);
}

int test_daemon_log_lines(const struct test_daemon *td, const char *text)
{
	char line[2048];
	int n = 0;
	FILE *f = fopen(td->log, "r");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		n += !text || strstr(line, text) != NULL;
	fclose(f);
	return n;
}

int test_daemon_crash_and_restart(struct test_daemon *td, const char *const *extra)
{
	if (kill(td->pid, SIGKILL) < 0 || waitpid(td->pid, NULL, 0) != td->pid)
		return -errno;
	td->pid = 0;
	return spawn(td, extra); /* same socket: the stale file is the daemon's to clear */
}

int test_daemon_stop(struct test_daemon *td)
{
	int status = -1;

	if (td->pid > 0) {
		kill(td->pid, SIGTERM);
		if (waitpid(td->pid, &status, 0) != td->pid)
			status = -1;
		td->pid = 0;
	}
	unlink(td->socket);
	if (td->log[0])
		unlink(td->log);
	rmdir(td->dir);
	if (status == -1 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

int test_daemon_status(const struct test_daemon *td, struct cmabuf_msg_status_reply *st)
{
	struct cmabuf_conn c;
	struct cmabuf_msg r;
	int ret = cmabuf_conn_open(&c, td->socket);

	if (ret < 0)
		return ret;
	ret = cmabuf_conn_request(&c, CMABUF_MSG_STATUS, NULL, 0, &r, NULL);
	if (ret == 0)
		*st = r.u.status_reply;
	cmabuf_conn_close(&c);
	return ret;
}

int test_daemon_wait_buffers(const struct test_daemon *td, uint32_t n)
{
	struct cmabuf_msg_status_reply st;
	int i;

	for (i = 0; i < 250; i++) {
		/* Settled: n buffers, and everything released is zeroed and free again. */
		if (test_daemon_status(td, &st) == 0 && st.buffers == n && st.zeroing == 0)
			return 0;
		sleep_ms(20);
	}
	return -ETIMEDOUT;
}

/*
 * The daemon's descriptors, not counting buffers made ahead (daemon/
 * memfd_ready.h): a made-ahead memfd is the one file the daemon holds twice
 * (its own description and the one waiting for a client), so it is recognised
 * without asking the daemon. -EOVERFLOW if more wait than MEMFD_READY_MAX:
 * then those are a leak too.
 */
static int count_fds(pid_t pid, int *made_ahead)
{
	char path[64], link[352], target[300];
	ino_t seen[4096];
	int n = 0, nseen = 0, twice = 0, i;
	struct dirent *e;
	struct stat st;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((e = readdir(dir))) {
		ssize_t len;

		if (e->d_name[0] == '.')
			continue;
		n++;
		snprintf(link, sizeof(link), "%s/%s", path, e->d_name);
		if (stat(link, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		len = readlink(link, target, sizeof(target) - 1);
		if (len <= 0 || strncmp(target, "/memfd:cmabuf:", 14) != 0)
			continue;
		for (i = 0; i < nseen && seen[i] != st.st_ino; i++)
			;
		if (i < nseen)
			twice++;
		else if (nseen < (int)(sizeof(seen) / sizeof(seen[0])))
			seen[nseen++] = st.st_ino;
	}
	closedir(dir);
	if (made_ahead)
		*made_ahead = twice;
	if (twice > MEMFD_READY_MAX)
		return -EOVERFLOW;
	return n - 2 * twice;
}

int test_daemon_made_ahead(const struct test_daemon *td)
{
	int twice = 0, ret = count_fds(td->pid, &twice);

	return ret < 0 && ret != -EOVERFLOW ? ret : twice;
}

int test_daemon_holds(const struct test_daemon *td, int fd)
{
	char path[64], link[352];
	struct stat want, st;
	struct dirent *e;
	int found = 0;
	DIR *dir;

	if (fstat(fd, &want) < 0)
		return -errno;
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)td->pid);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while (!found && (e = readdir(dir))) {
		snprintf(link, sizeof(link), "%s/%s", path, e->d_name);
		found = e->d_name[0] != '.' && stat(link, &st) == 0 && st.st_dev == want.st_dev &&
			st.st_ino == want.st_ino;
	}
	closedir(dir);
	return found;
}

/*
 * Counted while our own connection is the daemon's only client, so that
 * connections other tests just closed (and the daemon has yet to notice)
 * do not make the number wobble.
 */
int test_daemon_fd_count(const struct test_daemon *td)
{
	struct cmabuf_conn c;
	struct cmabuf_msg r;
	int i, n = -ETIMEDOUT;

	if (cmabuf_conn_open(&c, td->socket) < 0)
		return -ECONNREFUSED;
	for (i = 0; i < 250; i++) {
		if (cmabuf_conn_request(&c, CMABUF_MSG_STATUS, NULL, 0, &r, NULL) < 0)
			break;
		if (r.u.status_reply.clients == 1) {
			n = count_fds(td->pid, NULL);
			break;
		}
		sleep_ms(20);
	}
	cmabuf_conn_close(&c);
	return n;
}

static uint32_t pattern_word(uint64_t i, uint32_t seed)
{
	uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ull ^ seed;

	return (uint32_t)(x ^ (x >> 29));
}

void pattern_fill(void *p, uint64_t size, uint32_t seed)
{
	uint32_t *w = p;
	uint64_t i;

	for (i = 0; i < size / 4; i++)
		w[i] = pattern_word(i, seed);
}

int pattern_check(const void *p, uint64_t size, uint32_t seed)
{
	const uint32_t *w = p;
	uint64_t i;

	for (i = 0; i < size / 4; i++) {
		if (w[i] != pattern_word(i, seed))
			return -1;
	}
	return 0;
}

long test_daemon_proc_status(const struct test_daemon *td, const char *field)
{
	size_t len = strlen(field);
	char path[64], line[256];
	long v = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)td->pid);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, len) == 0 && line[len] == ':') {
			v = strtol(line + len + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

int test_send_fd(int sock, int fd)
{
	union scm_one_fd ctl;
	char c = 'f';
	struct iovec iov = {&c, 1};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

	scm_attach_fd(&mh, &ctl, fd);
	return sendmsg(sock, &mh, 0) == 1 ? 0 : -errno;
}

int test_recv_fd(int sock)
{
	union {
		char space[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	char c;
	struct iovec iov = {&c, 1};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.space,
			    .msg_controllen = sizeof(ctl.space)};
	int fd;

	if (recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) != 1 || !CMSG_FIRSTHDR(&mh))
		return -1;
	memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof(int));
	return fd;
}
