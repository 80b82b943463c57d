/* Allocate one 1080p NV12 frame from cmabufd, write it, and hand back. */
#include <cmabuf.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
	struct cmabuf_alloc_desc desc = {.size = 1920 * 1080 * 3 / 2, .name = "hello-frame"};
	struct cmabuf_buffer *buf;
	struct cmabuf *cb;
	int ret;

	if ((ret = cmabuf_connect(NULL, &cb)) < 0) /* $CMABUF_SOCKET or the default */
		return fprintf(stderr, "connect: %s\n", strerror(-ret)), 1;
	if ((ret = cmabuf_alloc(cb, &desc, &buf)) < 0)
		return fprintf(stderr, "alloc: %s\n", cmabuf_last_error(cb)), 1;
	cmabuf_sync_begin(buf, CMABUF_SYNC_WRITE);
	memset(cmabuf_map(buf), 0x80, desc.size); /* grey; fd below goes to V4L2/DRM */
	cmabuf_sync_end(buf, CMABUF_SYNC_WRITE);
	printf("dma-buf fd %d, %llu bytes\n", cmabuf_buffer_fd(buf),
	       (unsigned long long)cmabuf_buffer_size(buf));
	cmabuf_free(buf);
	cmabuf_disconnect(cb);
	return 0;
}
