/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

const char *human(uint64_t v, char *buf, size_t cap)
{
	static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double x = (double)v;
	unsigned u = 0;

	while (x >= 1024.0 && u < 4) {
		x /= 1024.0;
		u++;
	}
	snprintf(buf, cap, u ? "%.2f %s" : "%.0f %s", x, units[u]);
	return buf;
}

void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

const char *errno_name(int err, char *buf, size_t cap)
{
	const char *name = strerrorname_np(err < 0 ? -err : err);

	if (name)
		return name;
	snprintf(buf, cap, "%d", err);
	return buf;
}

bool ctl_sees_everyone(const struct ctl *ctl)
{
	return ctl->conn.server.flags & CMABUF_HELLO_HAS_DEV_ADDR;
}
