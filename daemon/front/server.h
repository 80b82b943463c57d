/* SPDX-License-Identifier: MIT */
/* The listening socket: bound by cmabufd itself or inherited from systemd. */
#ifndef CMABUF_SERVER_H
#define CMABUF_SERVER_H

struct daemon;

/* Binds (or adopts) the socket and starts accepting. */
int server_start(struct daemon *d);
void server_stop(struct daemon *d);

#endif
