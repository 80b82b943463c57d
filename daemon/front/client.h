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

#include "identity.h"
#include "ledger.h"
#include "protocol.h"

struct daemon;
struct event;

/* A client that does not read its replies is disconnected once this many wait. */
#define CLIENT_OUTQ_MAX 32

struct outmsg {
	uint32_t len;
	int fd; /* -1 if none; owned by the queue until sent */
	unsigned char data[CMABUF_MSG_MAX];
};

struct client {
	struct daemon *d;
	int fd;
	pid_t pid;
	uid_t uid;
	gid_t gid;
	struct peer_identity ident; /* taken at accept (identity.c): pid, uid, gid above agree */
	bool greeted;		    /* HELLO accepted */
	bool closing;		    /* protocol error: flush the error reply, then close */
	bool dead;		    /* output overflowed or failed: close without flushing */
	struct event *ev_read;
	struct event *ev_write;
	struct event *ev_hello; /* --hello-timeout (hello_timer.c) */
	TAILQ_HEAD(, buffer) buffers;
	uint32_t nbuffers;
	uint64_t bytes;
	unsigned class_idx;	       /* policy: index into the configuration's classes */
	unsigned alloc_pool;	       /* the pool the request in progress is charged to */
	int priority;		       /* from its class: higher may reclaim from lower */
	struct pending_alloc *pending; /* an ALLOC waiting for reclaimed memory */
	struct outmsg *outq[CLIENT_OUTQ_MAX];
	unsigned outq_head, outq_len;
	TAILQ_ENTRY(client) link;
};

/* Takes ownership of fd (an accepted connection). */
int client_create(struct daemon *d, int fd);
void client_destroy(struct client *c);

/*
 * Queues a message; fd (if >= 0) is sent with it and then closed. On failure
 * the fd is closed and the client is marked for disconnection.
 */
int client_send(struct client *c, uint16_t type, uint32_t seq, const void *payload, size_t len,
		int fd);
int client_send_error(struct client *c, uint32_t seq, uint16_t request_type, int err,
		      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Request dispatch, in requests.c. Returns < 0 if the client must be disconnected. */
int client_handle(struct client *c, const struct cmabuf_msg *msg);

#endif
