/* SPDX-License-Identifier: MIT */
#ifndef CMABUF_REGION_WATCH_H
#define CMABUF_REGION_WATCH_H

struct daemon;

/*
 * With no --backend and no region at start, cmabufd runs on memfd for good: a
 * uio_cma region that appears later is announced (once: the log, cmabufctl
 * status, systemd STATUS) with how to move to it, never switched to under
 * clients (docs/operations.md says why). Does nothing for other choices.
 */
int region_watch_start(struct daemon *d);

#endif
