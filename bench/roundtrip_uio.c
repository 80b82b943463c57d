/* SPDX-License-Identifier: MIT */
/*
 * Round trip on the uio backend, inside the VM (bench/run --vm): alloc + free
 * through cmabufd --backend=uio against the floor, the stub's EXPORT ioctl
 * alone (plus closing the dma-buf). The control device takes one opener at a
 * time, so the two cannot alternate sample by sample as on memfd: they
 * alternate in blocks instead, the daemon restarted for each of its blocks.
 * Inside the daemon's blocks, its two doors alternate sample by sample:
 * libcmabuf's round trip and an ALLOC on /dev/dma_heap/cmabuf (the heap door,
 * forwarded by the stub to the same daemon) followed by the close that frees it.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <linux/dma-heap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "args.h"
#include "clock.h"
#include "cmabuf.h"
#include "connection.h"
#include "placement.h"
#include "daemon_child.h"
#include "floor.h"
#include "sizes.h"
#include "stats.h"
#include "uio_cma.h"

#define HEAP_NODE "/dev/dma_heap/cmabuf"

/* CPU time of both processes, kernel included, summed over the samples. */
struct cpu_cost {
	uint64_t ns, ops;
};

struct result {
	struct samples floor, server, cma, cma_alloc, heap;
	struct cpu_cost floor_cpu, cma_cpu, heap_cpu;
};

static void cpu_add(struct cpu_cost *c, uint64_t ns)
{
	c->ns += ns;
	c->ops++;
}

static void drain_events(int ctl)
{
	struct uio_cma_event ev[64];

	while (read(ctl, ev, sizeof(ev)) > 0)
		;
}

/* Untimed, between samples: the stub exports only cleared pages (cmabufd zeroes in the background).
 */
static void clear_range(int ctl, uint64_t size)
{
	struct uio_cma_clear c = {.offset = 0, .size = size};

	if (ioctl(ctl, UIO_CMA_IOC_CLEAR, &c) < 0) {
		fprintf(stderr, "UIO_CMA_IOC_CLEAR(%llu): %s\n", (unsigned long long)size,
			strerror(errno));
		exit(1);
	}
}

/* EXPORT of the region's first pages and the close that releases them. */
static uint64_t time_export(int ctl, uint64_t size, uint64_t cookie, uint32_t page)
{
	struct uio_cma_export ex;
	uint64_t t0;
	int fd;

	memset(&ex, 0, sizeof(ex));
	ex.size = (size + page - 1) / page * page;
	ex.cookie = cookie;
	memcpy(ex.name, "floor", 6);
	t0 = now_ns();
	fd = ioctl(ctl, UIO_CMA_IOC_EXPORT, &ex);
	if (fd < 0) {
		fprintf(stderr, "UIO_CMA_IOC_EXPORT(%llu): %s\n", (unsigned long long)size,
			strerror(errno));
		exit(1);
	}
	close(fd);
	return now_ns() - t0;
}

static void floor_block(struct result *r, unsigned n, unsigned warm, uint64_t *cookie)
{
	struct uio_cma_info info;
	int ctl = open(FLOOR_UIO_CTL, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	unsigned i;
	size_t s;

	if (ctl < 0 || ioctl(ctl, UIO_CMA_IOC_INFO, &info) < 0) {
		perror(FLOOR_UIO_CTL);
		exit(1);
	}
	clear_range(ctl, info.size);
	for (i = 0; i < warm + n; i++)
		for (s = 0; s < BENCH_NSIZES; s++) {
			uint64_t c0 = self_cpu_ns();
			uint64_t t =
				time_export(ctl, bench_sizes[s].bytes, ++*cookie, info.page_size);

			if (i >= warm) {
				samples_add(&r[s].floor, t);
				cpu_add(&r[s].floor_cpu, self_cpu_ns() - c0);
			}
			drain_events(
				ctl); /* outside the timing: the daemon reads them in batches */
			clear_range(ctl, (bench_sizes[s].bytes + info.page_size - 1) /
						 info.page_size * info.page_size);
		}
	close(ctl);
}

/* The bare server: EXPORT in another process, the dma-buf passed back over SEQPACKET. */
static void server_block(struct result *r, unsigned n, unsigned warm)
{
	struct floor_server fs;
	unsigned i;
	size_t s;
	int sock;

	floor_server_start_uio(&fs, FLOOR_UIO_CTL);
	sock = floor_connect(fs.socket);
	for (i = 0; i < warm + n; i++)
		for (s = 0; s < BENCH_NSIZES; s++) {
			int settled = floor_settle(sock);
			uint64_t t0 = now_ns();
			int fd = settled < 0 ? settled : floor_alloc(sock, bench_sizes[s].bytes);

			if (fd < 0) {
				fprintf(stderr, "floor server: %s\n", strerror(-fd));
				exit(1);
			}
			close(fd);
			if (i >= warm)
				samples_add(&r[s].server, now_ns() - t0);
		}
	close(sock);
	floor_server_stop(&fs);
}

static uint64_t time_cmabuf(struct cmabuf *cb, uint64_t size, uint64_t *alloc_ns)
{
	struct cmabuf_alloc_desc d = {.size = size, .name = "bench"};
	struct cmabuf_buffer *buf;
	uint64_t t0 = now_ns(), t1;

	if (cmabuf_alloc(cb, &d, &buf) < 0) {
		fprintf(stderr, "cmabuf_alloc(%llu): %s\n", (unsigned long long)size,
			cmabuf_last_error(cb));
		exit(1);
	}
	t1 = now_ns();
	cmabuf_free(buf);
	*alloc_ns = t1 - t0;
	return now_ns() - t0;
}

/* The heap door: what libcamera does, ALLOC on the node, then the close that frees it. */
static uint64_t time_heap(int heap, uint64_t size)
{
	struct dma_heap_allocation_data a = {.len = size, .fd_flags = O_CLOEXEC | O_RDWR};
	uint64_t t0 = now_ns();

	if (ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &a) < 0) {
		fprintf(stderr, "DMA_HEAP_IOCTL_ALLOC(%llu) on %s: %s\n", (unsigned long long)size,
			HEAP_NODE, strerror(errno));
		exit(1);
	}
	close((int)a.fd);
	return now_ns() - t0;
}

/* One sample of one of the daemon's doors, with both processes' CPU time. */
static void daemon_sample(struct result *x, uint64_t size, bool heap_door, struct cmabuf *cb,
			  int heap, pid_t daemon, bool keep)
{
	/* Read in this order so neither process's window holds the reading itself. */
	uint64_t d0 = proc_cpu_ns(daemon), c0 = self_cpu_ns(), a = 0, t, cpu;

	t = heap_door ? time_heap(heap, size) : time_cmabuf(cb, size, &a);
	cpu = self_cpu_ns() - c0;
	cpu += proc_cpu_ns(daemon) - d0;
	if (!keep)
		return;
	if (heap_door) {
		samples_add(&x->heap, t);
		cpu_add(&x->heap_cpu, cpu);
	} else {
		samples_add(&x->cma, t);
		samples_add(&x->cma_alloc, a);
		cpu_add(&x->cma_cpu, cpu);
	}
}

static void daemon_block(struct result *r, unsigned n, unsigned warm, const char *daemon)
{
	struct daemon_child dc;
	struct cmabuf_conn status;
	struct cmabuf *cb;
	unsigned i, k;
	size_t s;
	int heap;

	daemon_child_start_uio(&dc, daemon);
	if (cmabuf_conn_open(&status, dc.socket) < 0 || cmabuf_connect(dc.socket, &cb) < 0) {
		fprintf(stderr, "cannot connect to cmabufd\n");
		exit(1);
	}
	heap = open(HEAP_NODE, O_RDWR | O_CLOEXEC);
	if (heap < 0) {
		fprintf(stderr, "%s: %s (the stub has no heap node?)\n", HEAP_NODE,
			strerror(errno));
		exit(1);
	}
	for (i = 0; i < warm + n; i++)
		for (s = 0; s < BENCH_NSIZES; s++)
			for (k = 0; k < 2; k++) { /* which door goes first alternates */
				daemon_child_settle(&status);
				daemon_sample(&r[s], bench_sizes[s].bytes, (i + k) % 2, cb, heap,
					      dc.pid, i >= warm);
			}
	close(heap);
	cmabuf_disconnect(cb);
	cmabuf_conn_close(&status);
	daemon_child_stop(&dc);
}

/*
 * Stream switch on a full region: a decoder frees its 8 x 4K NV12 pool and at
 * once allocates the next one, while everything else in the region is held.
 * The new frames can only come from the freed ones after they are zeroed:
 * this is the case where allocation waits for the zeroing thread.
 */
#define FRAMES 8

static void alloc_frame(struct cmabuf *cb, struct cmabuf_buffer **b)
{
	struct cmabuf_alloc_desc d = {.size = NV12_4K, .name = "frame"};

	if (cmabuf_alloc(cb, &d, b) < 0) {
		fprintf(stderr, "stream switch: %s\n", cmabuf_last_error(cb));
		exit(1);
	}
}

static void switch_block(struct samples *first, struct samples *all, unsigned n, const char *daemon)
{
	struct cmabuf_buffer *fill, *pool[FRAMES];
	struct cmabuf_alloc_desc d = {.name = "held"};
	struct daemon_child dc;
	struct cmabuf_conn status;
	struct cmabuf *cb;
	unsigned i, k;
	uint64_t t0;

	daemon_child_start_uio(&dc, daemon);
	if (cmabuf_conn_open(&status, dc.socket) < 0 || cmabuf_connect(dc.socket, &cb) < 0) {
		fprintf(stderr, "cannot connect to cmabufd\n");
		exit(1);
	}
	daemon_child_settle(&status);
	/* Everything but one pool (page-rounded frames) is held for the whole run. */
	d.size = status.server.region_size - FRAMES * ((NV12_4K + 4095) & ~4095ull);
	if (cmabuf_alloc(cb, &d, &fill) < 0) {
		fprintf(stderr, "stream switch filler: %s\n", cmabuf_last_error(cb));
		exit(1);
	}
	for (k = 0; k < FRAMES; k++)
		alloc_frame(cb, &pool[k]);
	for (i = 0; i < n; i++) {
		for (k = 0; k < FRAMES; k++)
			cmabuf_free(pool[k]);
		t0 = now_ns();
		alloc_frame(cb, &pool[0]);
		samples_add(first, now_ns() - t0);
		for (k = 1; k < FRAMES; k++)
			alloc_frame(cb, &pool[k]);
		samples_add(all, now_ns() - t0);
	}
	for (k = 0; k < FRAMES; k++)
		cmabuf_free(pool[k]);
	cmabuf_free(fill);
	cmabuf_disconnect(cb);
	cmabuf_conn_close(&status);
	daemon_child_stop(&dc);
}

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

static double p(struct samples *x, double pct)
{
	return us(samples_pct(x, pct));
}

static const char *goal(struct samples *c, struct samples *f)
{
	return p(c, 50) <= 1.25 * p(f, 50) && p(c, 99) <= 1.5 * p(f, 99) ? "met" : "MISSED";
}

static void print_table(struct result *r, unsigned blocks, unsigned per_block)
{
	size_t s;

	printf("\nRound trip on the uio backend, alloc + free, %u blocks of %u samples per size "
	       "and server, rotating (µs)\n",
	       blocks, per_block);
	printf("%-11s | %-17s | %-17s | %-23s | %-11s | %-11s | %s\n", "", "A: EXPORT ioctl",
	       "B: bare server", "cmabufd --backend=uio", "cmabufd / A", "cmabufd / B",
	       "goal vs A, vs B");
	printf("%-11s | %8s %8s | %8s %8s | %7s %7s %7s | %5s %5s | %5s %5s | %s\n", "size", "p50",
	       "p99", "p50", "p99", "p50", "p99", "p99.9", "p50", "p99", "p50", "p99",
	       "(p50≤1.25 p99≤1.5)");
	for (s = 0; s < BENCH_NSIZES; s++) {
		struct result *x = &r[s];

		printf("%-11s | %8.1f %8.1f | %8.1f %8.1f | %7.1f %7.1f %7.1f | %5.2f %5.2f | "
		       "%5.2f %5.2f | %s, %s\n",
		       bench_sizes[s].label, p(&x->floor, 50), p(&x->floor, 99), p(&x->server, 50),
		       p(&x->server, 99), p(&x->cma, 50), p(&x->cma, 99), p(&x->cma, 99.9),
		       p(&x->cma, 50) / p(&x->floor, 50), p(&x->cma, 99) / p(&x->floor, 99),
		       p(&x->cma, 50) / p(&x->server, 50), p(&x->cma, 99) / p(&x->server, 99),
		       goal(&x->cma, &x->floor), goal(&x->cma, &x->server));
	}
	printf("(A: UIO_CMA_IOC_EXPORT on the control device and close of the dma-buf, "
	       "in-process;\n"
	       " B: a bare server doing that EXPORT and passing the dma-buf over SEQPACKET, as\n"
	       " the memfd floor does; cmabufd: cmabuf_alloc + cmabuf_free, 'alloc p50' below.\n"
	       " Under qemu TCG: every context switch is emulated, absolute times are slow)\n");
	for (s = 0; s < BENCH_NSIZES; s++)
		printf("  %-11s cmabufd alloc p50 %.1f µs\n", bench_sizes[s].label,
		       p(&r[s].cma_alloc, 50));
}

static double cpu_us(const struct cpu_cost *c)
{
	return c->ops ? (double)c->ns / (double)c->ops / 1000.0 : 0;
}

/* The heap door beside the socket door and the bare EXPORT, with the CPU each costs. */
static void print_heap_table(struct result *r)
{
	size_t s;

	printf("\nThe heap door: ALLOC on %s + close, against libcmabuf and the bare EXPORT "
	       "(µs)\n",
	       HEAP_NODE);
	printf("%-11s | %-17s | %-17s | %-17s | %-11s | %-26s\n", "", "A: EXPORT ioctl",
	       "cmabufd, socket", "cmabufd, heap node", "heap / A", "CPU per op: A, socket, heap");
	printf("%-11s | %8s %8s | %8s %8s | %8s %8s | %5s %5s |\n", "size", "p50", "p99", "p50",
	       "p99", "p50", "p99", "p50", "p99");
	for (s = 0; s < BENCH_NSIZES; s++) {
		struct result *x = &r[s];

		printf("%-11s | %8.1f %8.1f | %8.1f %8.1f | %8.1f %8.1f | %5.2f %5.2f | %7.1f "
		       "%7.1f "
		       "%7.1f\n",
		       bench_sizes[s].label, p(&x->floor, 50), p(&x->floor, 99), p(&x->cma, 50),
		       p(&x->cma, 99), p(&x->heap, 50), p(&x->heap, 99),
		       p(&x->heap, 50) / p(&x->floor, 50), p(&x->heap, 99) / p(&x->floor, 99),
		       cpu_us(&x->floor_cpu), cpu_us(&x->cma_cpu), cpu_us(&x->heap_cpu));
	}
	printf("(socket and heap samples alternate one by one against the same daemon; CPU per\n"
	       " op is both processes' run time, kernel included (schedstat), during the call:\n"
	       " the daemon's background zeroing after the release is not in it)\n");
}

int main(int argc, char **argv)
{
	struct bench_args args;
	struct result r[BENCH_NSIZES];
	struct samples sw_first = {0}, sw_all = {0};
	unsigned b, blocks, per_block, warm;
	uint64_t cookie = 1ull << 62; /* far from the daemon's cookies */
	size_t s;

	bench_args_parse(argc, argv, "Alloc+free round trip on the uio backend (in the VM).",
			 &args);
	if (access(FLOOR_UIO_CTL, F_OK) < 0) {
		fprintf(stderr, "%s: no uio_cma control device (run through bench/run --vm)\n",
			FLOOR_UIO_CTL);
		return 1;
	}
	blocks = args.quick ? 1 : 4;
	per_block = args.quick ? 20 : 100;
	warm = args.quick ? 3 : 10;
	memset(r, 0, sizeof(r));
	for (b = 0; b < 3 * blocks; b++) {
		/* Rotate who goes first, as the memfd benchmark alternates sample by sample. */
		switch ((b + b / 3) % 3) {
		case 0:
			floor_block(r, per_block, warm, &cookie);
			break;
		case 1:
			server_block(r, per_block, warm);
			break;
		default:
			daemon_block(r, per_block, warm, args.daemon);
		}
	}
	print_table(r, blocks, per_block);
	print_heap_table(r);
	switch_block(&sw_first, &sw_all, args.quick ? 3 : 30, args.daemon);
	printf("\nStream switch on a full region: free 8 x 4K NV12, allocate 8 again at once, "
	       "%zu samples (ms)\n",
	       sw_all.n);
	printf("%-22s | %8s %8s %8s\n", "", "p50", "p99", "max");
	printf("%-22s | %8.2f %8.2f %8.2f\n", "first frame", samples_pct(&sw_first, 50) / 1e6,
	       samples_pct(&sw_first, 99) / 1e6, samples_pct(&sw_first, 100) / 1e6);
	printf("%-22s | %8.2f %8.2f %8.2f\n", "all 8 frames", samples_pct(&sw_all, 50) / 1e6,
	       samples_pct(&sw_all, 99) / 1e6, samples_pct(&sw_all, 100) / 1e6);
	printf("(the frames can only come from the pool just freed, once zeroed: this is\n"
	       " the allocation that waits for the zeroing thread)\n");
	samples_free(&sw_first);
	samples_free(&sw_all);
	for (s = 0; s < BENCH_NSIZES; s++) {
		samples_free(&r[s].floor);
		samples_free(&r[s].server);
		samples_free(&r[s].cma);
		samples_free(&r[s].cma_alloc);
		samples_free(&r[s].heap);
	}
	return 0;
}
