/* SPDX-License-Identifier: MIT */
/*
 * The media API against a private cmabufd (memfd backend): image buffers,
 * the reasons for refusing one, the V4L2 helpers on synthetic formats, and
 * the examples run as real processes. The real kernel parts (vivid, vgem,
 * sync_file) are in tests/vm/test_media.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <drm_fourcc.h>
#include <linux/videodev2.h>

#include "cmabuf.h"
#include "harness.h"

#define REGION (64ull << 20)

static int setup(void **state)
{
	static struct test_daemon td;

	if (test_daemon_start(&td, REGION, NULL) < 0)
		return -1;
	*state = &td;
	return 0;
}

static int teardown(void **state)
{
	return test_daemon_stop(*state) == 0 ? 0 : -1;
}

static struct cmabuf *connect_or_fail(const struct test_daemon *td)
{
	struct cmabuf *cb = NULL;

	assert_int_equal(cmabuf_connect(td->socket, &cb), 0);
	return cb;
}

static void test_image_nv12(void **state)
{
	struct test_daemon *td = *state;
	struct cmabuf *cb = connect_or_fail(td);
	struct cmabuf_buffer *buf = NULL;
	struct cmabuf_plane p[4];
	uint32_t fourcc, w, h;
	uint8_t *m;

	assert_int_equal(cmabuf_alloc_image(cb, 1920, 1080, DRM_FORMAT_NV12, DRM_FORMAT_MOD_LINEAR,
					    NULL, &buf),
			 0);
	assert_int_equal(cmabuf_buffer_planes(buf, p, 4), 2);
	assert_int_equal(p[0].offset, 0);
	assert_int_equal(p[0].pitch, 1920);
	assert_int_equal(p[1].offset, 1920 * 1080);
	assert_int_equal(p[1].pitch, 1920);
	assert_true(cmabuf_buffer_size(buf) >= p[1].offset + p[1].size);
	assert_int_equal(cmabuf_buffer_format(buf, &fourcc, &w, &h), 0);
	assert_int_equal(fourcc, DRM_FORMAT_NV12);
	assert_int_equal(w, 1920);
	assert_int_equal(h, 1080);
	/* Every byte of every plane is inside the one buffer. */
	m = cmabuf_map(buf);
	assert_non_null(m);
	memset(m + p[1].offset, 0x80, p[1].size);
	memset(m, 0x10, p[0].size);
	assert_int_equal(m[p[1].offset + p[1].size - 1], 0x80);
	assert_int_equal(cmabuf_free(buf), 0);
	cmabuf_disconnect(cb);
}

static void test_plain_buffer_is_no_image(void **state)
{
	struct test_daemon *td = *state;
	struct cmabuf *cb = connect_or_fail(td);
	struct cmabuf_alloc_desc d = {.size = 4096};
	struct cmabuf_buffer *buf = NULL;
	struct cmabuf_plane p[4];
	uint32_t fourcc = 7;

	assert_int_equal(cmabuf_alloc(cb, &d, &buf), 0);
	assert_int_equal(cmabuf_buffer_planes(buf, p, 4), 0);
	assert_int_equal(cmabuf_buffer_format(buf, &fourcc, NULL, NULL), -EINVAL);
	assert_int_equal(fourcc, 7);
	cmabuf_free(buf);
	cmabuf_disconnect(cb);
}

/* Refusals carry a reason a person can act on, and leave *out alone. */
static void test_image_refusals(void **state)
{
	struct test_daemon *td = *state;
	struct cmabuf *cb = connect_or_fail(td);
	struct cmabuf_buffer *buf = (struct cmabuf_buffer *)(uintptr_t)0x1234;
	struct cmabuf_alloc_desc d = {.pitch_align = 100};
	int ret;

	assert_int_equal(cmabuf_alloc_image(cb, 64, 64, DRM_FORMAT_Y210, 0, NULL, &buf), -EINVAL);
	assert_non_null(strstr(cmabuf_last_error(cb), "unknown image format Y210"));
	assert_int_equal(cmabuf_alloc_image(cb, 64, 64, DRM_FORMAT_NV12, I915_FORMAT_MOD_Y_TILED,
					    NULL, &buf),
			 -EINVAL);
	assert_non_null(strstr(cmabuf_last_error(cb), "linear"));
	assert_int_equal(cmabuf_alloc_image(cb, 64, 64, DRM_FORMAT_NV12, 0, &d, &buf), -EINVAL);
	assert_non_null(strstr(cmabuf_last_error(cb), "power of two"));
	assert_int_equal(
		cmabuf_alloc_image(cb, UINT32_MAX, UINT32_MAX, DRM_FORMAT_ARGB8888, 0, NULL, &buf),
		-EINVAL);
	/* 16 GiB is a layout, just not one this daemon can place: its reason. */
	ret = cmabuf_alloc_image(cb, 65536, 65536, DRM_FORMAT_XRGB8888, 0, NULL, &buf);
	assert_int_equal(ret, -EINVAL);
	assert_non_null(strstr(cmabuf_last_error(cb), "17179869184 bytes"));
	assert_non_null(strstr(cmabuf_last_error(cb), "larger than the whole region"));
	assert_ptr_equal(buf, (struct cmabuf_buffer *)(uintptr_t)0x1234);
	assert_int_equal(cmabuf_alloc_image(NULL, 64, 64, DRM_FORMAT_NV12, 0, NULL, &buf), -EINVAL);
	cmabuf_disconnect(cb);
	assert_int_equal(test_daemon_wait_buffers(td, 0), 0);
}

/* A format "negotiated" by a driver that pads rows and the image size. */
static void test_v4l2_alloc(void **state)
{
	struct test_daemon *td = *state;
	struct cmabuf *cb = connect_or_fail(td);
	struct v4l2_format f = {.type = V4L2_BUF_TYPE_VIDEO_CAPTURE};
	struct cmabuf_buffer *buf = NULL;
	struct cmabuf_plane p[4];
	struct v4l2_buffer vb;
	struct v4l2_plane vp;

	f.fmt.pix.width = 640;
	f.fmt.pix.height = 360;
	f.fmt.pix.pixelformat = V4L2_PIX_FMT_NV12;
	f.fmt.pix.bytesperline = 704;
	f.fmt.pix.sizeimage = 704 * 360 * 3 / 2 + 8192;
	assert_int_equal(cmabuf_v4l2_alloc_image(cb, &f, NULL, &buf), 0);
	assert_int_equal(cmabuf_buffer_planes(buf, p, 4), 2);
	assert_int_equal(p[0].pitch, 704);
	assert_int_equal(p[1].pitch, 704);
	assert_int_equal(p[1].offset, 704 * 360); /* back to back, as V4L2 lays NV12 out */
	assert_true(cmabuf_buffer_size(buf) >= f.fmt.pix.sizeimage);

	assert_int_equal(cmabuf_v4l2_fill_buffer(buf, V4L2_BUF_TYPE_VIDEO_CAPTURE, 3, &vb, NULL),
			 0);
	assert_int_equal(vb.memory, V4L2_MEMORY_DMABUF);
	assert_int_equal(vb.index, 3);
	assert_int_equal(vb.m.fd, cmabuf_buffer_fd(buf));
	assert_int_equal(vb.length, cmabuf_buffer_size(buf));
	assert_int_equal(vb.bytesused, 0);
	assert_int_equal(
		cmabuf_v4l2_fill_buffer(buf, V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE, 0, &vb, &vp), 0);
	assert_ptr_equal(vb.m.planes, &vp);
	assert_int_equal(vb.length, 1);
	assert_int_equal(vp.m.fd, cmabuf_buffer_fd(buf));
	assert_int_equal(vp.bytesused, f.fmt.pix.sizeimage); /* what an OUTPUT queue sends */
	assert_int_equal(
		cmabuf_v4l2_fill_buffer(buf, V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE, 0, &vb, NULL),
		-EINVAL);
	cmabuf_free(buf);

	/* The multi-planar API with one memory plane is the same layout. */
	memset(&f, 0, sizeof(f));
	f.type = V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
	f.fmt.pix_mp.width = 320;
	f.fmt.pix_mp.height = 240;
	f.fmt.pix_mp.pixelformat = V4L2_PIX_FMT_YUV420;
	f.fmt.pix_mp.num_planes = 1;
	f.fmt.pix_mp.plane_fmt[0].bytesperline = 320;
	f.fmt.pix_mp.plane_fmt[0].sizeimage = 320 * 240 * 3 / 2;
	assert_int_equal(cmabuf_v4l2_alloc_image(cb, &f, NULL, &buf), 0);
	assert_int_equal(cmabuf_buffer_planes(buf, p, 4), 3);
	assert_int_equal(p[1].offset, 76800);
	assert_int_equal(p[1].pitch, 160);
	assert_int_equal(p[2].offset, 76800 + 19200);
	cmabuf_free(buf);

	buf = NULL;
	f.fmt.pix_mp.num_planes = 2; /* NV12M-style: one buffer per plane */
	assert_int_equal(cmabuf_v4l2_alloc_image(cb, &f, NULL, &buf), -EINVAL);
	assert_non_null(strstr(cmabuf_last_error(cb), "memory planes"));
	f.fmt.pix_mp.num_planes = 1;
	f.fmt.pix_mp.pixelformat = V4L2_PIX_FMT_MJPEG;
	assert_int_equal(cmabuf_v4l2_alloc_image(cb, &f, NULL, &buf), -EINVAL);
	assert_non_null(strstr(cmabuf_last_error(cb), "MJPG"));
	assert_null(buf);
	cmabuf_disconnect(cb);
}

/* memfd buffers are not dma-bufs: the explicit-sync calls say so. */
static void test_sync_file_memfd(void **state)
{
	struct test_daemon *td = *state;
	struct cmabuf *cb = connect_or_fail(td);
	struct cmabuf_buffer *buf = NULL;
	int fd = -5;

	assert_int_equal(cmabuf_alloc_image(cb, 64, 64, DRM_FORMAT_XRGB8888, 0, NULL, &buf), 0);
	assert_int_equal(cmabuf_buffer_export_sync_file(buf, CMABUF_SYNC_READ, &fd), -ENOTTY);
	assert_int_equal(fd, -5);
	assert_int_equal(cmabuf_buffer_export_sync_file(buf, 0, &fd), -EINVAL);
	assert_int_equal(cmabuf_buffer_import_sync_file(buf, CMABUF_SYNC_WRITE, -1), -EINVAL);
	/* A DRM call on something that is not a DRM device: an errno, not a crash. */
	assert_int_equal(cmabuf_drm_import(cmabuf_buffer_fd(buf), buf, (uint32_t *)&fd), -ENOTTY);
	assert_int_equal(cmabuf_drm_import(-1, buf, (uint32_t *)&fd), -EINVAL);
	cmabuf_free(buf);
	cmabuf_disconnect(cb);
}

static int run_example(const struct test_daemon *td, const char *env, const char *const *args)
{
	const char *bin = getenv(env);
	const char *argv[16] = {bin};
	int status, n = 1;
	pid_t pid;

	if (!bin)
		fail_msg("$%s is not set", env);
	while (*args && n < 15)
		argv[n++] = *args++;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("CMABUF_SOCKET", td->socket, 1);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void test_example_share(void **state)
{
	struct test_daemon *td = *state;
	const char *const args[] = {"--frames", "4", "--size", "321x241", NULL};

	assert_int_equal(run_example(td, "CMABUF_SHARE", args), 0);
	/* Producer and consumer are gone: every buffer went back. */
	assert_int_equal(test_daemon_wait_buffers(td, 0), 0);
}

/*
 * The VM suite captures from vivid for real. Here there is usually no V4L2
 * device: then the example must say so and exit 77, not crash or hang.
 */
static void test_example_capture(void **state)
{
	struct test_daemon *td = *state;
	char out[] = "/tmp/cmabuf-frame-XXXXXX";
	const char *const args[] = {"-n", "3", "-o", out, NULL};
	int fd = mkstemp(out), ret;

	assert_true(fd >= 0);
	close(fd);
	ret = run_example(td, "CMABUF_CAPTURE", args);
	unlink(out);
	assert_int_equal(ret, access("/dev/video0", F_OK) == 0 ? 0 : 77);
	assert_int_equal(test_daemon_wait_buffers(td, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_image_nv12, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plain_buffer_is_no_image, setup, teardown),
		cmocka_unit_test_setup_teardown(test_image_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v4l2_alloc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_file_memfd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_example_share, setup, teardown),
		cmocka_unit_test_setup_teardown(test_example_capture, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
