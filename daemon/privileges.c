/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "log.h"
#include "options.h"
#include "privileges.h"

static int switch_user(const char *name)
{
	struct passwd *pw = getpwnam(name);

	if (!pw) {
		log_error("--user=%s: no such user (create it, e.g. with systemd-sysusers)", name);
		return -ENOENT;
	}
	if (pw->pw_uid == geteuid())
		return 0; /* already that user, as under systemd's User= */
	if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0) {
		int err = errno;

		log_error("--user=%s: cannot switch to it (%s); only root can, so start cmabufd "
			  "as root or drop --user",
			  name, strerror(err));
		return -err;
	}
	if (setuid(0) == 0 || seteuid(0) == 0) {
		log_error("--user=%s: root could be regained after switching; refusing to run",
			  name);
		return -EPERM;
	}
	log_info("running as user %s (uid %u, gid %u)", name, (unsigned)pw->pw_uid,
		 (unsigned)pw->pw_gid);
	return 0;
}

int privileges_drop(const struct options *opt)
{
	/* The daemon never executes anything: nothing it starts may gain privileges. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		log_error("cannot set no_new_privs: %s", strerror(errno));
		return -errno;
	}
	if (opt->user)
		return switch_user(opt->user);
	if (geteuid() == 0 && getpwnam("cmabuf"))
		log_info("running as root; --user=cmabuf would give that up once the socket and "
			 "region are open");
	else if (geteuid() == 0) /* a source tree's first run: the package makes the user */
		log_info("running as root; a system user for cmabufd (the Debian package makes "
			 "'cmabuf') and --user=NAME would give that up once the socket and region "
			 "are open");
	return 0;
}
