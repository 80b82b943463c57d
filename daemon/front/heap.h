/* SPDX-License-Identifier: MIT */
/*
 * The heap door: DMA_HEAP_IOCTL_ALLOC requests on the stub's /dev/dma_heap
 * node, forwarded to cmabufd over the control device (uio_cma.h, "The heap
 * door"). Each calling process (tgid) is an owner, created on its first
 * request and classified by the same policy as a socket client; its buffers
 * are handed over at export (the caller holds the dma-buf, there is no FREE)
 * and stay charged to it until the stub reports them released. The owner
 * goes when it holds nothing and waits for nothing.
 *
 * What it needs from the backend (who asks, the answer, a buffer's name) it
 * asks the wiring through struct heap_hooks; the core's decisions come back
 * through heap_door_ops, like the socket door's.
 */
#ifndef CMABUF_HEAP_H
#define CMABUF_HEAP_H

#include <bsd/sys/queue.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core.h"

struct buffer;
struct event;
struct event_base;
struct server_hooks;

/* Who asked, as the stub took it when the ALLOC arrived. */
struct heap_caller {
	pid_t tgid; /* 0: not visible in cmabufd's pid namespace */
	uid_t uid;
	gid_t gid;
	gid_t *groups; /* malloc'd; the door takes it over */
	unsigned ngroups;
	uint64_t len;
	char comm[16];
};

struct heap_hooks {
	/* Who made request id: 0, -ENOENT (it left), or another negative errno. */
	int (*caller)(void *ctx, uint64_t id, struct heap_caller *out);
	/*
	 * Answer request id: b exported under name (error 0), or the caller's ALLOC
	 * fails with error (> 0; b NULL). -ENOENT: the caller left, nothing exported.
	 */
	int (*answer)(void *ctx, uint64_t id, const struct buffer *b, const char *name, int error);
	/* The name b's holders gave it since (DMA_BUF_SET_NAME) into name, or "" (NULL: none). */
	void (*query_name)(void *ctx, const struct buffer *b, char *name, size_t cap);
};

/* Whether the heap door is served, and where (cmabufctl status). */
enum heap_door_state {
	HEAP_DOOR_NONE,	       /* the backend has no heap door (memfd) */
	HEAP_DOOR_SERVED,      /* node's requests come to this door */
	HEAP_DOOR_NO_NODE,     /* the stub offers no node for this region */
	HEAP_DOOR_OLD_STUB,    /* the stub predates the heap door */
	HEAP_DOOR_SERVE_FAILED /* the stub refused to forward them: see the log */
};

struct heap_owner;
struct heap_request;

struct heap_door {
	struct event_base *base;
	struct core *core;
	const struct server_hooks *svc; /* the ALLOC, leave and deadline of the wiring */
	void *svc_ctx;
	const struct heap_hooks *hooks;
	void *hooks_ctx;
	enum heap_door_state state;
	char node[64];
	uint32_t budget_ms; /* a request is answered within this, below the stub's timeout */
	unsigned max_owners, max_owners_per_uid; /* --max-clients, --max-clients-per-uid */
	TAILQ_HEAD(, heap_owner) owners;
	unsigned nowners;
	TAILQ_HEAD(, heap_request) incoming; /* arrived, not driven yet */
	unsigned waiting;		     /* requests not answered yet */
	uint32_t next_serial;		     /* heap owners' numbers in LIST_CLIENTS */
	struct event *ev_kick;		     /* incoming requests, owners done */
};

/* The numbers heap owners get in LIST_CLIENTS, above any socket's descriptor. */
#define HEAP_CONN_BASE 0x40000000u

/*
 * state, node: what the backend says. timeout_ms: the stub's heap_timeout_ms
 * (0: unknown, its default is assumed). 0 or -ENOMEM. Set max_owners and
 * max_owners_per_uid after (default: unlimited).
 */
int heap_door_init(struct heap_door *h, struct event_base *base, struct core *core,
		   const struct server_hooks *svc, void *svc_ctx, const struct heap_hooks *hooks,
		   void *hooks_ctx, enum heap_door_state state, const char *node,
		   uint32_t timeout_ms);
/* Every owner leaves (its buffers stay charged to their class until released). */
void heap_door_fini(struct heap_door *h);

/* The stub forwarded request id for len bytes: answered soon, from the loop. */
void heap_door_request(struct heap_door *h, uint64_t id, uint64_t len);

/* A buffer handed to a heap caller: its current name into b (renamed by its holders). */
void heap_door_refresh_name(struct heap_door *h, struct buffer *b);

/* The stub's heap_timeout_ms from sysfs, or 0 when it cannot be read. */
uint32_t heap_door_stub_timeout_ms(void);

/* For LIST_CLIENTS: the heap owners, in order of their numbers. */
struct heap_owner *heap_door_first(const struct heap_door *h);
struct heap_owner *heap_door_next(const struct heap_owner *ho);
const struct owner *heap_owner_core(const struct heap_owner *ho);
uint32_t heap_owner_conn(const struct heap_owner *ho);
const char *heap_owner_comm(const struct heap_owner *ho);

/* How the core's decisions for a heap caller come back (heap.c). */
extern const struct door_ops heap_door_ops;

#endif
