/* SPDX-License-Identifier: MIT */
/* The daemon's shared state, owned by main.c and used by the server and the request handlers. */
#ifndef CMABUF_DAEMON_H
#define CMABUF_DAEMON_H

#include <bsd/sys/queue.h>
#include <stdbool.h>
#include <stdint.h>

#include "ledger.h"
#include "metrics.h"
#include "options.h"
#include "policy.h"
#include "refusals.h"
struct allocator;
struct backend;
struct client;
struct pending_alloc;
struct event;
struct event_base;
struct udev_monitor;
struct zeroing;

TAILQ_HEAD(client_list, client);

struct daemon_stats {
	uint64_t allocations;
	uint64_t failures;
	uint64_t evictions;
	uint32_t reloads;
};

TAILQ_HEAD(pending_list, pending_alloc);

struct daemon {
	const struct options *opt;
	struct event_base *base;
	struct backend *be;
	struct allocator *alloc;
	struct ledger ledger;
	struct client_list clients;
	unsigned nclients;
	struct pending_list pending_allocs;
	uint32_t reclaim_deadline_ms;
	struct policy policy;
	struct event *ev_status, *ev_watchdog; /* notify.c */
	char last_status[256];
	uint64_t next_id;
	uint64_t start_ms;
	struct daemon_stats stats;
	struct metrics metrics;	       /* metrics.c: refusal kinds, reclaims, latency */
	struct refusals refusals;      /* refusals.c: the last refused ALLOCs */
	struct event *ev_metrics_file; /* metrics_file.c */
	int metrics_file_error;	       /* the last write's error, to log changes only */
	int listen_fd;
	bool socket_bound; /* we created the socket file, so we remove it */
	bool after_crash;  /* an earlier cmabufd left its socket behind */
	struct event *ev_listen;
	struct event *ev_backend;
	struct event *ev_prepare;     /* idle priority: the backend's work ahead (prepare) */
	struct udev_monitor *monitor; /* while waiting for a uio_cma region */
	struct event *ev_monitor;
	struct zeroing *zeroing; /* NULL when the backend's buffers start zeroed */
	bool retrying_pending;	 /* alloc.c: inside pending_allocs_retry(), not to nest it */
	int exit_code;
};

uint64_t now_ms(int clock_id);

/* The backend's release callback: the range returns to the allocator. */
void daemon_buffer_released(void *ctx, uint64_t cookie);

/* A range is free again: straight to the allocator, or through zeroing first. */
void daemon_range_free(struct daemon *d, uint64_t offset, uint64_t size);
/* The zeroing thread finished a range (the zeroing_done_fn). */
void daemon_range_zeroed(void *ctx, uint64_t offset, uint64_t size, int err);

/*
 * Stopping: the ledger's entries go (buffers still held elsewhere stay with
 * the backend: the stub's exports, the memfd store), so nothing is leaked.
 */
void daemon_forget_all_buffers(struct daemon *d);

/*
 * The event loop's priorities: requests and everything else at DAEMON_PRIO_NORMAL
 * (libevent's default), the backend's work ahead only when nothing else is
 * ready (DAEMON_PRIO_IDLE).
 */
#define DAEMON_PRIORITIES 3
#define DAEMON_PRIO_IDLE  2

/* A request was served: let the backend prepare the next ones once the loop is idle. */
void daemon_prepare_soon(struct daemon *d);

/* Owner lets go (FREE or disconnect); the buffer stays charged until released. */
void daemon_buffer_unexport(struct daemon *d, struct buffer *b);

#endif
