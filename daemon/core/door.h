/* SPDX-License-Identifier: MIT */
/*
 * What a front door does with the core's decisions for its own owners. The
 * core never calls these: the wiring does, after carrying out a decision's
 * backend part, so the answer goes back through the door the request came in.
 */
#ifndef CMABUF_DOOR_H
#define CMABUF_DOOR_H

#include <stddef.h>
#include <stdint.h>

struct buffer;
struct core_request;
struct owner;

struct door_ops {
	/* r is answered with b; fd (the dma-buf) is the door's to send and close. */
	void (*answer)(struct owner *o, const struct core_request *r, const struct buffer *b,
		       int fd);
	void (*refuse)(struct owner *o, const struct core_request *r, int err, const char *why);
	/* r must wait: keep it (core_park()) and call back when deadline_ms pass. */
	void (*park)(struct owner *o, const struct core_request *r, uint32_t deadline_ms);
	/* Ask o to give b back within deadline_ms. */
	void (*reclaim)(struct owner *o, const struct buffer *b, uint32_t deadline_ms);
	/*
	 * NULL: the wiring exports b from the backend and answer() gets the fd.
	 * Else the door hands b to its caller itself (the heap door: the stub
	 * exports it for the waiting caller) and answer() follows with fd -1;
	 * 0, or a negative errno with the reason in why (nothing was exported).
	 */
	int (*deliver)(struct owner *o, const struct core_request *r, const struct buffer *b,
		       char *why, size_t cap);
	/* One of o's buffers was released (NULL: nothing to do); o may be done. */
	void (*released)(struct owner *o);
};

#endif
