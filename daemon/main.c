/* SPDX-License-Identifier: MIT */
/* cmabufd: startup, the event loop, and shutdown. */
#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "allocator.h"
#include "backend.h"
#include "daemon.h"
#include "log.h"
#include "server.h"

uint64_t now_ms(int clock_id)
{
	struct timespec ts;

	clock_gettime(clock_id, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	log_info("%s received, shutting down", strsignal((int)sig));
	sd_notify(0, "STOPPING=1");
	event_base_loopexit(d->base, NULL);
}

static void on_backend_event(evutil_socket_t fd, short what, void *arg)
{
	struct backend *be = arg;

	be->ops->dispatch(be);
}

static int open_backend(struct daemon *d)
{
	const struct options *opt = d->opt;
	int ret, efd;

	if (opt->backend == BACKEND_UIO) {
		log_error("the uio backend is not available in this build; use --backend=memfd");
		return -ENOTSUP;
	}
	ret = backend_memfd_create(opt->region_size, &d->be);
	if (ret < 0)
		return ret;
	d->be->on_released = daemon_buffer_released;
	d->be->released_ctx = d;
	efd = d->be->ops->event_fd(d->be);
	if (efd >= 0) {
		d->ev_backend =
			event_new(d->base, efd, EV_READ | EV_PERSIST, on_backend_event, d->be);
		if (!d->ev_backend || event_add(d->ev_backend, NULL) < 0)
			return -ENOMEM;
	}
	return 0;
}

static void describe_start(const struct daemon *d)
{
	const char *why =
		d->opt->backend == BACKEND_AUTO ? " (default: no uio_cma region found)" : "";

	log_info("backend %s%s: region of %" PRIu64 " MiB at device address 0x%" PRIx64
		 ", serving on %s",
		 d->be->name, why, d->be->size >> 20, d->be->base, d->opt->socket_path);
	sd_notifyf(0, "READY=1\nSTATUS=backend %s, %" PRIu64 " MiB region, 0 buffers", d->be->name,
		   d->be->size >> 20);
}

static int daemon_setup(struct daemon *d)
{
	int ret;

	d->base = event_base_new();
	if (!d->base)
		return -ENOMEM;
	ret = open_backend(d);
	if (ret < 0)
		return ret;
	d->alloc = allocator_new(d->be->size, (uint64_t)sysconf(_SC_PAGESIZE));
	if (!d->alloc)
		return -ENOMEM;
	return server_start(d);
}

static void daemon_teardown(struct daemon *d)
{
	server_stop(d);
	if (d->ev_backend)
		event_free(d->ev_backend);
	if (d->be)
		d->be->ops->destroy(d->be);
	allocator_destroy(d->alloc);
	if (d->base)
		event_base_free(d->base);
}

static int run(struct daemon *d)
{
	struct event *sigs[2];
	int i, signums[2] = {SIGTERM, SIGINT};

	for (i = 0; i < 2; i++) {
		sigs[i] = evsignal_new(d->base, signums[i], on_signal, d);
		if (!sigs[i] || event_add(sigs[i], NULL) < 0)
			return -ENOMEM;
	}
	describe_start(d);
	event_base_dispatch(d->base);
	for (i = 0; i < 2; i++)
		event_free(sigs[i]);
	return 0;
}

int main(int argc, char **argv)
{
	struct options opt;
	struct daemon d;
	int ret = options_parse(argc, argv, &opt);

	if (ret != 0)
		return ret > 0 ? EXIT_SUCCESS : 2;
	log_init(opt.verbose);
	signal(SIGPIPE, SIG_IGN);
	memset(&d, 0, sizeof(d));
	d.opt = &opt;
	d.listen_fd = -1;
	d.next_id = 1;
	d.start_ms = now_ms(CLOCK_MONOTONIC);
	ledger_init(&d.ledger);
	TAILQ_INIT(&d.clients);
	ret = daemon_setup(&d);
	if (ret == 0)
		ret = run(&d);
	else
		log_error("startup failed: %s", strerror(-ret));
	daemon_teardown(&d);
	return ret == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
