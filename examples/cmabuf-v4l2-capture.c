/* SPDX-License-Identifier: MIT */
/*
 * cmabuf-v4l2-capture: capture frames from a V4L2 device into cmabuf image
 * buffers (V4L2_MEMORY_DMABUF) and write the last one to a file.
 *
 *   cmabuf-v4l2-capture [-d /dev/videoN] [-n FRAMES] [-s WxH] [-f FOURCC] [-o FILE]
 *
 * -d defaults to the first capture device, -n to 10, -o to frame.raw; -s and
 * -f ask the driver for a size and a V4L2 pixel format (e.g. -f NV12), which
 * it may adjust. The file holds the frame exactly as the device wrote it
 * (bytesused bytes, rows bytesperline apart); the program prints the ffmpeg
 * command that turns it into a PNG. Exit status: 0 on success, 77 when there
 * is no capture device, 1 otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cmabuf.h>
#include <linux/videodev2.h>

#define NBUF 4

/* ffmpeg's -pixel_format for the V4L2 formats cmabuf lays out. */
static const struct {
	uint32_t v4l2;
	const char *ffmpeg;
} pix_fmts[] = {
	{V4L2_PIX_FMT_NV12, "nv12"},	   {V4L2_PIX_FMT_NV21, "nv21"},
	{V4L2_PIX_FMT_NV16, "nv16"},	   {V4L2_PIX_FMT_NV24, "nv24"},
	{V4L2_PIX_FMT_P010, "p010le"},	   {V4L2_PIX_FMT_YUV420, "yuv420p"},
	{V4L2_PIX_FMT_YUV422P, "yuv422p"}, {V4L2_PIX_FMT_YUYV, "yuyv422"},
	{V4L2_PIX_FMT_UYVY, "uyvy422"},	   {V4L2_PIX_FMT_RGB565, "rgb565le"},
	{V4L2_PIX_FMT_BGR24, "bgr24"},	   {V4L2_PIX_FMT_RGB24, "rgb24"},
	{V4L2_PIX_FMT_XBGR32, "bgr0"},	   {V4L2_PIX_FMT_ABGR32, "bgra"},
	{V4L2_PIX_FMT_RGBX32, "rgb0"},	   {V4L2_PIX_FMT_RGBA32, "rgba"},
};

static int xioctl(int fd, unsigned long req, void *arg)
{
	int ret;

	do
		ret = ioctl(fd, req, arg);
	while (ret < 0 && errno == EINTR);
	return ret;
}

static int is_capture(int fd)
{
	struct v4l2_capability cap;

	return xioctl(fd, VIDIOC_QUERYCAP, &cap) == 0 &&
	       (cap.device_caps & V4L2_CAP_VIDEO_CAPTURE) && (cap.device_caps & V4L2_CAP_STREAMING);
}

static int open_device(const char *path)
{
	char name[32];

	if (path)
		return open(path, O_RDWR | O_CLOEXEC);
	for (int i = 0; i < 64; i++) {
		int fd;

		snprintf(name, sizeof(name), "/dev/video%d", i);
		fd = open(name, O_RDWR | O_CLOEXEC);
		if (fd >= 0 && is_capture(fd)) {
			printf("device: %s\n", name);
			return fd;
		}
		if (fd >= 0)
			close(fd);
	}
	errno = ENODEV;
	return -1;
}

static void fourcc_str(uint32_t f, char s[5])
{
	for (int i = 0; i < 4; i++)
		s[i] = (char)((f >> (8 * i)) & 0xff);
	s[4] = '\0';
}

static int negotiate(int vfd, struct v4l2_format *fmt, const char *size, const char *fourcc)
{
	memset(fmt, 0, sizeof(*fmt));
	fmt->type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	if (xioctl(vfd, VIDIOC_G_FMT, fmt) < 0)
		return perror("VIDIOC_G_FMT"), -1;
	if (size && sscanf(size, "%ux%u", &fmt->fmt.pix.width, &fmt->fmt.pix.height) != 2)
		return fprintf(stderr, "bad size %s (want WxH)\n", size), -1;
	if (fourcc && strlen(fourcc) == 4)
		fmt->fmt.pix.pixelformat = v4l2_fourcc(fourcc[0], fourcc[1], fourcc[2], fourcc[3]);
	fmt->fmt.pix.field = V4L2_FIELD_NONE;
	fmt->fmt.pix.bytesperline = 0; /* the driver's choice */
	if (xioctl(vfd, VIDIOC_S_FMT, fmt) < 0)
		return perror("VIDIOC_S_FMT"), -1;
	return 0;
}

static int write_frame(const char *path, const void *p, uint32_t bytes,
		       const struct v4l2_format *fmt)
{
	const struct v4l2_pix_format *pix = &fmt->fmt.pix;
	const char *ff = NULL;
	FILE *f = fopen(path, "wb");
	char fcc[5];

	if (!f || fwrite(p, 1, bytes, f) != bytes || fclose(f) != 0)
		return perror(path), -1;
	for (size_t i = 0; i < sizeof(pix_fmts) / sizeof(pix_fmts[0]); i++)
		if (pix_fmts[i].v4l2 == pix->pixelformat)
			ff = pix_fmts[i].ffmpeg;
	fourcc_str(pix->pixelformat, fcc);
	printf("wrote %s: %u bytes of %s %ux%u, bytesperline %u\n", path, bytes, fcc, pix->width,
	       pix->height, pix->bytesperline);
	/* rawvideo reads rows without padding: right unless the driver padded bytesperline. */
	if (ff)
		printf("view: ffmpeg -f rawvideo -pixel_format %s -video_size %ux%u -i %s "
		       "frame.png\n",
		       ff, pix->width, pix->height, path);
	return 0;
}

/* Dequeues one filled buffer; its index, or -1. */
static int dequeue(int vfd, uint32_t *bytesused)
{
	struct pollfd pfd = {.fd = vfd, .events = POLLIN};
	struct v4l2_buffer vb = {.type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .memory = V4L2_MEMORY_DMABUF};

	if (poll(&pfd, 1, 5000) != 1)
		return fprintf(stderr, "no frame within 5 s\n"), -1;
	if (xioctl(vfd, VIDIOC_DQBUF, &vb) < 0)
		return perror("VIDIOC_DQBUF"), -1;
	*bytesused = vb.bytesused;
	return (int)vb.index;
}

static int queue(int vfd, struct cmabuf_buffer *buf, uint32_t index)
{
	struct v4l2_buffer vb;

	if (cmabuf_v4l2_fill_buffer(buf, V4L2_BUF_TYPE_VIDEO_CAPTURE, index, &vb, NULL) < 0 ||
	    xioctl(vfd, VIDIOC_QBUF, &vb) < 0)
		return perror("VIDIOC_QBUF"), -1;
	return 0;
}

static int capture(int vfd, struct cmabuf *cb, const struct v4l2_format *fmt, int frames,
		   const char *out)
{
	enum v4l2_buf_type type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	struct v4l2_requestbuffers req = {
		.count = NBUF, .type = type, .memory = V4L2_MEMORY_DMABUF};
	struct cmabuf_buffer *bufs[NBUF] = {0};
	int ret = -1, streaming = 0;
	uint32_t used = 0;

	for (int i = 0; i < NBUF; i++) {
		/* The negotiated format, exactly: bytesperline as the pitch, sizeimage honoured. */
		struct cmabuf_alloc_desc desc = {.name = "v4l2-capture"};

		if (cmabuf_v4l2_alloc_image(cb, fmt, &desc, &bufs[i]) < 0) {
			fprintf(stderr, "alloc: %s\n", cmabuf_last_error(cb));
			goto out;
		}
	}
	if (xioctl(vfd, VIDIOC_REQBUFS, &req) < 0 || req.count < NBUF) {
		perror("VIDIOC_REQBUFS (V4L2_MEMORY_DMABUF)");
		goto out;
	}
	for (uint32_t i = 0; i < NBUF; i++)
		if (queue(vfd, bufs[i], i) < 0)
			goto out;
	if (xioctl(vfd, VIDIOC_STREAMON, &type) < 0) {
		perror("VIDIOC_STREAMON");
		goto out;
	}
	streaming = 1;
	for (int n = 0; n < frames; n++) {
		int i = dequeue(vfd, &used);
		void *p;

		if (i < 0 || i >= NBUF)
			goto out;
		printf("frame %d: buffer %d, %u bytes\n", n, i, used);
		if (n == frames - 1) {
			/* The device wrote through DMA; bracket the CPU's read. */
			p = cmabuf_map(bufs[i]);
			cmabuf_sync_begin(bufs[i], CMABUF_SYNC_READ);
			ret = p ? write_frame(out, p, used, fmt) : -1;
			cmabuf_sync_end(bufs[i], CMABUF_SYNC_READ);
			if (ret < 0)
				goto out;
			ret = -1;
		}
		if (queue(vfd, bufs[i], (uint32_t)i) < 0)
			goto out;
	}
	ret = 0;
out:
	if (streaming)
		xioctl(vfd, VIDIOC_STREAMOFF, &type);
	req.count = 0; /* the driver drops its references to the dma-bufs */
	xioctl(vfd, VIDIOC_REQBUFS, &req);
	for (int i = 0; i < NBUF; i++)
		cmabuf_free(bufs[i]);
	return ret;
}

int main(int argc, char **argv)
{
	const char *dev = NULL, *size = NULL, *fourcc = NULL, *out = "frame.raw";
	struct v4l2_format fmt;
	struct cmabuf *cb;
	int opt, frames = 10, vfd, ret;
	char fcc[5];

	while ((opt = getopt(argc, argv, "d:n:s:f:o:h")) != -1) {
		switch (opt) {
		case 'd':
			dev = optarg;
			break;
		case 'n':
			frames = atoi(optarg);
			break;
		case 's':
			size = optarg;
			break;
		case 'f':
			fourcc = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		default:
			fprintf(stderr,
				"usage: %s [-d /dev/videoN] [-n FRAMES] [-s WxH] [-f FOURCC] "
				"[-o FILE]\n",
				argv[0]);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (frames < 1)
		frames = 1;
	vfd = open_device(dev);
	if (vfd < 0) {
		fprintf(stderr, "no V4L2 capture device (%s): %s\n", dev ? dev : "/dev/video*",
			strerror(errno));
		return 77;
	}
	if (negotiate(vfd, &fmt, size, fourcc) < 0)
		return 1;
	fourcc_str(fmt.fmt.pix.pixelformat, fcc);
	printf("format: %s %ux%u, bytesperline %u, sizeimage %u\n", fcc, fmt.fmt.pix.width,
	       fmt.fmt.pix.height, fmt.fmt.pix.bytesperline, fmt.fmt.pix.sizeimage);
	if (!cmabuf_fourcc_from_v4l2(fmt.fmt.pix.pixelformat)) {
		fprintf(stderr, "%s is not a format cmabuf lays out; try -f YUYV or -f NV12\n",
			fcc);
		return 1;
	}
	if ((ret = cmabuf_connect(NULL, &cb)) < 0) {
		fprintf(stderr, "connect to cmabufd: %s\n", strerror(-ret));
		return 1;
	}
	ret = capture(vfd, cb, &fmt, frames, out);
	cmabuf_disconnect(cb);
	close(vfd);
	return ret < 0 ? 1 : 0;
}
