/* SPDX-License-Identifier: MIT */
/* Who may open a connection: the global and per-uid connection limits. */
#ifndef CMABUF_ADMISSION_H
#define CMABUF_ADMISSION_H

#include <stdbool.h>

struct server;

/*
 * Decides whether a freshly accepted connection may stay. A refused one gets
 * an ERROR (sequence 0, -EUSERS) saying which limit it hit, and is closed.
 */
bool admission_accept(struct server *s, int fd);

#endif
