/* SPDX-License-Identifier: MIT */
/*
 * A METRICS reply as Prometheus text exposition (format 0.0.4). cmabufctl
 * metrics and cmabufd --metrics-file both print through this, so a scrape
 * and the node_exporter textfile always carry the same names and labels.
 */
#ifndef CMABUF_METRICS_TEXT_H
#define CMABUF_METRICS_TEXT_H

#include <stdio.h>

#include "protocol.h"

/* Returns 0, or a negative errno if writing to f failed. */
int cmabuf_metrics_write_text(FILE *f, const struct cmabuf_msg_metrics_reply *m);

/* "enomem", "quota", "invalid", "other": the kind label of the failure counter. */
const char *cmabuf_failure_kind_name(unsigned kind);

#endif
