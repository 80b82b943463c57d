/* SPDX-License-Identifier: MIT */
/*
 * The image formats libcmabuf lays out, and the layout computation: one
 * table, no per-format code. Pure functions (no connection, no I/O), so the
 * unit tests can call them directly. Not part of the public API.
 */
#ifndef CMABUF_FORMATS_H
#define CMABUF_FORMATS_H

#include <stddef.h>
#include <stdint.h>

#include "cmabuf.h"

/* A computed image layout; nplanes == 0 means "not an image". */
struct cmabuf_image {
	uint32_t fourcc;
	uint32_t width, height;
	uint64_t modifier;
	int nplanes;
	struct cmabuf_plane planes[CMABUF_MAX_PLANES];
	uint64_t size; /* bytes the planes need, or desc->size if that is larger */
};

/*
 * Lays out a width x height image of a DRM fourcc. On failure returns -EINVAL
 * and writes a reason a person can act on into why (which may be NULL); *out
 * is untouched.
 */
int cmabuf_image_compute(uint32_t width, uint32_t height, uint32_t fourcc, uint64_t modifier,
			 const struct cmabuf_alloc_desc *desc, struct cmabuf_image *out, char *why,
			 size_t why_len);

uint32_t cmabuf_format_drm_to_v4l2(uint32_t drm_fourcc);
uint32_t cmabuf_format_v4l2_to_drm(uint32_t v4l2_fourcc);

/* The i-th DRM fourcc in the table, 0 past the end (for tests and messages). */
uint32_t cmabuf_format_at(unsigned i);

/* "NV12", or "0x3231564e" when not printable; into buf (at least 16 bytes). */
const char *cmabuf_fourcc_str(uint32_t fourcc, char *buf, size_t len);

#endif
