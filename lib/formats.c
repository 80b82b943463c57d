/* SPDX-License-Identifier: MIT */
/*
 * Image layouts from one format table. A plane is described by how many bytes
 * a block of pixels takes and how wide that block is (YUYV: 4 bytes per 2
 * pixels), and chroma planes by the format's subsampling; every layout is
 * computed from that, in 64-bit arithmetic checked for overflow.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <drm_fourcc.h>
#include <linux/videodev2.h>

#include "formats.h"

struct format {
	uint32_t drm;
	uint32_t v4l2; /* the single-planar V4L2 code with the same memory layout */
	uint8_t nplanes;
	uint8_t hsub, vsub; /* chroma subsampling; plane 0 is never subsampled */
	uint8_t bpb[3];	    /* bytes per block, per plane */
	uint8_t bw[3];	    /* block width in (that plane's) pixels */
};

/*
 * Byte orders: DRM codes name a little-endian word (XRGB8888 is B,G,R,X in
 * memory), V4L2's newer codes name memory order (XBGR32 is B,G,R,X too).
 */
static const struct format formats[] = {
	{DRM_FORMAT_NV12, V4L2_PIX_FMT_NV12, 2, 2, 2, {1, 2}, {1, 1}},
	{DRM_FORMAT_NV21, V4L2_PIX_FMT_NV21, 2, 2, 2, {1, 2}, {1, 1}},
	{DRM_FORMAT_NV16, V4L2_PIX_FMT_NV16, 2, 2, 1, {1, 2}, {1, 1}},
	{DRM_FORMAT_NV24, V4L2_PIX_FMT_NV24, 2, 1, 1, {1, 2}, {1, 1}},
	{DRM_FORMAT_P010, V4L2_PIX_FMT_P010, 2, 2, 2, {2, 4}, {1, 1}},
	{DRM_FORMAT_YUV420, V4L2_PIX_FMT_YUV420, 3, 2, 2, {1, 1, 1}, {1, 1, 1}},
	{DRM_FORMAT_YVU420, V4L2_PIX_FMT_YVU420, 3, 2, 2, {1, 1, 1}, {1, 1, 1}},
	{DRM_FORMAT_YUV422, V4L2_PIX_FMT_YUV422P, 3, 2, 1, {1, 1, 1}, {1, 1, 1}},
	{DRM_FORMAT_YUYV, V4L2_PIX_FMT_YUYV, 1, 1, 1, {4}, {2}},
	{DRM_FORMAT_UYVY, V4L2_PIX_FMT_UYVY, 1, 1, 1, {4}, {2}},
	{DRM_FORMAT_RGB565, V4L2_PIX_FMT_RGB565, 1, 1, 1, {2}, {1}},
	{DRM_FORMAT_RGB888, V4L2_PIX_FMT_BGR24, 1, 1, 1, {3}, {1}},
	{DRM_FORMAT_BGR888, V4L2_PIX_FMT_RGB24, 1, 1, 1, {3}, {1}},
	{DRM_FORMAT_XRGB8888, V4L2_PIX_FMT_XBGR32, 1, 1, 1, {4}, {1}},
	{DRM_FORMAT_ARGB8888, V4L2_PIX_FMT_ABGR32, 1, 1, 1, {4}, {1}},
	{DRM_FORMAT_XBGR8888, V4L2_PIX_FMT_RGBX32, 1, 1, 1, {4}, {1}},
	{DRM_FORMAT_ABGR8888, V4L2_PIX_FMT_RGBA32, 1, 1, 1, {4}, {1}},
};

#define N_FORMATS (sizeof(formats) / sizeof(formats[0]))

static const struct format *find_drm(uint32_t fourcc)
{
	for (size_t i = 0; i < N_FORMATS; i++)
		if (formats[i].drm == fourcc)
			return &formats[i];
	return NULL;
}

uint32_t cmabuf_format_at(unsigned i)
{
	return i < N_FORMATS ? formats[i].drm : 0;
}

uint32_t cmabuf_format_drm_to_v4l2(uint32_t drm_fourcc)
{
	const struct format *f = find_drm(drm_fourcc);

	return f ? f->v4l2 : 0;
}

uint32_t cmabuf_format_v4l2_to_drm(uint32_t v4l2_fourcc)
{
	for (size_t i = 0; i < N_FORMATS; i++)
		if (v4l2_fourcc && formats[i].v4l2 == v4l2_fourcc)
			return formats[i].drm;
	return 0;
}

const char *cmabuf_fourcc_str(uint32_t fourcc, char *buf, size_t len)
{
	char c[4];

	for (int i = 0; i < 4; i++) {
		c[i] = (char)((fourcc >> (8 * i)) & 0xff);
		if (c[i] < 0x20 || c[i] > 0x7e) {
			snprintf(buf, len, "%#010x", fourcc);
			return buf;
		}
	}
	/* Codes are space-padded ("R16 "): the trailing spaces say nothing. */
	snprintf(buf, len, "%.4s", c);
	for (size_t n = strlen(buf); n > 0 && buf[n - 1] == ' '; n--)
		buf[n - 1] = '\0';
	return buf;
}

static int why_fail(char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int why_fail(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (why && len) {
		va_start(ap, fmt);
		vsnprintf(why, len, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* *v rounded up to a power of two a; false if that overflows. */
static bool align_up(uint64_t *v, uint64_t a)
{
	uint64_t r;

	if (__builtin_add_overflow(*v, a - 1, &r))
		return false;
	*v = r & ~(a - 1);
	return true;
}

static void list_formats(char *out, size_t len)
{
	size_t used = 0;
	char name[16];

	out[0] = '\0';
	for (size_t i = 0; i < N_FORMATS && used < len; i++) {
		int n = snprintf(out + used, len - used, "%s%s", i ? " " : "",
				 cmabuf_fourcc_str(formats[i].drm, name, sizeof(name)));
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

/* The pitch of plane i, from the caller's first-plane pitch or the alignment. */
static int plane_pitch(const struct format *f, int i, uint64_t row, uint32_t pitch0,
		       uint64_t pitch_align, uint64_t *pitch, char *why, size_t why_len)
{
	char name[16];

	if (pitch0) {
		/* V4L2's rule for the planes after the first (v4l2_fill_pixfmt). */
		*pitch = i == 0 ? pitch0 : (uint64_t)pitch0 * f->bpb[i] / f->bpb[0] / f->hsub;
		if (*pitch < row)
			return why_fail(
				why, why_len,
				"pitch %u is too small for a %s row of %llu bytes (plane %d)",
				pitch0, cmabuf_fourcc_str(f->drm, name, sizeof(name)),
				(unsigned long long)row, i);
	} else {
		*pitch = row;
		if (!align_up(pitch, pitch_align))
			return why_fail(why, why_len, "row pitch overflows");
	}
	if (*pitch > UINT32_MAX)
		return why_fail(why, why_len,
				"plane %d would need a row pitch of %llu bytes, more than 4 GiB", i,
				(unsigned long long)*pitch);
	return 0;
}

static int check_request(uint32_t width, uint32_t height, uint32_t fourcc, uint64_t modifier,
			 uint64_t pitch_align, uint64_t plane_align, char *why, size_t why_len)
{
	char name[16], list[160];

	if (!find_drm(fourcc)) {
		list_formats(list, sizeof(list));
		return why_fail(why, why_len,
				"unknown image format %s: cmabuf lays out %s (DRM fourccs)",
				cmabuf_fourcc_str(fourcc, name, sizeof(name)), list);
	}
	if (modifier != DRM_FORMAT_MOD_LINEAR)
		return why_fail(why, why_len,
				"modifier %#llx is not DRM_FORMAT_MOD_LINEAR: cmabuf images are "
				"linear only; tiled or compressed layouts come from the device's "
				"own allocator",
				(unsigned long long)modifier);
	if (!width || !height)
		return why_fail(why, why_len, "image size %ux%u: width and height must be > 0",
				width, height);
	if (!is_pow2(pitch_align))
		return why_fail(why, why_len, "pitch_align %llu is not a power of two",
				(unsigned long long)pitch_align);
	if (!is_pow2(plane_align))
		return why_fail(why, why_len, "plane_align %llu is not a power of two",
				(unsigned long long)plane_align);
	return 0;
}

int cmabuf_image_compute(uint32_t width, uint32_t height, uint32_t fourcc, uint64_t modifier,
			 const struct cmabuf_alloc_desc *desc, struct cmabuf_image *out, char *why,
			 size_t why_len)
{
	uint64_t pitch_align = CMABUF_DEFAULT_PITCH_ALIGN, plane_align = CMABUF_DEFAULT_PLANE_ALIGN;
	const struct format *f = find_drm(fourcc);
	struct cmabuf_image img = {.fourcc = fourcc, .width = width, .height = height};
	uint32_t pitch0 = desc ? desc->pitch : 0;
	uint64_t end = 0;
	char name[16];
	int ret;

	if (desc && desc->pitch_align)
		pitch_align = desc->pitch_align;
	if (desc && desc->plane_align)
		plane_align = desc->plane_align;
	ret = check_request(width, height, fourcc, modifier, pitch_align, plane_align, why,
			    why_len);
	if (ret < 0)
		return ret;
	img.modifier = modifier;
	img.nplanes = f->nplanes;
	for (int i = 0; i < f->nplanes; i++) {
		struct cmabuf_plane *p = &img.planes[i];
		/* Chroma rounds up: a 5x5 NV12 image has 3x3 CbCr samples. */
		uint64_t w = i ? ((uint64_t)width + f->hsub - 1) / f->hsub : width;
		uint64_t h = i ? ((uint64_t)height + f->vsub - 1) / f->vsub : height;
		uint64_t row = (w + f->bw[i] - 1) / f->bw[i] * f->bpb[i], pitch, size, next;

		ret = plane_pitch(f, i, row, pitch0, pitch_align, &pitch, why, why_len);
		if (ret < 0)
			return ret;
		if ((i && !align_up(&end, plane_align)) ||
		    __builtin_mul_overflow(pitch, h, &size) ||
		    __builtin_add_overflow(end, size, &next))
			return why_fail(why, why_len, "a %ux%u %s image does not fit in 64 bits",
					width, height,
					cmabuf_fourcc_str(fourcc, name, sizeof(name)));
		p->offset = end;
		p->pitch = (uint32_t)pitch;
		p->size = size;
		end = next;
	}
	img.size = desc && desc->size > end ? desc->size : end;
	*out = img;
	return 0;
}
