/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "log_limit.h"

struct window {
	uint64_t start;
	unsigned lines, suppressed;
};

struct uid_window {
	struct window w;
	uid_t uid;
	bool used;
	bool told;     /* its suppressed count was reported early in this window (a disconnect) */
	uint64_t last; /* the last line asked for: the longest quiet one is evicted */
};

static struct uid_window uids[LOG_LIMIT_UIDS];
static struct window global;

void log_limit_reset(void)
{
	memset(uids, 0, sizeof(uids));
	memset(&global, 0, sizeof(global));
}

/* A window that has ended starts again; what it suppressed is reported. Returns true if ended. */
static bool roll(struct window *w, uint64_t now, bool is_global, uid_t uid, log_report_fn report,
		 void *ctx)
{
	if (now - w->start < LOG_WINDOW_MS)
		return false;
	if (w->suppressed)
		report(ctx, is_global, uid, w->suppressed);
	w->start = now;
	w->lines = w->suppressed = 0;
	return true;
}

void log_limit_flush(uint64_t now, log_report_fn report, void *ctx)
{
	unsigned i;

	for (i = 0; i < LOG_LIMIT_UIDS; i++)
		if (uids[i].used && roll(&uids[i].w, now, false, uids[i].uid, report, ctx))
			uids[i].used = false; /* nothing in this window yet: free the slot */
	roll(&global, now, true, 0, report, ctx);
}

void log_limit_flush_uid(uid_t uid, uint64_t now, log_report_fn report, void *ctx)
{
	unsigned i;

	log_limit_flush(now, report, ctx);
	for (i = 0; i < LOG_LIMIT_UIDS; i++) {
		struct uid_window *u = &uids[i];

		if (u->used && u->uid == uid && u->w.suppressed && !u->told) {
			report(ctx, false, uid, u->w.suppressed);
			u->w.suppressed = 0;
			u->told = true;
		}
	}
}

static struct uid_window *window_of(uid_t uid, uint64_t now, log_report_fn report, void *ctx)
{
	struct uid_window *free_slot = NULL, *quiet = NULL;
	unsigned i;

	for (i = 0; i < LOG_LIMIT_UIDS; i++) {
		struct uid_window *u = &uids[i];

		if (u->used && u->uid == uid)
			return u;
		if (!u->used && !free_slot)
			free_slot = u;
		if (u->used && (!quiet || u->last < quiet->last))
			quiet = u;
	}
	if (!free_slot) { /* more uids than slots: the quietest one's count is told now */
		if (quiet->w.suppressed)
			report(ctx, false, quiet->uid, quiet->w.suppressed);
		free_slot = quiet;
	}
	memset(free_slot, 0, sizeof(*free_slot));
	free_slot->used = true;
	free_slot->uid = uid;
	free_slot->w.start = now;
	return free_slot;
}

enum log_verdict log_limit_check(uid_t uid, uint64_t now, log_report_fn report, void *ctx)
{
	struct uid_window *u;

	log_limit_flush(now, report, ctx);
	u = window_of(uid, now, report, ctx);
	u->last = now;
	if (u->w.lines >= LOG_UID_BURST) {
		u->w.suppressed++;
		return LOG_SUPPRESS;
	}
	if (global.lines >= LOG_GLOBAL_BURST) {
		global.suppressed++;
		return LOG_SUPPRESS;
	}
	u->w.lines++;
	global.lines++;
	if (u->w.lines == LOG_UID_BURST)
		return LOG_WRITE_LAST_UID;
	return global.lines == LOG_GLOBAL_BURST ? LOG_WRITE_LAST_GLOBAL : LOG_WRITE;
}
