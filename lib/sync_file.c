/* SPDX-License-Identifier: MIT */
/*
 * Explicit synchronisation: a buffer's implicit fences (its dma_resv) as a
 * sync_file and back, through the dma-buf ioctls Linux 6.0 added. The
 * exporter needs no support for these: the dma-buf core does the work.
 */
#include <errno.h>
#include <linux/dma-buf.h>
#include <sys/ioctl.h>

#include "internal.h"

static int dma_buf_flags(unsigned flags, uint32_t *out)
{
	if (!flags || (flags & ~(CMABUF_SYNC_READ | CMABUF_SYNC_WRITE)))
		return -EINVAL;
	*out = (flags & CMABUF_SYNC_READ ? DMA_BUF_SYNC_READ : 0) |
	       (flags & CMABUF_SYNC_WRITE ? DMA_BUF_SYNC_WRITE : 0);
	return 0;
}

static int retry_ioctl(int fd, unsigned long req, void *arg)
{
	while (ioctl(fd, req, arg) < 0) {
		if (errno != EINTR && errno != EAGAIN)
			return -errno;
	}
	return 0;
}

EXPORT int cmabuf_buffer_export_sync_file(const struct cmabuf_buffer *buf, unsigned flags,
					  int *sync_file_fd)
{
	struct dma_buf_export_sync_file arg = {.fd = -1};
	int ret;

	if (!buf || !sync_file_fd)
		return -EINVAL;
	ret = dma_buf_flags(flags, &arg.flags);
	if (ret == 0)
		ret = retry_ioctl(cmabuf_buffer_fd(buf), DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &arg);
	if (ret < 0)
		return ret;
	*sync_file_fd = arg.fd;
	return 0;
}

EXPORT int cmabuf_buffer_import_sync_file(const struct cmabuf_buffer *buf, unsigned flags,
					  int sync_file_fd)
{
	struct dma_buf_import_sync_file arg = {.fd = sync_file_fd};
	int ret;

	if (!buf || sync_file_fd < 0)
		return -EINVAL;
	ret = dma_buf_flags(flags, &arg.flags);
	if (ret == 0)
		ret = retry_ioctl(cmabuf_buffer_fd(buf), DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &arg);
	return ret;
}
