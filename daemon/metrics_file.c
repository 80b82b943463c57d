/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "metrics_file.h"
#include "metrics_text.h"

/*
 * The temporary name starts with a dot and does not end in .prom, so the
 * textfile collector, which reads only *.prom, never picks it up.
 */
static int temp_path(const char *path, char *out, size_t cap)
{
	char copy[PATH_MAX], copy2[PATH_MAX];
	int n;

	if (strlen(path) >= sizeof(copy))
		return -ENAMETOOLONG;
	strcpy(copy, path);
	strcpy(copy2, path);
	n = snprintf(out, cap, "%s/.%s.XXXXXX", dirname(copy), basename(copy2));
	return n > 0 && (size_t)n < cap ? 0 : -ENAMETOOLONG;
}

static int write_file(struct daemon *d)
{
	const char *path = d->opt->metrics_file;
	struct cmabuf_msg_metrics_reply r;
	char tmp[PATH_MAX];
	FILE *f;
	int fd, ret;

	/* The file is for the operator's collector: every uid, as root would see it. */
	ret = metrics_fill(&d->core, true, 0, now_ms(CLOCK_MONOTONIC) - d->server.start_ms, &r);
	if (ret == 0)
		ret = temp_path(path, tmp, sizeof(tmp));
	if (ret < 0)
		return ret;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* node_exporter runs as another user; mkostemp would leave the file 0600. */
	if (fchmod(fd, 0644) < 0 || !(f = fdopen(fd, "w"))) {
		ret = -errno;
		close(fd);
		unlink(tmp);
		return ret;
	}
	ret = cmabuf_metrics_write_text(f, &r);
	if (ret == 0 && fsync(fileno(f)) < 0) /* renamed after a crash, it is whole */
		ret = -errno;
	if (fclose(f) == EOF && ret == 0)
		ret = -errno;
	if (ret == 0 && rename(tmp, path) < 0)
		ret = -errno;
	if (ret < 0)
		unlink(tmp);
	return ret;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	int ret = write_file(d);

	/* One line when writing starts failing and one when it recovers, not one per tick. */
	if (ret < 0 && d->metrics_file_error != ret)
		log_error("cannot write --metrics-file %s: %s (retrying every %u s)",
			  d->opt->metrics_file, strerror(-ret), d->opt->metrics_interval_s);
	else if (ret == 0 && d->metrics_file_error)
		log_info("writing --metrics-file %s again", d->opt->metrics_file);
	d->metrics_file_error = ret;
}

int metrics_file_start(struct daemon *d)
{
	struct timeval tv = {(time_t)d->opt->metrics_interval_s, 0};

	if (!d->opt->metrics_file)
		return 0;
	d->ev_metrics_file = event_new(d->base, -1, EV_PERSIST, on_tick, d);
	if (!d->ev_metrics_file || event_add(d->ev_metrics_file, &tv) < 0)
		return -ENOMEM;
	on_tick(-1, 0, d);
	return 0;
}

void metrics_file_stop(struct daemon *d)
{
	if (d->ev_metrics_file)
		event_free(d->ev_metrics_file);
	d->ev_metrics_file = NULL;
}
