/* SPDX-License-Identifier: MIT */
/*
 * heap_responder: the smallest daemon that serves the stub's heap door, for
 * running software nobody here wrote (the kernel's dma-heap selftest)
 * against /dev/dma_heap/cmabuf without cmabufd. First fit, CLEAR before
 * every answer, ranges back on RELEASED (tests/vm/heap_door.h).
 *
 *   heap_responder [--device /dev/uio_cma0]
 *       serve until SIGTERM or SIGINT; exit 0 if every request was
 *       answered as it should be (1 otherwise, with the reason on stderr)
 *   heap_responder --wait-served HEAP [SECONDS]
 *       wait (default 30 s) until HEAP answers an ALLOC with something
 *       else than ENODEV, as any daemon serving it would; exit 0, or 1
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/dma-heap.h>

#include "heap_door.h"

static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

/* Answers one request: a range, or ENOMEM when none is left. 0 or -errno. */
static int respond(struct heap_door *d, const struct uio_cma_event *ev)
{
	struct uio_cma_heap_caller who = {.id = ev->cookie};
	char name[UIO_CMA_NAME_LEN];
	int ret;

	if (ioctl(d->ctl, UIO_CMA_IOC_HEAP_CALLER, &who) < 0)
		return errno == ENOENT ? 0 : -errno; /* ENOENT: the caller left */
	snprintf(name, sizeof(name), "heap:%.16s", who.comm);
	ret = hd_answer(d, ev->cookie, ev->size, name, NULL);
	if (ret == -ENOSPC)
		ret = hd_answer_error(d, ev->cookie, ENOMEM);
	return ret == -ENOENT ? 0 : ret;
}

static int serve(const char *dev)
{
	static struct heap_door d;
	struct sigaction sa = {.sa_handler = on_stop};
	struct uio_cma_event ev;
	unsigned long answered = 0;
	int ret, failed = 0;

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	ret = hd_open(&d, dev);
	if (!ret)
		ret = hd_serve(&d);
	if (ret) {
		fprintf(stderr, "heap_responder: %s: %s\n", dev, strerror(-ret));
		return 1;
	}
	while (!stop) {
		ret = hd_take_alloc(&d, &ev, 500);
		if (ret < 0 && ret != -EINTR) {
			fprintf(stderr, "heap_responder: reading events: %s\n", strerror(-ret));
			return 1;
		}
		if (ret != 1)
			continue;
		ret = respond(&d, &ev);
		if (ret) {
			fprintf(stderr, "heap_responder: answering request %llu (%llu bytes): %s\n",
				(unsigned long long)ev.cookie, (unsigned long long)ev.size,
				strerror(-ret));
			hd_answer_error(&d, ev.cookie, EIO);
			failed = 1;
		}
		answered++;
	}
	fprintf(stderr, "heap_responder: %lu requests answered\n", answered);
	return failed;
}

static int wait_served(const char *heap, int seconds)
{
	time_t end = time(NULL) + seconds;
	int hfd = open(heap, O_RDONLY | O_CLOEXEC);

	if (hfd < 0) {
		fprintf(stderr, "heap_responder: %s: %s\n", heap, strerror(errno));
		return 1;
	}
	while (time(NULL) < end) {
		struct dma_heap_allocation_data a = {.len = 4096, .fd_flags = O_RDWR | O_CLOEXEC};

		if (ioctl(hfd, DMA_HEAP_IOCTL_ALLOC, &a) == 0) {
			close((int)a.fd);
			close(hfd);
			return 0;
		}
		if (errno != ENODEV) {
			/* Served, if not with memory: that is the daemon's business. */
			close(hfd);
			return 0;
		}
		usleep(50000);
	}
	fprintf(stderr, "heap_responder: nobody served %s within %d s\n", heap, seconds);
	close(hfd);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "--wait-served") == 0)
		return wait_served(argv[2], argc > 3 ? atoi(argv[3]) : 30);
	if (argc == 1)
		return serve("/dev/uio_cma0");
	if (argc == 3 && strcmp(argv[1], "--device") == 0)
		return serve(argv[2]);
	fprintf(stderr, "usage: %s [--device DEV] | --wait-served HEAP [SECONDS]\n", argv[0]);
	return 2;
}
