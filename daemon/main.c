/* SPDX-License-Identifier: MIT */
/* cmabufd: options, the event loop, signals. */
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>
#include <stdio.h>
#include <time.h>

#include "clock.h"
#include "daemon.h"
#include "log.h"
#include "notify_socket.h"
#include "startup.h"

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	log_info("%s received, shutting down", strsignal((int)sig));
	notify_socket_send("STOPPING=1", -1);
	event_base_loopexit(d->base, NULL);
}

/* SIGHUP: the new policy applies to new requests; clients and buffers stay. */
static void on_reload(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	char err[512];

	notify_socket_send("RELOADING=1", -1);
	if (!d->core_ready)
		snprintf(err, sizeof(err), "no region yet: the policy is read once one appears");
	if (!d->core_ready || service_reload(d, err, sizeof(err)) < 0)
		log_error("reload refused, keeping the previous policy: %s", err);
	else
		log_info("reloaded %s: %u pools, %u classes", d->config_path,
			 d->core.policy.cfg.npools, d->core.policy.cfg.nclasses);
	d->core.stats.reloads++;
	notify_socket_send("READY=1", -1);
}

/*
 * A memfd buffer costs the daemon a descriptor for as long as it lives, so the
 * soft limit most processes get (1024, systemd's default for services too)
 * would refuse buffers long before memory runs out. The hard limit is ours to
 * take; libevent uses epoll, which has no select()-style ceiling.
 */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_warn("cannot raise the descriptor limit to %llu: %s",
			 (unsigned long long)rl.rlim_max, strerror(errno));
}

static int run(struct daemon *d)
{
	struct event *sigs[3] = {NULL, NULL, NULL};
	int i, ret = 0, signums[3] = {SIGTERM, SIGINT, SIGHUP};

	for (i = 0; i < 3 && ret == 0; i++) {
		sigs[i] = evsignal_new(d->base, signums[i],
				       signums[i] == SIGHUP ? on_reload : on_signal, d);
		if (!sigs[i] || event_add(sigs[i], NULL) < 0)
			ret = -ENOMEM;
	}
	if (ret == 0)
		ret = daemon_start(d);
	if (ret == 0)
		event_base_dispatch(d->base);
	else
		log_error("startup failed: %s", strerror(-ret));
	daemon_stop(d);
	for (i = 0; i < 3; i++)
		if (sigs[i])
			event_free(sigs[i]);
	return ret;
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
	/*
	 * The memfd backend takes a read lease for the instant it asks whether a
	 * buffer is still held; a lease break in that instant must not kill us.
	 */
	signal(SIGIO, SIG_IGN);
	raise_fd_limit();
	memset(&d, 0, sizeof(d));
	d.opt = &opt;
	d.base = event_base_new();
	if (!d.base || event_base_priority_init(d.base, DAEMON_PRIORITIES) < 0)
		return EXIT_FAILURE;
	server_init(&d.server, &opt, d.base, &d.core, &service_hooks, &d);
	d.server.start_ms = now_ms(CLOCK_MONOTONIC);
	ret = run(&d);
	event_base_free(d.base);
	return ret < 0 || d.exit_code ? EXIT_FAILURE : EXIT_SUCCESS;
}
