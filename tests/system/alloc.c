/* SPDX-License-Identifier: MIT */
/*
 * alloc SIZE: one buffer of SIZE bytes from cmabufd; prints the daemon's answer.
 * alloc hold N SIZE: N buffers, each filled with its own byte, held; prints "holding N".
 * On SIGUSR1 it checks every buffer through its old mapping and a new mmap of its
 * descriptor and prints "verified N" (or what differed); SIGINT ends it.
 */
#include <cmabuf.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HOLD_MAX 64

static int one(uint64_t size)
{
	struct cmabuf_alloc_desc desc = {.name = "systest", .size = size};
	struct cmabuf_buffer *buf;
	struct cmabuf *cb;
	int ret;

	if ((ret = cmabuf_connect(NULL, &cb)) < 0)
		return printf("connect: %s\n", strerror(-ret)), 1;
	if ((ret = cmabuf_alloc(cb, &desc, &buf)) < 0) {
		printf("alloc: %s: %s\n", strerror(-ret), cmabuf_last_error(cb));
		cmabuf_disconnect(cb);
		return 1;
	}
	printf("allocated %llu bytes\n", (unsigned long long)cmabuf_buffer_size(buf));
	cmabuf_free(buf);
	cmabuf_disconnect(cb);
	return 0;
}

/* Every byte of both mappings is the buffer's own: 0, or the first index that is not. */
static int check(struct cmabuf_buffer *b, const uint8_t *old, uint64_t size, uint8_t want)
{
	const uint8_t *fresh = mmap(NULL, size, PROT_READ, MAP_SHARED, cmabuf_buffer_fd(b), 0);
	int bad = 0;

	if (fresh == MAP_FAILED)
		return -1;
	for (uint64_t i = 0; i < size && !bad; i++)
		bad = old[i] != want || fresh[i] != want;
	munmap((void *)fresh, size);
	return bad;
}

static int hold(int n, uint64_t size)
{
	struct cmabuf_alloc_desc desc = {.name = "systest-hold", .size = size};
	struct cmabuf_buffer *buf[HOLD_MAX];
	uint8_t *map[HOLD_MAX];
	struct cmabuf *cb;
	sigset_t set;
	int sig, i, ret, bad;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (n < 1 || n > HOLD_MAX || (ret = cmabuf_connect(NULL, &cb)) < 0)
		return printf("hold: bad count, or cannot connect\n"), 1;
	for (i = 0; i < n; i++) {
		if ((ret = cmabuf_alloc(cb, &desc, &buf[i])) < 0 || !(map[i] = cmabuf_map(buf[i])))
			return printf("alloc: %s: %s\n", strerror(-ret), cmabuf_last_error(cb)), 1;
		memset(map[i], 0x40 + i, size);
	}
	printf("holding %d\n", n);
	fflush(stdout);
	while (sigwait(&set, &sig) == 0 && sig == SIGUSR1) {
		for (i = 0, bad = 0; i < n && !bad; i++)
			bad = check(buf[i], map[i], size, (uint8_t)(0x40 + i)) ? i + 1 : 0;
		if (bad)
			printf("buffer %d does not read back its bytes\n", bad - 1);
		else
			printf("verified %d\n", n);
		fflush(stdout);
	}
	return 0; /* the buffers go with the process */
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "hold"))
		return hold(atoi(argv[2]), strtoull(argv[3], NULL, 0));
	if (argc != 2)
		return fprintf(stderr, "usage: alloc SIZE | alloc hold N SIZE\n"), 2;
	return one(strtoull(argv[1], NULL, 0));
}
