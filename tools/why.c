/* SPDX-License-Identifier: MIT */
/* cmabufctl why: the last refused allocations, newest first, with the daemon's reasons. */
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "ctl.h"

static void print_refusal(const struct ctl *ctl, const struct cmabuf_refusal_entry *e, bool first)
{
	char sz[32], when[32], num[16];
	time_t t = (time_t)(e->time_ms / 1000);
	struct tm tm;

	if (ctl->json) {
		printf("%s{\"serial\":%" PRIu64 ",\"time_ms\":%" PRIu64 ",\"pid\":%u,\"uid\":%u,"
		       "\"size\":%" PRIu64 ",\"error\":%d,\"errno\":\"%s\",\"name\":",
		       first ? "" : ",", e->serial, e->time_ms, e->pid, e->uid, e->size, e->error,
		       errno_name(e->error, num, sizeof(num)));
		json_string(e->name);
		printf(",\"reason\":");
		json_string(e->reason);
		printf("}");
		return;
	}
	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	printf("%s  pid %u uid %u  %s '%s': %s\n    %s\n", when, e->pid, e->uid,
	       human(e->size, sz, sizeof(sz)), e->name, errno_name(e->error, num, sizeof(num)),
	       e->reason);
}

int cmd_why(struct ctl *ctl)
{
	struct cmabuf_msg_list_refusals req = {0};
	struct cmabuf_msg r;
	unsigned total = 0, i;
	int ret;

	if (ctl->json)
		printf("[");
	do {
		ret = cmabuf_conn_request(&ctl->conn, CMABUF_MSG_LIST_REFUSALS, &req, sizeof(req),
					  &r, NULL);
		if (ret < 0)
			return ret;
		for (i = 0; i < r.u.refusals_reply.head.count; i++, total++)
			print_refusal(ctl, &r.u.refusals_reply.entries[i], total == 0);
		if (i)
			req.before_serial = r.u.refusals_reply.entries[i - 1].serial;
	} while (r.u.refusals_reply.head.more && i);
	if (ctl->json)
		printf("]\n");
	else if (total == 0)
		printf("(no refused allocations%s)\n",
		       ctl_sees_everyone(ctl) ? "" : " of your uid");
	return 0;
}
