/* SPDX-License-Identifier: MIT */
/*
 * The floor: a bare server doing only the work no memfd-backed allocator can
 * avoid. It receives a request over SOCK_SEQPACKET, makes a sealed memfd of
 * the size (memfd_create + ftruncate + F_ADD_SEALS) and sends it back with
 * SCM_RIGHTS; the client closes it. No protocol, bookkeeping or policy: what
 * cmabufd costs beyond this is what cmabufd adds.
 */
#ifndef BENCH_FLOOR_H
#define BENCH_FLOOR_H

#include <stdint.h>
#include <sys/types.h>

struct floor_server {
	pid_t pid;
	char dir[64];
	char socket[96];
};

/* The stub's control device, which the uio floor and the benchmarks open. */
#define FLOOR_UIO_CTL "/dev/uio_cma0"

/* Forks the server (one process, epoll, any number of clients) and waits until it accepts. */
void floor_server_start(struct floor_server *fs);
void floor_server_stop(struct floor_server *fs);

/*
 * The same server handing out the uio_cma stub's dma-bufs (EXPORT of the
 * region's start) instead of memfds: the uio floor in the VM. ctl is the
 * control device; the server holds it until stopped.
 */
void floor_server_start_uio(struct floor_server *fs, const char *ctl);

/* Returns a connected client socket; exits the program on failure. */
int floor_connect(const char *path);
/* One request: returns the sealed memfd (the caller closes it) or a negative errno. */
int floor_alloc(int sock, uint64_t size);
/* uio: returns once the last buffer is released and its range cleared (untimed, between samples).
 */
int floor_settle(int sock);
/*
 * The socket floor: the server passes a memfd of that size it made once and
 * keeps (memfd backend only), so this costs the socket and SCM_RIGHTS alone.
 */
int floor_socket_only(int sock, uint64_t size);
/*
 * The tracking floor (memfd only): the release tracking of cmabufd's memfd
 * backend and nothing else. The client gets a description of its own, opened
 * through /proc; floor_tracked_free(), sent after the client closed it, makes
 * the server ask for a read lease on its own description (granted once no
 * client description is left) and close it. Returns the fd and sets *id, or a
 * negative errno; the free is one datagram with no reply, as FREE_NOREPLY.
 */
int floor_tracked_alloc(int sock, uint64_t size, uint64_t *id);
int floor_tracked_free(int sock, uint64_t id);

#endif
