/* SPDX-License-Identifier: MIT */
/*
 * Why announce and not switch: buffers handed out on memfd cannot move into
 * the region, so a switch is possible only with none live, and even then every
 * connected client learned the region's size and backend at HELLO and would
 * be talking to another one. A restart says so to everyone at once, and
 * systemd's `systemctl restart cmabufd` is one command.
 */
#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "daemon.h"
#include "log.h"
#include "region_watch.h"
#include "uio_locate.h"

static void stop_watching(struct daemon *d)
{
	event_free(d->ev_monitor);
	d->ev_monitor = NULL;
	uio_monitor_free(d->monitor);
	d->monitor = NULL;
}

static void on_region_event(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct uio_region r;

	uio_monitor_drain(d->monitor);
	if (uio_locate(&r) < 0)
		return; /* not complete yet (the UIO device comes before its control device) */
	snprintf(d->unused_region, sizeof(d->unused_region), "%s", r.uio_name);
	d->server.status_flags |= CMABUF_STATUS_UIO_REGION_UNUSED;
	log_warn("a uio_cma region appeared (%s, %" PRIu64 " MiB at 0x%" PRIx64 ", %s) after "
		 "cmabufd started on the memfd backend; it stays on memfd, since buffers it "
		 "handed out cannot move. To use the region, restart cmabufd (systemctl restart "
		 "cmabufd) once no client holds buffers (cmabufctl buffers): memfd buffers held "
		 "across the restart stay valid but are no longer tracked",
		 r.uio_name, r.size >> 20, r.base, r.ctl_path);
	stop_watching(d); /* said once */
}

int region_watch_start(struct daemon *d)
{
	if (d->opt->backend != BACKEND_AUTO || strcmp(d->be->name, "memfd") != 0)
		return 0;
	d->monitor = uio_monitor_new();
	if (!d->monitor) { /* not fatal: memfd serves without it */
		log_warn("cannot watch for a uio_cma region appearing later (no udev monitor); "
			 "restart cmabufd after loading uio_cma to use it");
		return 0;
	}
	d->ev_monitor = event_new(d->base, uio_monitor_fd(d->monitor), EV_READ | EV_PERSIST,
				  on_region_event, d);
	if (!d->ev_monitor || event_add(d->ev_monitor, NULL) < 0)
		return -ENOMEM;
	return 0;
}
