/* SPDX-License-Identifier: MIT */
/*
 * One line per notable event. Under journald, lines go to the journal with
 * structured fields (CMABUF_CLIENT_PID, CMABUF_CLIENT_UID, CMABUF_BUFFER,
 * CMABUF_BYTES) so `journalctl CMABUF_CLIENT_UID=1000` finds a user's
 * trouble; elsewhere they go to stderr.
 */
#ifndef CMABUF_LOG_H
#define CMABUF_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

struct client;

void log_init(bool verbose);
void log_msg(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * An event about one client (and maybe one buffer): structured fields, and
 * at most LOG_UID_BURST lines per uid and LOG_GLOBAL_BURST for all clients
 * every LOG_WINDOW_MS (log_limit.h), however many connections they open, so a
 * misbehaving client cannot flood the journal. Returns false if suppressed.
 */
bool log_client(int priority, struct client *c, const char *buffer, uint64_t bytes, const char *fmt,
		...) __attribute__((format(printf, 5, 6)));

/* Says how many lines were suppressed in windows that have ended (called at disconnect). */
void log_client_flush(struct client *c);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERR, __VA_ARGS__)

#endif
