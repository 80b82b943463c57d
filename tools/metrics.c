/* SPDX-License-Identifier: MIT */
/* cmabufctl metrics: the daemon's METRICS reply in Prometheus text format. */
#include <stdio.h>

#include "ctl.h"
#include "metrics_text.h"

int cmd_metrics(struct ctl *ctl)
{
	struct cmabuf_msg r;
	int ret = cmabuf_conn_request(&ctl->conn, CMABUF_MSG_METRICS, NULL, 0, &r, NULL);

	if (ret < 0)
		return ret;
	/* The same formatter as cmabufd --metrics-file: one set of names. */
	ret = cmabuf_metrics_write_text(stdout, &r.u.metrics_reply);
	if (ret < 0)
		snprintf(ctl->conn.last_error, sizeof(ctl->conn.last_error),
			 "cannot write the metrics to stdout");
	return ret;
}
