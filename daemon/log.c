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
				(int)c->owner.id.pid, "CMABUF_CLIENT_UID=%u", (unsigned)c->owner.id.uid,
				"CMABUF_BUFFER=%s", buffer ? buffer : "", "CMABUF_BYTES=%" PRIu64,
				bytes, NULL);
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

void log_client_flush(struct client *c)
{
	char line[96];

	if (!c->log_suppressed)
		return;
	snprintf(line, sizeof(line), "%u more messages about this client were suppressed",
		 c->log_suppressed);
	emit(LOG_WARNING, line, c, NULL, 0);
	c->log_suppressed = 0;
}

/* A token bucket per client: LOG_CLIENT_BURST lines, refilled every window. */
static bool may_log(struct client *c)
{
	uint64_t now = now_ms(CLOCK_MONOTONIC);

	if (now - c->log_window_start >= LOG_CLIENT_WINDOW_MS) {
		log_client_flush(c);
		c->log_window_start = now;
		c->log_lines = 0;
		c->log_suppressed = 0;
	}
	if (c->log_lines < LOG_CLIENT_BURST) {
		c->log_lines++;
		return true;
	}
	c->log_suppressed++;
	return false;
}

bool log_client(int priority, struct client *c, const char *buffer, uint64_t bytes, const char *fmt,
		...)
{
	char line[1024];
	va_list ap;

	if ((priority == LOG_DEBUG && !log_verbose) || !may_log(c))
		return false;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	emit(priority, line, c, buffer, bytes);
	return true;
}
