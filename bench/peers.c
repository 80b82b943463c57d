/* SPDX-License-Identifier: MIT */
/*
 * Peers, in one boot of the peer kernel (bench/peer-kernel): alloc + free of
 * the same sizes through cmabufd on the uio_cma stub (through libcmabuf and
 * through its heap node, /dev/dma_heap/cmabuf), the kernel's CMA heap
 * (/dev/dma_heap/reserved, from cma=), its system heap and udmabuf, sample by
 * sample in turn. A peer the kernel lacks is reported as such, not an error.
 * Then, in a block of its own (the stub's control device has one user at a
 * time), the bare server the uio floor is (floor.h): the stub's EXPORT in
 * another process, passed back over the socket. What the heaps cost over it
 * bounds what any daemon reached over a socket can win against them here.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/dma-heap.h>
#include <linux/udmabuf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "args.h"
#include "clock.h"
#include "cmabuf.h"
#include "connection.h"
#include "daemon_child.h"
#include "floor.h"
#include "sizes.h"
#include "stats.h"

enum peer { P_CMABUF, P_HEAPDOOR, P_CMA, P_SYSTEM, P_UDMABUF, P_FLOOR, NPEERS };

static const char *const peer_name[NPEERS] = {"cmabufd (uio)", "cmabufd heap node",
					      "CMA heap",      "system heap",
					      "udmabuf",       "bare uio server"};

struct ctx {
	struct cmabuf *cb;
	struct cmabuf_conn status;
	int dev[NPEERS]; /* heap or /dev/udmabuf descriptor; -1: not in this kernel */
	int floor;	 /* connected to the bare server, in its block */
};

static int heap_alloc(int heap, uint64_t size)
{
	struct dma_heap_allocation_data d = {.len = size, .fd_flags = O_RDWR | O_CLOEXEC};

	return ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &d) < 0 ? -errno : (int)d.fd;
}

/* What a desktop without the stub does: a sealed memfd sliced into a dma-buf. */
static int udmabuf_alloc(int dev, uint64_t size)
{
	uint64_t len = (size + 4095) & ~4095ull;
	int mfd = memfd_create("peer", MFD_CLOEXEC | MFD_ALLOW_SEALING), fd;
	struct udmabuf_create c = {.flags = UDMABUF_FLAGS_CLOEXEC, .size = len};

	if (mfd < 0)
		return -errno;
	if (ftruncate(mfd, (off_t)len) < 0 || fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK) < 0) {
		close(mfd);
		return -errno;
	}
	c.memfd = (uint32_t)mfd;
	fd = ioctl(dev, UDMABUF_CREATE, &c);
	fd = fd < 0 ? -errno : fd;
	close(mfd);
	return fd;
}

/* One alloc + free; returns nanoseconds. */
static uint64_t one(struct ctx *x, enum peer p, uint64_t size)
{
	struct cmabuf_alloc_desc d = {.size = size, .name = "peer"};
	struct cmabuf_buffer *buf;
	uint64_t t0 = now_ns();
	int fd;

	if (p == P_CMABUF) {
		fd = cmabuf_alloc(x->cb, &d, &buf);
		if (fd == 0)
			cmabuf_free(buf);
	} else if (p == P_FLOOR) {
		fd = floor_alloc(x->floor, size);
		if (fd >= 0)
			close(fd);
	} else {
		fd = p == P_UDMABUF ? udmabuf_alloc(x->dev[p], size) : heap_alloc(x->dev[p], size);
		if (fd >= 0)
			close(fd);
	}
	if (fd < 0) {
		fprintf(stderr, "%s: alloc of %llu bytes: %s\n", peer_name[p],
			(unsigned long long)size, strerror(-fd));
		exit(1);
	}
	return now_ns() - t0;
}

static void open_peers(struct ctx *x)
{
	static const char *const path[NPEERS] = {NULL, "/dev/dma_heap/cmabuf",
						 "/dev/dma_heap/reserved", "/dev/dma_heap/system",
						 "/dev/udmabuf"};
	int p;

	for (p = P_HEAPDOOR; p < P_FLOOR; p++) {
		x->dev[p] = open(path[p], O_RDWR | O_CLOEXEC);
		if (x->dev[p] < 0)
			printf("%s: %s: %s (not measured)\n", peer_name[p], path[p],
			       strerror(errno));
	}
}

static void print_table(struct samples s[][NPEERS], const struct ctx *x, unsigned n)
{
	size_t i;
	int p;

	printf("\nPeers: alloc + free, %u samples per size, in turn (p50 / p99, µs; × = p50 "
	       "over cmabufd's)\n",
	       n);
	printf("%-11s", "size");
	for (p = 0; p < NPEERS; p++)
		printf(" | %-24s", peer_name[p]);
	printf(" | goal (frames: ≥10× vs CMA and system)\n");
	for (i = 0; i < BENCH_NSIZES; i++) {
		double c50 = (double)samples_pct(&s[i][P_CMABUF], 50), worst = 1e30, bound = 1e30;
		double f50 = (double)samples_pct(&s[i][P_FLOOR], 50);
		int frame = bench_sizes[i].bytes == NV12_1080P || bench_sizes[i].bytes == NV12_4K;

		printf("%-11s", bench_sizes[i].label);
		for (p = 0; p < NPEERS; p++) {
			double p50 = (double)samples_pct(&s[i][p], 50);

			if (p && x->dev[p] < 0) {
				printf(" | %-24s", "n/a");
				continue;
			}
			printf(" | %9.1f %8.1f %5.1f×", p50 / 1e3,
			       (double)samples_pct(&s[i][p], 99) / 1e3, p50 / c50);
			if (p == P_CMA || p == P_SYSTEM) {
				worst = p50 / c50 < worst ? p50 / c50 : worst;
				bound = p50 / f50 < bound ? p50 / f50 : bound;
			}
		}
		if (frame && worst != 1e30)
			printf(" | %s (bare server: %.1f×)\n", worst >= 10 ? "met" : "MISSED",
			       bound);
		else
			printf(" | %s\n", frame ? "n/a" : "");
	}
	printf("(cmabufd: cmabuf_alloc + cmabuf_free, the daemon settled between samples;\n"
	       " heaps: DMA_HEAP_IOCTL_ALLOC + close; udmabuf: memfd + seal + UDMABUF_CREATE + "
	       "close;\n"
	       " bare uio server: the stub's EXPORT in another process, passed over SEQPACKET, "
	       "then close,\n"
	       " in a block of its own after cmabufd's. Goal column: the lesser of CMA and system "
	       "heap over\n"
	       " cmabufd; in brackets over the bare server, what any socket round trip could win "
	       "here)\n");
}

/* The stub has one user at a time: the bare server gets it once cmabufd is gone. */
static void floor_block(struct samples s[][NPEERS], struct ctx *x, unsigned n, unsigned warm)
{
	struct floor_server fs;
	unsigned i;
	size_t k;

	floor_server_start_uio(&fs, FLOOR_UIO_CTL);
	x->floor = floor_connect(fs.socket);
	for (i = 0; i < warm + n; i++)
		for (k = 0; k < BENCH_NSIZES; k++) {
			uint64_t t;

			if (floor_settle(x->floor) < 0) { /* untimed: the range cleared */
				fprintf(stderr, "bare uio server: cannot clear its range\n");
				exit(1);
			}
			t = one(x, P_FLOOR, bench_sizes[k].bytes);

			if (i >= warm)
				samples_add(&s[k][P_FLOOR], t);
		}
	close(x->floor);
	floor_server_stop(&fs);
}

int main(int argc, char **argv)
{
	static struct samples s[BENCH_NSIZES][NPEERS];
	struct bench_args args;
	struct daemon_child dc;
	struct ctx x;
	unsigned i, n, warm;
	size_t k;
	int p;

	bench_args_parse(argc, argv, "cmabufd against the kernel's heaps and udmabuf (peer VM).",
			 &args);
	n = args.quick ? 10 : 300;
	warm = args.quick ? 2 : 10;
	open_peers(&x);
	x.dev[P_CMABUF] = x.dev[P_FLOOR] = 0;
	daemon_child_start_uio(&dc, args.daemon);
	if (cmabuf_conn_open(&x.status, dc.socket) < 0 || cmabuf_connect(dc.socket, &x.cb) < 0) {
		fprintf(stderr, "cannot connect to cmabufd\n");
		return 1;
	}
	for (i = 0; i < warm + n; i++)
		for (k = 0; k < BENCH_NSIZES; k++)
			for (p = 0; p < NPEERS; p++) {
				int q = (p + (int)i) % NPEERS; /* rotate who goes first */
				uint64_t t;

				if (q == P_FLOOR || (q != P_CMABUF && x.dev[q] < 0))
					continue;
				if (q == P_CMABUF || q == P_HEAPDOOR) /* both doors of one daemon */
					daemon_child_settle(&x.status);
				t = one(&x, (enum peer)q, bench_sizes[k].bytes);
				if (i >= warm)
					samples_add(&s[k][q], t);
			}
	cmabuf_disconnect(x.cb);
	cmabuf_conn_close(&x.status);
	daemon_child_stop(&dc);
	floor_block(s, &x, n, warm);
	print_table(s, &x, n);
	return 0;
}
