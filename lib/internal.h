/* SPDX-License-Identifier: MIT */
/*
 * What the media parts of libcmabuf (image.c, v4l2.c, drm.c) need from
 * cmabuf.c, whose structures stay private to it. Not part of the public API.
 */
#ifndef CMABUF_INTERNAL_H
#define CMABUF_INTERNAL_H

#include "cmabuf.h"
#include "formats.h"

#define EXPORT __attribute__((visibility("default")))

/* The buffer's image layout (nplanes == 0 for a plain buffer). */
const struct cmabuf_image *cmabuf_buffer_image(const struct cmabuf_buffer *buf);
void cmabuf_buffer_set_image(struct cmabuf_buffer *buf, const struct cmabuf_image *img);

/* A failure found by the library itself, reported through cmabuf_last_error(). */
void cmabuf_set_error(struct cmabuf *cb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
