/* SPDX-License-Identifier: MIT */
/*
 * How many lines about clients the log takes: per uid (not per connection,
 * which a client renews at will) and for all clients together, in windows of
 * LOG_WINDOW_MS. Pure bookkeeping: the caller passes the time and writes the
 * lines (log.c).
 */
#ifndef CMABUF_LOG_LIMIT_H
#define CMABUF_LOG_LIMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define LOG_UID_BURST	 10  /* lines about one uid per window */
#define LOG_GLOBAL_BURST 100 /* lines about all clients per window */
#define LOG_WINDOW_MS	 10000
#define LOG_LIMIT_UIDS	 64 /* uids tracked at once; the longest quiet one makes room */

enum log_verdict {
	LOG_WRITE,
	LOG_WRITE_LAST_UID,    /* write it, and say that this uid's next lines are suppressed */
	LOG_WRITE_LAST_GLOBAL, /* write it, and say that all clients' next lines are suppressed */
	LOG_SUPPRESS,
};

/* A window ended with lines suppressed: about uid, or (global) about all clients. */
typedef void (*log_report_fn)(void *ctx, bool global, uid_t uid, unsigned suppressed);

/* May a line about uid be written at now_ms? Reports ended windows first. */
enum log_verdict log_limit_check(uid_t uid, uint64_t now_ms, log_report_fn report, void *ctx);
/* Reports every window that has ended by now_ms. */
void log_limit_flush(uint64_t now_ms, log_report_fn report, void *ctx);
/*
 * A connection of uid closed: reports what it has had suppressed so far, once
 * per window (the rest is reported when the window ends), so that a client
 * making connections in a loop cannot turn the reports into a flood.
 */
void log_limit_flush_uid(uid_t uid, uint64_t now_ms, log_report_fn report, void *ctx);
/* Forgets everything (tests). */
void log_limit_reset(void);

#endif
