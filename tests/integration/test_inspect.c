/* SPDX-License-Identifier: MIT */
/*
 * Paging through LIST_BUFFERS and LIST_CLIENTS with many buffers and
 * connections of two uids: a client that sees only its own uid gets exactly
 * the pages the protocol describes (docs/protocol.md §9, §13), computed here
 * from a privileged client's full view: the same entries, in the same order,
 * the same `more` flags, whether the daemon scans everyone's entries or pages
 * through an index of the asker's own (issue 14, item 13). No timing here: the
 * cost is bench/inspect-flood's business (bench/RESULTS.md).
 */
#include <errno.h>
#include <grp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmabuf.h"
#include "connection.h"
#include "harness.h"

#define NOBODY 65534
/* Each side's connections: more than two pages of clients in all, under --max-clients-per-uid. */
#define CONNS 110
/* nobody's buffers: exactly three full pages, with root's after them (an empty fourth page). */
#define THEIR_BUFFERS (3 * CMABUF_LIST_MAX_ENTRIES)
#define ROOT_TAIL     42

struct page_head {
	uint32_t count, more;
};

/* ---- the unprivileged side: a child running as nobody, told what to do over a pipe ---- */

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);

		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int read_all(int fd, void *p, size_t n)
{
	char *c = p;

	while (n) {
		ssize_t r = read(fd, c, n);

		if (r <= 0)
			return -1;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Sends each page of LIST_BUFFERS from after_id on (all of them, or one), as the client loop reads
 * them. */
static int send_buffer_pages(struct cmabuf_conn *c, int out, uint64_t after_id, bool one)
{
	struct cmabuf_msg_list_buffers req = {.after_id = after_id};
	struct cmabuf_msg r;
	struct page_head h;

	do {
		if (cmabuf_conn_request(c, CMABUF_MSG_LIST_BUFFERS, &req, sizeof(req), &r, NULL) <
		    0)
			return -1;
		h.count = r.u.buffers_reply.head.count;
		h.more = r.u.buffers_reply.head.more;
		if (write_all(out, &h, sizeof(h)) < 0 ||
		    write_all(out, r.u.buffers_reply.entries,
			      h.count * sizeof(struct cmabuf_buffer_entry)) < 0)
			return -1;
		if (h.count)
			req.after_id = r.u.buffers_reply.entries[h.count - 1].id;
	} while (!one && h.more && h.count);
	return 0;
}

static int send_client_pages(struct cmabuf_conn *c, int out)
{
	struct cmabuf_msg_list_clients req = {0};
	struct cmabuf_msg r;
	struct page_head h;

	do {
		if (cmabuf_conn_request(c, CMABUF_MSG_LIST_CLIENTS, &req, sizeof(req), &r, NULL) <
		    0)
			return -1;
		h.count = r.u.clients_reply.head.count;
		h.more = r.u.clients_reply.head.more;
		if (write_all(out, &h, sizeof(h)) < 0 ||
		    write_all(out, r.u.clients_reply.entries,
			      h.count * sizeof(struct cmabuf_client_entry)) < 0)
			return -1;
		if (h.count)
			req.start_conn = r.u.clients_reply.entries[h.count - 1].conn + 1;
	} while (h.more && h.count);
	return 0;
}

/* Commands: 'c' open a connection, 'a' allocate a buffer, 'b' buffer pages, 'm' one page after an
 * id, 'l' client pages, 'q' quit. */
static int nobody_child(const char *socket, int in, int out)
{
	static struct cmabuf_conn conns[CONNS];
	struct cmabuf *cb;
	struct cmabuf_buffer *b;
	unsigned nconns = 0;
	char cmd;

	if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0 ||
	    cmabuf_connect(socket, &cb) < 0)
		return 1;
	while (read_all(in, &cmd, 1) == 0) {
		struct cmabuf_alloc_desc d = {.size = 4096, .name = "theirs"};
		uint64_t after = 0;
		int ret = 0;

		switch (cmd) {
		case 'c':
			ret = nconns < CONNS ? cmabuf_conn_open(&conns[nconns++], socket) : -1;
			break;
		case 'a':
			ret = cmabuf_alloc(cb, &d, &b); /* kept until the child exits */
			break;
		case 'b':
			ret = send_buffer_pages(&conns[0], out, 0, false);
			break;
		case 'm':
			ret = read_all(in, &after, sizeof(after)) < 0
				      ? -1
				      : send_buffer_pages(&conns[0], out, after, true);
			break;
		case 'l':
			ret = send_client_pages(&conns[0], out);
			break;
		case 'q':
			return 0;
		}
		if (ret < 0 || write_all(out, "k", 1) < 0)
			return 2;
	}
	return 3;
}

struct fixture {
	struct test_daemon td;
	pid_t child;
	int to_child, from_child;
	struct cmabuf *cb;
	struct cmabuf_conn conns[CONNS];
	unsigned nconns;
	struct cmabuf_buffer *mine[THEIR_BUFFERS + ROOT_TAIL];
	unsigned nmine;
};

static void tell(struct fixture *f, char cmd)
{
	char ack;

	assert_int_equal(write_all(f->to_child, &cmd, 1), 0);
	if (cmd != 'b' && cmd != 'l' && cmd != 'm') {
		assert_int_equal(read_all(f->from_child, &ack, 1), 0);
		assert_int_equal(ack, 'k');
	}
}

static int setup(void **state)
{
	static struct fixture f;
	const char *extra[] = {"--socket-mode=0666", NULL};
	int down[2], up[2];

	memset(&f, 0, sizeof(f));
	if (geteuid() != 0)
		return 0; /* the test skips: it needs a second uid */
	if (test_daemon_start(&f.td, 64ull << 20, extra) < 0 || pipe(down) < 0 || pipe(up) < 0)
		return -1;
	f.child = fork();
	if (f.child == 0) {
		close(down[1]);
		close(up[0]);
		_exit(nobody_child(f.td.socket, down[0], up[1]));
	}
	close(down[0]);
	close(up[1]);
	f.to_child = down[1];
	f.from_child = up[0];
	if (cmabuf_connect(f.td.socket, &f.cb) < 0)
		return -1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int status = -1;
	unsigned i;

	if (!f || !f->child)
		return 0;
	if (write_all(f->to_child, "q", 1) == 0)
		waitpid(f->child, &status, 0);
	close(f->to_child);
	close(f->from_child);
	for (i = 0; i < f->nconns; i++)
		cmabuf_conn_close(&f->conns[i]);
	for (i = 0; i < f->nmine; i++)
		cmabuf_free(f->mine[i]);
	cmabuf_disconnect(f->cb);
	return test_daemon_stop(&f->td) == 0 && WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : -1;
}

static void open_conn(struct fixture *f)
{
	assert_true(f->nconns < CONNS);
	assert_int_equal(cmabuf_conn_open(&f->conns[f->nconns++], f->td.socket), 0);
}

static void alloc_mine(struct fixture *f)
{
	struct cmabuf_alloc_desc d = {.size = 4096, .name = "mine"};

	assert_true(f->nmine < THEIR_BUFFERS + ROOT_TAIL);
	assert_int_equal(cmabuf_alloc(f->cb, &d, &f->mine[f->nmine]), 0);
	f->nmine++;
}

/* ---- what the privileged client sees: everything, the reference ---- */

struct all_buffers {
	struct cmabuf_buffer_entry v[1024];
	unsigned n;
};

static void read_all_buffers(struct fixture *f, struct all_buffers *a)
{
	struct cmabuf_msg_list_buffers req = {0};
	struct cmabuf_msg r;
	unsigned i;

	a->n = 0;
	do {
		assert_int_equal(cmabuf_conn_request(&f->conns[0], CMABUF_MSG_LIST_BUFFERS, &req,
						     sizeof(req), &r, NULL),
				 0);
		for (i = 0; i < r.u.buffers_reply.head.count; i++) {
			assert_true(a->n < 1024);
			assert_int_equal(r.u.buffers_reply.entries[i].flags &
						 CMABUF_BUFFER_OFFSET_HIDDEN,
					 0);
			a->v[a->n++] = r.u.buffers_reply.entries[i];
		}
		if (i)
			req.after_id = r.u.buffers_reply.entries[i - 1].id;
		/* Every page but the last is full for a client that sees everything. */
		assert_true(!r.u.buffers_reply.head.more || i == CMABUF_LIST_MAX_ENTRIES);
	} while (r.u.buffers_reply.head.more && i);
	for (i = 1; i < a->n; i++)
		assert_true(a->v[i - 1].id < a->v[i].id);
}

/*
 * The page the protocol promises an unprivileged client of uid: from the first
 * buffer with id > after, up to 36 of its own, and `more` if the ledger holds
 * any buffer past the last one looked at.
 */
static unsigned expected_buffer_page(const struct all_buffers *a, uint32_t uid, uint64_t after,
				     unsigned *idx, uint32_t *more)
{
	unsigned i = 0, n = 0;

	while (i < a->n && a->v[i].id <= after)
		i++;
	for (; i < a->n && n < CMABUF_LIST_MAX_ENTRIES; i++)
		if (a->v[i].uid == uid)
			idx[n++] = i;
	*more = i < a->n;
	return n;
}

static void check_buffer_pages(struct fixture *f, const struct all_buffers *a, uint64_t after,
			       bool one, unsigned *pages, unsigned *entries)
{
	struct cmabuf_buffer_entry got[CMABUF_LIST_MAX_ENTRIES];
	unsigned idx[CMABUF_LIST_MAX_ENTRIES], i, n;
	struct page_head h;
	uint32_t more;
	char ack;

	*pages = *entries = 0;
	do {
		assert_int_equal(read_all(f->from_child, &h, sizeof(h)), 0);
		assert_true(h.count <= CMABUF_LIST_MAX_ENTRIES);
		assert_int_equal(read_all(f->from_child, got, h.count * sizeof(got[0])), 0);
		n = expected_buffer_page(a, NOBODY, after, idx, &more);
		assert_int_equal(h.count, n);
		assert_int_equal(h.more, more);
		for (i = 0; i < n; i++) {
			const struct cmabuf_buffer_entry *want = &a->v[idx[i]];

			assert_int_equal(got[i].id, want->id);
			assert_int_equal(got[i].uid, NOBODY);
			assert_int_equal(got[i].pid, want->pid);
			assert_int_equal(got[i].size, want->size);
			assert_int_equal(got[i].created_ms, want->created_ms);
			assert_string_equal(got[i].name, want->name);
			assert_int_equal(got[i].offset, 0);
			assert_int_equal(got[i].flags, want->flags | CMABUF_BUFFER_OFFSET_HIDDEN);
		}
		(*pages)++;
		*entries += n;
		if (n)
			after = got[n - 1].id;
	} while (!one && h.more && h.count);
	assert_int_equal(read_all(f->from_child, &ack, 1), 0);
	assert_int_equal(ack, 'k');
}

static void list_buffers_pages_only_the_askers_uid(void **state)
{
	static struct all_buffers a;
	struct fixture *f = *state;
	unsigned i, pages, entries, theirs = 0;
	uint64_t mid = 0;

	if (!f)
		skip();
	open_conn(f);
	tell(f, 'c');
	for (i = 0; i < THEIR_BUFFERS; i++) { /* interleaved ids: mine, theirs, mine, ... */
		alloc_mine(f);
		tell(f, 'a');
	}
	for (i = 0; i < ROOT_TAIL; i++)
		alloc_mine(f);
	read_all_buffers(f, &a);
	for (i = 0; i < a.n; i++) {
		theirs += a.v[i].uid == NOBODY;
		if (!mid && a.v[i].uid != NOBODY && i > a.n / 3)
			mid = a.v[i].id; /* a page starting at someone else's id */
	}
	assert_int_equal(theirs, THEIR_BUFFERS);
	assert_int_equal(a.n, 2 * THEIR_BUFFERS + ROOT_TAIL);

	tell(f, 'b');
	check_buffer_pages(f, &a, 0, false, &pages, &entries);
	/* Three full pages with `more` (root's buffers follow), then an empty last one. */
	assert_int_equal(pages, 4);
	assert_int_equal(entries, THEIR_BUFFERS);
	tell(f, 'm');
	assert_int_equal(write_all(f->to_child, &mid, sizeof(mid)), 0);
	check_buffer_pages(f, &a, mid, true, &pages, &entries);
	assert_true(entries > 0);
}

static void list_clients_pages_only_the_askers_uid(void **state)
{
	struct fixture *f = *state;
	static struct cmabuf_client_entry all[512], got[CMABUF_LIST_MAX_CLIENTS];
	struct cmabuf_msg_list_clients req = {0};
	struct cmabuf_msg_status_reply st;
	unsigned n = 0, i, k, pages = 0, seen = 0, self = 0, theirs = 0;
	struct cmabuf_msg r;
	struct page_head h;
	uint32_t start = 0;
	char ack;

	if (!f)
		skip();
	for (i = 0; i < CONNS; i++) { /* interleaved descriptors in the daemon */
		open_conn(f);
		tell(f, 'c');
	}
	/* Every connection is up (each open waited for its HELLO reply): the privileged view. */
	do {
		assert_int_equal(cmabuf_conn_request(&f->conns[0], CMABUF_MSG_LIST_CLIENTS, &req,
						     sizeof(req), &r, NULL),
				 0);
		for (i = 0; i < r.u.clients_reply.head.count; i++) {
			assert_true(n < 512);
			all[n++] = r.u.clients_reply.entries[i];
		}
		assert_true(!r.u.clients_reply.head.more || i == CMABUF_LIST_MAX_CLIENTS);
		if (i)
			req.start_conn = r.u.clients_reply.entries[i - 1].conn + 1;
	} while (r.u.clients_reply.head.more && i);
	for (i = 1; i < n; i++)
		assert_true(all[i - 1].conn < all[i].conn);
	for (i = 0; i < n; i++)
		theirs += all[i].uid == NOBODY;
	assert_int_equal(theirs, CONNS + 1); /* and its libcmabuf connection */

	tell(f, 'l');
	do {
		unsigned want[CMABUF_LIST_MAX_CLIENTS], nw = 0;

		assert_int_equal(read_all(f->from_child, &h, sizeof(h)), 0);
		assert_true(h.count <= CMABUF_LIST_MAX_CLIENTS);
		assert_int_equal(read_all(f->from_child, got, h.count * sizeof(got[0])), 0);
		for (k = 0; k < n && all[k].conn < start; k++)
			;
		for (; k < n && nw < CMABUF_LIST_MAX_CLIENTS; k++)
			if (all[k].uid == NOBODY)
				want[nw++] = k;
		assert_int_equal(h.count, nw);
		assert_int_equal(h.more, k < n);
		for (i = 0; i < nw; i++) {
			assert_int_equal(got[i].conn, all[want[i]].conn);
			assert_int_equal(got[i].uid, NOBODY);
			assert_int_equal(got[i].pid, all[want[i]].pid);
			assert_int_equal(got[i].buffers, all[want[i]].buffers);
			assert_int_equal(got[i].bytes, all[want[i]].bytes);
			assert_int_equal(got[i].flags & ~CMABUF_CLIENT_SELF,
					 all[want[i]].flags & ~CMABUF_CLIENT_SELF);
			self += !!(got[i].flags & CMABUF_CLIENT_SELF);
		}
		pages++;
		seen += nw;
		if (nw)
			start = got[nw - 1].conn + 1;
	} while (h.more && h.count);
	assert_int_equal(read_all(f->from_child, &ack, 1), 0);
	assert_int_equal(ack, 'k');
	/* The privileged view had them all: test_daemon_status() connects once more. */
	assert_int_equal(test_daemon_status(&f->td, &st), 0);
	assert_int_equal(st.clients, n + 1);
	assert_int_equal(seen, CONNS + 1);
	assert_int_equal(self, 1);
	assert_true(pages >= 2); /* 111 of theirs: two pages at least */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(list_buffers_pages_only_the_askers_uid, setup,
						teardown),
		cmocka_unit_test_setup_teardown(list_clients_pages_only_the_askers_uid, setup,
						teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
