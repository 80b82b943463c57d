/* SPDX-License-Identifier: MIT */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>
#include <time.h>

#include "client.h"
#include "clock.h"
#include "log.h"
#include "log_limit.h"

static bool log_verbose;
static bool log_journal; /* stderr is journald's stream: send structured entries */

/* $JOURNAL_STREAM is "DEV:INO" of the stream systemd connected; only trust it for our stderr. */
static bool stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!env || sscanf(env, "%llu:%llu", &dev, &ino) != 2 || fstat(2, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(bool verbose)
{
	log_verbose = verbose;
	log_journal = stderr_is_journal();
}

static void emit(int priority, const char *line, const struct client *c, const char *buffer,
		 uint64_t bytes)
{
	if (log_journal && c)
		sd_journal_send("MESSAGE=%s", line, "PRIORITY=%d", priority, "CMABUF_CLIENT_PID=%d",
				(int)c->owner.id.pid, "CMABUF_CLIENT_UID=%u",
				(unsigned)c->owner.id.uid, "CMABUF_BUFFER=%s", buffer ? buffer : "",
				"CMABUF_BYTES=%" PRIu64, bytes, NULL);
	else if (log_journal)
		sd_journal_send("MESSAGE=%s", line, "PRIORITY=%d", priority, NULL);
	else if (c)
		fprintf(stderr, "cmabufd: %s [pid %d uid %u]\n", line, (int)c->owner.id.pid,
			(unsigned)c->owner.id.uid);
	else
		fprintf(stderr, "cmabufd: %s\n", line);
}

void log_msg(int priority, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (priority == LOG_DEBUG && !log_verbose)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	emit(priority, line, NULL, NULL, 0);
}

static void report_suppressed(void *ctx, bool global, uid_t uid, unsigned suppressed)
{
	char line[160];

	if (global)
		snprintf(line, sizeof(line),
			 "%u more messages about clients were suppressed (at most %u for all "
			 "clients every %u s)",
			 suppressed, LOG_GLOBAL_BURST, LOG_WINDOW_MS / 1000);
	else
		snprintf(line, sizeof(line),
			 "%u more messages about uid %u were suppressed (at most %u per uid every "
			 "%u s)",
			 suppressed, (unsigned)uid, LOG_UID_BURST, LOG_WINDOW_MS / 1000);
	emit(LOG_WARNING, line, NULL, NULL, 0);
}

void log_client_flush(struct client *c)
{
	log_limit_flush_uid(c->owner.id.uid, now_ms(CLOCK_MONOTONIC), report_suppressed, NULL);
}

/*
 * Per uid and for all clients, not per connection: a client that opens
 * connections in a loop gets LOG_UID_BURST lines per window, whatever their
 * number, and then one line saying the rest is suppressed (log_limit.c).
 */
static enum log_verdict may_log(const struct client *c)
{
	return log_limit_check(c->owner.id.uid, now_ms(CLOCK_MONOTONIC), report_suppressed, NULL);
}

static void say_suppressed(enum log_verdict v, const struct client *c)
{
	char line[160];

	if (v == LOG_WRITE_LAST_UID)
		snprintf(line, sizeof(line),
			 "further messages about uid %u are suppressed for up to %u s (at most %u "
			 "per uid)",
			 (unsigned)c->owner.id.uid, LOG_WINDOW_MS / 1000, LOG_UID_BURST);
	else if (v == LOG_WRITE_LAST_GLOBAL)
		snprintf(line, sizeof(line),
			 "further messages about clients are suppressed for up to %u s (at most "
			 "%u for all clients)",
			 LOG_WINDOW_MS / 1000, LOG_GLOBAL_BURST);
	else
		return;
	emit(LOG_WARNING, line, NULL, NULL, 0);
}

bool log_client(int priority, struct client *c, const char *buffer, uint64_t bytes, const char *fmt,
		...)
{
	char line[1024];
	enum log_verdict v;
	va_list ap;

	if (priority == LOG_DEBUG && !log_verbose)
		return false;
	v = may_log(c);
	if (v == LOG_SUPPRESS)
		return false;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	emit(priority, line, c, buffer, bytes);
	say_suppressed(v, c);
	return true;
}
