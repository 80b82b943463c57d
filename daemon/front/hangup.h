/* SPDX-License-Identifier: MIT */
/* Closing a client's connection so that what was sent to it stays readable (hangup.c). */
#ifndef CMABUF_HANGUP_H
#define CMABUF_HANGUP_H

/*
 * Stops the peer from sending, throws away what it sent and nobody read, then
 * closes fd. Closing a Unix socket with unread input resets the peer, and the
 * peer's next recv() then fails with ECONNRESET before it sees the replies (an
 * error's reason) still queued for it; an empty input queue ends in a plain EOF.
 */
void hangup_close(int fd);

#endif
