/* SPDX-License-Identifier: MIT */
/*
 * DRM helpers over libdrm: PRIME import of a cmabuf buffer and a KMS
 * framebuffer of an image buffer. libdrm's -1/errno and -errno conventions
 * end here: these return a negative errno, like the rest of libcmabuf.
 */
#include <errno.h>

#include <drm_fourcc.h>
#include <xf86drm.h>
#include <xf86drmMode.h>

#include "internal.h"

EXPORT int cmabuf_drm_import(int drm_fd, const struct cmabuf_buffer *buf, uint32_t *handle)
{
	uint32_t h;
	int ret;

	if (drm_fd < 0 || !buf || !handle)
		return -EINVAL;
	ret = drmPrimeFDToHandle(drm_fd, cmabuf_buffer_fd(buf), &h);
	if (ret < 0)
		return errno ? -errno : -EIO;
	*handle = h;
	return 0;
}

EXPORT int cmabuf_drm_add_fb(int drm_fd, const struct cmabuf_buffer *buf, uint32_t handle,
			     uint32_t *fb_id)
{
	uint32_t handles[4] = {0}, pitches[4] = {0}, offsets[4] = {0}, id;
	uint64_t modifiers[4] = {0};
	const struct cmabuf_image *img;
	int ret;

	if (drm_fd < 0 || !buf || !handle || !fb_id)
		return -EINVAL;
	img = cmabuf_buffer_image(buf);
	if (!img->nplanes)
		return -EINVAL; /* a plain buffer has no format to scan out */
	for (int i = 0; i < img->nplanes; i++) {
		/* KMS offsets are 32 bits: a plane past 4 GiB cannot be described. */
		if (img->planes[i].offset > UINT32_MAX)
			return -EOVERFLOW;
		handles[i] = handle;
		pitches[i] = img->planes[i].pitch;
		offsets[i] = (uint32_t)img->planes[i].offset;
		modifiers[i] = img->modifier;
	}
	ret = drmModeAddFB2WithModifiers(drm_fd, img->width, img->height, img->fourcc, handles,
					 pitches, offsets, modifiers, &id, DRM_MODE_FB_MODIFIERS);
	if (ret)
		return ret < 0 ? (ret == -1 && errno ? -errno : ret) : -EIO;
	*fb_id = id;
	return 0;
}
