/* SPDX-License-Identifier: MIT */
/*
 * Who a buffer is charged to, as the core knows it: the identity a front door
 * established (from the kernel, never from what the client says), the class
 * the policy gave it, and what it holds. A front door embeds one per client
 * (a socket connection, a heap caller) and points back at itself through door.
 */
#ifndef CMABUF_OWNER_H
#define CMABUF_OWNER_H

#include <bsd/sys/queue.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "identity.h"

struct buffer;
struct core_request;
struct door_ops;

/*
 * Which door an owner came in by, for the counters. A heap caller holds the
 * dma-buf itself and never frees it through cmabufd: its buffers are handed
 * over at export (let go at once, still charged to it until released).
 */
enum owner_door { OWNER_DOOR_SOCKET, OWNER_DOOR_HEAP, OWNER_DOORS };

struct owner {
	struct peer_identity id;   /* from the kernel, taken by its door (groups: the door's) */
	unsigned class_idx;	   /* policy: index into the configuration's classes */
	int priority;		   /* from its class: higher may reclaim from lower */
	bool classified;	   /* the policy has placed it (HELLO accepted) */
	enum owner_door door_kind; /* OWNER_DOOR_HEAP: buffers handed over at export */
	TAILQ_HEAD(, buffer) buffers;
	uint32_t nbuffers;
	uint64_t bytes;
	struct core_request *pending;	 /* an ALLOC waiting for reclaimed memory */
	const struct door_ops *door_ops; /* how answers reach it */
	void *door;			 /* the front door's object for this owner */
	TAILQ_ENTRY(owner) link;
};

TAILQ_HEAD(owner_list, owner);

#endif
