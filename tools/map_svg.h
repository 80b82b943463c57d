/* SPDX-License-Identifier: MIT */
/*
 * cmabufctl map --svg: the region as a picture to attach to a bug report.
 * One <rect> per segment (buffer, free extent, range being zeroed), each with
 * a <title> naming it, so a viewer's tooltip says what is where.
 */
#ifndef CMABUF_MAP_SVG_H
#define CMABUF_MAP_SVG_H

#include "layout.h"

/* Writes the picture to path ("-": stdout). Returns 0 or a negative errno. */
int map_svg_write(const struct layout *l, const char *path);

#endif
