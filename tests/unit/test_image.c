/* SPDX-License-Identifier: MIT */
/*
 * Image layouts, through the public cmabuf_image_layout() (what users get)
 * and the internal cmabuf_image_compute() where the reason text matters.
 * Expected numbers are worked out by hand, not from the library's table.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <drm_fourcc.h>
#include <linux/videodev2.h>

#include "cmabuf.h"
#include "formats.h"

struct expect {
	uint32_t fourcc;
	int nplanes;
	uint32_t pitch[3];
	uint64_t offset[3];
	uint64_t size[3];
	uint64_t total;
};

/* Every format the issue asks for: 1920x1080 with the default alignments. */
static const struct expect hd[] = {
	{DRM_FORMAT_NV12, 2, {1920, 1920}, {0, 2073600}, {2073600, 1036800}, 3110400},
	{DRM_FORMAT_NV21, 2, {1920, 1920}, {0, 2073600}, {2073600, 1036800}, 3110400},
	{DRM_FORMAT_NV16, 2, {1920, 1920}, {0, 2073600}, {2073600, 2073600}, 4147200},
	{DRM_FORMAT_NV24, 2, {1920, 3840}, {0, 2073600}, {2073600, 4147200}, 6220800},
	{DRM_FORMAT_P010, 2, {3840, 3840}, {0, 4147200}, {4147200, 2073600}, 6220800},
	{DRM_FORMAT_YUV420,
	 3,
	 {1920, 960, 960},
	 {0, 2073600, 2592000},
	 {2073600, 518400, 518400},
	 3110400},
	{DRM_FORMAT_YVU420,
	 3,
	 {1920, 960, 960},
	 {0, 2073600, 2592000},
	 {2073600, 518400, 518400},
	 3110400},
	{DRM_FORMAT_YUV422,
	 3,
	 {1920, 960, 960},
	 {0, 2073600, 3110400},
	 {2073600, 1036800, 1036800},
	 4147200},
	{DRM_FORMAT_YUYV, 1, {3840}, {0}, {4147200}, 4147200},
	{DRM_FORMAT_UYVY, 1, {3840}, {0}, {4147200}, 4147200},
	{DRM_FORMAT_RGB565, 1, {3840}, {0}, {4147200}, 4147200},
	{DRM_FORMAT_RGB888, 1, {5760}, {0}, {6220800}, 6220800},
	{DRM_FORMAT_BGR888, 1, {5760}, {0}, {6220800}, 6220800},
	{DRM_FORMAT_XRGB8888, 1, {7680}, {0}, {8294400}, 8294400},
	{DRM_FORMAT_ARGB8888, 1, {7680}, {0}, {8294400}, 8294400},
	{DRM_FORMAT_XBGR8888, 1, {7680}, {0}, {8294400}, 8294400},
	{DRM_FORMAT_ABGR8888, 1, {7680}, {0}, {8294400}, 8294400},
};

/* 5x3 with no alignment: exactly the rounded-up bytes (chroma of 4:2:0 is 3x2). */
static const struct expect odd[] = {
	{DRM_FORMAT_NV12, 2, {5, 6}, {0, 15}, {15, 12}, 27},
	{DRM_FORMAT_NV21, 2, {5, 6}, {0, 15}, {15, 12}, 27},
	{DRM_FORMAT_NV16, 2, {5, 6}, {0, 15}, {15, 18}, 33},
	{DRM_FORMAT_NV24, 2, {5, 10}, {0, 15}, {15, 30}, 45},
	{DRM_FORMAT_P010, 2, {10, 12}, {0, 30}, {30, 24}, 54},
	{DRM_FORMAT_YUV420, 3, {5, 3, 3}, {0, 15, 21}, {15, 6, 6}, 27},
	{DRM_FORMAT_YVU420, 3, {5, 3, 3}, {0, 15, 21}, {15, 6, 6}, 27},
	{DRM_FORMAT_YUV422, 3, {5, 3, 3}, {0, 15, 24}, {15, 9, 9}, 33},
	{DRM_FORMAT_YUYV, 1, {12}, {0}, {36}, 36}, /* 3 macropixels of 4 bytes */
	{DRM_FORMAT_UYVY, 1, {12}, {0}, {36}, 36},
	{DRM_FORMAT_RGB565, 1, {10}, {0}, {30}, 30},
	{DRM_FORMAT_RGB888, 1, {15}, {0}, {45}, 45},
	{DRM_FORMAT_BGR888, 1, {15}, {0}, {45}, 45},
	{DRM_FORMAT_XRGB8888, 1, {20}, {0}, {60}, 60},
	{DRM_FORMAT_ARGB8888, 1, {20}, {0}, {60}, 60},
	{DRM_FORMAT_XBGR8888, 1, {20}, {0}, {60}, 60},
	{DRM_FORMAT_ABGR8888, 1, {20}, {0}, {60}, 60},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void check_layout(const struct expect *e, uint32_t w, uint32_t h,
			 const struct cmabuf_alloc_desc *desc)
{
	struct cmabuf_plane p[CMABUF_MAX_PLANES];
	uint64_t size = 0;
	int n;

	n = cmabuf_image_layout(w, h, e->fourcc, DRM_FORMAT_MOD_LINEAR, desc, p, CMABUF_MAX_PLANES,
				&size);
	if (n != e->nplanes)
		fail_msg("%.4s %ux%u: %d planes, expected %d", (const char *)&e->fourcc, w, h, n,
			 e->nplanes);
	for (int i = 0; i < n; i++) {
		if (p[i].pitch != e->pitch[i] || p[i].offset != e->offset[i] ||
		    p[i].size != e->size[i])
			fail_msg("%.4s %ux%u plane %d: pitch %u offset %llu size %llu",
				 (const char *)&e->fourcc, w, h, i, p[i].pitch,
				 (unsigned long long)p[i].offset, (unsigned long long)p[i].size);
	}
	assert_int_equal(size, e->total);
}

static void test_every_format_even(void **state)
{
	for (size_t i = 0; i < N(hd); i++)
		check_layout(&hd[i], 1920, 1080, NULL);
}

static void test_every_format_odd(void **state)
{
	struct cmabuf_alloc_desc d = {.pitch_align = 1, .plane_align = 1};

	for (size_t i = 0; i < N(odd); i++)
		check_layout(&odd[i], 5, 3, &d);
}

/* The table holds exactly the formats tested above. */
static void test_table_is_covered(void **state)
{
	unsigned n = 0;

	while (cmabuf_format_at(n))
		n++;
	assert_int_equal(n, N(hd));
	for (unsigned i = 0; i < n; i++) {
		bool found = false;

		for (size_t j = 0; j < N(hd); j++)
			found |= hd[j].fourcc == cmabuf_format_at(i);
		assert_true(found);
	}
}

/* Odd sizes with the defaults: pitches round to 64, chroma rounds up. */
static void test_odd_default_alignment(void **state)
{
	static const struct expect nv12 = {DRM_FORMAT_NV12,  2,	    {704, 704}, {0, 254144},
					   {254144, 127424}, 381568};
	static const struct expect yuv420 = {DRM_FORMAT_YUV420,	     3,
					     {704, 384, 384},	     {0, 254144, 323648},
					     {254144, 69504, 69504}, 393152};
	static const struct expect tiny = {DRM_FORMAT_NV12, 2, {64, 64}, {0, 64}, {64, 64}, 128};

	check_layout(&nv12, 641, 361, NULL); /* chroma 321x181 */
	check_layout(&yuv420, 641, 361, NULL);
	check_layout(&tiny, 1, 1, NULL);
}

static void test_alignment(void **state)
{
	struct cmabuf_alloc_desc d = {.pitch_align = 256, .plane_align = 4096};
	static const struct expect nv12 = {DRM_FORMAT_NV12,    2,      {2048, 2048}, {0, 2211840},
					   {2211840, 1105920}, 3317760};
	static const struct expect nv12_4k = {DRM_FORMAT_NV12,	2,     {768, 768}, {0, 278528},
					      {277248, 139008}, 417536};
	struct cmabuf_plane p[3];
	uint64_t size;

	check_layout(&nv12, 1920, 1080, &d);
	check_layout(&nv12_4k, 641, 361, &d); /* 277248 rounds up to 68 pages */

	/* Every plane offset and pitch honours the alignment, for every format. */
	for (unsigned i = 0; cmabuf_format_at(i); i++) {
		int n = cmabuf_image_layout(1283, 721, cmabuf_format_at(i), DRM_FORMAT_MOD_LINEAR,
					    &d, p, 3, &size);

		assert_true(n >= 1 && n <= 3);
		for (int j = 0; j < n; j++) {
			assert_int_equal(p[j].pitch % 256, 0);
			assert_int_equal(p[j].offset % 4096, 0);
			if (j)
				assert_true(p[j].offset >= p[j - 1].offset + p[j - 1].size);
		}
		assert_int_equal(size, p[n - 1].offset + p[n - 1].size);
	}

	d.pitch_align = 48;
	assert_int_equal(cmabuf_image_layout(64, 64, DRM_FORMAT_NV12, 0, &d, p, 3, &size), -EINVAL);
	d.pitch_align = 64;
	d.plane_align = 3;
	assert_int_equal(cmabuf_image_layout(64, 64, DRM_FORMAT_NV12, 0, &d, p, 3, &size), -EINVAL);
}

/* An explicit first-plane pitch (V4L2's bytesperline) sets the others as V4L2 does. */
static void test_explicit_pitch(void **state)
{
	struct cmabuf_alloc_desc d = {.pitch = 640, .plane_align = 1};
	static const struct expect nv12 = {DRM_FORMAT_NV12,  2,	    {640, 640}, {0, 230400},
					   {230400, 115200}, 345600};
	static const struct expect yuv420 = {DRM_FORMAT_YUV420,	     3,
					     {640, 320, 320},	     {0, 230400, 288000},
					     {230400, 57600, 57600}, 345600};
	static const struct expect nv24 = {DRM_FORMAT_NV24,  2,	    {640, 1280}, {0, 230400},
					   {230400, 460800}, 691200};
	static const struct expect yuyv = {DRM_FORMAT_YUYV, 1, {1344}, {0}, {483840}, 483840};
	struct cmabuf_plane p[3];
	uint64_t size;

	check_layout(&nv12, 640, 360, &d);
	check_layout(&yuv420, 640, 360, &d);
	check_layout(&nv24, 640, 360, &d);
	d.pitch = 1344; /* padded rows are kept */
	check_layout(&yuyv, 640, 360, &d);
	d.pitch = 1279; /* one byte short of 640 YUYV pixels */
	assert_int_equal(cmabuf_image_layout(640, 360, DRM_FORMAT_YUYV, 0, &d, p, 3, &size),
			 -EINVAL);
}

/* desc->size is a minimum: V4L2's sizeimage may exceed the planes. */
static void test_minimum_size(void **state)
{
	struct cmabuf_alloc_desc d = {.size = 4 << 20};
	struct cmabuf_plane p[2];
	uint64_t size;

	assert_int_equal(cmabuf_image_layout(1920, 1080, DRM_FORMAT_NV12, 0, &d, p, 2, &size), 2);
	assert_int_equal(size, 4 << 20);
	d.size = 1;
	assert_int_equal(cmabuf_image_layout(1920, 1080, DRM_FORMAT_NV12, 0, &d, p, 2, &size), 2);
	assert_int_equal(size, 3110400);
}

static void test_overflow(void **state)
{
	struct cmabuf_alloc_desc d = {0};
	struct cmabuf_plane p[3] = {{.offset = 7, .pitch = 7, .size = 7}};
	uint64_t size = 42;
	char why[256];
	struct cmabuf_image img;

	assert_int_equal(cmabuf_image_layout(UINT32_MAX, UINT32_MAX, DRM_FORMAT_XRGB8888, 0, NULL,
					     p, 3, &size),
			 -EINVAL);
	/* A row of 2^31 XRGB pixels needs an 8 GiB pitch. */
	assert_int_equal(
		cmabuf_image_layout(1u << 31, 1, DRM_FORMAT_XRGB8888, 0, NULL, p, 3, &size),
		-EINVAL);
	assert_int_equal(cmabuf_image_compute(1u << 31, 1, DRM_FORMAT_XRGB8888, 0, NULL, &img, why,
					      sizeof(why)),
			 -EINVAL);
	assert_non_null(strstr(why, "4 GiB"));
	/* A 4 GiB pitch: the luma plane alone takes almost 2^64 bytes, chroma overflows. */
	d.pitch = UINT32_MAX;
	assert_int_equal(
		cmabuf_image_compute(1, UINT32_MAX, DRM_FORMAT_NV12, 0, &d, &img, why, sizeof(why)),
		-EINVAL);
	assert_non_null(strstr(why, "64 bits"));
	/* Out-parameters untouched on failure. */
	assert_int_equal(size, 42);
	assert_int_equal(p[0].offset, 7);
	assert_int_equal(p[0].pitch, 7);

	/* Huge but representable: the layout is fine, the daemon will say no. */
	assert_int_equal(
		cmabuf_image_layout(65536, 65536, DRM_FORMAT_XRGB8888, 0, NULL, p, 3, &size), 1);
	assert_int_equal(size, 1ull << 34);
}

static void test_unknown_format_and_modifier(void **state)
{
	struct cmabuf_image img;
	struct cmabuf_plane p[3];
	uint64_t size;
	char why[256];

	assert_int_equal(cmabuf_image_layout(64, 64, DRM_FORMAT_Y210, 0, NULL, p, 3, &size),
			 -EINVAL);
	assert_int_equal(cmabuf_image_layout(64, 64, 0, 0, NULL, p, 3, &size), -EINVAL);
	assert_int_equal(
		cmabuf_image_compute(64, 64, DRM_FORMAT_Y210, 0, NULL, &img, why, sizeof(why)),
		-EINVAL);
	assert_non_null(strstr(why, "unknown image format Y210"));
	assert_non_null(strstr(why, "NV12")); /* and what would work */
	assert_int_equal(cmabuf_image_compute(64, 64, 0x01020304, 0, NULL, &img, why, sizeof(why)),
			 -EINVAL);
	assert_non_null(strstr(why, "0x01020304"));

	assert_int_equal(cmabuf_image_layout(64, 64, DRM_FORMAT_NV12, I915_FORMAT_MOD_X_TILED, NULL,
					     p, 3, &size),
			 -EINVAL);
	assert_int_equal(cmabuf_image_compute(64, 64, DRM_FORMAT_NV12, DRM_FORMAT_MOD_INVALID, NULL,
					      &img, why, sizeof(why)),
			 -EINVAL);
	assert_non_null(strstr(why, "DRM_FORMAT_MOD_LINEAR"));

	assert_int_equal(cmabuf_image_layout(0, 64, DRM_FORMAT_NV12, 0, NULL, p, 3, &size),
			 -EINVAL);
	assert_int_equal(cmabuf_image_layout(64, 0, DRM_FORMAT_NV12, 0, NULL, p, 3, &size),
			 -EINVAL);
	assert_int_equal(cmabuf_image_layout(64, 64, DRM_FORMAT_NV12, 0, NULL, NULL, 3, &size),
			 -EINVAL);
}

/* A short planes array gets what fits; the count says how many there are. */
static void test_short_array(void **state)
{
	struct cmabuf_plane p[2] = {{0}, {.pitch = 99}};

	assert_int_equal(cmabuf_image_layout(64, 64, DRM_FORMAT_YUV420, 0, NULL, p, 1, NULL), 3);
	assert_int_equal(p[0].pitch, 64);
	assert_int_equal(p[1].pitch, 99);
	assert_int_equal(cmabuf_image_layout(64, 64, DRM_FORMAT_YUV420, 0, NULL, NULL, 0, NULL), 3);
	assert_int_equal(cmabuf_buffer_planes(NULL, p, 2), -EINVAL);
	assert_int_equal(cmabuf_buffer_format(NULL, NULL, NULL, NULL), -EINVAL);
}

static void test_v4l2_mapping(void **state)
{
	static const uint32_t pairs[][2] = {
		{DRM_FORMAT_NV12, V4L2_PIX_FMT_NV12},
		{DRM_FORMAT_NV21, V4L2_PIX_FMT_NV21},
		{DRM_FORMAT_NV16, V4L2_PIX_FMT_NV16},
		{DRM_FORMAT_NV24, V4L2_PIX_FMT_NV24},
		{DRM_FORMAT_P010, V4L2_PIX_FMT_P010},
		{DRM_FORMAT_YUV420, V4L2_PIX_FMT_YUV420},
		{DRM_FORMAT_YVU420, V4L2_PIX_FMT_YVU420},
		{DRM_FORMAT_YUV422, V4L2_PIX_FMT_YUV422P},
		{DRM_FORMAT_YUYV, V4L2_PIX_FMT_YUYV},
		{DRM_FORMAT_UYVY, V4L2_PIX_FMT_UYVY},
		{DRM_FORMAT_RGB565, V4L2_PIX_FMT_RGB565},
		{DRM_FORMAT_RGB888, V4L2_PIX_FMT_BGR24},
		{DRM_FORMAT_BGR888, V4L2_PIX_FMT_RGB24},
		{DRM_FORMAT_XRGB8888, V4L2_PIX_FMT_XBGR32},
		{DRM_FORMAT_ARGB8888, V4L2_PIX_FMT_ABGR32},
		{DRM_FORMAT_XBGR8888, V4L2_PIX_FMT_RGBX32},
		{DRM_FORMAT_ABGR8888, V4L2_PIX_FMT_RGBA32},
	};

	for (size_t i = 0; i < N(pairs); i++) {
		assert_int_equal(cmabuf_fourcc_to_v4l2(pairs[i][0]), pairs[i][1]);
		assert_int_equal(cmabuf_fourcc_from_v4l2(pairs[i][1]), pairs[i][0]);
	}
	/* Round trips over the whole table, both ways. */
	for (unsigned i = 0; cmabuf_format_at(i); i++) {
		uint32_t drm = cmabuf_format_at(i), v4l2 = cmabuf_fourcc_to_v4l2(drm);

		assert_int_not_equal(v4l2, 0);
		assert_int_equal(cmabuf_fourcc_from_v4l2(v4l2), drm);
		assert_int_equal(cmabuf_fourcc_to_v4l2(cmabuf_fourcc_from_v4l2(v4l2)), v4l2);
	}
	/* No counterpart: 0, never a guess. */
	assert_int_equal(cmabuf_fourcc_to_v4l2(DRM_FORMAT_Y210), 0);
	assert_int_equal(cmabuf_fourcc_from_v4l2(V4L2_PIX_FMT_NV12M), 0);
	assert_int_equal(cmabuf_fourcc_from_v4l2(V4L2_PIX_FMT_MJPEG), 0);
	assert_int_equal(cmabuf_fourcc_from_v4l2(0), 0);
	assert_int_equal(cmabuf_fourcc_to_v4l2(0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_format_even),
		cmocka_unit_test(test_every_format_odd),
		cmocka_unit_test(test_table_is_covered),
		cmocka_unit_test(test_odd_default_alignment),
		cmocka_unit_test(test_alignment),
		cmocka_unit_test(test_explicit_pitch),
		cmocka_unit_test(test_minimum_size),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_unknown_format_and_modifier),
		cmocka_unit_test(test_short_array),
		cmocka_unit_test(test_v4l2_mapping),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
