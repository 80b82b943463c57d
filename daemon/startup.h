/* SPDX-License-Identifier: MIT */
#ifndef CMABUF_STARTUP_H
#define CMABUF_STARTUP_H

struct daemon;

/* Opens the backend (or starts waiting for a uio_cma region) and starts serving. */
int daemon_start(struct daemon *d);
/* Disconnects clients and releases everything daemon_start set up. */
void daemon_stop(struct daemon *d);

#endif
