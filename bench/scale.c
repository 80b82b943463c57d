/* SPDX-License-Identifier: MIT */
/*
 * Scale: does a daemon holding many buffers for many clients stay as fast,
 * and how much memory does each live buffer cost it? Three private daemons
 * run at once — 10 live buffers, 10,000 on one connection, 10,000 over 256
 * connections — each populated by a child process that holds its buffers,
 * and one measuring client alternates alloc+free between them.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "args.h"
#include "clock.h"
#include "cmabuf.h"
#include "daemon_child.h"
#include "sizes.h"
#include "stats.h"

#define REGION	  (256ull << 20)
#define LIVE_SIZE 4096
#define OP_SIZE	  NV12_1080P
#define NCONF	  3

struct config {
	const char *label;
	unsigned live, conns;
	struct daemon_child dc;
	struct cmabuf *cb; /* the measuring connection */
	pid_t holder;
	int hold_fd; /* a byte written here lets the holder exit (later holders share the pipe) */
	uint64_t rss_base, rss_live;
	struct samples total, alloc;
};

/* The holder: connects conns times, allocates live buffers round robin, then waits. */
static void __attribute__((noreturn))
hold(const char *sock, unsigned live, unsigned conns, int ready, int wait_fd)
{
	struct cmabuf_alloc_desc d = {.size = LIVE_SIZE, .name = "live"};
	struct cmabuf **cbs = calloc(conns, sizeof(*cbs));
	struct cmabuf_buffer *b;
	unsigned i;
	char c = 0;

	for (i = 0; i < conns; i++)
		if (!cbs || cmabuf_connect(sock, &cbs[i]) < 0) {
			fprintf(stderr, "holder: connect failed\n");
			_exit(1);
		}
	for (i = 0; i < live; i++)
		if (cmabuf_alloc(cbs[i % conns], &d, &b) < 0) {
			fprintf(stderr, "holder: %s\n", cmabuf_last_error(cbs[i % conns]));
			_exit(1);
		}
	if (write(ready, &c, 1) != 1 || read(wait_fd, &c, 1) < 0)
		_exit(1);
	_exit(0); /* the daemon sees every connection close */
}

static void populate(struct config *c)
{
	int ready[2], wait[2];
	pid_t parent;
	char ch;

	if (pipe(ready) < 0 || pipe(wait) < 0) {
		perror("pipe");
		exit(1);
	}
	fflush(NULL);
	parent = getpid();
	c->holder = fork();
	if (c->holder == 0) {
		die_with_parent(parent);
		close(ready[0]);
		close(wait[1]);
		hold(c->dc.socket, c->live, c->conns, ready[1], wait[0]);
	}
	close(ready[1]);
	close(wait[0]);
	if (c->holder < 0 || read(ready[0], &ch, 1) != 1) {
		fprintf(stderr, "could not populate '%s'\n", c->label);
		exit(1);
	}
	close(ready[0]);
	c->hold_fd = wait[1];
}

static void op(struct config *c, int record)
{
	struct cmabuf_alloc_desc d = {.size = OP_SIZE, .name = "op"};
	struct cmabuf_buffer *b;
	uint64_t t0 = now_ns(), t1;

	if (cmabuf_alloc(c->cb, &d, &b) < 0) {
		fprintf(stderr, "%s: %s\n", c->label, cmabuf_last_error(c->cb));
		exit(1);
	}
	t1 = now_ns();
	cmabuf_free(b);
	if (record) {
		samples_add(&c->alloc, t1 - t0);
		samples_add(&c->total, now_ns() - t0);
	}
}

static void print_table(struct config *cf, unsigned iters)
{
	double base50 = (double)samples_pct(&cf[0].total, 50);
	int i;

	printf("\nScale: alloc+free of a 1080p NV12 buffer next to N live 4 KiB buffers, "
	       "%u interleaved samples (µs); daemon VmRSS\n",
	       iters);
	printf("%-22s | %7s %7s %7s %9s | %6s | %8s %8s %9s\n", "live buffers / clients", "p50",
	       "p99", "p99.9", "alloc p50", "p50 ×", "RSS base", "RSS live", "B/buffer");
	for (i = 0; i < NCONF; i++) {
		struct config *c = &cf[i];
		double per = c->live ? (double)(c->rss_live - c->rss_base) * 1024.0 / c->live : 0;

		printf("%-22s | %7.1f %7.1f %7.1f %9.1f | %6.2f | %6lluKi %6lluKi %9.0f\n",
		       c->label, samples_pct(&c->total, 50) / 1e3, samples_pct(&c->total, 99) / 1e3,
		       samples_pct(&c->total, 99.9) / 1e3, samples_pct(&c->alloc, 50) / 1e3,
		       (double)samples_pct(&c->total, 50) / base50, (unsigned long long)c->rss_base,
		       (unsigned long long)c->rss_live, per);
	}
	printf("(goals: p50 × ≤ 1.2 at 10,000 buffers; ≤ 512 B/buffer beyond the base; "
	       "B/buffer = (RSS live − RSS base) / live buffers, clients' cost included)\n");
}

int main(int argc, char **argv)
{
	struct config cf[NCONF] = {
		{.label = "10 / 1", .live = 10, .conns = 1},
		{.label = "10,000 / 1", .live = 10000, .conns = 1},
		{.label = "10,000 / 256", .live = 10000, .conns = 256},
	};
	struct bench_args args;
	unsigned i, iters, warm;
	int k, ret;

	bench_args_parse(argc, argv,
			 "Scale: latency and daemon RSS with 10 vs 10,000 live buffers.", &args);
	iters = args.quick ? 200 : 20000;
	warm = args.quick ? 20 : 500;
	if (raise_fd_limit() < 10000 + 300) {
		/* The holder keeps a descriptor per buffer, and so does the daemon. */
		if (!args.quick) {
			fprintf(stderr, "scale: needs RLIMIT_NOFILE above 10,300\n");
			return 1;
		}
		cf[1].live = cf[2].live = 1000; /* a smoke run need not fail on a low limit */
		cf[1].label = "1,000 / 1";
		cf[2].label = "1,000 / 256";
	}
	for (k = 0; k < NCONF; k++) {
		daemon_child_start(&cf[k].dc, args.daemon, REGION, 16384);
		ret = cmabuf_connect(cf[k].dc.socket, &cf[k].cb);
		if (ret < 0) {
			fprintf(stderr, "cmabuf_connect: %s\n", strerror(-ret));
			return 1;
		}
		for (i = 0; i < warm; i++)
			op(&cf[k], 0);
		cf[k].rss_base = proc_rss_kib(cf[k].dc.pid);
		populate(&cf[k]);
		cf[k].rss_live = proc_rss_kib(cf[k].dc.pid);
	}
	for (i = 0; i < iters; i++)
		for (k = 0; k < NCONF; k++)
			op(&cf[(k + (int)i) % NCONF], 1); /* rotate who goes first */
	print_table(cf, iters);
	for (k = 0; k < NCONF; k++) {
		if (write(cf[k].hold_fd, "", 1) != 1)
			kill(cf[k].holder, SIGTERM);
		close(cf[k].hold_fd);
		waitpid(cf[k].holder, NULL, 0);
		cmabuf_disconnect(cf[k].cb);
		daemon_child_stop(&cf[k].dc);
		samples_free(&cf[k].total);
		samples_free(&cf[k].alloc);
	}
	return 0;
}
