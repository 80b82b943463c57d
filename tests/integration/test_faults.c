/* SPDX-License-Identifier: MIT */
/*
 * Many clients, random work, random deaths. 256 client processes each run
 * 1,000 random operations (allocate, map, write, verify, pass to a peer
 * process that checks the bytes, free) while 10% of them are killed with
 * SIGKILL at random moments. Throughout, no two live buffers may overlap;
 * afterwards every byte is accounted for and the survivors saw their data
 * intact. $CMABUF_FAULT_CLIENTS and $CMABUF_FAULT_OPS scale it down.
 *
 * Then the daemon itself is killed: 64 clients at work, cmabufd SIGKILLed
 * under them and restarted. Every client gets a clean error, keeps its mapped
 * bytes, reconnects and works on; the new daemon's ledger holds no overlap and
 * accounts for every byte (on uio it adopts what the clients still hold).
 * $CMABUF_CRASH_CLIENTS and $CMABUF_CRASH_OPS scale that one.
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
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmabuf.h"
#include "harness.h"

#define HELD_MAX 8

static unsigned env_or(const char *name, unsigned dflt)
{
	const char *v = getenv(name);

	return v && *v ? (unsigned)strtoul(v, NULL, 10) : dflt;
}

static int send_fd(int sock, int fd, uint64_t size, uint32_t seed)
{
	uint64_t msg[2] = {size, seed};
	union {
		char space[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {msg, sizeof(msg)};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.space,
			    .msg_controllen = sizeof(ctl.space)};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	char ok;

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	if (sendmsg(sock, &mh, 0) != sizeof(msg) || recv(sock, &ok, 1, 0) != 1)
		return -1;
	return ok == 'y' ? 0 : -1;
}

/* The peer never talks to the daemon: it maps what it is sent and checks the bytes. */
static int peer(int sock)
{
	for (;;) {
		uint64_t msg[2];
		union {
			char space[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = {msg, sizeof(msg)};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = ctl.space,
				    .msg_controllen = sizeof(ctl.space)};
		struct cmsghdr *cm;
		char verdict = 'n';
		void *p;
		int fd;

		if (recvmsg(sock, &mh, 0) != sizeof(msg) || !(cm = CMSG_FIRSTHDR(&mh)))
			return 0; /* our client is gone */
		memcpy(&fd, CMSG_DATA(cm), sizeof(int));
		p = mmap(NULL, msg[0], PROT_READ, MAP_SHARED, fd, 0);
		if (p != MAP_FAILED) {
			verdict = pattern_check(p, msg[0], (uint32_t)msg[1]) == 0 ? 'y' : 'n';
			munmap(p, msg[0]);
		}
		close(fd);
		if (send(sock, &verdict, 1, 0) != 1)
			return 0;
	}
}

struct held {
	struct cmabuf_buffer *b;
	uint32_t seed;
};

/* one_op()'s verdict for wrong bytes (ours, or as the peer saw them): not an errno. */
#define OP_CORRUPT 1

/*
 * 0, OP_CORRUPT, or the library's negative errno from a request that failed
 * (the daemon's refusal, or a connection that broke under it).
 */
static int one_op(struct cmabuf *cb, struct held *h, unsigned *n, int peer_sock, uint32_t *rng)
{
	unsigned r = rand_r(rng), i = *n ? r % *n : 0;
	int ret;

	if (*n < HELD_MAX && (r % 4 == 0 || *n == 0)) {
		struct cmabuf_alloc_desc d = {.size = 4096u * (1 + r % 64), .name = "fault"};

		ret = cmabuf_alloc(cb, &d, &h[*n].b);
		if (ret < 0)
			return ret == -ENOMEM ? 0 : ret; /* a full region is fine under load */
		h[*n].seed = (uint32_t)rand_r(rng);
		pattern_fill(cmabuf_map(h[*n].b), cmabuf_buffer_size(h[*n].b), h[*n].seed);
		(*n)++;
		return 0;
	}
	if (pattern_check(cmabuf_map(h[i].b), cmabuf_buffer_size(h[i].b), h[i].seed))
		return OP_CORRUPT; /* someone else's bytes in our buffer */
	if (r % 4 == 1)
		return send_fd(peer_sock, cmabuf_buffer_fd(h[i].b), cmabuf_buffer_size(h[i].b),
			       h[i].seed) < 0
			       ? OP_CORRUPT
			       : 0;
	if (r % 4 == 2) {
		ret = cmabuf_free(h[i].b); /* the handle is gone even when the daemon is */
		h[i] = h[--(*n)];
		return ret;
	}
	return 0;
}

/*
 * A victim tells the parent (through doomed_fd) when it reaches its chosen
 * operation and keeps working until the SIGKILL lands, so it dies mid-request
 * at a moment nobody picked; if it runs out of work first it waits for it.
 */
static int client(const char *socket, unsigned ops, uint32_t seed, int doomed_fd, unsigned me)
{
	unsigned k, n = 0, doom_at = doomed_fd >= 0 ? rand_r(&seed) % ops : ops;
	struct held h[HELD_MAX];
	struct cmabuf *cb;
	int sv[2];
	pid_t p;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0 || (p = fork()) < 0)
		return 10;
	if (p == 0) {
		close(sv[0]);
		_exit(peer(sv[1]));
	}
	close(sv[1]);
	if (cmabuf_connect(socket, &cb) < 0)
		return 11;
	for (k = 0; k < ops; k++) {
		if (k == doom_at && write(doomed_fd, &me, sizeof(me)) != sizeof(me))
			return 13;
		if (one_op(cb, h, &n, sv[0], &seed) != 0)
			return 12;
	}
	while (doomed_fd >= 0)
		pause();
	while (n)
		cmabuf_free(h[--n].b);
	cmabuf_disconnect(cb);
	close(sv[0]);
	waitpid(p, NULL, 0);
	return 0;
}

struct range {
	uint64_t id, start, end;
};

/* One pass over LIST_BUFFERS (several pages, so not one atomic snapshot). */
static unsigned list_ranges(const struct test_daemon *td, struct range *out, unsigned max)
{
	struct cmabuf_msg_list_buffers req = {0};
	static struct cmabuf_msg r;
	struct cmabuf_conn c;
	unsigned n = 0, i;

	assert_int_equal(cmabuf_conn_open(&c, td->socket), 0);
	do {
		assert_int_equal(cmabuf_conn_request(&c, CMABUF_MSG_LIST_BUFFERS, &req, sizeof(req),
						     &r, NULL),
				 0);
		for (i = 0; i < r.u.buffers_reply.head.count; i++) {
			const struct cmabuf_buffer_entry *e = &r.u.buffers_reply.entries[i];

			req.after_id = e->id;
			if (e->flags & CMABUF_BUFFER_PURGED)
				continue;
			out[n++] = (struct range){e->id, e->offset, e->offset + e->size};
		}
		/* New buffers keep arriving behind the cursor; a full array ends the pass. */
	} while (r.u.buffers_reply.head.more && n + CMABUF_LIST_MAX_ENTRIES <= max);
	cmabuf_conn_close(&c);
	return n;
}

static bool listed(const struct range *r, unsigned n, uint64_t id)
{
	for (unsigned i = 0; i < n; i++)
		if (r[i].id == id)
			return true;
	return false;
}

/*
 * No two live ranges overlap. Pages of one listing are taken at different
 * moments, so a range freed after its page and reused before a later page
 * would look like an overlap. Two passes fix that: ids are never reused, so a
 * buffer seen in both passes was alive from its first sighting to its second,
 * and two such buffers were both alive while the second pass ran.
 */
static void check_no_overlap(const struct test_daemon *td)
{
	static struct range a[8192], b[8192];
	unsigned na = list_ranges(td, a, 8192), nb = list_ranges(td, b, 8192), i, j;

	for (i = 0; i < nb; i++)
		for (j = i + 1; j < nb; j++)
			if (b[i].start < b[j].end && b[j].start < b[i].end &&
			    listed(a, na, b[i].id) && listed(a, na, b[j].id))
				fail_msg("live buffers %" PRIu64 " and %" PRIu64
					 " overlap: [%" PRIx64 ",%" PRIx64 ") and [%" PRIx64
					 ",%" PRIx64 ")",
					 b[i].id, b[j].id, b[i].start, b[i].end, b[j].start,
					 b[j].end);
}

/* The run's processes, so that a failed assertion still cleans up. */
static struct test_daemon td;
static pid_t *pids;
static unsigned nclients;

static int teardown(void **state)
{
	for (unsigned i = 0; pids && i < nclients; i++)
		if (pids[i] > 0 && kill(pids[i], SIGKILL) == 0)
			waitpid(pids[i], NULL, 0);
	free(pids);
	pids = NULL;
	test_daemon_stop(&td);
	return 0;
}

/* Every tenth client is a victim; returns the read end of the victims' pipe. */
static int start_clients(unsigned ops, unsigned *victims)
{
	int doomed[2];

	assert_int_equal(pipe(doomed), 0);
	*victims = 0;
	for (unsigned i = 0; i < nclients; i++) {
		bool victim = i % 10 == 5;

		*victims += victim;
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			close(doomed[0]);
			signal(SIGBUS, SIG_DFL); /* cmocka's handlers would resume the suite here */
			signal(SIGSEGV, SIG_DFL);
			_exit(client(td.socket, ops, 1000 + i, victim ? doomed[1] : -1, i));
		}
	}
	close(doomed[1]);
	return doomed[0];
}

/* Reaps every client; a client that was not SIGKILLed must have exited 0. */
static unsigned reap_clients(void)
{
	unsigned i, done = 0;
	int status;

	for (i = 0; i < nclients; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		pids[i] = 0;
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
			continue;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fail_msg("client %u failed: status 0x%x", i, status);
		done++;
	}
	return done;
}

static void random_work_with_random_deaths(void **state)
{
	unsigned ops = env_or("CMABUF_FAULT_OPS", 1000), i, killed = 0, done, victims;
	const char *const extra[] = {"--max-clients=4096", "--max-clients-per-uid=4096", NULL};
	struct cmabuf_msg_status_reply st;
	int doomed;

	nclients = env_or("CMABUF_FAULT_CLIENTS", 256);
	pids = calloc(nclients, sizeof(*pids));
	assert_non_null(pids);
	assert_int_equal(test_daemon_start(&td, 256u << 20, extra), 0);
	doomed = start_clients(ops, &victims);
	/* Kill each victim as it calls in, checking the ledger as we go. */
	while (read(doomed, &i, sizeof(i)) == sizeof(i)) {
		assert_true(i < nclients);
		assert_int_equal(kill(pids[i], SIGKILL), 0);
		if (++killed % 5 == 0)
			check_no_overlap(&td);
	}
	close(doomed);
	done = reap_clients();
	print_message("%u clients finished, %u killed\n", done, nclients - done);
	assert_int_equal(killed, victims);
	assert_int_equal(nclients - done, victims);
	assert_int_equal(test_daemon_wait_buffers(&td, 0), 0);
	assert_int_equal(test_daemon_status(&td, &st), 0);
	assert_int_equal(st.used, 0); /* every byte back */
	assert_int_equal(st.free, td.region_size);
	assert_int_equal(st.free_extents, 1);
	assert_int_equal(test_daemon_stop(&td), 0);
}

/* ---- the daemon killed under load ---- */

/* What a crash client tells the parent once the daemon it knew is gone. */
struct crash_report {
	uint32_t client, held;
	uint64_t held_bytes;
	int32_t error; /* the clean error it got */
};

static bool connection_error(int err)
{
	return err == -ECONNRESET || err == -EPIPE || err == -ENOTCONN;
}

/*
 * Works (one_op) until the daemon's death breaks a request; says "ready"
 * after ops operations so that the parent kills the daemon mid-load. Then it
 * checks its bytes, reports, waits for the parent's go (the new daemon is up
 * and checked), reconnects, works ops more operations there, checks the old
 * buffers again and frees everything. SIGALRM ends a client that hangs.
 */
static int crash_client(const char *socket, unsigned ops, uint32_t seed, int ready_fd,
			int report_fd, int go_fd, unsigned me)
{
	struct held h[HELD_MAX], fresh[HELD_MAX];
	struct crash_report rep = {.client = me};
	unsigned k, n = 0, nf = 0, i;
	struct cmabuf *cb;
	int sv[2], ret = 0;
	char c;
	pid_t p;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0 || (p = fork()) < 0)
		return 20;
	if (p == 0) {
		close(sv[0]);
		_exit(peer(sv[1]));
	}
	close(sv[1]);
	if (cmabuf_connect(socket, &cb) < 0)
		return 21;
	for (k = 0; ret == 0; k++) {
		if (k == ops && write(ready_fd, "r", 1) != 1)
			return 22;
		if (k == 100 * ops)
			return 23; /* the daemon was never killed */
		ret = one_op(cb, h, &n, sv[0], &seed);
	}
	if (ret == OP_CORRUPT)
		return 24;
	if (!connection_error(ret))
		return 25; /* not a clean error: e.g. a refusal made up from a broken reply */
	/* From here on nothing may block for good. */
	alarm(120);
	/* Another request on the dead connection fails the same clean way, at once. */
	struct cmabuf_alloc_desc d = {.size = 4096, .name = "dead"};
	struct cmabuf_buffer *none;

	if (!connection_error(cmabuf_alloc(cb, &d, &none)))
		return 26;
	for (i = 0; i < n; i++) {
		if (pattern_check(cmabuf_map(h[i].b), cmabuf_buffer_size(h[i].b), h[i].seed))
			return 27; /* the daemon's death cost us our bytes */
		rep.held_bytes += cmabuf_buffer_size(h[i].b);
	}
	rep.held = n;
	rep.error = ret;
	cmabuf_disconnect(cb); /* the handles stay usable */
	if (write(report_fd, &rep, sizeof(rep)) != sizeof(rep) || read(go_fd, &c, 1) != 1)
		return 28;

	if (cmabuf_connect(socket, &cb) < 0)
		return 29; /* the new daemon is up: the parent checked before saying go */
	for (k = 0; k < ops; k++)
		if (one_op(cb, fresh, &nf, sv[0], &seed) != 0)
			return 30;
	for (i = 0; i < n; i++)
		if (pattern_check(cmabuf_map(h[i].b), cmabuf_buffer_size(h[i].b), h[i].seed))
			return 31; /* the new daemon handed out our range */
	while (nf)
		if (cmabuf_free(fresh[--nf].b) < 0)
			return 32;
	while (n)
		cmabuf_free(h[--n].b); /* old connection: -ENOTCONN, but the fd is closed */
	cmabuf_disconnect(cb);
	close(sv[0]);
	waitpid(p, NULL, 0);
	return 0;
}

/*
 * Reads len bytes from a pipe all clients write to. A client that died
 * instead can leave the others (who hold the pipe open) waiting for good, so
 * while nothing arrives, look for one that exited and fail naming it.
 */
static void read_from_clients(int fd, void *buf, size_t len)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	int status;

	while (poll(&pfd, 1, 200) == 0)
		for (unsigned i = 0; i < nclients; i++)
			if (pids[i] > 0 && waitpid(pids[i], &status, WNOHANG) == pids[i]) {
				pids[i] = 0;
				fail_msg("client %u ended early: status 0x%x", i, status);
			}
	assert_int_equal(read(fd, buf, len), (ssize_t)len);
}

/* Sum of the sizes of the buffers the daemon lists (one pass: the ledger is quiet). */
static uint64_t listed_bytes(const struct test_daemon *t, unsigned *count)
{
	static struct range r[8192];
	uint64_t sum = 0;
	unsigned n = list_ranges(t, r, 8192), i;

	for (i = 0; i < n; i++)
		sum += r[i].end - r[i].start;
	*count = n;
	return sum;
}

static void daemon_killed_mid_load_and_restarted(void **state)
{
	unsigned ops = env_or("CMABUF_CRASH_OPS", 100), i, held = 0, listed;
	const char *const extra[] = {"--max-clients=4096", "--max-clients-per-uid=4096", NULL};
	int ready[2], report[2], go[2];
	struct cmabuf_msg_status_reply st;
	uint64_t held_bytes = 0;
	bool uio;
	char c;

	nclients = env_or("CMABUF_CRASH_CLIENTS", 64);
	pids = calloc(nclients, sizeof(*pids));
	assert_non_null(pids);
	assert_int_equal(test_daemon_start(&td, 256u << 20, extra), 0);
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(report), 0);
	assert_int_equal(pipe(go), 0);
	for (i = 0; i < nclients; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			close(ready[0]);
			close(report[0]);
			close(go[1]);
			signal(SIGBUS, SIG_DFL);
			signal(SIGSEGV, SIG_DFL);
			_exit(crash_client(td.socket, ops, 5000 + i, ready[1], report[1], go[0],
					   i));
		}
	}
	close(ready[1]);
	close(report[1]);
	close(go[0]);
	/* Everyone is at work (and keeps working): kill the daemon under them. */
	for (i = 0; i < nclients; i++)
		read_from_clients(ready[0], &c, 1);
	assert_int_equal(test_daemon_crash_and_restart(&td, extra), 0);

	for (i = 0; i < nclients; i++) {
		struct crash_report r;

		read_from_clients(report[0], &r, sizeof(r));
		assert_true(r.client < nclients && connection_error(r.error));
		held += r.held;
		held_bytes += r.held_bytes;
	}
	print_message("daemon killed under %u clients; they still hold %u buffers, %" PRIu64
		      " bytes\n",
		      nclients, held, held_bytes);

	/*
	 * The new daemon, before anyone talks to it. On uio it adopted, from the
	 * stub's LIST, exactly the buffers whose dma-bufs are still open: the
	 * clients' (their peers hold nothing between requests). On memfd without
	 * a file-descriptor store it knows none of them (each is the client's own
	 * memfd, so nothing can be handed out twice) and starts empty.
	 */
	assert_int_equal(test_daemon_status(&td, &st), 0);
	uio = strcmp(st.backend, "uio") == 0;
	assert_int_equal(test_daemon_wait_buffers(&td, uio ? held : 0), 0);
	assert_int_equal(test_daemon_status(&td, &st), 0);
	assert_int_equal(listed_bytes(&td, &listed), st.used);
	assert_int_equal(listed, st.buffers);
	assert_int_equal(st.used, uio ? held_bytes : 0);
	assert_int_equal(st.used + st.free, td.region_size);
	check_no_overlap(&td);

	/* Back to work on the new daemon, old buffers still held. */
	for (i = 0; i < nclients; i++)
		assert_int_equal(write(go[1], "g", 1), 1);
	close(go[1]);
	for (i = 0; i < 3; i++)
		check_no_overlap(&td);
	close(ready[0]);
	close(report[0]);
	assert_int_equal(reap_clients(), nclients); /* none killed: all exited 0 */
	assert_int_equal(test_daemon_wait_buffers(&td, 0), 0);
	assert_int_equal(test_daemon_status(&td, &st), 0);
	assert_int_equal(st.used, 0);
	assert_int_equal(st.free, td.region_size);
	assert_int_equal(st.free_extents, 1);
	assert_int_equal(test_daemon_stop(&td), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(random_work_with_random_deaths, teardown),
		cmocka_unit_test_teardown(daemon_killed_mid_load_and_restarted, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
