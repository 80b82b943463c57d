/* SPDX-License-Identifier: MIT */
/* Opening the policy file: the I/O half of the configuration (core/policy_config.c parses). */
#ifndef CMABUF_CONFIG_FILE_H
#define CMABUF_CONFIG_FILE_H

#include <stddef.h>
#include <stdint.h>

struct config;

/*
 * Reads the INI file at path (config_parse_stream() says what it checks).
 * -ENOENT when it does not exist ("PATH: cannot open: no such file"): the
 * caller decides whether that matters (the default path is optional, an
 * explicit --config is not); -EACCES, -EISDIR, -EIO, ... when it cannot be
 * read; -EINVAL for wrong content ("PATH:LINE: reason"); -ENOMEM. *out is
 * untouched on failure.
 */
int config_load(const char *path, uint64_t region_size, struct config *out, char *err,
		size_t errlen);

#endif
