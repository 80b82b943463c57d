/* SPDX-License-Identifier: MIT */
/*
 * Choosing the backend, adopting buffers an earlier daemon left alive, and
 * waiting for a uio_cma region when one was asked for but is not there yet.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libudev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "allocator.h"
#include "backend.h"
#include "clock.h"
#include "config_file.h"
#include "daemon.h"
#include "fdstore.h"
#include "log.h"
#include "metrics_file.h"
#include "notify.h"
#include "notify_socket.h"
#include "privileges.h"
#include "region_watch.h"
#include "server.h"
#include "startup.h"
#include "uio_locate.h"
#include "zeroing.h"

static void on_backend_event(evutil_socket_t fd, short what, void *arg)
{
	struct backend *be = arg;

	be->ops->dispatch(be);
}

/*
 * Idle: one piece of the backend's work ahead. Lower priority than any
 * request, so a request that arrives meanwhile waits for one piece at most.
 */
static void on_prepare(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	if (d->be->ops->prepare(d->be))
		event_active(d->ev_prepare, EV_TIMEOUT, 0);
}

void daemon_prepare_soon(struct daemon *d)
{
	if (d->ev_prepare) /* already active: libevent leaves it as it is */
		event_active(d->ev_prepare, EV_TIMEOUT, 0);
}

static int open_backend(struct daemon *d, const char **why)
{
	struct uio_region r;
	int ret = d->opt->backend == BACKEND_MEMFD ? -ENOENT : uio_locate(&r);

	if (ret == 0) {
		*why = d->opt->backend == BACKEND_AUTO ? " (a uio_cma region exists)" : "";
		return backend_uio_create(&r, &d->be);
	}
	if (d->opt->backend == BACKEND_UIO)
		return ret;
	*why = d->opt->backend == BACKEND_AUTO ? " (default: no uio_cma region found)" : "";
	return backend_memfd_create(d->opt->region_size, &d->be);
}

/*
 * Its name as the stub knows it (a heap caller's "heap:COMM", or what
 * DMA_BUF_SET_NAME set), so that `cmabufctl buffers` still tells whose it is.
 */
static void name_adopted(struct daemon *d, uint64_t cookie)
{
	struct buffer *b = ledger_find(&d->core.ledger, cookie_id(cookie));
	struct backend_query q;

	if (!b || !d->be->ops->query || d->be->ops->query(d->be, cookie, &q) < 0 || !q.name[0] ||
	    cmabuf_name_problem(q.name))
		return;
	snprintf(b->name, sizeof(b->name), "%s", q.name);
}

/* A buffer still alive from an earlier daemon: keep its range until it is released. */
static int adopt(struct daemon *d, const struct backend_live *l)
{
	struct core_time now = {now_ms(CLOCK_MONOTONIC), now_ms(CLOCK_REALTIME)};
	int ret = core_adopt(&d->core, l->offset, l->size, l->cookie, &now);

	if (ret == 0)
		name_adopted(d, l->cookie);
	return ret;
}

static int adopt_survivors(struct daemon *d)
{
	struct backend_live *live = NULL;
	int n = d->be->ops->list_live(d->be, NULL, 0), i, got, ret = 0;

	if (n <= 0)
		return n;
	live = calloc((size_t)n, sizeof(*live));
	got = live ? d->be->ops->list_live(d->be, live, (size_t)n) : -ENOMEM;
	for (i = 0; i < got && i < n && ret == 0; i++)
		ret = adopt(d, &live[i]);
	free(live);
	if (got < 0 || ret < 0) {
		log_error("cannot adopt buffers an earlier cmabufd left alive: %s",
			  strerror(got < 0 ? -got : -ret));
		return got < 0 ? got : ret;
	}
	log_info("%d buffers (%.1f MiB) are still held from an earlier cmabufd; their ranges "
		 "return to the pool when their holders close them",
		 i, (double)d->core.ledger.pending_release_bytes / 1048576.0);
	return 0;
}

struct stored_tally {
	struct daemon *d;
	unsigned held, closed, refused, foreign;
};

static void take_stored_buffer(void *ctx, int fd, const struct backend_live *l, const char *name)
{
	struct stored_tally *t = ctx;
	const char *why = NULL;
	int ret;

	if (strcmp(t->d->be->name, "memfd") != 0) { /* an earlier memfd daemon's */
		close(fd);
		fdstore_remove_name(name);
		t->foreign++;
		return;
	}
	ret = backend_memfd_adopt(t->d->be, fd, l, &why);
	if (ret >= 0) {
		*(ret ? &t->held : &t->closed) += 1;
		return;
	}
	t->refused++;
	log_warn("file-descriptor store: %s refused: %s; closed, never adopted", name,
		 why ? why : strerror(-ret));
	if (ret == -EINVAL)
		fdstore_remove_name(name);
}

/*
 * memfd buffers an earlier daemon put in systemd's file-descriptor store,
 * before adopt_survivors() lists them. Those whose holders all closed them
 * while no daemon watched are dropped here: nobody can reach them any more.
 */
static void take_stored_buffers(struct daemon *d)
{
	struct stored_tally t = {.d = d};

	passed_fds_take_buffers(take_stored_buffer, &t);
	if (t.foreign)
		log_warn("file-descriptor store: %u memfd buffers from an earlier cmabufd came "
			 "back, but this one runs the %s backend: closed and removed from the "
			 "store; "
			 "their holders keep valid memory, but nobody tracks or charges it",
			 t.foreign, d->be->name);
	if (t.held + t.closed + t.refused)
		log_info("file-descriptor store: %u buffers from an earlier cmabufd: %u still held "
			 "(adopted), %u already closed by all their holders (released), %u refused",
			 t.held + t.closed + t.refused, t.held, t.closed, t.refused);
}

/* The policy file, if there is one: a missing default file means the built-in policy. */
static int load_policy(struct daemon *d)
{
	const struct options *opt = d->opt;
	char err[512];
	int ret;

	d->config_path = NULL;
	if (!opt->config_path)
		return 0;
	ret = config_load(opt->config_path, d->be->size, &d->config, err, sizeof(err));
	if (ret == -ENOENT && !opt->config_explicit)
		return 0;
	if (ret < 0) {
		log_error("%s", err);
		return ret;
	}
	d->config_path = opt->config_path;
	return 0;
}

/* The core, once the backend says what the region is. */
static int init_core(struct daemon *d)
{
	struct core_region region = {
		.base = d->be->base, .size = d->be->size, .physical = d->be->physical};
	int ret;

	cmabuf_copy_name(region.backend, sizeof(region.backend), d->be->name);
	ret = core_init(&d->core, &region, (uint64_t)sysconf(_SC_PAGESIZE),
			d->be->ops->clear != NULL, d->config_path ? &d->config : NULL,
			d->config_path, geteuid());
	if (ret < 0)
		return ret;
	d->core_ready = true;
	d->core.max_buffers_per_client = d->opt->max_buffers_per_client;
	d->core.reclaim_deadline_ms = d->opt->reclaim_deadline_explicit
					      ? d->opt->reclaim_deadline_ms
					      : d->core.policy.cfg.reclaim_deadline_ms;
	return 0;
}

static int clear_range(void *ctx, uint64_t offset, uint64_t size)
{
	struct daemon *d = ctx;

	return d->be->ops->clear(d->be, offset, size);
}

struct extent_list {
	struct backend_live *v;
	size_t n, cap;
};

static int collect_extent(uint64_t offset, uint64_t size, void *ctx)
{
	struct extent_list *l = ctx;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct backend_live *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n].offset = offset;
	l->v[l->n++].size = size;
	return 0;
}

/*
 * Whatever the region held before this daemon (a previous owner's frames,
 * garbage from boot) is nobody's business: take every free extent out and
 * let the zeroing thread give it back.
 */
static int zero_free_space(struct daemon *d)
{
	struct extent_list l = {NULL, 0, 0};
	size_t i;
	int ret;

	d->zeroing = zeroing_new(d->base, clear_range, service_range_zeroed, d);
	if (!d->zeroing)
		return -ENOMEM;
	ret = allocator_for_each_free(d->core.alloc, collect_extent, &l);
	for (i = 0; i < l.n && ret == 0; i++) {
		ret = core_take_for_zeroing(&d->core, l.v[i].offset, l.v[i].size);
		if (ret == 0)
			ret = zeroing_submit(d->zeroing, l.v[i].offset, l.v[i].size);
	}
	free(l.v);
	return ret;
}

/*
 * systemd socket activation: exactly one SEQPACKET socket. Buffers from the
 * file-descriptor store come in the same LISTEN_FDS; they are not ours here.
 */
static int inherited_socket(int *out)
{
	int fd = -1, n = passed_fds_others(&fd);

	if (n <= 0)
		return -ENOENT;
	if (n > 1 || sd_is_socket_unix(fd, SOCK_SEQPACKET, 1, NULL, 0) <= 0) {
		log_error("systemd passed %d sockets; expected one listening SOCK_SEQPACKET socket",
			  n);
		return -EINVAL;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	*out = fd;
	return 0;
}

static int start_serving(struct daemon *d)
{
	int fd = -1, ret = inherited_socket(&fd);

	if (ret < 0 && ret != -ENOENT)
		return ret;
	return server_start(&d->server, fd);
}

/* Where clients connect: our own socket, or the one systemd passed us. */
static const char *listening_path(const struct daemon *d, struct sockaddr_un *sa)
{
	socklen_t len = sizeof(*sa);

	memset(sa, 0, sizeof(*sa));
	if (d->server.socket_bound ||
	    getsockname(d->server.listen_fd, (struct sockaddr *)sa, &len) < 0 || !sa->sun_path[0])
		return d->opt->socket_path;
	return sa->sun_path;
}

/* After a crash: what came back, and exactly what could not. */
static void say_what_survived(const struct daemon *d)
{
	bool memfd = strcmp(d->be->name, "memfd") == 0;
	const char *room = getenv("FDSTORE"); /* systemd 254+: FileDescriptorStoreMax */

	if (memfd && fdstore_available())
		log_info("memfd buffers go into systemd's file-descriptor store, so that they "
			 "survive a daemon crash%s%s",
			 room ? "; room for " : "", room ? room : "");
	if (!d->server.after_crash)
		return;
	if (memfd && !fdstore_available())
		log_warn("an earlier cmabufd did not shut down cleanly; the memfd backend cannot "
			 "recover its buffers: not started by systemd (NOTIFY_SOCKET unset), so "
			 "there is no file-descriptor store and how many buffers there were is "
			 "unknown. Their holders keep valid memory, but this daemon does not track "
			 "or charge them, and may hand their offsets out again (memfd pages are "
			 "never shared, so no memory is)");
	else if (memfd)
		log_info("an earlier cmabufd did not shut down cleanly; its live buffers, if any, "
			 "were recovered from systemd's file-descriptor store");
	else
		log_info("an earlier cmabufd did not shut down cleanly; its live buffers, if any, "
			 "were recovered from the stub's list");
}

static void announce(const struct daemon *d, const char *why)
{
	struct sockaddr_un sa;

	log_info("backend %s%s: region of %" PRIu64 " MiB at device address 0x%" PRIx64
		 ", serving on %s%s",
		 d->be->name, why, d->be->size >> 20, d->be->base, listening_path(d, &sa),
		 d->server.socket_bound ? "" : " (from systemd)");
	if (d->config_path)
		log_info("policy from %s: %u pools, %u classes", d->config_path,
			 d->core.policy.cfg.npools, d->core.policy.cfg.nclasses);
	else
		log_info("no %s: built-in policy (one pool; each uid but root at most half the "
			 "region)",
			 d->opt->config_path);
	say_what_survived(d);
	notify_socket_sendf("READY=1\nSTATUS=backend %s, %" PRIu64 " MiB region, serving",
			    d->be->name, d->be->size >> 20);
}

/* Everything after the backend is known: the allocator, survivors, the socket. */
static int finish_setup(struct daemon *d, const char *why)
{
	int efd, ret;

	d->be->on_released = service_buffer_released;
	d->be->released_ctx = d;
	ret = load_policy(d);
	if (ret == 0)
		ret = init_core(d);
	if (ret < 0)
		return ret;
	efd = d->be->ops->event_fd(d->be);
	if (efd >= 0) {
		d->ev_backend =
			event_new(d->base, efd, EV_READ | EV_PERSIST, on_backend_event, d->be);
		if (!d->ev_backend || event_add(d->ev_backend, NULL) < 0)
			return -ENOMEM;
	}
	if (d->be->ops->prepare) {
		d->ev_prepare = event_new(d->base, -1, 0, on_prepare, d);
		if (!d->ev_prepare || event_priority_set(d->ev_prepare, DAEMON_PRIO_IDLE) < 0)
			return -ENOMEM;
	}
	ret = heap_service_start(d);
	if (ret < 0)
		return ret;
	take_stored_buffers(d);
	ret = adopt_survivors(d);
	if (ret == 0 && d->be->ops->clear)
		ret = zero_free_space(d);
	if (ret == 0)
		ret = start_serving(d);
	if (ret == 0) /* first: the first log line names the backend */
		announce(d, why);
	if (ret == 0) /* before the loop serves anyone */
		ret = privileges_drop(d->opt);
	if (ret == 0)
		ret = notify_start(d);
	if (ret == 0)
		ret = metrics_file_start(d);
	if (ret == 0)
		ret = region_watch_start(d);
	return ret;
}

static void on_device_event(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	const char *why = "";
	int ret;

	uio_monitor_drain(d->monitor);
	if (open_backend(d, &why) < 0)
		return; /* not ours, or not complete yet: keep waiting */
	event_free(d->ev_monitor);
	d->ev_monitor = NULL;
	uio_monitor_free(d->monitor);
	d->monitor = NULL;
	ret = finish_setup(d, " (region appeared)");
	if (ret < 0) {
		log_error("startup failed: %s", strerror(-ret));
		d->exit_code = EXIT_FAILURE;
		event_base_loopexit(d->base, NULL);
	}
}

static int wait_for_region(struct daemon *d)
{
	d->monitor = uio_monitor_new();
	if (!d->monitor)
		return -ENOMEM;
	d->ev_monitor = event_new(d->base, uio_monitor_fd(d->monitor), EV_READ | EV_PERSIST,
				  on_device_event, d);
	if (!d->ev_monitor || event_add(d->ev_monitor, NULL) < 0)
		return -ENOMEM;
	log_info("--backend=uio: no uio_cma region yet; waiting for one to appear "
		 "(load the uio_cma module, see docs/kmod.md)");
	notify_socket_send("STATUS=waiting for a uio_cma region", -1);
	return 0;
}

int daemon_start(struct daemon *d)
{
	const char *why = "";
	int ret = passed_fds_collect();

	if (ret == 0)
		ret = open_backend(d, &why);
	if (ret == -ENOENT && d->opt->backend == BACKEND_UIO)
		return wait_for_region(d);
	if (ret < 0)
		return ret;
	return finish_setup(d, why);
}

void daemon_stop(struct daemon *d)
{
	metrics_file_stop(d);
	notify_stop(d);
	heap_service_stop(d);
	server_stop(&d->server);
	if (d->ev_monitor)
		event_free(d->ev_monitor);
	uio_monitor_free(d->monitor);
	zeroing_free(d->zeroing);
	if (d->ev_backend)
		event_free(d->ev_backend);
	if (d->ev_prepare)
		event_free(d->ev_prepare);
	/* The ledger's entries go; buffers still held elsewhere stay with the backend. */
	if (d->core_ready)
		core_fini(&d->core);
	if (d->be)
		d->be->ops->destroy(d->be);
}
