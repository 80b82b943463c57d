/* SPDX-License-Identifier: MIT */
/* V4L2 helpers: fourcc mapping, buffers for a negotiated format, and QBUF of a dma-buf. */
#include <errno.h>
#include <string.h>

#include <drm_fourcc.h>
#include <linux/videodev2.h>

#include "internal.h"

EXPORT uint32_t cmabuf_fourcc_to_v4l2(uint32_t drm_fourcc)
{
	return cmabuf_format_drm_to_v4l2(drm_fourcc);
}

EXPORT uint32_t cmabuf_fourcc_from_v4l2(uint32_t v4l2_fourcc)
{
	return cmabuf_format_v4l2_to_drm(v4l2_fourcc);
}

EXPORT int cmabuf_v4l2_alloc_image(struct cmabuf *cb, const struct v4l2_format *fmt,
				   const struct cmabuf_alloc_desc *desc, struct cmabuf_buffer **out)
{
	struct cmabuf_alloc_desc d = {0};
	uint32_t width, height, v4l2, bpl, sizeimage, drm;
	char name[16];

	if (!cb || !fmt || !out)
		return -EINVAL;
	if (fmt->type == V4L2_BUF_TYPE_VIDEO_CAPTURE || fmt->type == V4L2_BUF_TYPE_VIDEO_OUTPUT) {
		width = fmt->fmt.pix.width;
		height = fmt->fmt.pix.height;
		v4l2 = fmt->fmt.pix.pixelformat;
		bpl = fmt->fmt.pix.bytesperline;
		sizeimage = fmt->fmt.pix.sizeimage;
	} else if (fmt->type == V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE ||
		   fmt->type == V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE) {
		if (fmt->fmt.pix_mp.num_planes != 1) {
			cmabuf_set_error(cb,
					 "V4L2 format with %u memory planes: a cmabuf image is one "
					 "buffer, use the single-buffer variant (NV12, not NV12M)",
					 fmt->fmt.pix_mp.num_planes);
			return -EINVAL;
		}
		width = fmt->fmt.pix_mp.width;
		height = fmt->fmt.pix_mp.height;
		v4l2 = fmt->fmt.pix_mp.pixelformat;
		bpl = fmt->fmt.pix_mp.plane_fmt[0].bytesperline;
		sizeimage = fmt->fmt.pix_mp.plane_fmt[0].sizeimage;
	} else {
		cmabuf_set_error(cb, "V4L2 buffer type %u is not a video capture or output type",
				 fmt->type);
		return -EINVAL;
	}
	drm = cmabuf_format_v4l2_to_drm(v4l2);
	if (!drm) {
		cmabuf_set_error(cb, "V4L2 pixel format %s has no counterpart in cmabuf's formats",
				 cmabuf_fourcc_str(v4l2, name, sizeof(name)));
		return -EINVAL;
	}
	if (desc)
		d = *desc;
	/* The driver's layout, exactly: its pitch, planes back to back, its size. */
	d.pitch = bpl;
	d.plane_align = 1;
	if (sizeimage > d.size)
		d.size = sizeimage;
	return cmabuf_alloc_image(cb, width, height, drm, DRM_FORMAT_MOD_LINEAR, &d, out);
}

EXPORT int cmabuf_v4l2_fill_buffer(const struct cmabuf_buffer *buf, uint32_t type, uint32_t index,
				   struct v4l2_buffer *vb, struct v4l2_plane *plane)
{
	const struct cmabuf_image *img;
	uint64_t size, used;

	if (!buf || !vb || (V4L2_TYPE_IS_MULTIPLANAR(type) && !plane))
		return -EINVAL;
	size = cmabuf_buffer_size(buf);
	img = cmabuf_buffer_image(buf);
	used = img->nplanes ? img->size : size;
	if (size > UINT32_MAX || used > size)
		return -EOVERFLOW; /* V4L2 lengths are 32 bits */
	memset(vb, 0, sizeof(*vb));
	vb->type = type;
	vb->memory = V4L2_MEMORY_DMABUF;
	vb->index = index;
	if (V4L2_TYPE_IS_MULTIPLANAR(type)) {
		memset(plane, 0, sizeof(*plane));
		plane->m.fd = cmabuf_buffer_fd(buf);
		plane->length = (uint32_t)size;
		if (V4L2_TYPE_IS_OUTPUT(type))
			plane->bytesused = (uint32_t)used;
		vb->m.planes = plane;
		vb->length = 1;
	} else {
		vb->m.fd = cmabuf_buffer_fd(buf);
		vb->length = (uint32_t)size;
		if (V4L2_TYPE_IS_OUTPUT(type))
			vb->bytesused = (uint32_t)used;
	}
	return 0;
}
