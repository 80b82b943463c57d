/* SPDX-License-Identifier: MIT */
/* One line per notable event, with a syslog priority prefix journald understands. */
#ifndef CMABUF_LOG_H
#define CMABUF_LOG_H

#include <stdbool.h>
#include <syslog.h>

void log_init(bool verbose);
void log_msg(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERR, __VA_ARGS__)

#endif
