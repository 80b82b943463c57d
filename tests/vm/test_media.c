/* SPDX-License-Identifier: MIT */
/*
 * The media API on the real stack, inside the VM: cmabufd on the uio stub,
 * vivid capturing into cmabuf image buffers through dma-contig (instance 0,
 * contiguous buffers only) and vmalloc (instance 1, vmap), the frames checked
 * against vivid's colour bars, vgem importing a buffer through the DRM
 * helper, explicit sync through sync_file, and the capture example.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <drm_fourcc.h>
#include <linux/videodev2.h>
#include <xf86drm.h>

#include "cmabuf.h"
#include "harness.h"

#define NBUF   4
#define FRAMES 6

static int setup(void **state)
{
	static struct test_daemon td;

	setenv("CMABUF_TEST_BACKEND", "uio", 1);
	if (test_daemon_start(&td, 0, NULL) < 0)
		return -1;
	*state = &td;
	return 0;
}

static int teardown(void **state)
{
	return test_daemon_stop(*state) == 0 ? 0 : -1;
}

/* The capture node of a vivid instance ("platform:vivid-000"); path in *path. */
static int open_vivid(const char *bus_info, char *path, size_t len)
{
	for (int i = 0; i < 16; i++) {
		struct v4l2_capability cap;
		int fd;

		snprintf(path, len, "/dev/video%d", i);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (ioctl(fd, VIDIOC_QUERYCAP, &cap) == 0 &&
		    strcmp((const char *)cap.bus_info, bus_info) == 0 &&
		    (cap.device_caps & V4L2_CAP_VIDEO_CAPTURE))
			return fd;
		close(fd);
	}
	fail_msg("no vivid capture node %s (is vivid loaded?)", bus_info);
	return -1;
}

/*
 * vivid's default pattern is the 75% colour bar: eight vertical bars, white,
 * yellow, cyan, green, magenta, red, blue, black, whose luma falls bar by bar.
 * The on-screen text is at the top, so read the bottom row. luma(x) gives the
 * Y sample of pixel x on that row.
 */
static void check_colour_bars(const uint8_t *row, uint32_t width, unsigned y_step, const char *what)
{
	int prev = 256;

	for (uint32_t bar = 0; bar < 8; bar++) {
		uint32_t x = bar * width / 8 + width / 16;
		int y = row[x * y_step];

		if (y >= prev)
			fail_msg("%s: bar %u has luma %d, not below the previous bar's %d", what,
				 bar, y, prev);
		prev = y;
	}
	if (row[(width / 16) * y_step] < 150)
		fail_msg("%s: the first bar is not white (luma %d)", what,
			 row[(width / 16) * y_step]);
}

static void capture(const struct test_daemon *td, const char *bus_info, uint32_t pixelformat)
{
	enum v4l2_buf_type type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	struct v4l2_format fmt = {.type = type};
	struct v4l2_requestbuffers req = {
		.count = NBUF, .type = type, .memory = V4L2_MEMORY_DMABUF};
	struct cmabuf_buffer *bufs[NBUF] = {0};
	struct cmabuf *cb = NULL;
	struct cmabuf_plane p[4];
	struct v4l2_buffer vb;
	char path[32], what[64];
	int vfd, n;

	snprintf(what, sizeof(what), "%s %.4s", bus_info, (const char *)&pixelformat);
	vfd = open_vivid(bus_info, path, sizeof(path));
	fmt.fmt.pix.width = 640;
	fmt.fmt.pix.height = 360;
	fmt.fmt.pix.pixelformat = pixelformat;
	fmt.fmt.pix.field = V4L2_FIELD_NONE;
	assert_int_equal(ioctl(vfd, VIDIOC_S_FMT, &fmt), 0);
	assert_int_equal(fmt.fmt.pix.pixelformat, pixelformat);
	print_message("%s: %s %ux%u bytesperline %u sizeimage %u\n", what, path, fmt.fmt.pix.width,
		      fmt.fmt.pix.height, fmt.fmt.pix.bytesperline, fmt.fmt.pix.sizeimage);

	assert_int_equal(cmabuf_connect(td->socket, &cb), 0);
	for (int i = 0; i < NBUF; i++) {
		if (cmabuf_v4l2_alloc_image(cb, &fmt, NULL, &bufs[i]) < 0)
			fail_msg("alloc: %s", cmabuf_last_error(cb));
		/* sizeimage honoured, and the layout is the driver's. */
		assert_true(cmabuf_buffer_size(bufs[i]) >= fmt.fmt.pix.sizeimage);
		n = cmabuf_buffer_planes(bufs[i], p, 4);
		assert_true(n >= 1);
		assert_int_equal(p[0].pitch, fmt.fmt.pix.bytesperline);
		if (n > 1)
			assert_int_equal(p[1].offset,
					 (uint64_t)fmt.fmt.pix.bytesperline * fmt.fmt.pix.height);
	}
	assert_int_equal(ioctl(vfd, VIDIOC_REQBUFS, &req), 0);
	assert_true(req.count >= NBUF);
	for (uint32_t i = 0; i < NBUF; i++) {
		assert_int_equal(cmabuf_v4l2_fill_buffer(bufs[i], type, i, &vb, NULL), 0);
		if (ioctl(vfd, VIDIOC_QBUF, &vb) < 0)
			fail_msg("%s: QBUF of a cmabuf buffer: %s", what, strerror(errno));
	}
	assert_int_equal(ioctl(vfd, VIDIOC_STREAMON, &type), 0);
	for (int f = 0; f < FRAMES; f++) {
		struct pollfd pfd = {.fd = vfd, .events = POLLIN};
		const uint8_t *m;

		assert_int_equal(poll(&pfd, 1, 10000), 1);
		memset(&vb, 0, sizeof(vb));
		vb.type = type;
		vb.memory = V4L2_MEMORY_DMABUF;
		assert_int_equal(ioctl(vfd, VIDIOC_DQBUF, &vb), 0);
		assert_true(vb.index < NBUF);
		assert_int_equal(vb.bytesused, fmt.fmt.pix.sizeimage);
		m = cmabuf_map(bufs[vb.index]);
		assert_non_null(m);
		cmabuf_sync_begin(bufs[vb.index], CMABUF_SYNC_READ);
		/* Luma is every second byte of YUYV, every byte of NV12's first plane. */
		check_colour_bars(m + (uint64_t)(fmt.fmt.pix.height - 1) * fmt.fmt.pix.bytesperline,
				  fmt.fmt.pix.width, pixelformat == V4L2_PIX_FMT_YUYV ? 2 : 1,
				  what);
		if (pixelformat == V4L2_PIX_FMT_NV12) {
			/* Chroma of the yellow bar (Cb well below 128) lands in plane 1. */
			cmabuf_buffer_planes(bufs[vb.index], p, 4);
			const uint8_t *uv = m + p[1].offset +
					    (uint64_t)(fmt.fmt.pix.height / 2 - 1) * p[1].pitch;
			uint32_t x = (fmt.fmt.pix.width / 8 + fmt.fmt.pix.width / 16) & ~1u;

			if (uv[x] >= 100)
				fail_msg("%s: yellow's Cb is %d", what, uv[x]);
		}
		cmabuf_sync_end(bufs[vb.index], CMABUF_SYNC_READ);
		assert_int_equal(cmabuf_v4l2_fill_buffer(bufs[vb.index], type, vb.index, &vb, NULL),
				 0);
		assert_int_equal(ioctl(vfd, VIDIOC_QBUF, &vb), 0);
	}
	assert_int_equal(ioctl(vfd, VIDIOC_STREAMOFF, &type), 0);
	req.count = 0;
	assert_int_equal(ioctl(vfd, VIDIOC_REQBUFS, &req), 0);
	close(vfd);
	for (int i = 0; i < NBUF; i++)
		cmabuf_free(bufs[i]);
	cmabuf_disconnect(cb);
	assert_int_equal(test_daemon_wait_buffers(td, 0), 0);
}

static void test_vivid_contig_yuyv(void **state)
{
	capture(*state, "platform:vivid-000", V4L2_PIX_FMT_YUYV);
}

static void test_vivid_contig_nv12(void **state)
{
	capture(*state, "platform:vivid-000", V4L2_PIX_FMT_NV12);
}

static void test_vivid_vmalloc_yuyv(void **state)
{
	capture(*state, "platform:vivid-001", V4L2_PIX_FMT_YUYV);
}

static void test_vivid_vmalloc_nv12(void **state)
{
	capture(*state, "platform:vivid-001", V4L2_PIX_FMT_NV12);
}

static int open_vgem(void)
{
	char path[32];

	for (int i = 0; i < 8; i++) {
		drmVersionPtr v;
		int fd;

		snprintf(path, sizeof(path), "/dev/dri/card%d", i);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		v = drmGetVersion(fd);
		if (v && strcmp(v->name, "vgem") == 0) {
			drmFreeVersion(v);
			return fd;
		}
		drmFreeVersion(v);
		close(fd);
	}
	fail_msg("no vgem device (is vgem loaded?)");
	return -1;
}

static void test_vgem_import(void **state)
{
	struct test_daemon *td = *state;
	struct cmabuf_buffer *buf = NULL;
	struct cmabuf *cb = NULL;
	uint32_t handle = 0, again = 0, fb = 0;
	int dfd = open_vgem(), ret;

	assert_int_equal(cmabuf_connect(td->socket, &cb), 0);
	assert_int_equal(cmabuf_alloc_image(cb, 1280, 720, DRM_FORMAT_XRGB8888,
					    DRM_FORMAT_MOD_LINEAR, NULL, &buf),
			 0);
	assert_int_equal(cmabuf_drm_import(dfd, buf, &handle), 0);
	assert_int_not_equal(handle, 0);
	assert_int_equal(cmabuf_drm_import(dfd, buf, &again), 0);
	assert_int_equal(again, handle); /* PRIME gives one handle per object */
	/* vgem has no KMS: the framebuffer call must fail cleanly, with an errno. */
	ret = cmabuf_drm_add_fb(dfd, buf, handle, &fb);
	print_message("vgem AddFB2: %s\n", ret < 0 ? strerror(-ret) : "ok");
	assert_true(ret < 0);
	assert_int_equal(fb, 0);
	/* Owner first, importer last: the range returns once vgem lets go. */
	cmabuf_free(buf);
	assert_int_equal(drmCloseBufferHandle(dfd, handle), 0);
	close(dfd);
	cmabuf_disconnect(cb);
	assert_int_equal(test_daemon_wait_buffers(td, 0), 0);
}

static void test_sync_file(void **state)
{
	struct test_daemon *td = *state;
	struct cmabuf_buffer *buf = NULL;
	struct cmabuf *cb = NULL;
	int rd = -1, wr = -1;
	struct pollfd pfd;

	assert_int_equal(cmabuf_connect(td->socket, &cb), 0);
	assert_int_equal(cmabuf_alloc_image(cb, 640, 480, DRM_FORMAT_NV12, 0, NULL, &buf), 0);
	assert_int_equal(cmabuf_buffer_export_sync_file(buf, CMABUF_SYNC_READ, &rd), 0);
	assert_int_equal(cmabuf_buffer_export_sync_file(buf, CMABUF_SYNC_WRITE, &wr), 0);
	assert_true(rd >= 0 && wr >= 0);
	/* Nobody has fenced the buffer: the sync_file is already signalled. */
	pfd = (struct pollfd){.fd = wr, .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, 0), 1);
	/* And a fence goes back in (a producer's "done writing"). */
	assert_int_equal(cmabuf_buffer_import_sync_file(buf, CMABUF_SYNC_WRITE, rd), 0);
	close(rd);
	close(wr);
	cmabuf_free(buf);
	cmabuf_disconnect(cb);
}

/* The example, as a user runs it, against vivid's dma-contig instance. */
static void test_capture_example(void **state)
{
	struct test_daemon *td = *state;
	const char *bin = getenv("CMABUF_CAPTURE");
	char path[32], out[] = "/tmp/cmabuf-frame-XXXXXX";
	int vfd, fd, status, nonzero = 0;
	struct stat st;
	uint8_t chunk[4096];
	ssize_t n;
	pid_t pid;

	if (!bin)
		fail_msg("$CMABUF_CAPTURE is not set");
	vfd = open_vivid("platform:vivid-000", path, sizeof(path));
	close(vfd);
	fd = mkstemp(out);
	assert_true(fd >= 0);
	close(fd);
	pid = fork();
	if (pid == 0) {
		setenv("CMABUF_SOCKET", td->socket, 1);
		execl(bin, bin, "-d", path, "-n", "5", "-s", "640x360", "-f", "YUYV", "-o", out,
		      (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(stat(out, &st), 0);
	assert_int_equal(st.st_size, 640 * 360 * 2); /* vivid keeps 16:9 sizes as asked */
	fd = open(out, O_RDONLY | O_CLOEXEC);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		for (ssize_t i = 0; i < n; i++)
			nonzero |= chunk[i];
	close(fd);
	unlink(out);
	assert_true(nonzero);
	assert_int_equal(test_daemon_wait_buffers(td, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vivid_contig_yuyv),
		cmocka_unit_test(test_vivid_contig_nv12),
		cmocka_unit_test(test_vivid_vmalloc_yuyv),
		cmocka_unit_test(test_vivid_vmalloc_nv12),
		cmocka_unit_test(test_vgem_import),
		cmocka_unit_test(test_sync_file),
		cmocka_unit_test(test_capture_example),
	};

	if (access("/dev/uio_cma0", F_OK) != 0) {
		printf("1..0 # SKIP no /dev/uio_cma0 (run me under tests/vm/vm-run)\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
