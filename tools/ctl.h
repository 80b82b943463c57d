/* SPDX-License-Identifier: MIT */
/* What cmabufctl's commands share: the connection, the output options, and small formatters. */
#ifndef CMABUF_CTL_H
#define CMABUF_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "connection.h"

struct ctl {
	struct cmabuf_conn conn;
	bool json;
	bool color;	     /* map: ANSI colours (a tty, and no --no-color) */
	const char *svg;     /* map --svg FILE */
	unsigned slices;     /* map: characters in the bar */
	const char *program; /* argv[0]'s name, for messages */
};

/* Sizes for people: 3110400 -> "2.97 MiB". */
const char *human(uint64_t v, char *buf, size_t cap);
/* Prints s as a JSON string, quotes included (names come from clients). */
void json_string(const char *s);
/* "ENOMEM" for -ENOMEM; the number when the name is unknown. */
const char *errno_name(int err, char *buf, size_t cap);
/* Whether this connection sees every user's buffers and clients (HELLO's HAS_DEV_ADDR). */
bool ctl_sees_everyone(const struct ctl *ctl);

int cmd_metrics(struct ctl *ctl);
int cmd_clients(struct ctl *ctl);
int cmd_why(struct ctl *ctl);
int cmd_map(struct ctl *ctl);

#endif
