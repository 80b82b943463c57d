/* SPDX-License-Identifier: MIT */
/*
 * Every connection holds a slot (--max-clients, --max-clients-per-uid) from
 * accept on. One that never says HELLO would hold it for ever: after
 * --hello-timeout it is told why and closed.
 */
#include <errno.h>
#include <event2/event.h>

#include "client.h"
#include "options.h"
#include "server.h"
#include "hello_timer.h"
#include "log.h"

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	unsigned ms = c->srv->opt->hello_timeout_ms;

	if (c->greeted || c->closing || c->dead)
		return;
	log_client(LOG_WARNING, c, NULL, 0,
		   "no HELLO within %u ms (--hello-timeout); disconnecting", ms);
	client_send_error(c, 0, 0, -ETIMEDOUT,
			  "no HELLO within %u ms of connecting (cmabufd --hello-timeout); closing "
			  "the connection",
			  ms);
	c->closing = true;
	event_del(c->ev_read);
	/* Closed from the loop once the reason is out (client.c on_writable). */
	event_active(c->ev_write, EV_WRITE, 1);
}

int hello_timer_start(struct client *c)
{
	unsigned ms = c->srv->opt->hello_timeout_ms;
	struct timeval tv = {ms / 1000, (long)(ms % 1000) * 1000};

	c->ev_hello = evtimer_new(c->srv->base, on_timeout, c);
	if (!c->ev_hello || evtimer_add(c->ev_hello, &tv) < 0)
		return -ENOMEM;
	return 0;
}

void hello_timer_stop(struct client *c)
{
	if (c->ev_hello)
		event_free(c->ev_hello);
	c->ev_hello = NULL;
}
