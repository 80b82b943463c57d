/* SPDX-License-Identifier: MIT */
/*
 * Image layout computation (lib/formats.c, and lib/image.c's public
 * cmabuf_image_layout()) on arbitrary requests: any fourcc, modifier, size and
 * alignment a client may pass. The layout decides how many bytes the daemon is
 * asked for and where a device will DMA each plane, so besides not crashing it
 * is checked against an independent model worked out here with 128-bit
 * arithmetic from the formats' definitions in drm_fourcc.h:
 *  - a request the model can lay out (known format, linear, non-zero size,
 *    power-of-two alignments, pitches within 32 bits, a total within 64 bits)
 *    succeeds, with exactly the model's pitches, offsets and sizes;
 *  - any other request fails with -EINVAL, a reason, and *out untouched;
 *  - the public wrapper agrees and copies no more planes than asked.
 *
 * Input: a format selector, width, height, modifier selector, then an optional
 * cmabuf_alloc_desc (size, pitch_align, plane_align, pitch), the room for the
 * reason and the number of planes to ask the public wrapper for.
 */
#include <errno.h>
#include <string.h>

#include <drm_fourcc.h>
#include <linux/videodev2.h>

#include "formats.h"
#include "fuzz.h"

__extension__ typedef unsigned __int128 u128;

/* Per plane: subsampling, and bytes per block of bw pixels. */
struct model_plane {
	unsigned hsub, vsub, bytes, bw;
};

struct model {
	uint32_t fourcc;
	int nplanes;
	struct model_plane p[3];
};

#define Y(b)                                                                                       \
	{                                                                                          \
		1, 1, b, 1                                                                         \
	}
#define C(h, v, b)                                                                                 \
	{                                                                                          \
		h, v, b, 1                                                                         \
	}
static const struct model models[] = {
	{DRM_FORMAT_NV12, 2, {Y(1), C(2, 2, 2)}},
	{DRM_FORMAT_NV21, 2, {Y(1), C(2, 2, 2)}},
	{DRM_FORMAT_NV16, 2, {Y(1), C(2, 1, 2)}},
	{DRM_FORMAT_NV24, 2, {Y(1), C(1, 1, 2)}},
	{DRM_FORMAT_P010, 2, {Y(2), C(2, 2, 4)}},
	{DRM_FORMAT_YUV420, 3, {Y(1), C(2, 2, 1), C(2, 2, 1)}},
	{DRM_FORMAT_YVU420, 3, {Y(1), C(2, 2, 1), C(2, 2, 1)}},
	{DRM_FORMAT_YUV422, 3, {Y(1), C(2, 1, 1), C(2, 1, 1)}},
	{DRM_FORMAT_YUYV, 1, {{1, 1, 4, 2}}},
	{DRM_FORMAT_UYVY, 1, {{1, 1, 4, 2}}},
	{DRM_FORMAT_RGB565, 1, {Y(2)}},
	{DRM_FORMAT_RGB888, 1, {Y(3)}},
	{DRM_FORMAT_BGR888, 1, {Y(3)}},
	{DRM_FORMAT_XRGB8888, 1, {Y(4)}},
	{DRM_FORMAT_ARGB8888, 1, {Y(4)}},
	{DRM_FORMAT_XBGR8888, 1, {Y(4)}},
	{DRM_FORMAT_ABGR8888, 1, {Y(4)}},
};
#undef Y
#undef C
#define N_MODELS (sizeof(models) / sizeof(models[0]))

static const struct model *model_of(uint32_t fourcc)
{
	for (size_t i = 0; i < N_MODELS; i++)
		if (models[i].fourcc == fourcc)
			return &models[i];
	return NULL;
}

static u128 div_up(u128 a, u128 b)
{
	return (a + b - 1) / b;
}

static u128 round_up(u128 a, u128 b)
{
	return div_up(a, b) * b;
}

static int pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/*
 * The model's layout, or 0 when the request cannot be laid out. Pitches: the
 * row rounded up to pitch_align, or, with an explicit first-plane pitch,
 * V4L2's rule for the planes after it (scaled by bytes per sample and
 * horizontal subsampling), which must hold a row.
 */
static int model_layout(const struct model *m, uint32_t w, uint32_t h,
			const struct cmabuf_alloc_desc *d, struct cmabuf_image *img)
{
	u128 pitch_align = d && d->pitch_align ? d->pitch_align : CMABUF_DEFAULT_PITCH_ALIGN;
	u128 plane_align = d && d->plane_align ? d->plane_align : CMABUF_DEFAULT_PLANE_ALIGN;
	u128 end = 0;

	memset(img, 0, sizeof(*img));
	for (int i = 0; i < m->nplanes; i++) {
		const struct model_plane *p = &m->p[i];
		u128 row = div_up(div_up(w, p->hsub), p->bw) * p->bytes;
		u128 rows = div_up(h, p->vsub), pitch;

		if (d && d->pitch)
			pitch = i ? (u128)d->pitch * p->bytes / m->p[0].bytes / p->hsub : d->pitch;
		else
			pitch = round_up(row, pitch_align);
		if (pitch < row || pitch > UINT32_MAX)
			return 0;
		if (i)
			end = round_up(end, plane_align);
		img->planes[i].offset = (uint64_t)end;
		img->planes[i].pitch = (uint32_t)pitch;
		img->planes[i].size = (uint64_t)(pitch * rows);
		end += pitch * rows;
		if (end > UINT64_MAX)
			return 0;
	}
	img->nplanes = m->nplanes;
	img->size = d && d->size > end ? d->size : (uint64_t)end;
	return 1;
}

static void check_image(const struct cmabuf_image *got, const struct cmabuf_image *want,
			uint32_t fourcc, uint32_t w, uint32_t h)
{
	FUZZ_CHECK(got->fourcc == fourcc && got->width == w && got->height == h);
	FUZZ_CHECK(got->modifier == DRM_FORMAT_MOD_LINEAR);
	FUZZ_CHECK(got->nplanes == want->nplanes && got->nplanes <= CMABUF_MAX_PLANES);
	FUZZ_CHECK(got->size == want->size);
	for (int i = 0; i < got->nplanes; i++) {
		FUZZ_CHECK(got->planes[i].offset == want->planes[i].offset);
		FUZZ_CHECK(got->planes[i].pitch == want->planes[i].pitch);
		FUZZ_CHECK(got->planes[i].size == want->planes[i].size);
		/* No overlap, and everything inside the buffer. */
		FUZZ_CHECK(i == 0 || got->planes[i].offset >=
					     got->planes[i - 1].offset + got->planes[i - 1].size);
		FUZZ_CHECK(got->planes[i].offset + got->planes[i].size <= got->size);
	}
}

/* The public wrapper: same verdict, same planes, never more than max written. */
static void check_public(uint32_t w, uint32_t h, uint32_t fourcc, uint64_t modifier,
			 const struct cmabuf_alloc_desc *d, int max, int ret,
			 const struct cmabuf_image *img)
{
	struct cmabuf_plane planes[CMABUF_MAX_PLANES + 2], canary;
	uint64_t size = 0x5a5a5a5a5a5a5a5aull;
	int n;

	memset(planes, 0x5a, sizeof(planes));
	memset(&canary, 0x5a, sizeof(canary));
	n = cmabuf_image_layout(w, h, fourcc, modifier, d, max ? planes : NULL, max, &size);
	if (ret < 0) {
		FUZZ_CHECK(n == ret);
		FUZZ_CHECK(size == 0x5a5a5a5a5a5a5a5aull);
		return;
	}
	FUZZ_CHECK(n == img->nplanes && size == img->size);
	for (int i = 0; i < CMABUF_MAX_PLANES + 2; i++) {
		if (i < max && i < n)
			FUZZ_CHECK(memcmp(&planes[i], &img->planes[i], sizeof(planes[i])) == 0);
		else
			FUZZ_CHECK(memcmp(&planes[i], &canary, sizeof(canary)) == 0);
	}
}

static void check_names(uint32_t fourcc)
{
	char buf[16];
	const char *s = cmabuf_fourcc_str(fourcc, buf, sizeof(buf));
	uint32_t v4l2 = cmabuf_format_drm_to_v4l2(fourcc);

	FUZZ_CHECK(s == buf && memchr(buf, '\0', sizeof(buf)) && strlen(buf) <= 10);
	FUZZ_CHECK((v4l2 != 0) == (model_of(fourcc) != NULL));
	if (v4l2)
		FUZZ_CHECK(cmabuf_format_v4l2_to_drm(v4l2) == fourcc);
	/* Taken as a V4L2 code, the same bits map to a known format or to nothing. */
	v4l2 = cmabuf_format_v4l2_to_drm(fourcc);
	FUZZ_CHECK(v4l2 == 0 || model_of(v4l2) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = {data, size, 0};
	struct cmabuf_alloc_desc desc = {0}, *d = NULL;
	struct cmabuf_image out, untouched, want;
	const struct model *m;
	uint32_t fourcc, w, h;
	uint64_t modifier;
	char why[256];
	size_t why_len;
	unsigned sel;
	int ret, max, ok;

	sel = (unsigned)fuzz_take(&in, 1);
	/* Mostly a format from the table (some past its end: 0); sometimes any 32 bits. */
	fourcc = sel & 0x80 ? (uint32_t)fuzz_take(&in, 4) : cmabuf_format_at(sel % (N_MODELS + 2));
	w = (uint32_t)fuzz_take(&in, 4);
	h = (uint32_t)fuzz_take(&in, 4);
	sel = (unsigned)fuzz_take(&in, 1);
	modifier = sel & 1 ? fuzz_take(&in, 8) : DRM_FORMAT_MOD_LINEAR;
	if (sel & 2) {
		d = &desc;
		desc.size = fuzz_take(&in, 8);
		desc.pitch_align = (uint32_t)fuzz_take(&in, 4);
		desc.plane_align = (uint32_t)fuzz_take(&in, 4);
		desc.pitch = (uint32_t)fuzz_take(&in, 4);
	}
	why_len = (size_t)fuzz_take(&in, 1);
	max = (int)(fuzz_take(&in, 1) % (CMABUF_MAX_PLANES + 3));

	check_names(fourcc);

	m = model_of(fourcc);
	ok = m && modifier == DRM_FORMAT_MOD_LINEAR && w && h &&
	     (!d || !desc.pitch_align || pow2(desc.pitch_align)) &&
	     (!d || !desc.plane_align || pow2(desc.plane_align)) && model_layout(m, w, h, d, &want);

	memset(&out, 0xa5, sizeof(out));
	memset(&untouched, 0xa5, sizeof(untouched));
	memset(why, 0x5a, sizeof(why));
	ret = cmabuf_image_compute(w, h, fourcc, modifier, d, &out, why_len ? why : NULL, why_len);
	if (ok) {
		FUZZ_CHECK(ret == 0);
		check_image(&out, &want, fourcc, w, h);
	} else {
		FUZZ_CHECK(ret == -EINVAL);
		FUZZ_CHECK(memcmp(&out, &untouched, sizeof(out)) == 0);
		/* A reason, terminated within the room given, and nothing written past it. */
		if (why_len) {
			FUZZ_CHECK(memchr(why, '\0', why_len) != NULL);
			FUZZ_CHECK(why_len == 1 || why[0] != '\0');
		}
		for (size_t i = why_len; i < sizeof(why); i++)
			FUZZ_CHECK(why[i] == 0x5a);
	}
	check_public(w, h, fourcc, modifier, d, max, ret, &out);
	return 0;
}
