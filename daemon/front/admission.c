/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "admission.h"
#include "client.h"
#include "options.h"
#include "server.h"
#include "hangup.h"
#include "log.h"
#include "protocol.h"

static unsigned connections_of(const struct server *d, uid_t uid)
{
	const struct client *c;
	unsigned n = 0;

	TAILQ_FOREACH (c, &d->clients, link)
		n += c->owner.id.uid == uid;
	return n;
}

/*
 * One log line per second at most: a client opening connections in a loop
 * must not flood the journal. The line counts what it stands for.
 */
static void log_refusal(const char *reason)
{
	static time_t last;
	static unsigned suppressed;
	time_t now = time(NULL);

	if (now == last) {
		suppressed++;
		return;
	}
	if (suppressed)
		log_warn("refused a connection: %s (and %u more in the last second)", reason,
			 suppressed);
	else
		log_warn("refused a connection: %s", reason);
	last = now;
	suppressed = 0;
}

/* The client reads this as the answer to its HELLO, even after the close. */
static void refuse(int fd, const char *fmt, ...)
{
	char buf[CMABUF_MSG_MAX];
	struct cmabuf_msg_error e;
	va_list ap;
	long n;

	memset(&e, 0, sizeof(e));
	e.error = -EUSERS;
	e.request_type = CMABUF_MSG_HELLO;
	va_start(ap, fmt);
	vsnprintf(e.reason, sizeof(e.reason), fmt, ap);
	va_end(ap);
	log_refusal(e.reason);
	n = cmabuf_msg_encode(buf, sizeof(buf), CMABUF_MSG_ERROR, 0, &e, sizeof(e), 0);
	if (n > 0 && send(fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		/* nothing more to tell a peer that is already gone */
	}
	hangup_close(fd); /* its HELLO, if already sent, must not turn the reason into a reset */
}

bool admission_accept(struct server *d, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	unsigned mine;

	if (d->nclients >= d->opt->max_clients) {
		refuse(fd, "cmabufd serves %u connections already (--max-clients); try again later",
		       d->nclients);
		return false;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		log_warn("refused a connection: no peer credentials (%s)", strerror(errno));
		close(fd);
		return false;
	}
	mine = connections_of(d, cred.uid);
	if (mine >= d->opt->max_clients_per_uid) {
		refuse(fd,
		       "uid %u (pid %d) has %u connections to cmabufd already, the most one uid "
		       "may "
		       "have (--max-clients-per-uid); close some or share one connection",
		       (unsigned)cred.uid, (int)cred.pid, mine);
		return false;
	}
	return true;
}
