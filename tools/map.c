/* SPDX-License-Identifier: MIT */
/*
 * cmabufctl map: the region as a bar of characters, one per slice of the
 * address space, coloured by owner. A slice shows the buffer that covers most
 * of it (so small buffers stay visible), else what covers most of the rest;
 * '.' means the whole slice is free.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "layout.h"
#include "map_svg.h"

#define MAP_ROW 64 /* slices per line */

/* Background colours for owners, then the fixed ones; black text reads on all. */
static const int owner_bg[] = {41, 42, 43, 44, 45, 46, 101, 102, 103, 104, 105, 106};
#define NOWNER_BG (sizeof(owner_bg) / sizeof(owner_bg[0]))
#define GREY_BG	  100

static char seg_char(const struct seg *s)
{
	char letter = (char)('A' + s->owner % 26);

	switch (s->kind) {
	case SEG_FREE:
		return '.';
	case SEG_ZEROING:
		return '~';
	case SEG_HIDDEN:
		return '?';
	case SEG_BUFFER:
	default:
		if (s->buf.flags & CMABUF_BUFFER_RELEASE_PENDING)
			return '-';
		if (s->buf.flags & CMABUF_BUFFER_PURGEABLE)
			return (char)(letter - 'A' + 'a');
		return letter;
	}
}

static int seg_bg(const struct seg *s)
{
	if (s->kind == SEG_BUFFER)
		return owner_bg[s->owner % NOWNER_BG];
	return s->kind == SEG_FREE ? 0 : GREY_BG;
}

/* Rank for a slice: any buffer beats zeroing/hidden, which beats free. */
static int seg_rank(const struct seg *s)
{
	return s->kind == SEG_BUFFER ? 2 : s->kind == SEG_FREE ? 0 : 1;
}

/* The segment a slice [start, end) shows; *first is where to start looking. */
static const struct seg *slice_owner(const struct layout *l, size_t *first, uint64_t start,
				     uint64_t end)
{
	const struct seg *best = NULL;
	uint64_t best_cover = 0;
	size_t i;

	while (*first < l->n && l->v[*first].offset + l->v[*first].size <= start)
		(*first)++;
	for (i = *first; i < l->n && l->v[i].offset < end; i++) {
		const struct seg *s = &l->v[i];
		uint64_t lo = s->offset > start ? s->offset : start;
		uint64_t hi = s->offset + s->size < end ? s->offset + s->size : end;
		uint64_t cover = hi - lo;

		if (!best || seg_rank(s) > seg_rank(best) ||
		    (seg_rank(s) == seg_rank(best) && cover > best_cover)) {
			best = s;
			best_cover = cover;
		}
	}
	return best;
}

static void draw_bar(const struct ctl *ctl, const struct layout *l)
{
	uint64_t slice = (l->region_size + ctl->slices - 1) / ctl->slices;
	size_t first = 0;
	unsigned i;
	int bg = 0;

	for (i = 0; i < ctl->slices; i++) {
		uint64_t start = (uint64_t)i * slice, end = start + slice;
		const struct seg *s;

		if (i % MAP_ROW == 0)
			printf("0x%010" PRIx64 " |", start);
		s = start < l->region_size ? slice_owner(l, &first, start, end) : NULL;
		if (ctl->color && (s ? seg_bg(s) : 0) != bg) {
			bg = s ? seg_bg(s) : 0;
			printf(bg ? "\033[30;%dm" : "\033[0m", bg);
		}
		putchar(s ? seg_char(s) : ' ');
		if (i % MAP_ROW == MAP_ROW - 1 || i == ctl->slices - 1) {
			if (ctl->color && bg) {
				fputs("\033[0m", stdout);
				bg = 0;
			}
			puts("|");
		}
	}
}

static void swatch(const struct ctl *ctl, int bg, char ch)
{
	if (ctl->color && bg)
		printf("\033[30;%dm%c\033[0m", bg, ch);
	else
		putchar(ch);
}

static void draw_legend(const struct ctl *ctl, const struct layout *l)
{
	uint64_t totals[4] = {0, 0, 0, 0};
	char a[32], b[32];
	unsigned j;
	size_t i;

	for (i = 0; i < l->n; i++)
		totals[l->v[i].kind] += l->v[i].size;
	printf("\n%s region, %u slices of %s; a slice shows the buffer covering most of it\n",
	       human(l->region_size, a, sizeof(a)), ctl->slices,
	       human((l->region_size + ctl->slices - 1) / ctl->slices, b, sizeof(b)));
	for (j = 0; j < l->nowners; j++) {
		printf("  ");
		swatch(ctl, owner_bg[j % NOWNER_BG], (char)('A' + j % 26));
		printf("  pid %u uid %u%s: %u buffers, %s\n", l->owners[j].pid, l->owners[j].uid,
		       l->owners[j].heap ? " (dma-heap caller)" : "", l->owners[j].buffers,
		       human(l->owners[j].bytes, a, sizeof(a)));
	}
	if (l->nowners)
		printf("     (uppercase pinned, lowercase purgeable, '-' freed by its owner but "
		       "still held: release pending)\n");
	printf("  ");
	swatch(ctl, 0, '.');
	printf("  free, zeroed: %s\n", human(totals[SEG_FREE], a, sizeof(a)));
	printf("  ");
	swatch(ctl, GREY_BG, '~');
	printf("  being zeroed: %s\n", human(totals[SEG_ZEROING], a, sizeof(a)));
	if (!l->sees_everyone) {
		printf("  ");
		swatch(ctl, GREY_BG, '?');
		printf("  other users' buffers or being zeroed (you see only your uid's): %s\n",
		       human(totals[SEG_HIDDEN], a, sizeof(a)));
	}
}

static void print_json(const struct layout *l)
{
	size_t i;

	printf("{\"region_size\":%" PRIu64 ",\"segments\":[", l->region_size);
	for (i = 0; i < l->n; i++) {
		const struct seg *s = &l->v[i];

		printf("%s{\"kind\":\"%s\",\"offset\":%" PRIu64 ",\"size\":%" PRIu64, i ? "," : "",
		       seg_kind_name(s->kind), s->offset, s->size);
		if (s->kind == SEG_BUFFER) {
			printf(",\"id\":%" PRIu64 ",\"pid\":%u,\"uid\":%u,\"purgeable\":%s,"
			       "\"release_pending\":%s,\"heap\":%s,\"name\":",
			       s->buf.id, s->buf.pid, s->buf.uid,
			       s->buf.flags & CMABUF_BUFFER_PURGEABLE ? "true" : "false",
			       s->buf.flags & CMABUF_BUFFER_RELEASE_PENDING ? "true" : "false",
			       s->buf.flags & CMABUF_BUFFER_HEAP ? "true" : "false");
			json_string(s->buf.name);
		}
		printf("}");
	}
	printf("]}\n");
}

int cmd_map(struct ctl *ctl)
{
	struct layout l;
	int ret = layout_read(ctl, &l);

	if (ret == -ENOMEM)
		snprintf(ctl->conn.last_error, sizeof(ctl->conn.last_error), "out of memory");
	if (ret < 0)
		return ret;
	if (ctl->svg) {
		ret = map_svg_write(&l, ctl->svg);
		if (ret < 0)
			snprintf(ctl->conn.last_error, sizeof(ctl->conn.last_error),
				 "cannot write %s: %s", ctl->svg, strerror(-ret));
	} else if (ctl->json) {
		print_json(&l);
	} else {
		draw_bar(ctl, &l);
		draw_legend(ctl, &l);
	}
	layout_free(&l);
	return ret;
}
