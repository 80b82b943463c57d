/* SPDX-License-Identifier: MIT */
/*
 * The memfd backend across kill -9, with systemd's file-descriptor store, and
 * its release events. There is no systemd here, so the test plays it: a
 * NOTIFY_SOCKET datagram listener keeps the FDSTORE=1 descriptors under their
 * FDNAMEs and honours FDSTOREREMOVE=1, and a restart passes them back with
 * LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES from fd 3 on, after the socket
 * unit's listening socket, exactly as systemd does.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmabuf.h"
#include "harness.h"
#include "scm.h"

#define MB	    (1ull << 20)
#define REGION	    (64 * MB)
#define HOLDERS	    2
#define PER_HOLDER  3
#define HELD_SZ	    (4 * MB)
#define FILLER_SZ   (2 * MB)
#define MAX_STORED  256
#define STORE_NAMES "cmabuf.memfd."

extern char **environ;

/* ---- systemd, played by a thread ---- */

struct stored {
	int fd;
	char name[256];
};

struct fake_systemd {
	int sock;
	char path[128];
	pthread_t thread;
	pthread_mutex_t lock;
	bool stop;
	bool paused; /* a systemd that is behind: nothing is read */
	bool busy;   /* between taking a datagram and storing what it carried */
	bool idle;   /* it saw paused: it reads nothing until resumed */
	struct stored fds[MAX_STORED];
	int n;
	unsigned removes, readies;
};

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static const char *field(const char *msg, const char *key, char *out, size_t cap)
{
	const char *p = msg;
	size_t klen = strlen(key), n;

	while (p && *p) {
		if (strncmp(p, key, klen) == 0) {
			n = strcspn(p + klen, "\n");
			snprintf(out, cap, "%.*s", (int)n, p + klen);
			return out;
		}
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	return NULL;
}

static void store_remove_locked(struct fake_systemd *s, const char *name)
{
	int i = 0;

	while (i < s->n) {
		if (strcmp(s->fds[i].name, name) == 0) {
			close(s->fds[i].fd);
			s->fds[i] = s->fds[--s->n];
		} else {
			i++;
		}
	}
}

static void handle_datagram(struct fake_systemd *s, const char *msg, const int *fds, int nfds)
{
	char name[256] = "stored";
	int i;

	field(msg, "FDNAME=", name, sizeof(name));
	pthread_mutex_lock(&s->lock);
	if (strstr(msg, "READY=1"))
		s->readies++;
	if (strstr(msg, "FDSTOREREMOVE=1")) {
		store_remove_locked(s, name);
		s->removes++;
	}
	for (i = 0; i < nfds; i++) {
		if (!strstr(msg, "FDSTORE=1") || s->n == MAX_STORED) { /* systemd refuses them */
			close(fds[i]);
			continue;
		}
		s->fds[s->n].fd = fds[i];
		strcpy(s->fds[s->n++].name, name);
	}
	pthread_mutex_unlock(&s->lock);
}

static void *systemd_main(void *arg)
{
	struct fake_systemd *s = arg;
	char buf[4096];
	union {
		char space[CMSG_SPACE(sizeof(int) * 16)];
		struct cmsghdr align;
	} ctl;

	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		struct pollfd p = {s->sock, POLLIN, 0};
		struct iovec iov = {buf, sizeof(buf) - 1};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = ctl.space,
				    .msg_controllen = sizeof(ctl.space)};
		struct cmsghdr *cm;
		int fds[16], nfds = 0;
		ssize_t n;

		__atomic_store_n(&s->idle, __atomic_load_n(&s->paused, __ATOMIC_ACQUIRE),
				 __ATOMIC_RELEASE);
		if (__atomic_load_n(&s->idle, __ATOMIC_ACQUIRE)) {
			sleep_ms(5);
			continue;
		}
		if (poll(&p, 1, 20) <= 0)
			continue;
		/* Busy before the datagram leaves the queue: systemd_drain() sees one or the other. */
		pthread_mutex_lock(&s->lock);
		s->busy = true;
		pthread_mutex_unlock(&s->lock);
		n = recvmsg(s->sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0) {
			pthread_mutex_lock(&s->lock);
			s->busy = false;
			pthread_mutex_unlock(&s->lock);
			continue;
		}
		buf[n] = '\0';
		for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			nfds = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			memcpy(fds, CMSG_DATA(cm), (size_t)nfds * sizeof(int));
		}
		handle_datagram(s, buf, fds, nfds);
		pthread_mutex_lock(&s->lock);
		s->busy = false;
		pthread_mutex_unlock(&s->lock);
	}
	return NULL;
}

/*
 * Waits until every datagram a dead daemon sent is stored (5 s at most), as
 * systemd has read them all before it restarts a unit: a snapshot of the
 * store taken earlier would miss its last buffers.
 */
static int systemd_drain(struct fake_systemd *s)
{
	int i, queued = 0;
	bool busy;

	for (i = 0; i < 250; i++) {
		pthread_mutex_lock(&s->lock);
		busy = s->busy;
		if (ioctl(s->sock, SIOCINQ, &queued) < 0)
			queued = -1;
		pthread_mutex_unlock(&s->lock);
		if (!busy && queued == 0)
			return 0;
		sleep_ms(20);
	}
	return -ETIMEDOUT;
}

static void systemd_start(struct fake_systemd *s, const char *dir)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	snprintf(s->path, sizeof(s->path), "%s/notify", dir);
	strcpy(sa.sun_path, s->path);
	s->sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(s->sock >= 0);
	assert_int_equal(bind(s->sock, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(pthread_create(&s->thread, NULL, systemd_main, s), 0);
}

/* From now on it reads nothing: returns once it has stopped reading. */
static void systemd_pause(struct fake_systemd *s)
{
	__atomic_store_n(&s->paused, true, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&s->idle, __ATOMIC_ACQUIRE))
		sleep_ms(1);
}

static void systemd_stop(struct fake_systemd *s)
{
	int i;

	__atomic_store_n(&s->stop, true, __ATOMIC_RELEASE);
	pthread_join(s->thread, NULL);
	for (i = 0; i < s->n; i++)
		close(s->fds[i].fd);
	close(s->sock);
	unlink(s->path);
}

static int store_count(struct fake_systemd *s)
{
	int n;

	pthread_mutex_lock(&s->lock);
	n = s->n;
	pthread_mutex_unlock(&s->lock);
	return n;
}

static bool store_has(struct fake_systemd *s, const char *name)
{
	bool found = false;
	int i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->n; i++)
		found |= strcmp(s->fds[i].name, name) == 0;
	pthread_mutex_unlock(&s->lock);
	return found;
}

/* Polls until the store holds n descriptors (5 s at most). */
static int store_wait(struct fake_systemd *s, int n)
{
	int i;

	for (i = 0; i < 250; i++) {
		if (store_count(s) == n)
			return 0;
		sleep_ms(20);
	}
	return -ETIMEDOUT;
}

static void store_add(struct fake_systemd *s, int fd, const char *name)
{
	pthread_mutex_lock(&s->lock);
	s->fds[s->n].fd = fd;
	snprintf(s->fds[s->n++].name, sizeof(s->fds[0].name), "%s", name);
	pthread_mutex_unlock(&s->lock);
}

/* ---- the service: socket unit, store, daemon ---- */

struct service {
	struct test_daemon td;
	struct fake_systemd sys;
	int listen_fd; /* the socket unit's, kept across restarts */
	char log[128];
};

static void service_init(struct service *sv)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	memset(sv, 0, sizeof(*sv));
	strcpy(sv->td.dir, "/tmp/cmabuf-fdstore-XXXXXX");
	assert_non_null(mkdtemp(sv->td.dir));
	chmod(sv->td.dir, 0755);
	snprintf(sv->td.socket, sizeof(sv->td.socket), "%s/cmabufd.sock", sv->td.dir);
	snprintf(sv->log, sizeof(sv->log), "%s/cmabufd.log", sv->td.dir);
	sv->td.region_size = REGION;
	strcpy(sa.sun_path, sv->td.socket);
	sv->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(sv->listen_fd >= 0);
	assert_int_equal(bind(sv->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(sv->listen_fd, 128), 0);
	systemd_start(&sv->sys, sv->td.dir);
}

struct launch {
	int fds[MAX_STORED + 1];
	int n;
#define NAMES_LEN ((MAX_STORED + 1) * 64 + 64)
	char names[NAMES_LEN];
	char *envp[512];
	char listen_fds[32], listen_names[NAMES_LEN + 16];
	char notify[160], listen_pid[32];
};

static bool env_ours(const char *e)
{
	return !strncmp(e, "LISTEN_", 7) || !strncmp(e, "NOTIFY_SOCKET=", 14);
}

/* Everything the child needs, prepared before fork: no allocation after it. */
static void prepare_launch(struct service *sv, struct launch *l, bool socket_unit, bool store)
{
	int i, e = 0;

	memset(l, 0, sizeof(*l));
	if (socket_unit) {
		l->fds[l->n++] = sv->listen_fd;
		strcat(l->names, "cmabufd.socket");
	}
	pthread_mutex_lock(&sv->sys.lock);
	for (i = 0; store && i < sv->sys.n; i++) {
		l->fds[l->n++] = sv->sys.fds[i].fd;
		if (l->names[0])
			strcat(l->names, ":");
		strcat(l->names, sv->sys.fds[i].name);
	}
	pthread_mutex_unlock(&sv->sys.lock);
	for (i = 0; environ[i] && e < 500; i++)
		if (!env_ours(environ[i]))
			l->envp[e++] = environ[i];
	if (store || socket_unit) {
		snprintf(l->notify, sizeof(l->notify), "NOTIFY_SOCKET=%s", sv->sys.path);
		l->envp[e++] = l->notify;
	}
	if (l->n) {
		snprintf(l->listen_fds, sizeof(l->listen_fds), "LISTEN_FDS=%d", l->n);
		snprintf(l->listen_names, sizeof(l->listen_names), "LISTEN_FDNAMES=%s", l->names);
		l->envp[e++] = l->listen_fds;
		l->envp[e++] = l->listen_names;
		l->envp[e++] = l->listen_pid; /* filled in by the child */
	}
	l->envp[e] = NULL;
}

static void exec_service(struct service *sv, struct launch *l)
{
	const char *bin = getenv("CMABUFD");
	char sock[160], region[64];
	int i, log = open(sv->log, O_WRONLY | O_CREAT | O_APPEND, 0644);

	snprintf(sock, sizeof(sock), "--socket=%s", sv->td.socket);
	snprintf(region, sizeof(region), "--region-size=%" PRIu64, (uint64_t)REGION);
	if (log >= 0)
		dup2(log, 2);
	for (i = 0; i < l->n; i++) /* out of the way first, then at 3, 4, ... */
		l->fds[i] = fcntl(l->fds[i], F_DUPFD, 1000);
	for (i = 0; i < l->n; i++)
		dup2(l->fds[i], 3 + i);
	close_range(3 + (unsigned)l->n, ~0u, 0);
	snprintf(l->listen_pid, sizeof(l->listen_pid), "LISTEN_PID=%d", (int)getpid());
	execve(bin ? bin : "cmabufd",
	       (char *const[]){bin ? (char *)bin : "cmabufd", sock, "--backend=memfd", region,
			       NULL},
	       l->envp);
	_exit(127);
}

/* Starts (or restarts) the daemon and waits until it serves. */
static int service_spawn(struct service *sv, bool socket_unit, bool store)
{
	static struct launch l; /* large; the child gets its own copy */
	struct cmabuf_conn c;
	int i;

	prepare_launch(sv, &l, socket_unit, store);
	sv->td.pid = fork();
	if (sv->td.pid < 0)
		return -errno;
	if (sv->td.pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* outlives no failed test */
		exec_service(sv, &l);
	}
	for (i = 0; i < 500; i++) {
		if (cmabuf_conn_open(&c, sv->td.socket) == 0) {
			cmabuf_conn_close(&c);
			return 0;
		}
		if (waitpid(sv->td.pid, NULL, WNOHANG) == sv->td.pid) {
			sv->td.pid = 0;
			return -ECHILD;
		}
		sleep_ms(20);
	}
	return -ETIMEDOUT;
}

static void service_kill_9(struct service *sv)
{
	assert_int_equal(kill(sv->td.pid, SIGKILL), 0);
	assert_int_equal(waitpid(sv->td.pid, NULL, 0), sv->td.pid);
	sv->td.pid = 0;
	if (!__atomic_load_n(&sv->sys.paused, __ATOMIC_ACQUIRE))
		assert_int_equal(systemd_drain(&sv->sys), 0);
}

static void service_stop(struct service *sv)
{
	assert_int_equal(test_daemon_stop(&sv->td), 0); /* also unlinks the socket */
	systemd_stop(&sv->sys);
	close(sv->listen_fd);
	unlink(sv->log);
	rmdir(sv->td.dir);
}

static bool log_says(const struct service *sv, const char *what)
{
	char buf[65536];
	int fd = open(sv->log, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0)
		close(fd);
	if (n < 0)
		return false;
	buf[n] = '\0';
	return strstr(buf, what) != NULL;
}

/* The daemon's ledger, through LIST_BUFFERS. Returns the number of entries. */
static int list_buffers(const struct test_daemon *td, struct cmabuf_buffer_entry *out, int cap)
{
	struct cmabuf_msg_list_buffers req = {0};
	struct cmabuf_conn c;
	struct cmabuf_msg r;
	int n = 0;
	uint32_t i;

	if (cmabuf_conn_open(&c, td->socket) < 0)
		return -1;
	do {
		if (cmabuf_conn_request(&c, CMABUF_MSG_LIST_BUFFERS, &req, sizeof(req), &r, NULL) <
		    0) {
			n = -1;
			break;
		}
		for (i = 0; i < r.u.buffers_reply.head.count && n < cap; i++)
			out[n++] = r.u.buffers_reply.entries[i];
		if (n)
			req.after_id = out[n - 1].id;
	} while (r.u.buffers_reply.head.more && n < cap);
	cmabuf_conn_close(&c);
	return n;
}

/* What the daemon names a buffer's descriptor in the store: cookie (id, uid), offset, size. */
static void stored_name(char *out, size_t cap, const struct cmabuf_buffer_entry *e)
{
	uint64_t cookie = e->id | (uint64_t)e->uid << 40;

	snprintf(out, cap, STORE_NAMES "%" PRIx64 ".%" PRIx64 ".%" PRIx64, cookie, e->offset,
		 e->size);
}

static bool overlaps(uint64_t a, uint64_t as, uint64_t b, uint64_t bs)
{
	return a < b + bs && b < a + as;
}

/* ---- clients ---- */

/*
 * Holds PER_HOLDER buffers across the daemon's death, then obeys commands:
 * 'k' check contents, '0'..'9' close that buffer, 'q' quit. Answers '+' or '-'.
 */
static int holder(const char *socket, int report, int cmd, uint32_t seed)
{
	struct cmabuf_alloc_desc d = {.size = HELD_SZ, .name = "survivor"};
	struct cmabuf_buffer *b[PER_HOLDER];
	uint64_t addr[PER_HOLDER];
	struct cmabuf *cb;
	char c, ok;
	int i;

	if (cmabuf_connect(socket, &cb) < 0)
		return 1;
	for (i = 0; i < PER_HOLDER; i++) {
		if (cmabuf_alloc(cb, &d, &b[i]) < 0 || !cmabuf_map(b[i]) ||
		    cmabuf_buffer_dev_addr(b[i], &addr[i]) < 0)
			return 2;
		pattern_fill(cmabuf_map(b[i]), HELD_SZ, seed + (uint32_t)i);
	}
	if (write(report, addr, sizeof(addr)) != sizeof(addr))
		return 3;
	while (read(cmd, &c, 1) == 1 && c != 'q') {
		ok = '+';
		if (c == 'k') {
			for (i = 0; i < PER_HOLDER; i++)
				if (b[i] &&
				    pattern_check(cmabuf_map(b[i]), HELD_SZ, seed + (uint32_t)i))
					ok = '-';
		} else if (c >= '0' && c < '0' + PER_HOLDER) {
			cmabuf_free(b[c - '0']); /* the connection is dead: this only closes */
			b[c - '0'] = NULL;
		}
		if (write(report, &ok, 1) != 1)
			return 4;
	}
	return 0;
}

/* Allocates and frees as fast as it can, reconnecting whenever the daemon goes. */
/* Allocates and frees until killed; says so on ready after its hundredth buffer. */
static void churn(const char *socket, int ready)
{
	struct cmabuf_alloc_desc d = {.size = 1 * MB, .name = "churn"};
	struct cmabuf_buffer *b;
	struct cmabuf *cb;
	unsigned n = 0;

	for (;;) {
		if (cmabuf_connect(socket, &cb) < 0) {
			sleep_ms(5);
			continue;
		}
		while (cmabuf_alloc(cb, &d, &b) == 0) {
			memset(cmabuf_map(b), 0x5a, 4096);
			cmabuf_free(b);
			if (++n == 100 && write(ready, "c", 1) != 1)
				_exit(1);
		}
		cmabuf_disconnect(cb);
	}
}

struct holder_proc {
	pid_t pid;
	int report, cmd;
	uint64_t addr[PER_HOLDER];
};

static void start_holder(struct holder_proc *h, const char *socket, uint32_t seed)
{
	int report[2], cmd[2];

	assert_int_equal(pipe2(report, O_CLOEXEC), 0);
	assert_int_equal(pipe2(cmd, O_CLOEXEC), 0);
	h->pid = fork();
	if (h->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed test must not leave it behind */
		_exit(holder(socket, report[1], cmd[0], seed));
	}
	close(report[1]);
	close(cmd[0]);
	h->report = report[0];
	h->cmd = cmd[1];
	assert_int_equal(read(h->report, h->addr, sizeof(h->addr)), sizeof(h->addr));
}

static char holder_do(struct holder_proc *h, char c)
{
	char ok = '?';

	assert_int_equal(write(h->cmd, &c, 1), 1);
	assert_int_equal(read(h->report, &ok, 1), 1);
	return ok;
}

static void end_holder(struct holder_proc *h)
{
	int status;

	assert_int_equal(write(h->cmd, "q", 1), 1);
	assert_int_equal(waitpid(h->pid, &status, 0), h->pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close(h->report);
	close(h->cmd);
}

/* ---- the tests ---- */

static bool is_survivor(const struct holder_proc *h, uint64_t offset)
{
	int i, j;

	for (i = 0; i < HOLDERS; i++)
		for (j = 0; j < PER_HOLDER; j++)
			if (h[i].addr[j] == offset)
				return true;
	return false;
}

/* The new daemon's ledger: exactly the survivors, where they were, and all in the store. */
static void check_ledger_is_survivors(struct service *sv, const struct holder_proc *h)
{
	struct cmabuf_buffer_entry e[64];
	char name[128];
	int n = list_buffers(&sv->td, e, 64), i;

	assert_int_equal(n, HOLDERS * PER_HOLDER);
	for (i = 0; i < n; i++) {
		assert_true(is_survivor(h, e[i].offset));
		assert_int_equal(e[i].size, HELD_SZ);
		assert_true(e[i].flags & CMABUF_BUFFER_RELEASE_PENDING); /* its owner is gone */
		stored_name(name, sizeof(name), &e[i]);
		assert_true(store_has(&sv->sys, name));
	}
}

static void survivors_of_kill_9_come_back_from_the_store(void **state)
{
	struct service sv;
	struct holder_proc h[HOLDERS];
	struct cmabuf_buffer *fill[64], *again;
	struct cmabuf_alloc_desc d = {.size = FILLER_SZ, .name = "filler"};
	struct cmabuf_msg_status_reply st;
	struct cmabuf *cb;
	uint64_t addr;
	pid_t churner;
	int i, j, n = 0, ready[2];
	char c;

	service_init(&sv);
	assert_int_equal(service_spawn(&sv, true, true), 0);
	assert_int_equal(pipe(ready), 0);
	churner = fork();
	if (churner == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		churn(sv.td.socket, ready[1]);
	}
	for (i = 0; i < HOLDERS; i++)
		start_holder(&h[i], sv.td.socket, 700 + 10 * (uint32_t)i);
	/* The kill lands under load: the churner is a hundred buffers in. */
	assert_int_equal(read(ready[0], &c, 1), 1);

	service_kill_9(&sv);
	assert_int_equal(service_spawn(&sv, true, true), 0);
	assert_true(log_says(&sv, "file-descriptor store:"));
	kill(churner, SIGKILL); /* its last buffer, if it held one, is released with it */
	assert_int_equal(waitpid(churner, NULL, 0), churner);
	close(ready[0]);
	close(ready[1]);
	assert_int_equal(test_daemon_wait_buffers(&sv.td, HOLDERS * PER_HOLDER), 0);
	check_ledger_is_survivors(&sv, h);
	assert_int_equal(store_wait(&sv.sys, HOLDERS * PER_HOLDER), 0);

	/* Fill the rest: no new buffer may overlap a survivor. */
	assert_int_equal(cmabuf_connect(sv.td.socket, &cb), 0);
	while (n < 64 && cmabuf_alloc(cb, &d, &fill[n]) == 0) {
		assert_int_equal(cmabuf_buffer_dev_addr(fill[n], &addr), 0);
		for (i = 0; i < HOLDERS; i++)
			for (j = 0; j < PER_HOLDER; j++)
				if (overlaps(addr, FILLER_SZ, h[i].addr[j], HELD_SZ))
					fail_msg("0x%" PRIx64 " handed out twice", addr);
		n++;
	}
	/*
	 * Every hole a filler fits was used, and nothing but survivors and fillers
	 * is left (how many fit depends on where the churn's buffers were placed).
	 */
	assert_true(n > 0);
	assert_int_equal(test_daemon_status(&sv.td, &st), 0);
	assert_true(st.largest_free < FILLER_SZ);
	assert_int_equal(st.buffers, HOLDERS * PER_HOLDER + (uint32_t)n);
	assert_int_equal(st.used, HOLDERS * PER_HOLDER * HELD_SZ + (uint64_t)n * FILLER_SZ);

	/* A holder closes one survivor: it is released and its range is the only room. */
	assert_int_equal(holder_do(&h[0], '1'), '+');
	assert_int_equal(test_daemon_wait_buffers(&sv.td, HOLDERS * PER_HOLDER - 1 + (uint32_t)n),
			 0);
	d.size = HELD_SZ;
	d.name = "reuse";
	assert_int_equal(cmabuf_alloc(cb, &d, &again), 0);
	assert_int_equal(cmabuf_buffer_dev_addr(again, &addr), 0);
	assert_int_equal(addr, h[0].addr[1]);

	/* The others kept their memory, and freed buffers left the store. */
	for (i = 0; i < HOLDERS; i++)
		assert_int_equal(holder_do(&h[i], 'k'), '+');
	cmabuf_free(again);
	for (i = 0; i < n; i++)
		cmabuf_free(fill[i]);
	cmabuf_disconnect(cb);
	for (i = 0; i < HOLDERS; i++)
		end_holder(&h[i]);
	assert_int_equal(test_daemon_wait_buffers(&sv.td, 0), 0);
	assert_int_equal(test_daemon_status(&sv.td, &st), 0);
	assert_int_equal(st.largest_free, REGION);
	assert_int_equal(store_wait(&sv.sys, 0), 0);
	service_stop(&sv);
}

/* Every buffer goes into the store under its name, and leaves it when released. */
static void store_follows_the_ledger(void **state)
{
	struct cmabuf_alloc_desc d = {.size = 3 * MB, .name = "stored"};
	struct cmabuf_buffer_entry e[8];
	struct cmabuf_buffer *b[3];
	struct service sv;
	struct cmabuf *cb;
	char name[128];
	unsigned removes;
	int i;

	service_init(&sv);
	assert_int_equal(service_spawn(&sv, true, true), 0);
	assert_int_equal(cmabuf_connect(sv.td.socket, &cb), 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(cmabuf_alloc(cb, &d, &b[i]), 0);
	assert_int_equal(store_wait(&sv.sys, 3), 0);
	assert_int_equal(list_buffers(&sv.td, e, 8), 3);
	for (i = 0; i < 3; i++) {
		stored_name(name, sizeof(name), &e[i]);
		assert_true(store_has(&sv.sys, name));
	}
	removes = sv.sys.removes;
	cmabuf_free(b[1]);
	assert_int_equal(store_wait(&sv.sys, 2), 0);
	stored_name(name, sizeof(name), &e[1]);
	assert_false(store_has(&sv.sys, name));
	assert_true(sv.sys.removes > removes);
	cmabuf_free(b[0]);
	cmabuf_free(b[2]);
	cmabuf_disconnect(cb);
	assert_int_equal(store_wait(&sv.sys, 0), 0);
	service_stop(&sv);
}

/*
 * A systemd too busy to read its notify socket fills it after a few buffers
 * (10 datagrams on Linux): the daemon must go on serving, and the store catch
 * up once systemd reads again.
 */
static void a_systemd_that_does_not_read_does_not_stop_the_daemon(void **state)
{
	struct cmabuf_alloc_desc d = {.size = 1 * MB, .name = "busy-systemd"};
	struct cmabuf_msg_status_reply st;
	struct cmabuf_buffer *b[24];
	struct service sv;
	struct cmabuf *cb;
	int i;

	service_init(&sv);
	assert_int_equal(service_spawn(&sv, true, true), 0);
	systemd_pause(&sv.sys);
	assert_int_equal(cmabuf_connect(sv.td.socket, &cb), 0);
	for (i = 0; i < 24; i++)
		assert_int_equal(cmabuf_alloc(cb, &d, &b[i]), 0);
	assert_int_equal(test_daemon_status(&sv.td, &st), 0);
	assert_int_equal(st.buffers, 24);
	assert_int_equal(store_count(&sv.sys), 0); /* nothing read while paused */
	__atomic_store_n(&sv.sys.paused, false, __ATOMIC_RELEASE);
	/* What fitted in the queue arrives now; the rest was logged as not stored. */
	assert_int_equal(systemd_drain(&sv.sys), 0);
	assert_true(store_count(&sv.sys) > 0);
	assert_true(store_count(&sv.sys) < 24);
	assert_true(log_says(&sv, "could not go into systemd's file-descriptor store"));
	for (i = 0; i < 24; i++)
		cmabuf_free(b[i]);
	cmabuf_disconnect(cb);
	assert_int_equal(test_daemon_wait_buffers(&sv.td, 0), 0);
	assert_int_equal(store_wait(&sv.sys, 0), 0);
	service_stop(&sv);
}

#define PASSED	  4
#define PASSED_SZ (8 * MB)

/*
 * Receives PASSED descriptors, maps each and closes the descriptor (the
 * mapping alone keeps the memory), then unmaps them all on command.
 */
static int helper(int sock)
{
	void *map[PASSED];
	char c;
	int i, fd;

	for (i = 0; i < PASSED; i++) {
		fd = test_recv_fd(sock);
		map[i] = fd < 0 ? MAP_FAILED
				: mmap(NULL, PASSED_SZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (map[i] == MAP_FAILED)
			return 1;
		close(fd);
		pattern_fill(map[i], PASSED_SZ, 900 + (uint32_t)i);
		if (write(sock, "m", 1) != 1)
			return 2;
	}
	if (read(sock, &c, 1) != 1)
		return 3;
	for (i = 0; i < PASSED; i++) {
		if (pattern_check(map[i], PASSED_SZ, 900 + (uint32_t)i))
			return 4;
		munmap(map[i], PASSED_SZ);
	}
	return 0;
}

/*
 * Allocate, pass to a helper, free, repeat: the helper's mappings keep every
 * buffer, so every one stays charged and allocated, and the region fills.
 */
static void freed_but_held_elsewhere_stays_allocated(void **state)
{
	struct cmabuf_alloc_desc d = {.size = PASSED_SZ, .name = "passed"};
	struct cmabuf_msg_status_reply st;
	struct cmabuf_buffer *b;
	struct test_daemon td;
	struct cmabuf *cb;
	int sp[2], i, status;
	char c;
	pid_t pid;

	assert_int_equal(test_daemon_start(&td, PASSED * PASSED_SZ, NULL), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		_exit(helper(sp[1]));
	}
	assert_int_equal(cmabuf_connect(td.socket, &cb), 0);
	for (i = 0; i < PASSED; i++) {
		assert_int_equal(cmabuf_alloc(cb, &d, &b), 0);
		assert_int_equal(test_send_fd(sp[0], cmabuf_buffer_fd(b)), 0);
		assert_int_equal(read(sp[0], &c, 1), 1); /* mapped there */
		assert_int_equal(cmabuf_free(b), 0);
	}
	assert_int_equal(test_daemon_wait_buffers(&td, PASSED), 0);
	assert_int_equal(test_daemon_status(&td, &st), 0);
	assert_int_equal(st.pending_release, PASSED * PASSED_SZ);
	assert_int_equal(st.free, 0);
	assert_int_equal(cmabuf_alloc(cb, &d, &b), -ENOMEM); /* nothing was handed out twice */

	assert_int_equal(write(sp[0], "u", 1), 1); /* the helper lets go */
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(test_daemon_wait_buffers(&td, 0), 0);
	assert_int_equal(test_daemon_status(&td, &st), 0);
	assert_int_equal(st.largest_free, PASSED * PASSED_SZ);
	d.size = PASSED * PASSED_SZ;
	assert_int_equal(cmabuf_alloc(cb, &d, &b), 0);
	cmabuf_free(b);
	cmabuf_disconnect(cb);
	close(sp[0]);
	close(sp[1]);
	assert_int_equal(test_daemon_stop(&td), 0);
}

/* Without systemd there is no store: the restarted daemon says what it lost. */
static void without_a_store_the_warning_says_what_is_lost(void **state)
{
	struct cmabuf_msg_status_reply st;
	struct holder_proc h;
	struct service sv;

	service_init(&sv);
	close(sv.listen_fd); /* no socket unit: the daemon binds its own socket */
	sv.listen_fd = -1;
	unlink(sv.td.socket);
	assert_int_equal(service_spawn(&sv, false, false), 0);
	start_holder(&h, sv.td.socket, 42);
	service_kill_9(&sv);
	assert_int_equal(service_spawn(&sv, false, false), 0);
	assert_true(log_says(&sv, "an earlier cmabufd did not shut down cleanly; the memfd "
				  "backend cannot recover its buffers"));
	assert_true(log_says(&sv, "no file-descriptor store"));
	assert_int_equal(test_daemon_status(&sv.td, &st), 0);
	assert_int_equal(st.buffers, 0);
	assert_int_equal(holder_do(&h, 'k'), '+'); /* the holder's memory is intact all the same */
	end_holder(&h);
	service_stop(&sv);
}

static bool daemon_holds(pid_t pid, const char *link)
{
	char dir[64], path[320], target[256];
	int fd;
	ssize_t n;

	for (fd = 0; fd < 1024; fd++) {
		snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
		snprintf(path, sizeof(path), "%s/%d", dir, fd);
		n = readlink(path, target, sizeof(target) - 1);
		if (n < 0)
			continue;
		target[n] = '\0';
		if (strcmp(target, link) == 0)
			return true;
	}
	return false;
}

static void link_of(int fd, char *out, size_t cap)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, out, cap - 1);
	out[n < 0 ? 0 : n] = '\0';
}

/* Stored descriptors that are not what their names say are refused, closed, never adopted. */
/*
 * The same buffer stored twice (a store that kept an old copy): the first is
 * adopted, the second closed, and the store keeps the adopted one's entry.
 */
static void a_buffer_stored_twice_is_adopted_once(void **state)
{
	const char *name = STORE_NAMES "5.0.400000";
	struct cmabuf_msg_status_reply st;
	struct service sv;
	char self[32];
	int fd, holder;

	service_init(&sv);
	fd = memfd_create("stored-twice", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	assert_int_equal(ftruncate(fd, 4 * MB), 0);
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), 0);
	/* A client's own description keeps it held, as cmabufd's clients have one. */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	holder = open(self, O_RDWR | O_CLOEXEC);
	assert_true(holder >= 0);
	store_add(&sv.sys, fd, name);
	store_add(&sv.sys, dup(fd), name);

	assert_int_equal(service_spawn(&sv, true, true), 0);
	assert_true(log_says(&sv, "refused: a second descriptor for the same buffer"));
	assert_int_equal(test_daemon_status(&sv.td, &st), 0);
	assert_int_equal(st.buffers, 1);
	assert_true(store_has(&sv.sys, name));
	close(holder); /* now nobody holds it: released, and out of the store */
	assert_int_equal(test_daemon_wait_buffers(&sv.td, 0), 0);
	assert_int_equal(store_wait(&sv.sys, 0), 0);
	service_stop(&sv);
}

static void stored_impostors_are_refused(void **state)
{
	struct cmabuf_msg_status_reply st;
	struct service sv;
	char pipe_link[256], small_link[256], unsealed_link[256];
	int p[2], small, unsealed;

	service_init(&sv);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	small = memfd_create("impostor-small", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	unsealed = memfd_create("impostor-unsealed", MFD_CLOEXEC);
	assert_int_equal(ftruncate(small, 8192), 0);
	assert_int_equal(fcntl(small, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), 0);
	assert_int_equal(ftruncate(unsealed, 4 * MB), 0);
	link_of(p[0], pipe_link, sizeof(pipe_link));
	link_of(small, small_link, sizeof(small_link));
	link_of(unsealed, unsealed_link, sizeof(unsealed_link));
	store_add(&sv.sys, p[0], STORE_NAMES "1.0.400000");
	store_add(&sv.sys, small, STORE_NAMES "2.400000.400000");
	store_add(&sv.sys, unsealed, STORE_NAMES "3.800000.400000");
	store_add(&sv.sys, dup(p[0]), STORE_NAMES "not-a-number");

	assert_int_equal(service_spawn(&sv, true, true), 0);
	assert_true(log_says(&sv, STORE_NAMES "1.0.400000 refused: not a memfd"));
	assert_true(log_says(&sv, "refused: a memfd of another size than its name says"));
	assert_true(log_says(&sv, "refused: a memfd without cmabuf's seals"));
	assert_true(log_says(&sv, "not a name this cmabufd writes"));
	assert_int_equal(test_daemon_status(&sv.td, &st), 0);
	assert_int_equal(st.buffers, 0);
	assert_int_equal(st.largest_free, REGION);
	assert_false(daemon_holds(sv.td.pid, pipe_link));
	assert_false(daemon_holds(sv.td.pid, small_link));
	assert_false(daemon_holds(sv.td.pid, unsealed_link));
	assert_int_equal(store_wait(&sv.sys, 0), 0); /* and removed from the store */
	close(p[1]);
	service_stop(&sv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(survivors_of_kill_9_come_back_from_the_store),
		cmocka_unit_test(store_follows_the_ledger),
		cmocka_unit_test(a_systemd_that_does_not_read_does_not_stop_the_daemon),
		cmocka_unit_test(freed_but_held_elsewhere_stays_allocated),
		cmocka_unit_test(without_a_store_the_warning_says_what_is_lost),
		cmocka_unit_test(stored_impostors_are_refused),
		cmocka_unit_test(a_buffer_stored_twice_is_adopted_once),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
