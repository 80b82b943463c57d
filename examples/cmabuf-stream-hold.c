/* SPDX-License-Identifier: MIT */
/*
 * cmabuf-stream-hold: allocate the buffers a 1080p camera -> H.264 encoder ->
 * display pipeline keeps while it streams, and hold them until Ctrl-C (SIGINT)
 * or SIGTERM, so that `cmabufctl status`, `buffers`, `clients` and `map` have
 * something to show. Nothing is captured or encoded: the sizes and names are
 * what such a pipeline asks for.
 *
 *   camera     4 x 1920x1080 NV12       the V4L2 capture queue
 *   encoder    2 x 1920x1080 NV12       reference and reconstructed frames
 *              2 x 2 MiB                bitstream (compressed output)
 *   display    3 x 1920x1080 XRGB8888   scan-out, triple buffered
 *   preview    1 x  640x360  NV12       a thumbnail cache, purgeable
 *
 * Sizes are rounded up to whole pages by the daemon (cmabufctl shows the
 * rounded size). Exit status: 0 after a clean release, 1 if an allocation
 * failed (the daemon's reason is printed).
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmabuf.h>
#include <drm_fourcc.h>

#define MAX_BUFFERS 16

struct want {
	const char *name;
	int count;
	uint32_t width, height, fourcc; /* 0 x 0: not an image, size below */
	uint64_t size;
	uint32_t flags;
};

static const struct want pipeline[] = {
	{"camera-capture", 4, 1920, 1080, DRM_FORMAT_NV12, 0, 0},
	{"encoder-ref", 2, 1920, 1080, DRM_FORMAT_NV12, 0, 0},
	{"encoder-bitstream", 2, 0, 0, 0, 2u << 20, 0},
	{"display-fb", 3, 1920, 1080, DRM_FORMAT_XRGB8888, 0, 0},
	{"preview-cache", 1, 640, 360, DRM_FORMAT_NV12, 0, CMABUF_ALLOC_PURGEABLE},
};

static struct cmabuf_buffer *held[MAX_BUFFERS];
static int nheld;

static int alloc_one(struct cmabuf *cb, const struct want *w, int i)
{
	char name[64];
	struct cmabuf_alloc_desc desc = {.size = w->size, .flags = w->flags, .name = name};
	struct cmabuf_buffer *buf;
	int ret;

	snprintf(name, sizeof(name), "%s-%d", w->name, i);
	if (w->width)
		ret = cmabuf_alloc_image(cb, w->width, w->height, w->fourcc, DRM_FORMAT_MOD_LINEAR,
					 &desc, &buf);
	else
		ret = cmabuf_alloc(cb, &desc, &buf);
	if (ret < 0) {
		fprintf(stderr, "cmabuf-stream-hold: %s: %s\n", name, cmabuf_last_error(cb));
		return ret;
	}
	held[nheld++] = buf;
	printf("  %-22s %9.2f MiB%s\n", name, cmabuf_buffer_size(buf) / 1048576.0,
	       w->flags & CMABUF_ALLOC_PURGEABLE ? "  (purgeable)" : "");
	return 0;
}

int main(void)
{
	struct cmabuf *cb;
	uint64_t total = 0;
	sigset_t stop;
	int ret, sig, status = 0;

	/* Block the stop signals before anything else, then wait for one with sigwait(). */
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigprocmask(SIG_BLOCK, &stop, NULL);

	if ((ret = cmabuf_connect(NULL, &cb)) < 0) { /* $CMABUF_SOCKET or the default */
		fprintf(stderr, "cmabuf-stream-hold: cannot connect to cmabufd: %s\n",
			strerror(-ret));
		return 1;
	}
	printf("allocating a camera -> encoder -> display buffer set:\n");
	for (size_t w = 0; w < sizeof(pipeline) / sizeof(pipeline[0]) && status == 0; w++)
		for (int i = 0; i < pipeline[w].count && status == 0; i++)
			if (alloc_one(cb, &pipeline[w], i) < 0)
				status = 1;
	for (int i = 0; i < nheld; i++)
		total += cmabuf_buffer_size(held[i]);

	if (status == 0) {
		printf("holding %d buffers, %.1f MiB, until Ctrl-C. From another terminal:\n"
		       "  cmabufctl status; cmabufctl buffers; cmabufctl map\n",
		       nheld, total / 1048576.0);
		fflush(stdout);
		sigwait(&stop, &sig);
		printf("\n%s: releasing %d buffers\n", sig == SIGINT ? "SIGINT" : "SIGTERM", nheld);
	}
	for (int i = 0; i < nheld; i++)
		cmabuf_free(held[i]);
	cmabuf_disconnect(cb);
	return status;
}
