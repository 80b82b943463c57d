/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "clock.h"
#include "connection.h"
#include "daemon_child.h"

/* Copies of the daemons still running, stopped by the exit handler of the process that started
 * them. */
#define MAX_TRACKED 8
static struct daemon_child tracked[MAX_TRACKED];
static pid_t owner;

static void cleanup(const struct daemon_child *dc)
{
	char path[128];
	static const char *const files[] = {"empty.conf", "cmabufd.log", "sock"};
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dc->dir, files[i]);
		unlink(path);
	}
	rmdir(dc->dir);
}

static void kill_and_reap(pid_t pid)
{
	int i;

	if (pid <= 0) /* kill(0) or kill(-1) would hit far more than our daemon */
		return;
	kill(pid, SIGTERM);
	/* A daemon that ignores SIGTERM for 5 s is killed: never leave one behind. */
	for (i = 0; i < 500; i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};

		if (waitpid(pid, NULL, WNOHANG) == pid)
			return;
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void stop_tracked(void)
{
	int i;

	if (getpid() != owner) /* a forked client calling exit() must not stop our daemons */
		return;
	for (i = 0; i < MAX_TRACKED; i++)
		if (tracked[i].pid > 0)
			daemon_child_stop(&tracked[i]);
}

static void track(const struct daemon_child *dc)
{
	int i;

	if (!owner) {
		owner = getpid();
		atexit(stop_tracked);
	}
	for (i = 0; i < MAX_TRACKED; i++)
		if (tracked[i].pid <= 0) {
			tracked[i] = *dc;
			return;
		}
	fprintf(stderr, "bench: more than %d daemons at once\n", MAX_TRACKED);
	kill_and_reap(dc->pid);
	exit(1);
}

static void untrack(pid_t pid)
{
	int i;

	for (i = 0; i < MAX_TRACKED; i++)
		if (tracked[i].pid == pid)
			tracked[i].pid = 0;
}

void die_with_parent(pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent) /* it died before prctl took effect */
		_exit(1);
}

static void show_log_and_die(struct daemon_child *dc, const char *why)
{
	char path[128], line[512];
	FILE *f;

	fprintf(stderr, "bench: cmabufd %s; its log:\n", why);
	snprintf(path, sizeof(path), "%s/cmabufd.log", dc->dir);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		fputs(line, stderr);
	if (f)
		fclose(f);
	cleanup(dc);
	exit(1); /* the exit handler stops the daemon if it still runs */
}

/* The socket accepts once the daemon is ready; a raw connect avoids leaving a client behind. */
static int socket_ready(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	int ok;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static void write_empty_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0) {
		perror(path);
		exit(1);
	}
	close(fd);
}

static void __attribute__((noreturn))
exec_daemon(const struct daemon_child *dc, pid_t parent, char *const *argv)
{
	char logp[128];
	int fd;

	die_with_parent(parent);
	bench_pin("BENCH_SERVER_CPU");
	snprintf(logp, sizeof(logp), "%s/cmabufd.log", dc->dir);
	fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	unsetenv("NOTIFY_SOCKET"); /* not ours to notify */
	unsetenv("LISTEN_FDS");
	execv(argv[0], argv);
	fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Starts argv[0] with argv plus the common options; waits up to `secs` for its socket. */
static void spawn(struct daemon_child *dc, const char *const *extra, int secs)
{
	char conf[128], sock_arg[128], conf_arg[160];
	const char *argv[12];
	pid_t parent = getpid();
	int i, n = 0;

	snprintf(dc->dir, sizeof(dc->dir), "/tmp/cmabuf-bench.XXXXXX");
	if (!mkdtemp(dc->dir)) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(dc->socket, sizeof(dc->socket), "%s/sock", dc->dir);
	snprintf(conf, sizeof(conf), "%s/empty.conf", dc->dir);
	write_empty_file(conf);
	snprintf(sock_arg, sizeof(sock_arg), "--socket=%s", dc->socket);
	snprintf(conf_arg, sizeof(conf_arg), "--config=%s", conf);
	while (n < 8 && extra[n]) {
		argv[n] = extra[n];
		n++;
	}
	argv[n++] = sock_arg;
	argv[n++] = conf_arg;
	argv[n++] = "--max-clients=4096";
	argv[n++] = "--max-clients-per-uid=4096";
	argv[n] = NULL;
	fflush(NULL);
	dc->pid = fork();
	if (dc->pid < 0) {
		perror("fork");
		exit(1);
	}
	if (dc->pid == 0)
		exec_daemon(dc, parent, (char *const *)argv);
	track(dc);
	for (i = 0; i < secs * 100; i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		int status;

		if (socket_ready(dc->socket))
			return;
		if (waitpid(dc->pid, &status, WNOHANG) == dc->pid) {
			untrack(dc->pid);
			dc->pid = 0;
			show_log_and_die(dc, "exited before it was ready");
		}
		nanosleep(&ts, NULL);
	}
	show_log_and_die(dc, "did not accept connections in time");
}

void daemon_child_start(struct daemon_child *dc, const char *daemon, uint64_t region_size,
			unsigned max_buffers)
{
	char region[64], maxb[48];
	const char *extra[] = {daemon, "--backend=memfd", region, maxb, NULL};

	snprintf(region, sizeof(region), "--region-size=%" PRIu64, region_size);
	snprintf(maxb, sizeof(maxb), "--max-buffers=%u", max_buffers ? max_buffers : 4096);
	spawn(dc, extra, 10);
}

void daemon_child_start_uio(struct daemon_child *dc, const char *daemon)
{
	const char *extra[] = {daemon, "--backend=uio", "--max-buffers=4096", NULL};

	spawn(dc, extra, 120); /* emulated guests start slowly */
}

void daemon_child_stop(struct daemon_child *dc)
{
	pid_t pid = dc->pid; /* dc may be the tracked copy, which untrack clears */

	dc->pid = 0;
	if (pid > 0) {
		untrack(pid);
		kill_and_reap(pid);
	}
	cleanup(dc);
}

uint64_t proc_rss_kib(pid_t pid)
{
	char path[64], line[256];
	uint64_t kib = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %" SCNu64, &kib) == 1)
			break;
	fclose(f);
	return kib;
}

uint64_t raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 0;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_NOFILE, &rl);
	return rl.rlim_cur;
}

/*
 * Untimed: until cmabufd has every freed range released and zeroed again
 * (STATUS says nothing is used or being zeroed). It asks in a loop without
 * sleeping: a guest that went idle just before a timed sample takes
 * milliseconds to wake under qemu TCG, while the servers cmabufd is compared
 * with are timed back to back, never idle (with a 1 ms sleep here cmabufd's
 * p50 in the VM was several times what it is for that reason alone).
 */
void daemon_child_settle(struct cmabuf_conn *c)
{
	uint64_t deadline = now_ns() + 60ull * 1000000000ull;
	struct cmabuf_msg r;

	while (now_ns() < deadline) {
		if (cmabuf_conn_request(c, CMABUF_MSG_STATUS, NULL, 0, &r, NULL) < 0) {
			fprintf(stderr, "STATUS: %s\n", c->last_error);
			exit(1);
		}
		if (!r.u.status_reply.zeroing && !r.u.status_reply.used)
			return;
	}
	fprintf(stderr, "cmabufd did not settle within a minute\n");
	exit(1);
}
