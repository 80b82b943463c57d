/* SPDX-License-Identifier: MIT */
/* Finding uio_cma regions with libudev, now or when they appear. */
#ifndef CMABUF_UIO_LOCATE_H
#define CMABUF_UIO_LOCATE_H

#include <stddef.h>
#include <stdint.h>

struct uio_region {
	char uio_name[32]; /* "uio0" */
	char ctl_path[64]; /* "/dev/uio_cma0" */
	uint64_t base;	   /* from /sys/class/uio/uioN/maps/map0/addr */
	uint64_t size;
};

/*
 * Finds the first uio_cma region: a UIO device named "uio_cma" and the
 * control device of the same region (matched by base and size through INFO).
 * Returns 0, -ENOENT if none exists, or another negative errno.
 */
int uio_locate(struct uio_region *out);

struct udev_monitor;
/* A monitor that wakes when UIO or misc devices appear; NULL on failure. */
struct udev_monitor *uio_monitor_new(void);
int uio_monitor_fd(struct udev_monitor *m);
void uio_monitor_drain(struct udev_monitor *m);
void uio_monitor_free(struct udev_monitor *m);

#endif
