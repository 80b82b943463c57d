/* SPDX-License-Identifier: MIT */
/* cmabufctl clients: one line per connection, with what it holds. */
#include <inttypes.h>
#include <stdio.h>

#include "ctl.h"

static void print_client(const struct ctl *ctl, const struct cmabuf_client_entry *e, bool first)
{
	char sz[32], conn[16];

	if (ctl->json) {
		printf("%s{\"conn\":%u,\"pid\":%u,\"uid\":%u,\"class\":", first ? "" : ",", e->conn,
		       e->pid, e->uid);
		json_string(e->class_name);
		printf(",\"priority\":%d,\"buffers\":%u,\"bytes\":%" PRIu64
		       ",\"waiting\":%s,\"self\":%s,\"heap\":%s,\"command\":",
		       e->priority, e->buffers, e->bytes,
		       e->flags & CMABUF_CLIENT_WAITING ? "true" : "false",
		       e->flags & CMABUF_CLIENT_SELF ? "true" : "false",
		       e->flags & CMABUF_CLIENT_HEAP ? "true" : "false");
		json_string(e->command);
		printf("}");
		return;
	}
	if (e->flags & CMABUF_CLIENT_HEAP)
		snprintf(conn, sizeof(conn), "heap");
	else
		snprintf(conn, sizeof(conn), "%u", e->conn);
	printf("%6s %8u %6u  %-16.16s %5d %8u %12s%s%s%s%s%s\n", conn, e->pid, e->uid,
	       *e->class_name ? e->class_name : "-", e->priority, e->buffers,
	       human(e->bytes, sz, sizeof(sz)),
	       e->flags & CMABUF_CLIENT_HEAP ? "  (dma-heap caller '" : "",
	       e->flags & CMABUF_CLIENT_HEAP ? e->command : "",
	       e->flags & CMABUF_CLIENT_HEAP ? "')" : "",
	       e->flags & CMABUF_CLIENT_WAITING ? "  (waiting for reclaimed memory)" : "",
	       e->flags & CMABUF_CLIENT_SELF ? "  (this cmabufctl)" : "");
}

int cmd_clients(struct ctl *ctl)
{
	struct cmabuf_msg_list_clients req = {0, 0};
	struct cmabuf_msg r;
	unsigned total = 0, i;
	int ret;

	if (ctl->json)
		printf("[");
	else
		printf("%6s %8s %6s  %-16s %5s %8s %12s\n", "CONN", "PID", "UID", "CLASS", "PRIO",
		       "BUFFERS", "BYTES");
	do {
		ret = cmabuf_conn_request(&ctl->conn, CMABUF_MSG_LIST_CLIENTS, &req, sizeof(req),
					  &r, NULL);
		if (ret < 0)
			return ret;
		for (i = 0; i < r.u.clients_reply.head.count; i++, total++)
			print_client(ctl, &r.u.clients_reply.entries[i], total == 0);
		if (i)
			req.start_conn = r.u.clients_reply.entries[i - 1].conn + 1;
	} while (r.u.clients_reply.head.more && i);
	if (ctl->json)
		printf("]\n");
	else if (!ctl_sees_everyone(ctl))
		printf("(only your own uid's connections are shown)\n");
	return 0;
}
