/* SPDX-License-Identifier: MIT */
/*
 * Out of descriptors. The listening socket's event is level-triggered: when
 * accept() fails with EMFILE, the connection stays in the backlog and the
 * loop wakes again at once, for ever, at full CPU, logging every time. The
 * classic answer: keep one descriptor in reserve (/dev/null), and when
 * accept() runs out, give it up, accept the waiting connection, tell it why,
 * close it, and take the reserve back.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "options.h"
#include "server.h"
#include "hangup.h"
#include "log.h"
#include "protocol.h"
#include "starved.h"

#define PAUSE_MS 250 /* without a reserve: how long accepting pauses */

static struct {
	int reserve;
	bool starved;	  /* in an episode: logged once, until starved_over() */
	unsigned refused; /* connections refused in this episode */
	struct event *resume;
	struct server *d;
} st = {.reserve = -1};

static int take_reserve(void)
{
	if (st.reserve < 0)
		st.reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return st.reserve < 0 ? -errno : 0;
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct server *d = arg;

	take_reserve();
	if (d->ev_listen)
		event_add(d->ev_listen, NULL);
}

int starved_init(struct server *d)
{
	st.d = d;
	st.resume = evtimer_new(d->base, on_resume, d);
	if (!st.resume)
		return -ENOMEM;
	return take_reserve();
}

void starved_fini(void)
{
	if (st.resume)
		event_free(st.resume);
	st.resume = NULL;
	if (st.reserve >= 0)
		close(st.reserve);
	st.reserve = -1;
}

static void refuse(int fd)
{
	struct rlimit rl = {0};
	char buf[CMABUF_MSG_MAX];
	struct cmabuf_msg_error e;
	long n;

	getrlimit(RLIMIT_NOFILE, &rl);
	memset(&e, 0, sizeof(e));
	e.error = -EMFILE;
	e.request_type = CMABUF_MSG_HELLO;
	snprintf(e.reason, sizeof(e.reason),
		 "cmabufd is out of file descriptors (its limit is %llu, RLIMIT_NOFILE): try "
		 "again later",
		 (unsigned long long)rl.rlim_cur);
	n = cmabuf_msg_encode(buf, sizeof(buf), CMABUF_MSG_ERROR, 0, &e, sizeof(e), 0);
	if (n > 0 && send(fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		/* nothing more to tell a peer that is already gone */
	}
	hangup_close(fd);
}

void starved_accept(struct server *d, int lfd, int err)
{
	int fd = -1;

	if (!st.starved) {
		struct rlimit rl = {0};

		getrlimit(RLIMIT_NOFILE, &rl);
		log_warn("out of file descriptors (%s; %zu clients, limit %llu): refusing new "
			 "connections with a reason until some close; this is logged once",
			 strerror(err), (size_t)d->nclients, (unsigned long long)rl.rlim_cur);
		st.starved = true;
	}
	if (st.reserve >= 0) {
		close(st.reserve);
		st.reserve = -1;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	}
	if (fd >= 0) {
		refuse(fd);
		st.refused++;
	}
	if (take_reserve() < 0 || fd < 0) {
		/* Someone took the slot (another thread): wait a little instead of spinning. */
		struct timeval tv = {0, PAUSE_MS * 1000};

		event_del(d->ev_listen);
		evtimer_add(st.resume, &tv);
	}
}

void starved_over(void)
{
	if (st.reserve < 0) /* lost to another thread during the episode: take it back now */
		take_reserve();
	if (!st.starved)
		return;
	log_warn("file descriptors available again: %u connections were refused while there "
		 "were none",
		 st.refused);
	st.starved = false;
	st.refused = 0;
}
