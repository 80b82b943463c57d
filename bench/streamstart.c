/* SPDX-License-Identifier: MIT */
/*
 * Stream start: a decoder allocating its 8 × 4K NV12 frame pool back to back.
 * Timed from the first request to holding all 8; the frees afterwards are not
 * timed. cmabufd and the floor server alternate, sample by sample.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "clock.h"
#include "cmabuf.h"
#include "daemon_child.h"
#include "floor.h"
#include "sizes.h"
#include "stats.h"

#define REGION (256ull << 20)
#define FRAMES 8

static uint64_t start_cmabuf(struct cmabuf *cb)
{
	struct cmabuf_alloc_desc d = {.size = NV12_4K, .name = "frame"};
	struct cmabuf_buffer *bufs[FRAMES];
	uint64_t t0 = now_ns(), t;
	int i;

	for (i = 0; i < FRAMES; i++)
		if (cmabuf_alloc(cb, &d, &bufs[i]) < 0) {
			fprintf(stderr, "cmabuf_alloc: %s\n", cmabuf_last_error(cb));
			exit(1);
		}
	t = now_ns() - t0;
	for (i = 0; i < FRAMES; i++)
		cmabuf_free(bufs[i]);
	return t;
}

static uint64_t start_floor(int sock)
{
	int fds[FRAMES], i;
	uint64_t t0 = now_ns(), t;

	for (i = 0; i < FRAMES; i++) {
		fds[i] = floor_alloc(sock, NV12_4K);
		if (fds[i] < 0) {
			fprintf(stderr, "floor_alloc: %s\n", strerror(-fds[i]));
			exit(1);
		}
	}
	t = now_ns() - t0;
	for (i = 0; i < FRAMES; i++)
		close(fds[i]);
	return t;
}

int main(int argc, char **argv)
{
	struct samples sc = {0}, sf = {0};
	struct bench_args args;
	struct daemon_child dc;
	struct floor_server fs;
	struct cmabuf *cb;
	unsigned i, iters, warm;
	int fsock, ret;

	bench_args_parse(argc, argv, "Stream start: 8 x 4K NV12 frames back to back.", &args);
	iters = args.quick ? 100 : 5000;
	warm = args.quick ? 10 : 200;
	daemon_child_start(&dc, args.daemon, REGION, 0);
	floor_server_start(&fs);
	ret = cmabuf_connect(dc.socket, &cb);
	if (ret < 0) {
		fprintf(stderr, "cmabuf_connect: %s\n", strerror(-ret));
		return 1;
	}
	fsock = floor_connect(fs.socket);
	for (i = 0; i < warm + iters; i++) {
		uint64_t a, b;

		if (i % 2) {
			b = start_floor(fsock);
			a = start_cmabuf(cb);
		} else {
			a = start_cmabuf(cb);
			b = start_floor(fsock);
		}
		if (i >= warm) {
			samples_add(&sc, a);
			samples_add(&sf, b);
		}
	}
	printf("\nStream start: %d x 4K NV12 (%d x 12,441,600 B) back to back, %u samples (µs)\n",
	       FRAMES, FRAMES, iters);
	printf("%-8s | %8s %8s %8s %8s\n", "server", "p50", "p99", "p99.9", "mean");
	printf("%-8s | %8.1f %8.1f %8.1f %8.1f\n", "floor", samples_pct(&sf, 50) / 1e3,
	       samples_pct(&sf, 99) / 1e3, samples_pct(&sf, 99.9) / 1e3, samples_mean(&sf) / 1e3);
	printf("%-8s | %8.1f %8.1f %8.1f %8.1f\n", "cmabufd", samples_pct(&sc, 50) / 1e3,
	       samples_pct(&sc, 99) / 1e3, samples_pct(&sc, 99.9) / 1e3, samples_mean(&sc) / 1e3);
	printf("%-8s | %8.2f %8.2f %8.2f %8.2f\n", "ratio",
	       (double)samples_pct(&sc, 50) / (double)samples_pct(&sf, 50),
	       (double)samples_pct(&sc, 99) / (double)samples_pct(&sf, 99),
	       (double)samples_pct(&sc, 99.9) / (double)samples_pct(&sf, 99.9),
	       samples_mean(&sc) / samples_mean(&sf));
	close(fsock);
	cmabuf_disconnect(cb);
	floor_server_stop(&fs);
	daemon_child_stop(&dc);
	samples_free(&sc);
	samples_free(&sf);
	return 0;
}
