/* SPDX-License-Identifier: MIT */
/*
 * The socket door: the listening socket (bound by cmabufd itself or inherited
 * from systemd), its connections, and what it needs from the wiring, which
 * alone knows the backend: an ALLOC to carry out, a buffer let go, a client
 * leaving, a parked request's deadline.
 */
#ifndef CMABUF_SERVER_H
#define CMABUF_SERVER_H

#include <bsd/sys/queue.h>
#include <stdbool.h>
#include <stdint.h>

struct buffer;
struct client;
struct core;
struct core_alloc_desc;
struct core_request;
struct event;
struct event_base;
struct heap_door;
struct options;
struct owner;

struct server_hooks {
	/* An ALLOC to decide and carry out; the answer comes through the owner's door_ops. */
	void (*alloc)(void *ctx, struct owner *o, const struct core_alloc_desc *desc, uint64_t tag);
	/* The owner let go of b (FREE): unexport it when the core says so. */
	void (*let_go)(void *ctx, struct buffer *b);
	/* The owner is leaving: its buffers are let go, its parked request dropped. */
	void (*leave)(void *ctx, struct owner *o);
	/* A parked request's deadline passed. */
	void (*deadline)(void *ctx, struct core_request *r);
};

TAILQ_HEAD(client_list, client);

struct server {
	const struct options *opt;
	struct event_base *base;
	struct core *core;
	const struct server_hooks *hooks;
	void *hooks_ctx;
	struct client_list clients;
	unsigned nclients;
	uint64_t start_ms; /* CLOCK_MONOTONIC, for uptime */
	int listen_fd;
	bool socket_bound;     /* we created the socket file, so we remove it */
	bool after_crash;      /* an earlier cmabufd left its socket behind */
	uint32_t status_flags; /* CMABUF_STATUS_*, in STATUS_REPLY: set by the wiring */
	struct event *ev_listen;
	struct heap_door *heap; /* the dma-heap door, for the listings (NULL: none) */
};

void server_init(struct server *s, const struct options *opt, struct event_base *base,
		 struct core *core, const struct server_hooks *hooks, void *hooks_ctx);
/* Starts accepting on inherited_fd (systemd's), or on a socket it binds when that is < 0. */
int server_start(struct server *s, int inherited_fd);
void server_stop(struct server *s);

/* The policy changed: a client whose class now denies it is told why and closed. */
void server_client_denied(struct server *s, struct owner *o);

#endif
