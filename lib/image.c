/* SPDX-License-Identifier: MIT */
/* Image buffers: a layout from formats.c, allocated as one contiguous buffer. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static void copy_planes(struct cmabuf_plane *to, int max, const struct cmabuf_plane *from, int n)
{
	for (int i = 0; i < n && i < max; i++)
		to[i] = from[i];
}

EXPORT int cmabuf_image_layout(uint32_t width, uint32_t height, uint32_t drm_fourcc,
			       uint64_t modifier, const struct cmabuf_alloc_desc *desc,
			       struct cmabuf_plane *planes, int max, uint64_t *size)
{
	struct cmabuf_image img;
	int ret;

	if (max < 0 || (max > 0 && !planes))
		return -EINVAL;
	ret = cmabuf_image_compute(width, height, drm_fourcc, modifier, desc, &img, NULL, 0);
	if (ret < 0)
		return ret;
	copy_planes(planes, max, img.planes, img.nplanes);
	if (size)
		*size = img.size;
	return img.nplanes;
}

EXPORT int cmabuf_alloc_image(struct cmabuf *cb, uint32_t width, uint32_t height,
			      uint32_t drm_fourcc, uint64_t modifier,
			      const struct cmabuf_alloc_desc *desc, struct cmabuf_buffer **out)
{
	struct cmabuf_alloc_desc d = {0};
	struct cmabuf_buffer *buf;
	struct cmabuf_image img;
	char why[256], name[64], fcc[16];
	int ret;

	if (!cb || !out)
		return -EINVAL;
	ret = cmabuf_image_compute(width, height, drm_fourcc, modifier, desc, &img, why,
				   sizeof(why));
	if (ret < 0) {
		cmabuf_set_error(cb, "%s", why);
		return ret;
	}
	if (desc)
		d = *desc;
	d.size = img.size;
	if (!d.name) {
		/* What cmabufctl buffers shows: say what the bytes are. */
		snprintf(name, sizeof(name), "%s %ux%u",
			 cmabuf_fourcc_str(drm_fourcc, fcc, sizeof(fcc)), width, height);
		d.name = name;
	}
	ret = cmabuf_alloc(cb, &d, &buf);
	if (ret < 0)
		return ret;
	cmabuf_buffer_set_image(buf, &img);
	*out = buf;
	return 0;
}

EXPORT int cmabuf_buffer_planes(const struct cmabuf_buffer *buf, struct cmabuf_plane *planes,
				int max)
{
	const struct cmabuf_image *img;

	if (!buf || max < 0 || (max > 0 && !planes))
		return -EINVAL;
	img = cmabuf_buffer_image(buf);
	copy_planes(planes, max, img->planes, img->nplanes);
	return img->nplanes;
}

EXPORT int cmabuf_buffer_format(const struct cmabuf_buffer *buf, uint32_t *drm_fourcc,
				uint32_t *width, uint32_t *height)
{
	const struct cmabuf_image *img;

	if (!buf)
		return -EINVAL;
	img = cmabuf_buffer_image(buf);
	if (!img->nplanes)
		return -EINVAL;
	if (drm_fourcc)
		*drm_fourcc = img->fourcc;
	if (width)
		*width = img->width;
	if (height)
		*height = img->height;
	return 0;
}
