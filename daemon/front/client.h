/* SPDX-License-Identifier: MIT */
/*
 * One client connection: non-blocking SEQPACKET I/O with a bounded output
 * queue, peer credentials from the kernel, and the buffers it owns.
 */
#ifndef CMABUF_CLIENT_H
#define CMABUF_CLIENT_H

#include <bsd/sys/queue.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core.h"
#include "protocol.h"

struct event;
struct server;

/* A client that does not read its replies is disconnected once this many wait. */
#define CLIENT_OUTQ_MAX 32

struct outmsg {
	uint32_t len;
	int fd; /* -1 if none; owned by the queue until sent */
	unsigned char data[CMABUF_MSG_MAX];
};

struct client {
	struct server *srv;
	struct owner owner; /* identity, class and buffers, as the core knows them */
	int fd;
	bool greeted; /* HELLO accepted */
	bool closing; /* protocol error: flush the error reply, then close */
	bool dead;    /* output overflowed or failed: close without flushing */
	struct event *ev_read;
	struct event *ev_write;
	struct event *ev_hello;	    /* --hello-timeout (hello_timer.c) */
	struct core_request parked; /* its ALLOC waiting for reclaimed memory */
	struct event *ev_deadline;  /* when that one is refused */
	uint64_t log_window_start;  /* log rate limit (log.c) */
	unsigned log_lines, log_suppressed;
	struct outmsg *outq[CLIENT_OUTQ_MAX];
	unsigned outq_head, outq_len;
	TAILQ_ENTRY(client) link;
};

/* Takes ownership of fd (an accepted connection). */
int client_create(struct server *s, int fd);
void client_destroy(struct client *c);

/*
 * Queues a message; fd (if >= 0) is sent with it and then closed. On failure
 * the fd is closed and the client is marked for disconnection.
 */
int client_send(struct client *c, uint16_t type, uint32_t seq, const void *payload, size_t len,
		int fd);
int client_send_error(struct client *c, uint32_t seq, uint16_t request_type, int err,
		      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Closes once what is queued for it is sent (a reason it should read first, say). */
void client_close_after(struct client *c, const char *why);

/* Request dispatch, in requests.c. Returns < 0 if the client must be disconnected. */
int client_handle(struct client *c, const struct cmabuf_msg *msg);

/* The client whose owner o is. */
static inline struct client *client_of(struct owner *o)
{
	return o->door;
}

/* How the core's decisions for a client come back to it (alloc.c). */
extern const struct door_ops client_door_ops;

#endif
