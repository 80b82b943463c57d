/* SPDX-License-Identifier: MIT */
/*
 * Messages to systemd ($NOTIFY_SOCKET) that never stall the event loop.
 * sd_notify() blocks while systemd's notify queue is full, and a daemon that
 * stores one descriptor per buffer can fill it: then READY, STATUS and
 * WATCHDOG would wait too, and the watchdog would kill a daemon that only
 * waited for systemd.
 */
#ifndef CMABUF_NOTIFY_SOCKET_H
#define CMABUF_NOTIFY_SOCKET_H

/*
 * Sends msg (and fd, if >= 0, as SCM_RIGHTS), waiting at most 100 ms for room
 * in systemd's queue. 0, or a negative errno (-ETIMEDOUT: systemd is behind;
 * -EAFNOSUPPORT: no usable $NOTIFY_SOCKET, not under systemd).
 */
int notify_socket_send(const char *msg, int fd);
int notify_socket_sendf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
