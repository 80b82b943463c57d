/* SPDX-License-Identifier: MIT */
#ifndef CMABUF_OPTIONS_H
#define CMABUF_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "size.h" /* parse_size(), for the options that take a size */

enum backend_choice { BACKEND_AUTO, BACKEND_MEMFD, BACKEND_UIO };

struct options {
	const char *socket_path;
	const char *config_path;
	bool config_explicit; /* --config given: a missing file is an error */
	bool reclaim_deadline_explicit;
	mode_t socket_mode;
	enum backend_choice backend;
	uint64_t region_size; /* memfd backend */
	unsigned max_clients;
	unsigned max_clients_per_uid;
	const char *user; /* --user: switch to it once set up, or NULL */
	unsigned max_buffers_per_client;
	unsigned reclaim_deadline_ms;
	unsigned hello_timeout_ms;   /* a connection without HELLO is closed after this */
	const char *metrics_file;    /* NULL: none */
	unsigned metrics_interval_s; /* how often it is rewritten */
	bool verbose;
	/* Tests only: leave SO_PASSRIGHTS alone, as on kernels before 6.16 (server.c). */
	bool fds_reach_socket;
	/* Tests only: identity without SO_PEERPIDFD, as on kernels before 6.5 (identity.c). */
	bool no_peer_pidfd;
};

/* Returns 0 to run, 1 when --help/--version was served, -1 on a usage error (already reported). */
int options_parse(int argc, char **argv, struct options *opt);

#endif
