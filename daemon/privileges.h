/* SPDX-License-Identifier: MIT */
/* What the daemon gives up once its socket and region are open. */
#ifndef CMABUF_PRIVILEGES_H
#define CMABUF_PRIVILEGES_H

struct options;

/*
 * Sets no_new_privs and, with --user, switches to that user and its groups
 * for good (verified: root cannot be regained). Returns 0 or a negative errno
 * after logging what to do.
 */
int privileges_drop(const struct options *opt);

#endif
