/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "options.h"

#define DEFAULT_REGION_SIZE (256ull << 20)

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: cmabufd [OPTIONS]\n"
		"\n"
		"Serves physically contiguous, coherent dma-buf buffers to clients over a Unix\n"
		"socket. Clients use libcmabuf; `cmabufctl status` shows what the daemon holds.\n"
		"\n"
		"Options:\n"
		"  -s, --socket=PATH         Listen on PATH (default: $CMABUF_SOCKET, else\n"
		"                            %s). The parent directory is created.\n"
		"  -c, --config=FILE         Policy: pools, client classes, quotas, priorities\n"
		"                            (default %s; optional there,\n"
		"                            required when given). See docs/config.md.\n"
		"                            SIGHUP rereads it without dropping clients.\n"
		"      --socket-mode=MODE    Permissions of the socket, octal (default 0660).\n"
		"                            Who can connect is who can allocate.\n"
		"  -b, --backend=NAME        Where memory comes from:\n"
		"                              memfd  an emulated region, each buffer a sealed\n"
		"                                     memfd; needs no kernel module (not "
		"contiguous,\n"
		"                                     device addresses are offsets)\n"
		"                              uio    the uio_cma kernel stub's carve-out (real,\n"
		"                                     contiguous; see docs/kmod.md)\n"
		"                              auto   uio when a uio_cma region exists, else "
		"memfd\n"
		"                            (default: auto; the first log line says which)\n"
		"  -r, --region-size=SIZE    Size of the memfd backend's region, with optional\n"
		"                            K/M/G suffix (default 256M), at least 64K;\n"
		"                            rounded down to the page size.\n"
		"      --max-clients=N       Connections served at once (default 1024).\n"
		"      --user=NAME           Once the socket is bound and the region open,\n"
		"                            switch to this user and its groups for good\n"
		"                            (start as root). The systemd unit runs as user\n"
		"                            cmabuf from the start instead.\n"
		"      --max-clients-per-uid=N\n"
		"                            Connections one uid may hold at once (default\n"
		"                            128); more are refused with a reason, so one\n"
		"                            user cannot lock others out.\n"
		"      --max-buffers=N       Live buffers per client (default 4096).\n"
		"      --hello-timeout=MS    A connection that has not said HELLO this long\n"
		"                            after connecting is told why and closed, so it\n"
		"                            cannot hold its slot (default 10000).\n"
		"      --reclaim-deadline=MS How long holders of reclaimable buffers have to\n"
		"                            give them back when a higher-priority request\n"
		"                            needs the space (default 2000, or the config's\n"
		"                            [daemon] reclaim-deadline).\n"
		"      --metrics-file=PATH   Write the metrics of `cmabufctl metrics` (Prometheus\n"
		"                            text format) to PATH every --metrics-interval, for\n"
		"                            node_exporter's textfile collector: PATH should be\n"
		"                            NAME.prom in its --collector.textfile.directory.\n"
		"                            Written to a temporary file in the same directory,\n"
		"                            then renamed over PATH, so readers never see half\n"
		"                            a file. Mode 0644; it lists every uid's usage.\n"
		"      --metrics-interval=SECONDS\n"
		"                            How often --metrics-file is rewritten (default 15,\n"
		"                            1..86400).\n"
		"  -v, --verbose             Log every request.\n"
		"      --test-fds-reach-socket, --test-no-peer-pidfd\n"
		"                            Tests only: the paths of kernels before 6.16\n"
		"                            (descriptors reach the socket; never taken)\n"
		"                            and 6.5 (no SO_PEERPIDFD).\n"
		"  -h, --help                Show this help.\n"
		"  -V, --version             Show the version.\n"
		"\n"
		"Examples:\n"
		"  cmabufd --backend=memfd --socket=/tmp/cmabuf.sock --region-size=64M\n"
		"  CMABUF_SOCKET=/tmp/cmabuf.sock cmabufctl status\n"
		"  cmabufd --metrics-file=/var/lib/prometheus/node-exporter/cmabuf.prom\n"
		"\n"
		"Signals: SIGTERM and SIGINT shut down cleanly; SIGHUP reloads --config.\n",
		CMABUF_DEFAULT_SOCKET, CMABUF_DEFAULT_CONFIG);
}

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

static int parse_backend(const char *s, enum backend_choice *out)
{
	if (!strcmp(s, "memfd"))
		*out = BACKEND_MEMFD;
	else if (!strcmp(s, "uio"))
		*out = BACKEND_UIO;
	else if (!strcmp(s, "auto"))
		*out = BACKEND_AUTO;
	else
		return -EINVAL;
	return 0;
}

static int parse_mode(const char *s, mode_t *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 8);

	if (end == s || *end || v > 0777)
		return -EINVAL;
	*out = (mode_t)v;
	return 0;
}

static void defaults(struct options *opt)
{
	const char *env = getenv("CMABUF_SOCKET");

	memset(opt, 0, sizeof(*opt));
	opt->socket_path = env && *env ? env : CMABUF_DEFAULT_SOCKET;
	opt->socket_mode = 0660;
	opt->config_path = CMABUF_DEFAULT_CONFIG;
	opt->backend = BACKEND_AUTO;
	opt->region_size = DEFAULT_REGION_SIZE;
	opt->max_clients = 1024;
	opt->max_clients_per_uid = 128;
	opt->max_buffers_per_client = 4096;
	opt->reclaim_deadline_ms = 2000;
	opt->hello_timeout_ms = 10000;
	opt->metrics_interval_s = 15;
}

static int bad(const char *what, const char *value, const char *hint)
{
	fprintf(stderr, "cmabufd: invalid %s '%s': %s\nTry 'cmabufd --help'.\n", what, value, hint);
	return -1;
}

enum {
	OPT_SOCKET_MODE = 256,
	OPT_MAX_CLIENTS,
	OPT_MAX_CLIENTS_PER_UID,
	OPT_USER,
	OPT_MAX_BUFFERS,
	OPT_RECLAIM_DEADLINE,
	OPT_METRICS_FILE,
	OPT_METRICS_INTERVAL,
	OPT_TEST_FDS_REACH_SOCKET,
	OPT_HELLO_TIMEOUT,
	OPT_TEST_NO_PEER_PIDFD,
};

static const struct option long_opts[] = {
	{"socket", required_argument, NULL, 's'},
	{"config", required_argument, NULL, 'c'},
	{"socket-mode", required_argument, NULL, OPT_SOCKET_MODE},
	{"backend", required_argument, NULL, 'b'},
	{"region-size", required_argument, NULL, 'r'},
	{"max-clients", required_argument, NULL, OPT_MAX_CLIENTS},
	{"max-clients-per-uid", required_argument, NULL, OPT_MAX_CLIENTS_PER_UID},
	{"user", required_argument, NULL, OPT_USER},
	{"max-buffers", required_argument, NULL, OPT_MAX_BUFFERS},
	{"reclaim-deadline", required_argument, NULL, OPT_RECLAIM_DEADLINE},
	{"metrics-file", required_argument, NULL, OPT_METRICS_FILE},
	{"metrics-interval", required_argument, NULL, OPT_METRICS_INTERVAL},
	{"hello-timeout", required_argument, NULL, OPT_HELLO_TIMEOUT},
	{"test-fds-reach-socket", no_argument, NULL, OPT_TEST_FDS_REACH_SOCKET},
	{"test-no-peer-pidfd", no_argument, NULL, OPT_TEST_NO_PEER_PIDFD},
	{"verbose", no_argument, NULL, 'v'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

static int apply(int c, const char *arg, struct options *opt)
{
	switch (c) {
	case 's':
		opt->socket_path = arg;
		return 0;
	case OPT_SOCKET_MODE:
		return parse_mode(arg, &opt->socket_mode)
			       ? bad("--socket-mode", arg, "octal, e.g. 0660")
			       : 0;
	case 'b':
		return parse_backend(arg, &opt->backend)
			       ? bad("--backend", arg, "use memfd, uio or auto")
			       : 0;
	case 'r':
		if (parse_size(arg, &opt->region_size) || opt->region_size < 65536)
			return bad("--region-size", arg, "a size of at least 64K, e.g. 256M");
		return 0;
	case OPT_MAX_CLIENTS:
		return parse_uint(arg, 1, 65536, &opt->max_clients)
			       ? bad("--max-clients", arg, "1..65536")
			       : 0;
	case OPT_USER:
		if (!*arg)
			return bad("--user", arg, "a user name, e.g. cmabuf");
		opt->user = arg;
		return 0;
	case OPT_MAX_CLIENTS_PER_UID:
		return parse_uint(arg, 1, 65536, &opt->max_clients_per_uid)
			       ? bad("--max-clients-per-uid", arg, "1..65536")
			       : 0;
	case OPT_MAX_BUFFERS:
		return parse_uint(arg, 1, 1u << 20, &opt->max_buffers_per_client)
			       ? bad("--max-buffers", arg, "1..1048576")
			       : 0;
	case 'c':
		opt->config_path = arg;
		opt->config_explicit = true;
		return 0;
	case OPT_RECLAIM_DEADLINE:
		opt->reclaim_deadline_explicit = true;
		return parse_uint(arg, 1, 600000, &opt->reclaim_deadline_ms)
			       ? bad("--reclaim-deadline", arg, "milliseconds, 1..600000")
			       : 0;
	case OPT_METRICS_FILE:
		if (!*arg)
			return bad("--metrics-file", arg, "a path, e.g. /run/cmabuf/cmabuf.prom");
		opt->metrics_file = arg;
		return 0;
	case OPT_METRICS_INTERVAL:
		return parse_uint(arg, 1, 86400, &opt->metrics_interval_s)
			       ? bad("--metrics-interval", arg, "seconds, 1..86400")
			       : 0;
	case 'v':
		opt->verbose = true;
		return 0;
	case OPT_HELLO_TIMEOUT:
		return parse_uint(arg, 1, 600000, &opt->hello_timeout_ms)
			       ? bad("--hello-timeout", arg, "milliseconds, 1..600000")
			       : 0;
	case OPT_TEST_NO_PEER_PIDFD:
		opt->no_peer_pidfd = true;
		return 0;
	case OPT_TEST_FDS_REACH_SOCKET:
		opt->fds_reach_socket = true;
		return 0;
	default:
		fprintf(stderr, "Try 'cmabufd --help'.\n");
		return -1;
	}
}

int options_parse(int argc, char **argv, struct options *opt)
{
	int c;

	defaults(opt);
	while ((c = getopt_long(argc, argv, "s:c:b:r:vhV", long_opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 1;
		}
		if (c == 'V') {
			printf("cmabufd %s\n", CMABUF_VERSION);
			return 1;
		}
		if (apply(c, optarg, opt) < 0)
			return -1;
	}
	if (optind < argc) {
		fprintf(stderr, "cmabufd: unexpected argument '%s'\nTry 'cmabufd --help'.\n",
			argv[optind]);
		return -1;
	}
	return 0;
}
