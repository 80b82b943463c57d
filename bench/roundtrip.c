/* SPDX-License-Identifier: MIT */
/*
 * Round trip: one alloc + free through a private cmabufd (memfd backend)
 * against the floor server, interleaved sample by sample so that both see the
 * same machine noise. Prints p50/p99/p99.9 per size and the ratios to the floor.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "free_awaited.h"
#include "clock.h"
#include "cmabuf.h"
#include "daemon_child.h"
#include "floor.h"
#include "sizes.h"
#include "stats.h"

#define REGION (256ull << 20)

struct result {
	struct samples floor, cma, cma_alloc, awaited, sock;
};

static uint64_t time_cmabuf(struct cmabuf *cb, uint64_t size, uint64_t *alloc_ns)
{
	struct cmabuf_alloc_desc d = {.size = size, .name = "bench"};
	struct cmabuf_buffer *buf;
	uint64_t t0 = now_ns(), t1;
	int ret = cmabuf_alloc(cb, &d, &buf);

	t1 = now_ns();
	if (ret < 0) {
		fprintf(stderr, "cmabuf_alloc(%llu): %s\n", (unsigned long long)size,
			cmabuf_last_error(cb));
		exit(1);
	}
	cmabuf_free(buf);
	*alloc_ns = t1 - t0;
	return now_ns() - t0;
}

/* One request to the floor server (floor_alloc or floor_socket_only), and the close. */
static uint64_t time_floor(int (*request)(int, uint64_t), int sock, uint64_t size)
{
	uint64_t t0 = now_ns();
	int fd = request(sock, size);

	if (fd < 0) {
		fprintf(stderr, "floor server (%llu bytes): %s\n", (unsigned long long)size,
			strerror(-fd));
		exit(1);
	}
	close(fd);
	return now_ns() - t0;
}

static uint64_t time_awaited(struct cmabuf_conn *c, uint64_t size)
{
	uint64_t t0 = now_ns(), id;
	int fd = proto_alloc(c, size, &id);

	if (fd < 0 || proto_free_awaited(c, id, fd) < 0) {
		fprintf(stderr, "awaited alloc/free(%llu): %s\n", (unsigned long long)size,
			c->last_error);
		exit(1);
	}
	return now_ns() - t0;
}

static void sample(struct cmabuf *cb, struct cmabuf_conn *pc, int fsock, struct result *r,
		   unsigned i, int record)
{
	size_t s;
	uint64_t a, t;

	for (s = 0; s < BENCH_NSIZES; s++) {
		uint64_t size = bench_sizes[s].bytes;

		/* Alternate who goes first: neither always runs on a cache the other warmed. */
		if (i % 2) {
			t = time_floor(floor_alloc, fsock, size);
			if (record)
				samples_add(&r[s].floor, t);
		}
		t = time_cmabuf(cb, size, &a);
		if (record) {
			samples_add(&r[s].cma, t);
			samples_add(&r[s].cma_alloc, a);
		}
		if (!(i % 2)) {
			t = time_floor(floor_alloc, fsock, size);
			if (record)
				samples_add(&r[s].floor, t);
		}
		t = time_awaited(pc, size);
		if (record)
			samples_add(&r[s].awaited, t);
		t = time_floor(floor_socket_only, fsock, size);
		if (record)
			samples_add(&r[s].sock, t);
	}
}

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

static void print_table(struct result *r, unsigned iters)
{
	size_t s;

	printf("\nRound trip, alloc + free, %u samples per size and server, interleaved (µs)\n",
	       iters);
	printf("%-11s | %-23s | %-23s | %-17s | %-9s | %s\n", "", "floor", "cmabufd",
	       "ratio cmabufd/floor", "cmabufd", "goal");
	printf("%-11s | %7s %7s %7s | %7s %7s %7s | %5s %5s %5s | %9s | %s\n", "size", "p50", "p99",
	       "p99.9", "p50", "p99", "p99.9", "p50", "p99", "p99.9", "alloc p50",
	       "p50≤1.25 p99≤1.5");
	for (s = 0; s < BENCH_NSIZES; s++) {
		double f50 = us(samples_pct(&r[s].floor, 50)),
		       f99 = us(samples_pct(&r[s].floor, 99));
		double f999 = us(samples_pct(&r[s].floor, 99.9));
		double c50 = us(samples_pct(&r[s].cma, 50)), c99 = us(samples_pct(&r[s].cma, 99));
		double c999 = us(samples_pct(&r[s].cma, 99.9));
		int met = c50 <= 1.25 * f50 && c99 <= 1.5 * f99;

		printf("%-11s | %7.1f %7.1f %7.1f | %7.1f %7.1f %7.1f | %5.2f %5.2f %5.2f | %9.1f "
		       "| %s\n",
		       bench_sizes[s].label, f50, f99, f999, c50, c99, c999, c50 / f50, c99 / f99,
		       c999 / f999, us(samples_pct(&r[s].cma_alloc, 50)), met ? "met" : "MISSED");
	}
	printf("(floor: one request, sealed memfd back over SCM_RIGHTS, client closes it;\n"
	       " cmabufd: cmabuf_alloc + cmabuf_free; 'alloc p50' is cmabuf_alloc alone)\n");
	printf("\nThe socket floor: the floor server passing a memfd of that size\n"
	       "it made once and keeps, so only the socket and SCM_RIGHTS are\n"
	       "left; interleaved with the above (µs)\n");
	printf("%-11s | %7s %7s %7s | %-17s\n", "size", "p50", "p99", "p99.9", "cmabufd/socket");
	for (s = 0; s < BENCH_NSIZES; s++) {
		double k50 = us(samples_pct(&r[s].sock, 50)), k99 = us(samples_pct(&r[s].sock, 99));

		printf("%-11s | %7.1f %7.1f %7.1f | %5.2f %5.2f\n", bench_sizes[s].label, k50, k99,
		       us(samples_pct(&r[s].sock, 99.9)), us(samples_pct(&r[s].cma, 50)) / k50,
		       us(samples_pct(&r[s].cma, 99)) / k99);
	}
	printf("\nBefore FREE_NOREPLY: the same daemon, FREE awaiting its OK, as cmabuf_free did "
	       "(µs)\n");
	printf("%-11s | %7s %7s %7s | %5s %5s %5s | %s\n", "size", "p50", "p99", "p99.9", "p50/f",
	       "p99/f", "p99.9", "goal");
	for (s = 0; s < BENCH_NSIZES; s++) {
		double f50 = us(samples_pct(&r[s].floor, 50)),
		       f99 = us(samples_pct(&r[s].floor, 99));
		double f999 = us(samples_pct(&r[s].floor, 99.9));
		double c50 = us(samples_pct(&r[s].awaited, 50)),
		       c99 = us(samples_pct(&r[s].awaited, 99));
		double c999 = us(samples_pct(&r[s].awaited, 99.9));

		printf("%-11s | %7.1f %7.1f %7.1f | %5.2f %5.2f %5.2f | %s\n", bench_sizes[s].label,
		       c50, c99, c999, c50 / f50, c99 / f99, c999 / f999,
		       c50 <= 1.25 * f50 && c99 <= 1.5 * f99 ? "met" : "MISSED");
	}
}

int main(int argc, char **argv)
{
	struct bench_args args;
	struct daemon_child dc;
	struct floor_server fs;
	struct result r[BENCH_NSIZES];
	struct cmabuf_conn pc;
	struct cmabuf *cb;
	unsigned i, iters, warm;
	int fsock, ret;
	size_t s;

	bench_args_parse(argc, argv, "Alloc+free round trip: cmabufd vs the floor server.", &args);
	iters = args.quick ? 300 : 20000;
	warm = args.quick ? 20 : 500;
	memset(r, 0, sizeof(r));
	daemon_child_start(&dc, args.daemon, REGION, 0);
	floor_server_start(&fs);
	ret = cmabuf_connect(dc.socket, &cb);
	if (ret < 0) {
		fprintf(stderr, "cmabuf_connect: %s\n", strerror(-ret));
		return 1;
	}
	ret = cmabuf_conn_open(&pc, dc.socket);
	if (ret < 0) {
		fprintf(stderr, "connect: %s\n", pc.last_error);
		return 1;
	}
	fsock = floor_connect(fs.socket);
	for (i = 0; i < warm + iters; i++)
		sample(cb, &pc, fsock, r, i, i >= warm);
	print_table(r, iters);
	close(fsock);
	cmabuf_conn_close(&pc);
	cmabuf_disconnect(cb);
	floor_server_stop(&fs);
	daemon_child_stop(&dc);
	for (s = 0; s < BENCH_NSIZES; s++) {
		samples_free(&r[s].floor);
		samples_free(&r[s].cma);
		samples_free(&r[s].cma_alloc);
		samples_free(&r[s].awaited);
		samples_free(&r[s].sock);
	}
	return 0;
}
