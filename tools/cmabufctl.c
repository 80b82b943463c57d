/* SPDX-License-Identifier: MIT */
/* cmabufctl: what cmabufd holds, for people first and for scripts with --json. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: cmabufctl [OPTIONS] COMMAND\n"
		"\n"
		"Shows what cmabufd holds.\n"
		"\n"
		"Commands:\n"
		"  status     backend, region, used/free/largest free extent, buffers, clients\n"
		"  buffers    one line per live buffer: id, owner pid/uid, name, size, offset, "
		"age\n"
		"             (offset \"(hidden)\", null in --json, unless your class may\n"
		"             learn device addresses)\n"
		"  clients    one line per connection: pid, uid, class, priority, buffers, bytes\n"
		"  map        the region as a bar, one character per slice, coloured by owner:\n"
		"             A-Z a buffer (a-z purgeable), '-' freed but still held,\n"
		"             '.' free, '~' being zeroed; a legend names the owners\n"
		"  why        the last refused allocations, newest first, with the reasons\n"
		"  metrics    every counter and gauge in Prometheus text format (the same\n"
		"             text cmabufd --metrics-file writes)\n"
		"\n"
		"Clients that may not learn device addresses see only their own uid's\n"
		"buffers, clients, refusals and per-uid usage.\n"
		"\n"
		"Options:\n"
		"  -s, --socket=PATH   cmabufd's socket (default: $CMABUF_SOCKET, else %s)\n"
		"  -j, --json          machine-readable output, one JSON document (all\n"
		"                      commands but metrics, which is Prometheus text)\n"
		"      --no-color      map: no colours (also when stdout is not a terminal)\n"
		"      --svg=FILE      map: write an SVG picture to FILE ('-': stdout), one\n"
		"                      rectangle per buffer, free extent and zeroing range,\n"
		"                      each with a tooltip naming it\n"
		"      --slices=N      map: characters in the bar (default 128, 64 a line)\n"
		"  -h, --help          show this help\n"
		"  -V, --version       show the version\n"
		"\n"
		"Examples:\n"
		"  cmabufctl status\n"
		"  cmabufctl --json buffers | jq '.[] | select(.size > 1048576)'\n"
		"  cmabufctl map --svg=region.svg\n"
		"  cmabufctl why\n",
		CMABUF_DEFAULT_SOCKET);
}

static const char *heap_state_name(uint32_t state)
{
	switch (state) {
	case CMABUF_HEAP_SERVED:
		return "served";
	case CMABUF_HEAP_NO_NODE:
		return "no-node";
	case CMABUF_HEAP_OLD_STUB:
		return "old-stub";
	case CMABUF_HEAP_SERVE_FAILED:
		return "serve-failed";
	default:
		return "none";
	}
}

static void print_heap_status(const struct cmabuf_msg_status_reply *s)
{
	char a[32];

	switch (s->heap_state) {
	case CMABUF_HEAP_SERVED:
		printf("heap door:      %s (%u callers hold %s in %u buffers; %u waiting)\n",
		       s->heap_node, s->heap_callers, human(s->heap_bytes, a, sizeof(a)),
		       s->heap_buffers, s->heap_waiting);
		break;
	case CMABUF_HEAP_NO_NODE:
		printf("heap door:      none (the stub offers no /dev/dma_heap node for this "
		       "region: module parameter heap=)\n");
		break;
	case CMABUF_HEAP_OLD_STUB:
		printf("heap door:      none (the loaded uio_cma predates it: load a newer one)\n");
		break;
	case CMABUF_HEAP_SERVE_FAILED:
		printf("heap door:      not served (the stub refused; see cmabufd's log)\n");
		break;
	default:
		printf("heap door:      none (the %s backend has no /dev/dma_heap node)\n",
		       s->backend);
		break;
	}
}

static int cmd_status(struct ctl *ctl)
{
	struct cmabuf_msg r;
	const struct cmabuf_msg_status_reply *s = &r.u.status_reply;
	char a[32], b[32], c[32], e[32];
	int ret = cmabuf_conn_request(&ctl->conn, CMABUF_MSG_STATUS, NULL, 0, &r, NULL);

	if (ret < 0)
		return ret;
	if (ctl->json) {
		printf("{\"backend\":\"%s\",\"region_base\":%" PRIu64 ",\"region_size\":%" PRIu64
		       ",\"used\":%" PRIu64 ",\"free\":%" PRIu64 ",\"largest_free\":%" PRIu64
		       ",\"free_extents\":%u,\"pending_release\":%" PRIu64 ",\"zeroing\":%" PRIu64
		       ",\"buffers\":%u,\"clients\":%u,\"reloads\":%u,\"uptime_ms\":%" PRIu64
		       ",\"allocations\":%" PRIu64 ",\"failures\":%" PRIu64
		       ",\"uio_region_unused\":%s,\"heap\":{\"state\":\"%s\",\"node\":",
		       s->backend, s->region_base, s->region_size, s->used, s->free,
		       s->largest_free, s->free_extents, s->pending_release, s->zeroing, s->buffers,
		       s->clients, s->reloads, s->uptime_ms, s->allocations, s->failures,
		       s->flags & CMABUF_STATUS_UIO_REGION_UNUSED ? "true" : "false",
		       heap_state_name(s->heap_state));
		json_string(s->heap_node);
		printf(",\"callers\":%u,\"waiting\":%u,\"buffers\":%u,\"bytes\":%" PRIu64 "}}\n",
		       s->heap_callers, s->heap_waiting, s->heap_buffers, s->heap_bytes);
		return 0;
	}
	printf("backend:        %s\n", s->backend);
	printf("region:         %s at 0x%" PRIx64 "\n", human(s->region_size, a, sizeof(a)),
	       s->region_base);
	printf("used:           %s (%.1f%%)\n", human(s->used, a, sizeof(a)),
	       s->region_size ? 100.0 * (double)s->used / (double)s->region_size : 0.0);
	printf("free:           %s in %u extent%s, largest %s\n", human(s->free, b, sizeof(b)),
	       s->free_extents, s->free_extents == 1 ? "" : "s",
	       human(s->largest_free, c, sizeof(c)));
	printf("awaiting release: %s (freed by owners, still held elsewhere)\n",
	       human(s->pending_release, e, sizeof(e)));
	printf("being zeroed:   %s\n", human(s->zeroing, e, sizeof(e)));
	printf("buffers:        %u\n", s->buffers);
	printf("clients:        %u\n", s->clients);
	print_heap_status(s);
	printf("policy reloads: %u\n", s->reloads);
	printf("allocations:    %" PRIu64 " (%" PRIu64 " refused)\n", s->allocations, s->failures);
	printf("uptime:         %" PRIu64 " s\n", s->uptime_ms / 1000);
	if (s->flags & CMABUF_STATUS_UIO_REGION_UNUSED)
		printf("notice:         a uio_cma region appeared after cmabufd started on memfd; "
		       "to use it, restart cmabufd (systemctl restart cmabufd) once no client "
		       "holds "
		       "buffers\n");
	return 0;
}

static void print_entry(const struct ctl *ctl, const struct cmabuf_buffer_entry *e, bool first)
{
	uint64_t now = (uint64_t)time(NULL) * 1000u;
	uint64_t age = now > e->created_ms ? (now - e->created_ms) / 1000u : 0;
	bool hidden = e->flags & CMABUF_BUFFER_OFFSET_HIDDEN;
	char sz[32], off[32];

	if (ctl->json) {
		printf("%s{\"id\":%" PRIu64 ",\"pid\":%u,\"uid\":%u,\"name\":", first ? "" : ",",
		       e->id, e->pid, e->uid);
		json_string(e->name);
		printf(",\"size\":%" PRIu64 ",\"offset\":", e->size);
		/* Withheld from clients that may not learn device addresses: null, not 0. */
		if (hidden)
			printf("null");
		else
			printf("%" PRIu64, e->offset);
		printf(",\"age_s\":%" PRIu64 ",\"release_pending\":%s,\"heap\":%s,\"adopted\":%s}",
		       age, e->flags & CMABUF_BUFFER_RELEASE_PENDING ? "true" : "false",
		       e->flags & CMABUF_BUFFER_HEAP ? "true" : "false",
		       e->flags & CMABUF_BUFFER_ADOPTED ? "true" : "false");
		return;
	}
	if (hidden)
		snprintf(off, sizeof(off), "%-12s", "(hidden)");
	else
		snprintf(off, sizeof(off), "0x%010" PRIx64, e->offset);
	printf("%8" PRIu64 " %8u %6u  %-24.24s %12s  %s %7" PRIu64 "s%s%s\n", e->id, e->pid, e->uid,
	       *e->name ? e->name : "-", human(e->size, sz, sizeof(sz)), off, age,
	       e->flags & CMABUF_BUFFER_ADOPTED		  ? "  (from an earlier cmabufd)"
	       : e->flags & CMABUF_BUFFER_RELEASE_PENDING ? "  (freed, still held)"
							  : "",
	       e->flags & CMABUF_BUFFER_HEAP ? "  (dma-heap caller's)" : "");
}

static int cmd_buffers(struct ctl *ctl)
{
	struct cmabuf_msg_list_buffers req = {0};
	struct cmabuf_msg r;
	unsigned total = 0, i;
	int ret;

	if (ctl->json)
		printf("[");
	else
		printf("%8s %8s %6s  %-24s %12s  %-12s %8s\n", "ID", "PID", "UID", "NAME", "SIZE",
		       "OFFSET", "AGE");
	do {
		ret = cmabuf_conn_request(&ctl->conn, CMABUF_MSG_LIST_BUFFERS, &req, sizeof(req),
					  &r, NULL);
		if (ret < 0)
			return ret;
		for (i = 0; i < r.u.buffers_reply.head.count; i++, total++)
			print_entry(ctl, &r.u.buffers_reply.entries[i], total == 0);
		if (i)
			req.after_id = r.u.buffers_reply.entries[i - 1].id;
	} while (r.u.buffers_reply.head.more && i);
	if (ctl->json)
		printf("]\n");
	else if (total == 0)
		printf("(no live buffers)\n");
	return 0;
}

enum { OPT_NO_COLOR = 256, OPT_SVG, OPT_SLICES };

static const struct option long_opts[] = {
	{"socket", required_argument, NULL, 's'},
	{"json", no_argument, NULL, 'j'},
	{"no-color", no_argument, NULL, OPT_NO_COLOR},
	{"svg", required_argument, NULL, OPT_SVG},
	{"slices", required_argument, NULL, OPT_SLICES},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

static const struct command {
	const char *name;
	int (*run)(struct ctl *ctl);
} commands[] = {
	{"status", cmd_status}, {"buffers", cmd_buffers}, {"clients", cmd_clients},
	{"map", cmd_map},	{"why", cmd_why},	  {"metrics", cmd_metrics},
};

static const struct command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	}
	return NULL;
}

static int parse_slices(const char *s, unsigned *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (end == s || *end || v < 1 || v > 65536)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* Returns an exit status when done (help, version, usage error), else -1 to go on. */
static int parse_args(int argc, char **argv, struct ctl *ctl, const char **socket_path)
{
	bool no_color = false;
	int c;

	/* getopt permutes: options may come before or after the command. */
	while ((c = getopt_long(argc, argv, "s:jhV", long_opts, NULL)) != -1) {
		switch (c) {
		case 's':
			*socket_path = optarg;
			break;
		case 'j':
			ctl->json = true;
			break;
		case OPT_NO_COLOR:
			no_color = true;
			break;
		case OPT_SVG:
			ctl->svg = optarg;
			break;
		case OPT_SLICES:
			if (parse_slices(optarg, &ctl->slices) < 0) {
				fprintf(stderr, "cmabufctl: --slices wants 1..65536, not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("cmabufctl %s\n", CMABUF_VERSION);
			return 0;
		default:
			fprintf(stderr, "Try 'cmabufctl --help'.\n");
			return 2;
		}
	}
	ctl->color = !no_color && isatty(STDOUT_FILENO);
	return -1;
}

int main(int argc, char **argv)
{
	struct ctl ctl = {.json = false, .slices = 128};
	const char *socket_path = NULL;
	const struct command *cmd;
	int ret = parse_args(argc, argv, &ctl, &socket_path);

	if (ret >= 0)
		return ret;
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	cmd = find_command(argv[optind]);
	if (!cmd) {
		fprintf(stderr, "cmabufctl: unknown command '%s'. Try 'cmabufctl --help'.\n",
			argv[optind]);
		return 2;
	}
	ret = cmabuf_conn_open(&ctl.conn, socket_path);
	if (ret == 0)
		ret = cmd->run(&ctl);
	if (ret < 0)
		fprintf(stderr, "cmabufctl: %s\n", ctl.conn.last_error);
	cmabuf_conn_close(&ctl.conn);
	return ret < 0 ? 1 : 0;
}
