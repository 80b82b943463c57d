/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "map_svg.h"

#define SVG_WIDTH  1200.0
#define BAR_Y	   30
#define BAR_HEIGHT 60
#define LINE	   18

static const char *const owner_fill[] = {"#e6194b", "#3cb44b", "#ffe119", "#4363d8",
					 "#f58231", "#911eb4", "#46f0f0", "#f032e6",
					 "#bcf60c", "#fabebe", "#008080", "#9a6324"};
#define NFILLS (sizeof(owner_fill) / sizeof(owner_fill[0]))

/* Buffer names come from clients: escape them for XML. */
static void xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '&')
			fputs("&amp;", f);
		else if (ch == '<')
			fputs("&lt;", f);
		else if (ch == '>')
			fputs("&gt;", f);
		else if (ch == '"')
			fputs("&quot;", f);
		else if (ch < 0x20 || ch == 0x7f) /* not allowed in XML 1.0 */
			fputc('?', f);
		else
			fputc(ch, f);
	}
}

static const char *fill_of(const struct seg *s)
{
	switch (s->kind) {
	case SEG_BUFFER:
		return owner_fill[s->owner % NFILLS];
	case SEG_FREE:
		return "#ffffff";
	case SEG_ZEROING:
		return "#a0a0a0";
	case SEG_HIDDEN:
	default:
		return "#606060";
	}
}

static void title_of(FILE *f, const struct seg *s)
{
	char sz[32];

	human(s->size, sz, sizeof(sz));
	switch (s->kind) {
	case SEG_BUFFER:
		fprintf(f, "buffer %" PRIu64 " '", s->buf.id);
		xml_text(f, s->buf.name);
		fprintf(f, "' of pid %u uid %u, %s at 0x%" PRIx64 "%s%s", s->buf.pid, s->buf.uid,
			sz, s->offset,
			s->buf.flags & CMABUF_BUFFER_PURGEABLE ? ", purgeable" : ", pinned",
			s->buf.flags & CMABUF_BUFFER_RELEASE_PENDING
				? ", freed by its owner, still held (release pending)"
				: "");
		break;
	case SEG_FREE:
		fprintf(f, "free extent, %s at 0x%" PRIx64, sz, s->offset);
		break;
	case SEG_ZEROING:
		fprintf(f, "being zeroed, %s at 0x%" PRIx64, sz, s->offset);
		break;
	case SEG_HIDDEN:
	default:
		fprintf(f, "other users' buffers or being zeroed, %s at 0x%" PRIx64, sz, s->offset);
		break;
	}
}

static void rect(FILE *f, const struct layout *l, const struct seg *s)
{
	double scale = SVG_WIDTH / (double)l->region_size;
	double w = (double)s->size * scale;
	const struct cmabuf_buffer_entry *b = &s->buf;
	const char *style = "";

	if (s->kind == SEG_BUFFER && (b->flags & CMABUF_BUFFER_RELEASE_PENDING))
		style = " fill-opacity=\"0.35\"";
	else if (s->kind == SEG_BUFFER && (b->flags & CMABUF_BUFFER_PURGEABLE))
		style = " fill-opacity=\"0.65\" stroke-dasharray=\"4 2\"";
	/* Tiny extents get a hairline, so every one is there to hover over. */
	fprintf(f,
		"<rect class=\"%s\" x=\"%.3f\" y=\"%d\" width=\"%.3f\" height=\"%d\" fill=\"%s\" "
		"stroke=\"#000000\" stroke-width=\"0.2\"%s><title>",
		seg_kind_name(s->kind), (double)s->offset * scale, BAR_Y, w < 0.5 ? 0.5 : w,
		BAR_HEIGHT, fill_of(s), style);
	title_of(f, s);
	fputs("</title></rect>\n", f);
}

/* The legend is text only, so the picture's shapes are exactly its segments. */
static void legend(FILE *f, const struct layout *l, int *y)
{
	char sz[32];
	unsigned j;

	for (j = 0; j < l->nowners; j++, *y += LINE)
		fprintf(f,
			"<text x=\"0\" y=\"%d\" fill=\"%s\">&#9632; pid %u uid %u: %u buffers, "
			"%s</text>\n",
			*y, owner_fill[j % NFILLS], l->owners[j].pid, l->owners[j].uid,
			l->owners[j].buffers, human(l->owners[j].bytes, sz, sizeof(sz)));
	fprintf(f,
		"<text x=\"0\" y=\"%d\">&#9633; free  &#183; dashed: purgeable  &#183; faint: "
		"freed, release pending</text>\n",
		*y);
	*y += LINE;
	fprintf(f, "<text x=\"0\" y=\"%d\" fill=\"#808080\">&#9632; %s</text>\n", *y,
		l->sees_everyone ? "being zeroed"
				 : "other users' buffers or being zeroed (only your uid is shown)");
	*y += LINE;
}

int map_svg_write(const struct layout *l, const char *path)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "we") : stdout;
	int y = BAR_Y + BAR_HEIGHT + 2 * LINE, height;
	char sz[32];
	size_t i;

	if (!f)
		return -errno;
	height = y + (int)(l->nowners + 2) * LINE;
	fprintf(f,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%d\" "
		"font-family=\"monospace\" font-size=\"13\">\n"
		"<title>cmabuf region, %s</title>\n"
		"<text x=\"0\" y=\"%d\">cmabuf region: %s, %zu segments</text>\n",
		SVG_WIDTH, height, human(l->region_size, sz, sizeof(sz)), BAR_Y - 10, sz, l->n);
	for (i = 0; i < l->n; i++)
		rect(f, l, &l->v[i]);
	fprintf(f, "<text x=\"0\" y=\"%d\">0x0</text>\n", BAR_Y + BAR_HEIGHT + LINE);
	fprintf(f, "<text x=\"%.0f\" y=\"%d\" text-anchor=\"end\">0x%" PRIx64 "</text>\n",
		SVG_WIDTH, BAR_Y + BAR_HEIGHT + LINE, l->region_size);
	legend(f, l, &y);
	fputs("</svg>\n", f);
	if (f == stdout)
		return fflush(f) == EOF ? -errno : 0;
	return fclose(f) == EOF ? -errno : 0;
}
