/* SPDX-License-Identifier: MIT */
/*
 * dma-heap-alloc: allocate the way software that knows nothing of cmabuf does.
 *
 * libcamera's DmaBufAllocator, rpicam-apps, Kodi and Android's libdmabufheap all
 * do the same four things, and this program does exactly them, with no cmabuf
 * library and no cmabuf header:
 *   1. open /dev/dma_heap/NAME (the first of a list of names that exists),
 *   2. DMA_HEAP_IOCTL_ALLOC with fd_flags O_CLOEXEC | O_RDWR,
 *   3. DMA_BUF_SET_NAME, so the buffer is named in debugfs and in fdinfo,
 *   4. mmap, and DMA_BUF_IOCTL_SYNC around every CPU access.
 * Pointed at /dev/dma_heap/cmabuf, every one of those allocations goes through
 * cmabufd's policy: see docs/media.md "Unmodified software: the heap door".
 *
 *   dma-heap-alloc [--heap NAME|PATH]... [--size BYTES] [--count N] [--name NAME] [--hold]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_HEAPS   8
#define MAX_BUFFERS 64

/* cmabuf's node first, then libcamera's own order (linux,cma, reserved, system). */
static const char *const default_heaps[] = {"cmabuf", "linux,cma", "reserved", "system"};

struct options {
	const char *heaps[MAX_HEAPS];
	int nheaps;
	uint64_t size;
	int count;
	const char *name;
	bool hold;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: dma-heap-alloc [OPTION]...\n"
		"Allocate dma-bufs through /dev/dma_heap the way libcamera, rpicam-apps and\n"
		"Kodi do, write and check them through a mapping, and print what was allocated.\n"
		"\n"
		"  --heap NAME|PATH  a heap to try, by name (/dev/dma_heap/NAME) or path; may\n"
		"                    be repeated; the first that opens is used\n"
		"                    (default: cmabuf, linux,cma, reserved, system)\n"
		"  --size BYTES      bytes per buffer (default 3110400, a 1080p NV12 frame)\n"
		"  --count N         buffers to allocate (default 4, at most %d)\n"
		"  --name NAME       the name DMA_BUF_SET_NAME gives them (default "
		"dma-heap-alloc)\n"
		"  --hold            keep the buffers until Ctrl-C, for cmabufctl buffers to show\n"
		"  --help            this text\n"
		"\n"
		"Example, with cmabufd serving the cmabuf heap:\n"
		"  dma-heap-alloc --heap cmabuf --count 2 --hold &\n"
		"  cmabufctl buffers\n",
		MAX_BUFFERS);
}

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{"heap", required_argument, NULL, 'H'},
		{"size", required_argument, NULL, 's'},
		{"count", required_argument, NULL, 'c'},
		{"name", required_argument, NULL, 'n'},
		{"hold", no_argument, NULL, 'h'},
		{"help", no_argument, NULL, '?' + 256},
		{NULL, 0, NULL, 0},
	};
	char *end;
	int c;

	*o = (struct options){.size = 1920 * 1080 * 3 / 2, .count = 4, .name = "dma-heap-alloc"};
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'H':
			if (o->nheaps == MAX_HEAPS) {
				fprintf(stderr, "dma-heap-alloc: at most %d --heap options\n",
					MAX_HEAPS);
				return 2;
			}
			o->heaps[o->nheaps++] = optarg;
			break;
		case 's':
			errno = 0;
			o->size = strtoull(optarg, &end, 0);
			if (errno || *end || !o->size) {
				fprintf(stderr,
					"dma-heap-alloc: --size wants a byte count, not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'c':
			o->count = atoi(optarg);
			if (o->count < 1 || o->count > MAX_BUFFERS) {
				fprintf(stderr, "dma-heap-alloc: --count wants 1 to %d\n",
					MAX_BUFFERS);
				return 2;
			}
			break;
		case 'n':
			o->name = optarg;
			break;
		case 'h':
			o->hold = true;
			break;
		case '?' + 256:
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "dma-heap-alloc: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	return 0;
}

/* Opens the first heap of the list that exists, as libcamera does. */
static int open_heap(const struct options *o, char *path, size_t pathlen)
{
	const char *const *names = o->nheaps ? o->heaps : default_heaps;
	int n = o->nheaps ? o->nheaps : (int)(sizeof(default_heaps) / sizeof(default_heaps[0]));
	int i, fd, first_errno = 0;

	for (i = 0; i < n; i++) {
		if (names[i][0] == '/')
			snprintf(path, pathlen, "%s", names[i]);
		else
			snprintf(path, pathlen, "/dev/dma_heap/%s", names[i]);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd >= 0)
			return fd;
		if (!first_errno || errno != ENOENT)
			first_errno = errno;
	}
	fprintf(stderr, "dma-heap-alloc: no heap could be opened (last tried %s): %s\n", path,
		strerror(first_errno));
	if (first_errno == ENOENT)
		fprintf(stderr, "  Is the uio_cma module loaded with a heap (docs/kmod.md)?\n");
	else if (first_errno == EACCES)
		fprintf(stderr,
			"  The node's group may open it: see docs/media.md (the heap door).\n");
	return -1;
}

static void explain_alloc_error(int err)
{
	switch (err) {
	case ENODEV:
		fprintf(stderr,
			"  No cmabufd serves this heap: start it (systemctl start cmabufd).\n");
		break;
	case ENOMEM:
	case EDQUOT:
	case EPERM:
		fprintf(stderr, "  cmabufd refused it: `cmabufctl why` says why.\n");
		break;
	case ETIMEDOUT:
		fprintf(stderr,
			"  cmabufd did not answer in time: is it stuck? (cmabufctl status)\n");
		break;
	default:
		break;
	}
}

/* One buffer: ALLOC, SET_NAME, and a CPU write and read-back between SYNCs. */
static int alloc_one(int heap, const struct options *o, int *out)
{
	struct dma_heap_allocation_data a = {.len = o->size, .fd_flags = O_CLOEXEC | O_RDWR};
	struct dma_buf_sync sync = {.flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW};
	uint8_t *p;
	uint64_t i, nonzero = 0;

	if (ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &a) < 0) {
		int err = errno;

		fprintf(stderr, "dma-heap-alloc: DMA_HEAP_IOCTL_ALLOC of %llu bytes: %s\n",
			(unsigned long long)o->size, strerror(err));
		explain_alloc_error(err);
		return -1;
	}
	if (ioctl((int)a.fd, DMA_BUF_SET_NAME, o->name) < 0)
		fprintf(stderr, "dma-heap-alloc: DMA_BUF_SET_NAME: %s (continuing)\n",
			strerror(errno));
	p = mmap(NULL, o->size, PROT_READ | PROT_WRITE, MAP_SHARED, (int)a.fd, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "dma-heap-alloc: mmap: %s\n", strerror(errno));
		close((int)a.fd);
		return -1;
	}
	ioctl((int)a.fd, DMA_BUF_IOCTL_SYNC, &sync);
	for (i = 0; i < o->size; i += 4096)
		nonzero += p[i] != 0;
	for (i = 0; i < o->size; i += 4096)
		p[i] = (uint8_t)(i >> 12) | 1;
	for (i = 0; i < o->size; i += 4096)
		if (p[i] != ((uint8_t)(i >> 12) | 1))
			break;
	sync.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW;
	ioctl((int)a.fd, DMA_BUF_IOCTL_SYNC, &sync);
	munmap(p, o->size);
	if (i < o->size) {
		fprintf(stderr, "dma-heap-alloc: byte %llu did not read back\n",
			(unsigned long long)i);
		close((int)a.fd);
		return -1;
	}
	printf("fd %u: %llu bytes, %s, written and read back\n", a.fd, (unsigned long long)o->size,
	       nonzero ? "NOT zeroed when handed out" : "zeroed when handed out");
	if (nonzero) { /* another owner's data, or a heap that does not zero */
		close((int)a.fd);
		return -1;
	}
	*out = (int)a.fd;
	return 0;
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	struct options o;
	char path[256];
	int fds[MAX_BUFFERS], n = 0, heap, rc;

	rc = parse_options(argc, argv, &o);
	if (rc)
		return rc;
	heap = open_heap(&o, path, sizeof(path));
	if (heap < 0)
		return 1;
	printf("heap %s\n", path);
	for (rc = 0; n < o.count && !rc; n++)
		rc = alloc_one(heap, &o, &fds[n]);
	if (rc)
		n--; /* the one that failed holds no descriptor */
	if (!rc && o.hold) {
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
		printf("holding %d buffers; Ctrl-C to free them\n", n);
		fflush(stdout);
		while (!stop)
			pause();
	}
	while (n > 0)
		close(fds[--n]);
	close(heap);
	return rc ? 1 : 0;
}
