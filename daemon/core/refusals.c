/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "refusals.h"

void refusals_record(struct refusals *r, uint64_t time_ms, pid_t pid, uid_t uid, uint64_t size,
		     const char *name, int error, const char *reason)
{
	struct refusal *e = &r->ring[r->last_serial % REFUSALS_MAX];

	memset(e, 0, sizeof(*e));
	e->serial = ++r->last_serial;
	e->time_ms = time_ms;
	e->size = size;
	e->pid = pid;
	e->uid = uid;
	e->error = error;
	/* Kept for `cmabufctl why`, which prints it: not a name refused for what it holds. */
	if (cmabuf_name_problem(name))
		cmabuf_copy_name(e->name, sizeof(e->name), "(invalid name)");
	else
		memcpy(e->name, name, sizeof(e->name)); /* the decoder saw its NUL */
	cmabuf_copy_name(e->reason, sizeof(e->reason), reason);
}

const struct refusal *refusals_before(const struct refusals *r, uint64_t before_serial)
{
	uint64_t serial = before_serial == 0 || before_serial > r->last_serial ? r->last_serial
									       : before_serial - 1;
	const struct refusal *e;

	if (serial == 0)
		return NULL;
	e = &r->ring[(serial - 1) % REFUSALS_MAX];
	return e->serial == serial ? e : NULL; /* else overwritten: older ones are gone */
}
