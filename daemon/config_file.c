/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_file.h"
#include "policy_config.h"

/* 0 found, -ENOENT unknown, other negative errno when the lookup itself failed. */
static int lookup_name(const char *name, bool group, uint32_t *out)
{
	long hint = sysconf(group ? _SC_GETGR_R_SIZE_MAX : _SC_GETPW_R_SIZE_MAX);
	size_t size = hint > 0 ? (size_t)hint : 1024;

	for (;;) {
		char *buf = malloc(size);
		struct passwd pw, *pwr = NULL;
		struct group gr, *grr = NULL;
		int r;

		if (!buf)
			return -ENOMEM;
		if (group) {
			r = getgrnam_r(name, &gr, buf, size, &grr);
			if (!r && grr)
				*out = (uint32_t)grr->gr_gid;
		} else {
			r = getpwnam_r(name, &pw, buf, size, &pwr);
			if (!r && pwr)
				*out = (uint32_t)pwr->pw_uid;
		}
		free(buf);
		if (r == ERANGE && size < (1u << 20)) {
			size *= 2;
			continue;
		}
		if (!r && (group ? grr != NULL : pwr != NULL))
			return 0;
		if (!r || r == ENOENT || r == ESRCH || r == EBADF || r == EPERM)
			return -ENOENT;
		return -r;
	}
}

int config_load(const char *path, uint64_t region_size, struct config *out, char *err,
		size_t errlen)
{
	FILE *f = fopen(path, "re");
	int r;

	if (!f) {
		r = -errno;
		if (err && errlen && r == -ENOENT)
			snprintf(err, errlen, "%s: cannot open: no such file", path);
		else if (err && errlen)
			snprintf(err, errlen, "%s: cannot open: %s", path, strerror(-r));
		return r;
	}
	r = config_parse_stream(f, path, lookup_name, region_size, out, err, errlen);
	fclose(f);
	return r;
}
