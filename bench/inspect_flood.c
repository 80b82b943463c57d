/* SPDX-License-Identifier: MIT */
/*
 * Inspection flood: does one client's ALLOC stay as fast while another uid
 * floods the daemon with requests whose cost grew with what everyone else
 * holds (issue 14, item 13)? The daemon holds what a busy machine might:
 * ~1,000 connections and 9,000 live buffers of one uid (root, unprivileged
 * under the empty policy every benchmark daemon gets), and 8,000 buffers of
 * that uid freed but still held by a helper (pending release). Then 16
 * connections of another uid (nobody) send, back to back, one kind of
 * request at a time: LIST_CLIENTS, LIST_BUFFERS, METRICS, or an ALLOC that
 * cannot fit. Meanwhile the measuring client (root) times alloc+free of a
 * 1080p NV12 frame.
 *
 * Placement: the daemon on CPU 1, the measuring client on CPU 0, the
 * flooders on CPU 0 under SCHED_IDLE, so that they run only while the
 * measuring client waits for its reply: they keep the daemon's queue full
 * without taking CPU from the client, and what the table shows is the time
 * the client's request waits in the daemon's loop. (On a machine with one CPU
 * the pinning is skipped and the figures say less.)
 */
#include <errno.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "args.h"
#include "clock.h"
#include "cmabuf.h"
#include "connection.h"
#include "daemon_child.h"
#include "sizes.h"
#include "stats.h"

#define REGION	   (512ull << 20)
#define SMALL	   4096
#define FLOODERS   16
#define NOBODY	   65534
#define FAIL_SIZE  REGION /* never fits beside the holders' buffers */
#define MAX_PHASES 5

enum flood { FLOOD_NONE, FLOOD_CLIENTS, FLOOD_BUFFERS, FLOOD_METRICS, FLOOD_ALLOC };

static const char *const flood_name[] = {"none (quiet)", "LIST_CLIENTS", "LIST_BUFFERS", "METRICS",
					 "failing ALLOC"};

struct scale {
	unsigned conns, live, pending, samples;
};

static void pin(int cpu)
{
	cpu_set_t set;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/* ---- the population: connections, live buffers, let-go-but-held buffers ---- */

static void __attribute__((noreturn)) die(const char *what, const char *why)
{
	fprintf(stderr, "inspect-flood: %s: %s\n", what, why);
	_exit(1);
}

/*
 * Holds conns connections, live buffers on the first, and pending buffers
 * that it allocates, keeps a duplicate of, and frees: the daemon sees their
 * owner let go while someone still holds them. Writes a byte when done,
 * then waits for the pipe to close.
 */
static void __attribute__((noreturn))
populate(const char *sock, const struct scale *s, int ready, int wait_fd)
{
	struct cmabuf_alloc_desc d = {.size = SMALL, .name = "live"};
	struct cmabuf **cbs = calloc(s->conns, sizeof(*cbs));
	struct cmabuf_buffer *b;
	unsigned i;
	char c = 0;

	for (i = 0; i < s->conns; i++)
		if (!cbs || cmabuf_connect(sock, &cbs[i]) < 0)
			die("holder", "connect failed");
	for (i = 0; i < s->live; i++)
		if (cmabuf_alloc(cbs[0], &d, &b) < 0)
			die("holder", cmabuf_last_error(cbs[0]));
	d.name = "let-go";
	for (i = 0; i < s->pending; i++) {
		int keep;

		if (cmabuf_alloc(cbs[1 % s->conns], &d, &b) < 0)
			die("holder", cmabuf_last_error(cbs[1 % s->conns]));
		keep = dup(cmabuf_buffer_fd(b));
		if (keep < 0)
			die("holder", strerror(errno));
		cmabuf_free(b); /* released only when this process exits */
	}
	if (write(ready, &c, 1) != 1 || read(wait_fd, &c, 1) < 0)
		_exit(1);
	_exit(0);
}

/* ---- the flood: one connection of uid nobody, the same request back to back ---- */

static void __attribute__((noreturn)) flood(const char *sock, enum flood kind, int ready)
{
	struct cmabuf_msg_list_clients lc = {0};
	struct cmabuf_msg_list_buffers lb = {0};
	struct cmabuf_msg_alloc al = {.size = FAIL_SIZE};
	struct sched_param sp = {0};
	struct cmabuf_conn c;
	struct cmabuf_msg r;
	int fd = -1;
	char ch = 0;

	pin(0);
	sched_setscheduler(0, SCHED_IDLE, &sp);
	if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
		die("flooder", "cannot become nobody (run as root)");
	if (cmabuf_conn_open(&c, sock) < 0)
		die("flooder", c.last_error);
	strcpy(al.name, "flood");
	if (write(ready, &ch, 1) != 1)
		_exit(1);
	for (;;) {
		int ret;

		switch (kind) {
		case FLOOD_CLIENTS:
			ret = cmabuf_conn_request(&c, CMABUF_MSG_LIST_CLIENTS, &lc, sizeof(lc), &r,
						  NULL);
			break;
		case FLOOD_BUFFERS:
			ret = cmabuf_conn_request(&c, CMABUF_MSG_LIST_BUFFERS, &lb, sizeof(lb), &r,
						  NULL);
			break;
		case FLOOD_METRICS:
			ret = cmabuf_conn_request(&c, CMABUF_MSG_METRICS, NULL, 0, &r, NULL);
			break;
		default:
			ret = cmabuf_conn_request(&c, CMABUF_MSG_ALLOC, &al, sizeof(al), &r, &fd);
			if (ret == 0)
				die("flooder", "the ALLOC meant to fail was placed");
			ret = ret == -ENOMEM ? 0 : ret;
			break;
		}
		if (ret < 0)
			die("flooder", c.last_error);
	}
}

struct phase {
	enum flood kind;
	struct samples total;
	pid_t flooders[FLOODERS];
};

static void start_flood(struct phase *p, const char *sock)
{
	int ready[2], i;
	pid_t parent = getpid();
	char ch;

	if (p->kind == FLOOD_NONE)
		return;
	if (pipe(ready) < 0) {
		perror("pipe");
		exit(1);
	}
	for (i = 0; i < FLOODERS; i++) {
		fflush(NULL);
		p->flooders[i] = fork();
		if (p->flooders[i] == 0) {
			die_with_parent(parent);
			close(ready[0]);
			flood(sock, p->kind, ready[1]);
		}
	}
	close(ready[1]);
	for (i = 0; i < FLOODERS; i++)
		if (read(ready[0], &ch, 1) != 1) {
			fprintf(stderr, "inspect-flood: a flooder did not start\n");
			exit(1);
		}
	close(ready[0]);
}

static void stop_flood(struct phase *p)
{
	int i;

	if (p->kind == FLOOD_NONE)
		return;
	for (i = 0; i < FLOODERS; i++)
		kill(p->flooders[i], SIGKILL);
	for (i = 0; i < FLOODERS; i++)
		waitpid(p->flooders[i], NULL, 0);
}

static void op(struct cmabuf *cb, struct samples *s)
{
	struct cmabuf_alloc_desc d = {.size = NV12_1080P, .name = "op"};
	struct cmabuf_buffer *b;
	uint64_t t0 = now_ns();

	if (cmabuf_alloc(cb, &d, &b) < 0) {
		fprintf(stderr, "inspect-flood: %s\n", cmabuf_last_error(cb));
		exit(1);
	}
	cmabuf_free(b);
	if (s)
		samples_add(s, now_ns() - t0);
}

int main(int argc, char **argv)
{
	struct scale s = {.conns = 990, .live = 9000, .pending = 8000, .samples = 400};
	struct phase ph[MAX_PHASES];
	struct daemon_child dc;
	struct bench_args args;
	int ready[2], hold[2], i, k;
	struct cmabuf *cb;
	pid_t holder;
	char ch;

	bench_args_parse(
		argc, argv,
		"Inspection flood: ALLOC latency while another uid floods costly requests.", &args);
	if (geteuid() != 0) {
		fprintf(stderr, "inspect-flood: run as root (the flooders become uid %d)\n",
			NOBODY);
		return 77;
	}
	if (args.quick)
		s = (struct scale){.conns = 100, .live = 1000, .pending = 1000, .samples = 100};
	if (raise_fd_limit() < s.live + s.pending + s.conns + 200) {
		fprintf(stderr, "inspect-flood: needs RLIMIT_NOFILE above %u\n",
			s.live + s.pending + s.conns + 200);
		return 1;
	}
	if (!getenv("BENCH_SERVER_CPU") && sysconf(_SC_NPROCESSORS_ONLN) >= 2)
		setenv("BENCH_SERVER_CPU", "1", 1);
	daemon_child_start(&dc, args.daemon, REGION, s.live + s.pending + 64);
	/* The flooders are another uid: let them reach the socket. */
	if (chmod(dc.dir, 0755) < 0 || chmod(dc.socket, 0666) < 0) {
		perror("chmod");
		return 1;
	}
	pin(0);
	if (cmabuf_connect(dc.socket, &cb) < 0) {
		fprintf(stderr, "inspect-flood: cannot connect\n");
		return 1;
	}
	if (pipe(ready) < 0 || pipe(hold) < 0) {
		perror("pipe");
		return 1;
	}
	fflush(NULL);
	holder = fork();
	if (holder == 0) {
		die_with_parent(getppid());
		close(ready[0]);
		close(hold[1]);
		populate(dc.socket, &s, ready[1], hold[0]);
	}
	close(ready[1]);
	close(hold[0]);
	if (read(ready[0], &ch, 1) != 1) {
		fprintf(stderr, "inspect-flood: could not populate the daemon\n");
		return 1;
	}
	for (i = 0; i < 200; i++) /* warm: made-ahead buffers of the measured kind */
		op(cb, NULL);
	for (k = 0; k < MAX_PHASES; k++) {
		memset(&ph[k], 0, sizeof(ph[k]));
		ph[k].kind = (enum flood)k;
	}
	/* Two rounds over the phases, so that a slow moment of the machine hits more than one. */
	for (i = 0; i < 2; i++)
		for (k = 0; k < MAX_PHASES; k++) {
			unsigned n;

			start_flood(&ph[k], dc.socket);
			for (n = 0; n < s.samples / 2; n++)
				op(cb, &ph[k].total);
			stop_flood(&ph[k]);
		}

	printf("\nInspection flood: alloc+free of a 1080p NV12 frame by one client (root) while %d "
	       "connections of uid %d send one kind of request back to back;\nthe daemon holds %u "
	       "connections, %u live buffers and %u let-go-but-held buffers of root. %u samples "
	       "per "
	       "row (µs)\n",
	       FLOODERS, NOBODY, s.conns + 2, s.live, s.pending, s.samples);
	printf("%-16s | %9s %9s %9s %9s | %7s\n", "flood", "p50", "p90", "p99", "max", "p50 ×");
	for (k = 0; k < MAX_PHASES; k++) {
		struct samples *t = &ph[k].total;

		printf("%-16s | %9.1f %9.1f %9.1f %9.1f | %7.2f\n", flood_name[k],
		       samples_pct(t, 50) / 1e3, samples_pct(t, 90) / 1e3, samples_pct(t, 99) / 1e3,
		       samples_pct(t, 100) / 1e3,
		       (double)samples_pct(t, 50) / (double)samples_pct(&ph[0].total, 50));
	}
	printf("(goal: flat, i.e. no request of one uid costs the loop what others hold: a flood "
	       "of any kind queues %d requests ahead of the client, so the cheapest kinds show the "
	       "floor)\n",
	       FLOODERS);
	if (write(hold[1], "", 1) != 1)
		kill(holder, SIGTERM);
	close(hold[1]);
	waitpid(holder, NULL, 0);
	cmabuf_disconnect(cb);
	daemon_child_stop(&dc);
	for (k = 0; k < MAX_PHASES; k++)
		samples_free(&ph[k].total);
	return 0;
}
