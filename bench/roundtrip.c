/* SPDX-License-Identifier: MIT */
/*
 * Round trip: alloc + free through a private cmabufd (memfd backend) against
 * the floor server, measured as DESIGN.md "Benchmarks" says: in one run, in
 * each of three placements (all on one CPU; cmabufd and the floor both on
 * another CPU than the client; left to the scheduler), the floor always placed
 * exactly like the daemon, the two taking turns so that both are equally warm.
 *
 * Two loads per size: sustained (10,000 back-to-back pairs of one size per
 * server, one server after the other, which goes first alternating with the
 * size: work made ahead while idle cannot help there; --quick takes turns in
 * chunks of 100) and
 * bursts (a stream start: after an idle pause, several allocations back to
 * back, then every buffer freed). Beside each sustained row, the CPU time per
 * pair of client and server together (kernel included, every thread, from
 * /proc/PID/task/TID/schedstat) and their CPU migrations per pair.
 *
 * --only=cmabufd|floor|tracking --size=BYTES[,BYTES...] --pairs=N runs N sustained
 * pairs of each size in turn against one server and prints nothing else: what
 * bench/cost counts under perf and valgrind.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "clock.h"
#include "cmabuf.h"
#include "daemon_child.h"
#include "floor.h"
#include "placement.h"
#include "sizes.h"
#include "stats.h"

#define REGION	(256ull << 20)
#define BURST	8 /* a V4L2 queue's worth of frames */
#define IDLE_US 2000

/* The two the tables compare; S_TRACKED (the tracking floor, floor.h) only with --only. */
enum server { S_FLOOR, S_CMABUF, S_COUNT, S_TRACKED = S_COUNT };

struct load {
	unsigned pairs, chunk, bursts;
};

struct servers {
	struct daemon_child dc;
	struct floor_server fs;
	struct cmabuf *cb;
	int fsock;
};

struct cost {
	uint64_t cpu_ns, migrations, pairs;
};

struct cell {
	struct samples sus[S_COUNT], burst[S_COUNT];
	struct cost cost[S_COUNT];
};

static void die_alloc(struct cmabuf *cb, uint64_t size)
{
	fprintf(stderr, "cmabuf_alloc(%" PRIu64 "): %s\n", size, cmabuf_last_error(cb));
	exit(1);
}

static int floor_or_die(int sock, uint64_t size)
{
	int fd = floor_alloc(sock, size);

	if (fd < 0) {
		fprintf(stderr, "floor server (%" PRIu64 " bytes): %s\n", size, strerror(-fd));
		exit(1);
	}
	return fd;
}

/* One pair, timed: the floor's is a request and the close of what came back. */
static uint64_t pair(struct servers *sv, enum server s, uint64_t size)
{
	struct cmabuf_alloc_desc d = {.size = size, .name = "bench"};
	struct cmabuf_buffer *buf;
	uint64_t t0 = now_ns(), id;
	int fd;

	if (s == S_FLOOR) {
		close(floor_or_die(sv->fsock, size));
	} else if (s == S_TRACKED) {
		fd = floor_tracked_alloc(sv->fsock, size, &id);
		if (fd < 0 || close(fd) < 0 || floor_tracked_free(sv->fsock, id) < 0) {
			fprintf(stderr, "tracking floor (%" PRIu64 " bytes) failed\n", size);
			exit(1);
		}
	} else {
		if (cmabuf_alloc(sv->cb, &d, &buf) < 0)
			die_alloc(sv->cb, size);
		cmabuf_free(buf);
	}
	return now_ns() - t0;
}

static pid_t server_pid(const struct servers *sv, enum server s)
{
	return s == S_CMABUF ? sv->dc.pid : sv->fs.pid;
}

/* n back-to-back pairs; their CPU cost (client + server) added to c. */
static void chunk(struct servers *sv, enum server s, uint64_t size, unsigned n, struct samples *out,
		  struct cost *c)
{
	struct proc_cost c0 = proc_cost_read(0), s0 = proc_cost_read(server_pid(sv, s)), c1, s1;
	unsigned i;

	for (i = 0; i < n; i++) {
		uint64_t t = pair(sv, s, size);

		if (out)
			samples_add(out, t);
	}
	c1 = proc_cost_read(0);
	s1 = proc_cost_read(server_pid(sv, s));
	if (!c)
		return;
	c->cpu_ns += (c1.cpu_ns - c0.cpu_ns) + (s1.cpu_ns - s0.cpu_ns);
	c->migrations += (c1.migrations - c0.migrations) + (s1.migrations - s0.migrations);
	c->pairs += n;
}

static void idle_pause(void)
{
	struct timespec ts = {0, IDLE_US * 1000L};

	nanosleep(&ts, NULL);
}

/* A stream start: BURST allocations back to back (each timed), then all freed. */
static void burst(struct servers *sv, enum server s, uint64_t size, struct samples *out)
{
	struct cmabuf_alloc_desc d = {.size = size, .name = "bench"};
	struct cmabuf_buffer *buf[BURST];
	int fd[BURST], i;

	idle_pause();
	for (i = 0; i < BURST; i++) {
		uint64_t t0 = now_ns();

		if (s == S_FLOOR)
			fd[i] = floor_or_die(sv->fsock, size);
		else if (cmabuf_alloc(sv->cb, &d, &buf[i]) < 0)
			die_alloc(sv->cb, size);
		samples_add(out, now_ns() - t0);
	}
	for (i = 0; i < BURST; i++)
		if (s == S_FLOOR)
			close(fd[i]);
		else
			cmabuf_free(buf[i]);
}

/* turn: which server goes first this time (the sizes alternate it). */
static void measure(struct servers *sv, const struct load *ld, uint64_t size, unsigned turn,
		    struct cell *c)
{
	unsigned k, done, warm = ld->chunk / 4 + 1 < 500 ? ld->chunk / 4 + 1 : 500;
	int first;

	/* Warm: the daemon has seen this kind and the caches have seen both servers. */
	for (k = 0; k < S_COUNT; k++)
		chunk(sv, (enum server)k, size, warm, NULL, NULL);
	for (done = 0, k = turn; done < ld->pairs; done += ld->chunk, k++) {
		first = k % 2; /* neither always runs right after the other */
		chunk(sv, (enum server)first, size, ld->chunk, &c->sus[first], &c->cost[first]);
		chunk(sv, (enum server) !first, size, ld->chunk, &c->sus[!first], &c->cost[!first]);
	}
	for (k = 0; k < ld->bursts; k++) {
		first = k % 2;
		burst(sv, (enum server)first, size, &c->burst[first]);
		burst(sv, (enum server) !first, size, &c->burst[!first]);
	}
}

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

static double per_pair_us(const struct cost *c)
{
	return c->pairs ? (double)c->cpu_ns / 1000.0 / (double)c->pairs : 0;
}

static double mig_per_pair(const struct cost *c)
{
	return c->pairs ? (double)c->migrations / (double)c->pairs : 0;
}

static const char *goal(double f50, double f99, double c50, double c99)
{
	return c50 <= 1.25 * f50 && c99 <= 1.5 * f99 ? "met" : "MISSED";
}

static void print_sustained(struct cell *cells, const struct load *ld)
{
	size_t s;

	printf("Sustained: %u alloc+free pairs per size and server, back to back in chunks of %u, "
	       "the servers taking turns (µs)\n",
	       ld->pairs, ld->chunk);
	printf("%-11s | %-15s | %-15s | %-11s | %-21s | %-13s | %s\n", "", "floor", "cmabufd",
	       "cmabufd/floor", "CPU µs/pair, both", "migr./pair", "goal");
	printf("%-11s | %7s %7s | %7s %7s | %5s %5s | %6s %6s %6s | %6s %6s | %s\n", "size", "p50",
	       "p99", "p50", "p99", "p50", "p99", "floor", "cmabuf", "ratio", "floor", "cmabuf",
	       "p50≤1.25 p99≤1.5");
	for (s = 0; s < BENCH_NSIZES; s++) {
		struct cell *c = &cells[s];
		double f50 = us(samples_pct(&c->sus[S_FLOOR], 50)),
		       f99 = us(samples_pct(&c->sus[S_FLOOR], 99));
		double c50 = us(samples_pct(&c->sus[S_CMABUF], 50)),
		       c99 = us(samples_pct(&c->sus[S_CMABUF], 99));
		double fc = per_pair_us(&c->cost[S_FLOOR]), cc = per_pair_us(&c->cost[S_CMABUF]);

		printf("%-11s | %7.1f %7.1f | %7.1f %7.1f | %5.2f %5.2f | %6.1f %6.1f %6.2f | "
		       "%6.3f "
		       "%6.3f | %s\n",
		       bench_sizes[s].label, f50, f99, c50, c99, c50 / f50, c99 / f99, fc, cc,
		       cc / fc, mig_per_pair(&c->cost[S_FLOOR]), mig_per_pair(&c->cost[S_CMABUF]),
		       goal(f50, f99, c50, c99));
	}
}

static void print_bursts(struct cell *cells, const struct load *ld)
{
	size_t s;

	printf("Bursts: %d allocations back to back after %d ms idle, then all freed; %u bursts "
	       "per "
	       "size and server (µs per allocation)\n",
	       BURST, IDLE_US / 1000, ld->bursts);
	printf("%-11s | %7s %7s | %7s %7s | %5s %5s | %s\n", "size", "p50", "p99", "p50", "p99",
	       "p50", "p99", "goal");
	for (s = 0; s < BENCH_NSIZES; s++) {
		struct cell *c = &cells[s];
		double f50 = us(samples_pct(&c->burst[S_FLOOR], 50)),
		       f99 = us(samples_pct(&c->burst[S_FLOOR], 99));
		double c50 = us(samples_pct(&c->burst[S_CMABUF], 50)),
		       c99 = us(samples_pct(&c->burst[S_CMABUF], 99));

		printf("%-11s | %7.1f %7.1f | %7.1f %7.1f | %5.2f %5.2f | %s\n",
		       bench_sizes[s].label, f50, f99, c50, c99, c50 / f50, c99 / f99,
		       goal(f50, f99, c50, c99));
	}
}

static double load1(void)
{
	double l = -1;
	FILE *f = fopen("/proc/loadavg", "r");

	if (f && fscanf(f, "%lf", &l) != 1)
		l = -1;
	if (f)
		fclose(f);
	return l;
}

static void free_cells(struct cell *cells)
{
	size_t s;
	int k;

	for (s = 0; s < BENCH_NSIZES; s++)
		for (k = 0; k < S_COUNT; k++) {
			samples_free(&cells[s].sus[k]);
			samples_free(&cells[s].burst[k]);
		}
}

static void run_placement(struct servers *sv, const struct load *ld, enum placement p)
{
	pid_t pids[2] = {sv->dc.pid, sv->fs.pid};
	struct cell cells[BENCH_NSIZES];
	size_t s;

	memset(cells, 0, sizeof(cells));
	placement_apply(p, pids, 2);
	printf("\n== %s: %s (1-minute load %.2f at the start)\n", placement_name(p),
	       placement_describe(p), load1());
	fflush(stdout);
	for (s = 0; s < BENCH_NSIZES; s++)
		measure(sv, ld, bench_sizes[s].bytes, (unsigned)s, &cells[s]);
	print_sustained(cells, ld);
	print_bursts(cells, ld);
	free_cells(cells);
}

static void connect_all(struct servers *sv, bool cma, bool floor)
{
	int ret;

	if (cma) {
		ret = cmabuf_connect(sv->dc.socket, &sv->cb);
		if (ret < 0) {
			fprintf(stderr, "cmabuf_connect: %s\n", strerror(-ret));
			exit(1);
		}
	}
	if (floor)
		sv->fsock = floor_connect(sv->fs.socket);
}

/* --only: N sustained pairs of each size against one server, nothing printed (bench/cost). */
static int run_only(const char *daemon, const char *which, const char *sizes, unsigned pairs)
{
	const char *p = sizes;
	char *end;
	enum server s = !strcmp(which, "floor")	     ? S_FLOOR
			: !strcmp(which, "tracking") ? S_TRACKED
						     : S_CMABUF;
	struct servers sv;

	if (s == S_CMABUF && strcmp(which, "cmabufd")) {
		fprintf(stderr, "bench-roundtrip: --only=cmabufd, floor or tracking\n");
		return 2;
	}
	memset(&sv, 0, sizeof(sv));
	if (s == S_CMABUF)
		daemon_child_start(&sv.dc, daemon, REGION, 0);
	else
		floor_server_start(&sv.fs);
	connect_all(&sv, s == S_CMABUF, s != S_CMABUF);
	do {
		uint64_t size = strtoull(p, &end, 0);

		if (end == p || !size || (*end && *end != ',')) {
			fprintf(stderr,
				"bench-roundtrip: --size=%s: sizes in bytes, comma-separated\n",
				sizes);
			return 2;
		}
		chunk(&sv, s, size, pairs, NULL, NULL);
		p = end + 1;
	} while (*end);
	if (s == S_CMABUF) {
		cmabuf_disconnect(sv.cb);
		daemon_child_stop(&sv.dc);
	} else {
		close(sv.fsock);
		floor_server_stop(&sv.fs);
	}
	return 0;
}

int main(int argc, char **argv)
{
	/* 10,000 back to back per server and size (issue 20): no idle time between them. */
	struct load ld = {10000, 10000, 200};
	const char *only = NULL;
	const char *only_size = "4096";
	struct bench_args args;
	struct servers sv;
	int i, n = 1, p;
	bool two_cpus;

	/* This program's own options; the common ones go to bench_args_parse. */
	for (i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "--only=", 7))
			only = argv[i] + 7;
		else if (!strncmp(argv[i], "--size=", 7))
			only_size = argv[i] + 7;
		else if (!strncmp(argv[i], "--pairs=", 8))
			ld.pairs = (unsigned)strtoul(argv[i] + 8, NULL, 0);
		else
			argv[n++] = argv[i];
	}
	argc = n;
	bench_args_parse(
		argc, argv,
		"Alloc+free round trip: cmabufd vs the floor server, in three placements.\n"
		"  --only=cmabufd|floor|tracking --size=BYTES[,BYTES...] --pairs=N: N pairs of "
		"each size,\n"
		"  no table (bench/cost)",
		&args);
	if (only)
		return run_only(args.daemon, only, only_size, ld.pairs);
	if (args.quick)
		ld = (struct load){200, 100, 5};
	memset(&sv, 0, sizeof(sv));
	daemon_child_start(&sv.dc, args.daemon, REGION, 0);
	floor_server_start(&sv.fs);
	connect_all(&sv, true, true);
	two_cpus = placement_init();
	if (!two_cpus)
		printf("(one CPU only: the 'apart' placement is left out)\n");
	for (p = 0; p < PLACE_COUNT; p++)
		if (p != PLACE_APART || two_cpus)
			run_placement(&sv, &ld, (enum placement)p);
	printf("\n(floor: one request, a sealed memfd made for it sent back over SCM_RIGHTS, the "
	       "client closes it;\n cmabufd: cmabuf_alloc + cmabuf_free through libcmabuf; CPU: "
	       "client + server, every thread,\n kernel included, /proc/PID/task/*/schedstat)\n");
	close(sv.fsock);
	cmabuf_disconnect(sv.cb);
	floor_server_stop(&sv.fs);
	daemon_child_stop(&sv.dc);
	return 0;
}
