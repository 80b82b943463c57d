/* SPDX-License-Identifier: MIT */
/*
 * What systemd keeps and hands back for us. The memfd backend's buffers exist
 * only as descriptors, so under systemd (NOTIFY_SOCKET set) each one also goes
 * into the service's file-descriptor store (FDSTORE=1), named after what a
 * restarted daemon needs to adopt it: cookie, offset, size. On restart systemd
 * passes them back like socket-activation fds (LISTEN_FDS, LISTEN_FDNAMES),
 * mixed with the socket unit's socket; the names tell them apart.
 */
#ifndef CMABUF_FDSTORE_H
#define CMABUF_FDSTORE_H

#include <stdbool.h>
#include <stddef.h>

#include "backend.h"

/* Printable ASCII without ':', as FDNAME= requires; then cookie.offset.size in hex. */
#define FDSTORE_PREFIX	 "cmabuf.memfd."
#define FDSTORE_NAME_LEN 64

/* Whether there is a store to use: we run under systemd. Cheap; call it once. */
bool fdstore_available(void);
void fdstore_name(char name[FDSTORE_NAME_LEN], const struct backend_live *l);
/* Parses a name fdstore_name made; false for anything else. */
bool fdstore_parse_name(const char *name, struct backend_live *l);
/* Puts fd in the store under l's name (systemd keeps its own reference). */
int fdstore_put(int fd, const struct backend_live *l);
/* Tells systemd to close every stored descriptor with this name. */
void fdstore_remove_name(const char *name);
void fdstore_remove(const struct backend_live *l);

/*
 * The descriptors systemd passed at exec, taken once (the environment is
 * cleared so that children do not see them) and split: buffers from the store
 * (our names) and the rest (the socket unit's sockets).
 */
int passed_fds_collect(void);
/* How many passed descriptors are not buffers; *first gets the first of them. */
int passed_fds_others(int *first);
/*
 * Hands each passed buffer to fn, which owns the descriptor from then on. A
 * buffer name that does not parse is logged, closed and removed from the store.
 */
void passed_fds_take_buffers(void (*fn)(void *ctx, int fd, const struct backend_live *l,
					const char *name),
			     void *ctx);

#endif
