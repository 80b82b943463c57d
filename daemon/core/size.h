/* SPDX-License-Identifier: MIT */
#ifndef CMABUF_SIZE_H
#define CMABUF_SIZE_H

#include <stdint.h>

/*
 * "256M", "1G", "4096", "64k", "0x1000", with an optional "i", "iB" or "B":
 * bytes, or -EINVAL. Shared by the command line and the policy file.
 */
int parse_size(const char *s, uint64_t *out);

#endif
