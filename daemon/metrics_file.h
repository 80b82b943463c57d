/* SPDX-License-Identifier: MIT */
/*
 * cmabufd --metrics-file: the METRICS numbers as a node_exporter textfile
 * collector file, rewritten every --metrics-interval seconds. Each write goes
 * to a temporary file in the same directory and is renamed over the old one,
 * so the collector never reads half a file.
 */
#ifndef CMABUF_METRICS_FILE_H
#define CMABUF_METRICS_FILE_H

struct daemon;

/* Writes the file once and arms the timer; nothing without --metrics-file. */
int metrics_file_start(struct daemon *d);
void metrics_file_stop(struct daemon *d);

#endif
