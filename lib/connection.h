/* SPDX-License-Identifier: MIT */
/*
 * The client end of a cmabufd connection: connect + HELLO, and one
 * request/reply exchange at a time. Shared by libcmabuf and cmabufctl; not
 * part of the public API.
 */
#ifndef CMABUF_CONNECTION_H
#define CMABUF_CONNECTION_H

#include <stddef.h>
#include <stdint.h>

#include "protocol.h"

/* Events that arrived while a request waited for its reply, kept for dispatch. */
#define CMABUF_CONN_EVENTS_MAX 64

struct cmabuf_conn {
	int fd;
	struct cmabuf_msg_reclaim events[CMABUF_CONN_EVENTS_MAX];
	unsigned nevents;
	int event_efd; /* readable while events wait in events[]: they were read off the socket */
	uint32_t next_seq;
	struct cmabuf_msg_hello_reply server; /* what the daemon said in HELLO_REPLY */
	char last_error[CMABUF_REASON_LEN + 64];
};

/* path NULL: $CMABUF_SOCKET, else the built-in default. */
const char *cmabuf_conn_socket_path(const char *path);

/* Connects and says HELLO. On failure c->last_error says why and c->fd is -1. */
int cmabuf_conn_open(struct cmabuf_conn *c, const char *path);
void cmabuf_conn_close(struct cmabuf_conn *c);

/*
 * Sends one request and waits for the reply with the same sequence number.
 * An ERROR reply becomes its negative errno with c->last_error set to the
 * reason. A descriptor received with the reply is stored in *fd_out (which may
 * be NULL only for replies that carry none).
 */
int cmabuf_conn_request(struct cmabuf_conn *c, uint16_t type, const void *payload, size_t len,
			struct cmabuf_msg *reply, int *fd_out);

/* Sends a request that gets no reply (FREE_NOREPLY): 0 once it is on its way. */
int cmabuf_conn_send(struct cmabuf_conn *c, uint16_t type, const void *payload, size_t len);

/*
 * Reads whatever events are waiting, without blocking, into c->events.
 * Returns 0, or a negative errno if the connection is broken.
 */
int cmabuf_conn_poll_events(struct cmabuf_conn *c);

#endif
