/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "admission.h"
#include "client.h"
#include "identity_take.h"
#include "log.h"
#include "options.h"
#include "server.h"
#include "starved.h"

static int mkdir_parents(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *p;

	strcpy(dir, path);
	for (p = strchr(dir + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

/* A socket file nobody listens on is a leftover from a crash: remove it. Returns 1 if so. */
static int clear_stale_socket(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	int ret;

	if (fd < 0)
		return -errno;
	ret = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	close(fd);
	if (ret == 0)
		return -EADDRINUSE;
	if (errno != ECONNREFUSED)
		return 0;
	unlink(sa->sun_path);
	return 1;
}

static int bind_socket(const struct options *opt, bool *stale)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, ret;

	if (strlen(opt->socket_path) >= sizeof(sa.sun_path)) {
		log_error("socket path too long (max %zu bytes): %s", sizeof(sa.sun_path) - 1,
			  opt->socket_path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, opt->socket_path);
	ret = mkdir_parents(sa.sun_path);
	if (ret == 0)
		ret = clear_stale_socket(&sa);
	*stale = ret == 1;
	ret = ret == 1 ? 0 : ret;
	if (ret == -EADDRINUSE) {
		log_error("another cmabufd already serves %s; stop it or choose --socket",
			  sa.sun_path);
		return ret;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(sa.sun_path, opt->socket_mode) < 0 || listen(fd, 128) < 0) {
		ret = -errno;
		log_error("cannot listen on %s: %s", sa.sun_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return ret;
	}
	return fd;
}

#ifndef SO_PASSRIGHTS
#define SO_PASSRIGHTS 83 /* Linux 6.16 */
#endif

/*
 * No request carries a descriptor. Where the kernel can (SO_PASSRIGHTS), a
 * client's sendmsg() with SCM_RIGHTS fails (EPERM) and nothing of the file
 * ever reaches the daemon; connections inherit it from the listener at
 * connect(). Elsewhere the daemon reads with no control buffer (client.c).
 */
static void refuse_passed_fds(const struct server *d, int fd)
{
	int zero = 0;

	if (!d->opt->fds_reach_socket &&
	    setsockopt(fd, SOL_SOCKET, SO_PASSRIGHTS, &zero, sizeof(zero)) < 0 &&
	    errno != ENOPROTOOPT)
		log_warn("cannot refuse descriptors on the socket (SO_PASSRIGHTS): %s",
			 strerror(errno));
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct server *d = arg;
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE)
			starved_accept(d, lfd, errno); /* never spin on the backlog (starved.c) */
		else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_warn("accept: %s", strerror(errno));
		return;
	}
	starved_over();
	if (!admission_accept(d, fd))
		return;
	if (client_create(d, fd) < 0)
		log_warn("could not set up a new client");
}

void server_init(struct server *s, const struct options *opt, struct event_base *base,
		 struct core *core, const struct server_hooks *hooks, void *hooks_ctx)
{
	memset(s, 0, sizeof(*s));
	s->opt = opt;
	s->base = base;
	s->core = core;
	s->hooks = hooks;
	s->hooks_ctx = hooks_ctx;
	s->listen_fd = -1;
	TAILQ_INIT(&s->clients);
}

int server_start(struct server *d, int fd)
{
	d->socket_bound = fd < 0;
	if (fd < 0)
		fd = bind_socket(d->opt, &d->after_crash);
	if (fd < 0)
		return fd;
	refuse_passed_fds(d, fd);
	identity_use_peer_pidfd(!d->opt->no_peer_pidfd);
	d->listen_fd = fd;
	d->ev_listen = event_new(d->base, fd, EV_READ | EV_PERSIST, on_accept, d);
	if (!d->ev_listen || event_add(d->ev_listen, NULL) < 0)
		return -ENOMEM;
	return starved_init(d);
}

void server_stop(struct server *d)
{
	while (!TAILQ_EMPTY(&d->clients)) {
		struct client *c = TAILQ_FIRST(&d->clients);

		TAILQ_REMOVE(&d->clients, c, link);
		d->nclients--;
		client_destroy(c);
	}
	starved_fini();
	if (d->ev_listen)
		event_free(d->ev_listen);
	d->ev_listen = NULL;
	/* A socket systemd made is systemd's to remove. */
	if (d->listen_fd >= 0 && d->socket_bound)
		unlink(d->opt->socket_path);
	if (d->listen_fd >= 0)
		close(d->listen_fd);
	d->listen_fd = -1;
}

void server_client_denied(struct server *s, struct owner *o)
{
	struct client *c = client_of(o);

	client_send_error(c, 0, 0, -EACCES,
			  "clients of class '%s' may not use cmabufd any more (deny = yes in %s, "
			  "reloaded); closing the connection",
			  policy_class_name(&s->core->policy, o), s->core->policy.path);
	log_client(LOG_NOTICE, c, NULL, 0, "denied by the reloaded policy; disconnecting");
	client_close_after(c, "denied by the reloaded policy");
}
