/* SPDX-License-Identifier: MIT */
/*
 * systemd's view of cmabufd: STATUS= with what it holds (refreshed once a
 * second when it changed), WATCHDOG=1 from the event loop itself, so a loop
 * that hangs gets the daemon restarted.
 */
#ifndef CMABUF_NOTIFY_H
#define CMABUF_NOTIFY_H

struct daemon;

int notify_start(struct daemon *d); /* after READY=1 */
void notify_stop(struct daemon *d);

#endif
