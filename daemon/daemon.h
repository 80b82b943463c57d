/* SPDX-License-Identifier: MIT */
/*
 * The wiring: one core, the socket door, and the backend with its zeroing
 * worker, owned by main.c. Only this level knows all three; service.c carries
 * the core's decisions out on the backend and answers through the doors.
 */
#ifndef CMABUF_DAEMON_H
#define CMABUF_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include "core.h"
#include "heap.h"
#include "options.h"
#include "server.h"

struct backend;
struct event;
struct event_base;
struct udev_monitor;
struct zeroing;

struct daemon {
	const struct options *opt;
	struct event_base *base;
	struct backend *be;
	struct core core;
	bool core_ready;		       /* core_init() done: the backend is known */
	struct server server;		       /* front/: the socket door */
	struct heap_door heap;		       /* front/: the dma-heap door (uio) */
	bool heap_ready;		       /* heap_door_init() done */
	struct config config;		       /* the policy file as loaded, for the core */
	const char *config_path;	       /* NULL: built-in defaults */
	struct event *ev_status, *ev_watchdog; /* notify.c */
	char last_status[256];
	struct event *ev_metrics_file; /* metrics_file.c */
	int metrics_file_error;	       /* the last write's error, to log changes only */
	struct event *ev_backend;
	struct event *ev_prepare;     /* idle priority: the backend's work ahead (prepare) */
	struct udev_monitor *monitor; /* while waiting for a uio_cma region, or watching for one */
	struct event *ev_monitor;
	char unused_region[32];	 /* region_watch.c: "uio0" appeared while on memfd, or "" */
	struct zeroing *zeroing; /* NULL when the backend's buffers start zeroed */
	bool retrying_parked;	 /* service.c: inside retry_parked(), not to nest it */
	int exit_code;
};

/*
 * The event loop's priorities: requests and everything else at DAEMON_PRIO_NORMAL
 * (libevent's default), the backend's work ahead only when nothing else is
 * ready (DAEMON_PRIO_IDLE).
 */
#define DAEMON_PRIORITIES 3
#define DAEMON_PRIO_IDLE  2

/* service.c: what the socket door asks of the wiring. */
extern const struct server_hooks service_hooks;

/* The backend's release callback: the range returns to the allocator. */
void service_buffer_released(void *ctx, uint64_t cookie);
/* The zeroing thread finished a range (the zeroing_done_fn). */
void service_range_zeroed(void *ctx, uint64_t offset, uint64_t size, int err);
/* A request was served: let the backend prepare the next ones once the loop is idle. */
void daemon_prepare_soon(struct daemon *d);
/* heap_service.c: the heap door on the backend's heap requests (when it has them). */
int heap_service_start(struct daemon *d);
void heap_service_stop(struct daemon *d);

/* SIGHUP: the policy file again; clients and buffers stay. Keeps the old one on error. */
int service_reload(struct daemon *d, char *err, size_t cap);

#endif
