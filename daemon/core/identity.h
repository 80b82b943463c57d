/* SPDX-License-Identifier: MIT */
/*
 * Who a client is, as the kernel and systemd say, gathered by the front door
 * when the connection is accepted (front/identity.c) and handed to the core
 * as data: the core never reads /proc or a socket to learn it.
 */
#ifndef CMABUF_IDENTITY_H
#define CMABUF_IDENTITY_H

#include <stdbool.h>
#include <sys/types.h>

#define IDENTITY_UNIT_MAX 64 /* = CONFIG_UNIT_MAX: longer names match no class anyway */

struct peer_identity {
	pid_t pid; /* the process that connected */
	uid_t uid;
	gid_t gid;
	const gid_t *groups; /* supplementary groups, all of them; owned by the filler */
	unsigned ngroups;
	/*
	 * The system unit the process runs in (sd_pid_get_unit(): "camera.service",
	 * "user@1000.service" for everything in a user's manager, "session-3.scope"),
	 * and the unit inside the user's manager (sd_pid_get_user_unit()), or "".
	 */
	char unit[IDENTITY_UNIT_MAX];
	char user_unit[IDENTITY_UNIT_MAX];
	/*
	 * false: the units could not be read for the process that connected (it had
	 * exited, or its pid could not be pinned): a policy that classes by unit must
	 * refuse rather than guess "no unit".
	 */
	bool unit_known;
};

#endif
