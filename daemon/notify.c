/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "allocator.h"
#include "daemon.h"
#include "notify.h"
#include "notify_socket.h"

#define MiB(x) ((double)(x) / (1024.0 * 1024.0))

static void on_status_tick(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct allocator_stats st;
	char status[256];

	allocator_get_stats(d->core.alloc, &st);
	snprintf(status, sizeof(status),
		 "STATUS=backend %s: %u buffers, %.1f MiB used, %.1f MiB free, largest free "
		 "%.1f MiB, %u clients",
		 d->core.region.backend, d->core.ledger.count, MiB(core_used_bytes(&d->core)),
		 MiB(st.free), MiB(st.largest_free), d->server.nclients);
	if (d->unused_region[0]) /* region_watch.c: where the operator looks first */
		snprintf(status + strlen(status), sizeof(status) - strlen(status),
			 "; uio_cma region %s unused: systemctl restart cmabufd", d->unused_region);
	if (strcmp(status, d->last_status) != 0) {
		notify_socket_send(status, -1);
		memcpy(d->last_status, status, sizeof(d->last_status));
	}
}

static void on_watchdog_tick(evutil_socket_t fd, short what, void *arg)
{
	notify_socket_send("WATCHDOG=1", -1);
}

static struct event *every(struct daemon *d, uint64_t usec, event_callback_fn fn)
{
	struct timeval tv = {(time_t)(usec / 1000000), (suseconds_t)(usec % 1000000)};
	struct event *ev = event_new(d->base, -1, EV_PERSIST, fn, d);

	if (ev && event_add(ev, &tv) < 0) {
		event_free(ev);
		ev = NULL;
	}
	return ev;
}

int notify_start(struct daemon *d)
{
	uint64_t usec = 0;

	if (!getenv("NOTIFY_SOCKET"))
		return 0; /* not under systemd: nobody to tell */
	d->ev_status = every(d, 1000000, on_status_tick);
	if (!d->ev_status)
		return -ENOMEM;
	if (sd_watchdog_enabled(0, &usec) > 0) {
		/* Twice per period, as sd_watchdog_enabled(3) advises. */
		d->ev_watchdog = every(d, usec / 2, on_watchdog_tick);
		if (!d->ev_watchdog)
			return -ENOMEM;
	}
	on_status_tick(-1, 0, d);
	return 0;
}

void notify_stop(struct daemon *d)
{
	if (d->ev_status)
		event_free(d->ev_status);
	if (d->ev_watchdog)
		event_free(d->ev_watchdog);
	d->ev_status = d->ev_watchdog = NULL;
}
