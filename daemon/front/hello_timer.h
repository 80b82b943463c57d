/* SPDX-License-Identifier: MIT */
/* A connection that never says HELLO is closed after --hello-timeout (hello_timer.c). */
#ifndef CMABUF_HELLO_TIMER_H
#define CMABUF_HELLO_TIMER_H

struct client;

/* Arms the client's timer at accept: 0 or -ENOMEM. */
int hello_timer_start(struct client *c);
void hello_timer_stop(struct client *c);

#endif
