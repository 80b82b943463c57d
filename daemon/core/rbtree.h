/* SPDX-License-Identifier: MIT */
/*
 * Red-black trees from libbsd's <sys/tree.h>. Its RB_GENERATE_STATIC relies
 * on a BSD __unused that libbsd leaves undefined on Linux (the kernel headers
 * use that name for a struct member), so generate with an explicit attribute.
 */
#ifndef CMABUF_RBTREE_H
#define CMABUF_RBTREE_H

#include <bsd/sys/tree.h>

#define RB_GENERATE_LOCAL(name, type, field, cmp)                                                  \
	RB_GENERATE_INTERNAL(name, type, field, cmp, __attribute__((__unused__)) static)

#endif
