/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "fdstore.h"
#include "notify_socket.h"
#include "log.h"

bool fdstore_available(void)
{
	const char *s = getenv("NOTIFY_SOCKET");

	return s && *s;
}

void fdstore_name(char name[FDSTORE_NAME_LEN], const struct backend_live *l)
{
	snprintf(name, FDSTORE_NAME_LEN, FDSTORE_PREFIX "%" PRIx64 ".%" PRIx64 ".%" PRIx64,
		 l->cookie, l->offset, l->size);
}

/* One lowercase hex field ending in end (a '.' or the terminating NUL). */
static bool parse_hex(const char **p, char end, uint64_t *v)
{
	const char *s = *p;
	uint64_t x = 0;
	int n = 0;

	for (; *s && *s != end; s++, n++) {
		int digit = *s >= '0' && *s <= '9'   ? *s - '0'
			    : *s >= 'a' && *s <= 'f' ? *s - 'a' + 10
						     : -1;

		if (digit < 0 || n == 16)
			return false;
		x = x << 4 | (uint64_t)digit;
	}
	if (n == 0 || *s != end)
		return false;
	*v = x;
	*p = end ? s + 1 : s;
	return true;
}

bool fdstore_parse_name(const char *name, struct backend_live *l)
{
	const char *p = name;

	if (strncmp(p, FDSTORE_PREFIX, strlen(FDSTORE_PREFIX)) != 0)
		return false;
	p += strlen(FDSTORE_PREFIX);
	return parse_hex(&p, '.', &l->cookie) && parse_hex(&p, '.', &l->offset) &&
	       parse_hex(&p, '\0', &l->size);
}

int fdstore_put(int fd, const struct backend_live *l)
{
	char name[FDSTORE_NAME_LEN], msg[FDSTORE_NAME_LEN + 32];

	fdstore_name(name, l);
	snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=%s", name);
	return notify_socket_send(msg, fd);
}

/*
 * A removal that does not reach systemd leaves a stale descriptor in the
 * store; the next daemon finds nobody else holding it and drops it then.
 */
void fdstore_remove_name(const char *name)
{
	char msg[FDSTORE_NAME_LEN + 32];
	int ret;

	snprintf(msg, sizeof(msg), "FDSTOREREMOVE=1\nFDNAME=%s", name);
	ret = notify_socket_send(msg, -1);
	if (ret < 0)
		log_warn("could not tell systemd to drop %s from the file-descriptor store: %s",
			 name, strerror(-ret));
}

void fdstore_remove(const struct backend_live *l)
{
	char name[FDSTORE_NAME_LEN];

	fdstore_name(name, l);
	fdstore_remove_name(name);
}

static struct {
	bool collected;
	int n;
	char **names; /* n entries, or NULL */
	bool *taken;
} passed;

int passed_fds_collect(void)
{
	int n;

	if (passed.collected)
		return 0;
	passed.collected = true;
	n = sd_listen_fds_with_names(1, &passed.names);
	if (n < 0) {
		log_error("cannot take the descriptors systemd passed: %s", strerror(-n));
		return n;
	}
	passed.n = n;
	passed.taken = n ? calloc((size_t)n, sizeof(*passed.taken)) : NULL;
	return n && !passed.taken ? -ENOMEM : 0;
}

static bool is_buffer(int i)
{
	return passed.names &&
	       strncmp(passed.names[i], FDSTORE_PREFIX, strlen(FDSTORE_PREFIX)) == 0;
}

int passed_fds_others(int *first)
{
	int i, n = 0;

	passed_fds_collect();
	for (i = 0; i < passed.n; i++) {
		if (is_buffer(i))
			continue;
		if (n++ == 0)
			*first = SD_LISTEN_FDS_START + i;
	}
	return n;
}

void passed_fds_take_buffers(void (*fn)(void *ctx, int fd, const struct backend_live *l,
					const char *name),
			     void *ctx)
{
	struct backend_live l;
	int i;

	passed_fds_collect();
	for (i = 0; i < passed.n; i++) {
		if (!is_buffer(i) || passed.taken[i])
			continue;
		passed.taken[i] = true;
		if (fdstore_parse_name(passed.names[i], &l)) {
			fn(ctx, SD_LISTEN_FDS_START + i, &l, passed.names[i]);
			continue;
		}
		log_warn("file-descriptor store: %s is not a name this cmabufd writes; closed and "
			 "removed from the store",
			 passed.names[i]);
		close(SD_LISTEN_FDS_START + i);
		fdstore_remove_name(passed.names[i]);
	}
}
