/* SPDX-License-Identifier: MIT */
/*
 * Throughput: alloc/free pairs per second with 1, 4, 16 and 64 concurrent
 * client processes, each on its own connection, against cmabufd, the floor
 * server and the tracking floor (the floor plus the memfd backend's release
 * tracking: a reopened description for the client, a lease probe and close on
 * its FREE). Rounds alternate between servers; the table shows each median.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "free_awaited.h"
#include "clock.h"
#include "cmabuf.h"
#include "daemon_child.h"
#include "floor.h"
#include "sizes.h"
#include "stats.h"

#define REGION	    (512ull << 20)
#define MAX_CLIENTS 64
#define MAX_ROUNDS  5
#define SIZE	    NV12_1080P

enum mode { M_FLOOR, M_TRACKED, M_CMABUF, M_AWAITED, M_COUNT };

static const char *const mode_name[M_COUNT] = {"floor", "tracking floor", "cmabufd",
					       "cmabufd, FREE awaited"};

struct shared {
	volatile int stop;
	uint64_t count[MAX_CLIENTS];
};

static void die(const char *what)
{
	fprintf(stderr, "throughput client: %s\n", what);
	_exit(1);
}

static uint64_t loop_floor(const char *path, struct shared *sh, int ready, int go)
{
	int sock = floor_connect(path), fd;
	uint64_t n = 0;
	char c = 0;

	if (write(ready, &c, 1) != 1 || read(go, &c, 1) < 0)
		die("barrier");
	while (!sh->stop) {
		fd = floor_alloc(sock, SIZE);
		if (fd < 0)
			die("floor_alloc");
		close(fd);
		n++;
	}
	return n;
}

static uint64_t loop_tracked(const char *path, struct shared *sh, int ready, int go)
{
	int sock = floor_connect(path), fd;
	uint64_t n = 0, id;
	char c = 0;

	if (write(ready, &c, 1) != 1 || read(go, &c, 1) < 0)
		die("barrier");
	while (!sh->stop) {
		fd = floor_tracked_alloc(sock, SIZE, &id);
		if (fd < 0)
			die("floor_tracked_alloc");
		close(fd); /* before the free, as cmabuf_free does */
		if (floor_tracked_free(sock, id) < 0)
			die("floor_tracked_free");
		n++;
	}
	return n;
}

static uint64_t loop_cmabuf(const char *path, struct shared *sh, int ready, int go)
{
	struct cmabuf_alloc_desc d = {.size = SIZE, .name = "bench"};
	struct cmabuf_buffer *buf;
	struct cmabuf *cb;
	uint64_t n = 0;
	char c = 0;

	if (cmabuf_connect(path, &cb) < 0)
		die("cmabuf_connect");
	if (write(ready, &c, 1) != 1 || read(go, &c, 1) < 0)
		die("barrier");
	while (!sh->stop) {
		if (cmabuf_alloc(cb, &d, &buf) < 0)
			die(cmabuf_last_error(cb));
		cmabuf_free(buf);
		n++;
	}
	cmabuf_disconnect(cb);
	return n;
}

static uint64_t loop_awaited(const char *path, struct shared *sh, int ready, int go)
{
	struct cmabuf_conn conn;
	uint64_t n = 0, id;
	char c = 0;
	int fd;

	if (cmabuf_conn_open(&conn, path) < 0)
		die(conn.last_error);
	if (write(ready, &c, 1) != 1 || read(go, &c, 1) < 0)
		die("barrier");
	while (!sh->stop) {
		fd = proto_alloc(&conn, SIZE, &id);
		if (fd < 0 || proto_free_awaited(&conn, id, fd) < 0)
			die(conn.last_error);
		n++;
	}
	cmabuf_conn_close(&conn);
	return n;
}

/* One round: nclients processes hammer one server for secs; returns pairs per second. */
static double round_once(enum mode m, const char *path, unsigned nclients, double secs,
			 struct shared *sh)
{
	int ready[2], go[2];
	pid_t pids[MAX_CLIENTS], parent;
	struct timespec ts = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
	uint64_t t0, t1, total = 0;
	unsigned i;
	char c;

	if (pipe(ready) < 0 || pipe(go) < 0) {
		perror("pipe");
		exit(1);
	}
	memset(sh, 0, sizeof(*sh));
	parent = getpid();
	fflush(NULL);
	for (i = 0; i < nclients; i++) {
		pids[i] = fork();
		if (pids[i] < 0) {
			perror("fork");
			exit(1);
		}
		if (pids[i] == 0) {
			die_with_parent(parent);
			close(ready[0]);
			close(go[1]);
			if (m == M_FLOOR)
				sh->count[i] = loop_floor(path, sh, ready[1], go[0]);
			else if (m == M_TRACKED)
				sh->count[i] = loop_tracked(path, sh, ready[1], go[0]);
			else if (m == M_CMABUF)
				sh->count[i] = loop_cmabuf(path, sh, ready[1], go[0]);
			else
				sh->count[i] = loop_awaited(path, sh, ready[1], go[0]);
			_exit(0);
		}
	}
	close(ready[1]);
	close(go[0]);
	for (i = 0; i < nclients; i++)
		if (read(ready[0], &c, 1) != 1) {
			fprintf(stderr, "a client failed to connect\n");
			exit(1);
		}
	t0 = now_ns();
	close(go[1]); /* everyone's read returns 0 at once */
	nanosleep(&ts, NULL);
	sh->stop = 1;
	t1 = now_ns();
	for (i = 0; i < nclients; i++) {
		int status;

		waitpid(pids[i], &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "a %s client failed\n", mode_name[m]);
			exit(1);
		}
		total += sh->count[i];
	}
	close(ready[0]);
	return (double)total / ((double)(t1 - t0) / 1e9);
}

int main(int argc, char **argv)
{
	static const unsigned clients[] = {1, 4, 16, 64};
	double rate[4][M_COUNT][MAX_ROUNDS], med[M_COUNT];
	struct bench_args args;
	struct daemon_child dc;
	struct floor_server fs;
	struct shared *sh;
	unsigned c, rounds, r;
	double secs;
	int m;

	bench_args_parse(argc, argv, "Alloc/free pairs per second with concurrent clients.", &args);
	rounds = args.quick ? 1 : 3;
	secs = args.quick ? 0.2 : 1.0;
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	raise_fd_limit();
	daemon_child_start(&dc, args.daemon, REGION, 0);
	floor_server_start(&fs);
	for (r = 0; r < rounds; r++)
		for (c = 0; c < 4; c++)
			for (m = 0; m < M_COUNT; m++) {
				/* Rotate the order so no server always runs first. */
				int mm = (m + (int)(r + c)) % M_COUNT;
				const char *path =
					mm == M_FLOOR || mm == M_TRACKED ? fs.socket : dc.socket;

				rate[c][mm][r] =
					round_once((enum mode)mm, path, clients[c], secs, sh);
			}
	printf("\nThroughput: alloc/free pairs per second, %s buffers, median of %u rounds of "
	       "%.1f s\n",
	       "1080p NV12", rounds, secs);
	printf("%-7s | %9s | %9s | %9s %5s %5s | %9s %5s | %s\n", "clients", "floor", "tracking",
	       "cmabufd", "/flr", "/trk", "awaited", "/flr", "goal (16: ≥ 0.9 tracking floor)");
	for (c = 0; c < 4; c++) {
		for (m = 0; m < M_COUNT; m++)
			med[m] = median_d(rate[c][m], rounds);
		printf("%-7u | %9.0f | %9.0f | %9.0f %5.2f %5.2f | %9.0f %5.2f | %s\n", clients[c],
		       med[M_FLOOR], med[M_TRACKED], med[M_CMABUF], med[M_CMABUF] / med[M_FLOOR],
		       med[M_CMABUF] / med[M_TRACKED], med[M_AWAITED],
		       med[M_AWAITED] / med[M_FLOOR],
		       clients[c] != 16			       ? ""
		       : med[M_CMABUF] >= 0.9 * med[M_TRACKED] ? "met"
							       : "MISSED");
	}
	printf("(tracking floor: the floor plus the memfd backend's release tracking, a reopened\n"
	       " description for the client and a lease probe + close on its FREE; awaited: the\n"
	       " same daemon with FREE awaiting its OK, as cmabuf_free did before FREE_NOREPLY)\n");
	floor_server_stop(&fs);
	daemon_child_stop(&dc);
	munmap(sh, sizeof(*sh));
	return 0;
}
