/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

static bool log_verbose;
static bool log_prefixed; /* stderr is connected to journald: use <N> prefixes */

void log_init(bool verbose)
{
	log_verbose = verbose;
	log_prefixed = getenv("JOURNAL_STREAM") != NULL;
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
	if (log_prefixed)
		fprintf(stderr, "<%d>%s\n", priority, line);
	else
		fprintf(stderr, "cmabufd: %s\n", line);
}
