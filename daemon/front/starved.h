/* SPDX-License-Identifier: MIT */
/* Accepting when the daemon is out of descriptors (starved.c). */
#ifndef CMABUF_STARVED_H
#define CMABUF_STARVED_H

struct server;

/* Takes the reserve descriptor at startup: 0 or a negative errno. */
int starved_init(struct server *d);
void starved_fini(void);

/*
 * accept() failed with EMFILE or ENFILE (err). The connection waiting in the
 * backlog is accepted on the reserve descriptor, told why and closed, so the
 * level-triggered listen event does not fire again at once; when the reserve
 * cannot be taken back, accepting pauses briefly. Logged once per episode.
 */
void starved_accept(struct server *d, int lfd, int err);
/* A connection was accepted normally: the episode, if any, is over (and logged). */
void starved_over(void);

#endif
