/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libudev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"
#include "uio_cma.h"
#include "uio_locate.h"

static int sysattr_u64(struct udev_device *dev, const char *attr, uint64_t *out)
{
	const char *v = udev_device_get_sysattr_value(dev, attr);
	char *end;

	if (!v)
		return -ENOENT;
	errno = 0;
	*out = strtoull(v, &end, 0);
	return errno || end == v ? -EINVAL : 0;
}

/* The first UIO device named uio_cma, with its map0. */
static int find_uio(struct udev *udev, struct uio_region *r)
{
	struct udev_enumerate *en = udev_enumerate_new(udev);
	struct udev_list_entry *e;
	int ret = -ENOENT;

	udev_enumerate_add_match_subsystem(en, "uio");
	udev_enumerate_add_match_sysattr(en, "name", UIO_CMA_UIO_NAME);
	udev_enumerate_scan_devices(en);
	udev_list_entry_foreach(e, udev_enumerate_get_list_entry(en))
	{
		struct udev_device *dev =
			udev_device_new_from_syspath(udev, udev_list_entry_get_name(e));

		if (dev && sysattr_u64(dev, "maps/map0/addr", &r->base) == 0 &&
		    sysattr_u64(dev, "maps/map0/size", &r->size) == 0) {
			snprintf(r->uio_name, sizeof(r->uio_name), "%s",
				 udev_device_get_sysname(dev));
			ret = 0;
		}
		udev_device_unref(dev);
		if (ret == 0)
			break;
	}
	udev_enumerate_unref(en);
	return ret;
}

/* Whether the control device at path describes the region r. */
static int ctl_matches(const char *path, const struct uio_region *r)
{
	struct uio_cma_info info;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK), ok;

	if (fd < 0)
		return errno == EBUSY ? -EBUSY : 0;
	ok = ioctl(fd, UIO_CMA_IOC_INFO, &info) == 0 && info.base == r->base &&
	     info.size == r->size;
	close(fd);
	return ok;
}

/* The misc control device of the same region: /dev/uio_cmaN. */
static int find_ctl(struct udev *udev, struct uio_region *r)
{
	struct udev_enumerate *en = udev_enumerate_new(udev);
	struct udev_list_entry *e;
	int ret = -ENOENT;

	udev_enumerate_add_match_subsystem(en, "misc");
	udev_enumerate_add_match_sysname(en, "uio_cma*");
	udev_enumerate_scan_devices(en);
	udev_list_entry_foreach(e, udev_enumerate_get_list_entry(en))
	{
		struct udev_device *dev =
			udev_device_new_from_syspath(udev, udev_list_entry_get_name(e));
		const char *node = dev ? udev_device_get_devnode(dev) : NULL;
		int m = node ? ctl_matches(node, r) : 0;

		if (m > 0)
			snprintf(r->ctl_path, sizeof(r->ctl_path), "%s", node);
		ret = m > 0 ? 0 : m < 0 ? m : ret;
		udev_device_unref(dev);
		if (ret == 0)
			break;
	}
	udev_enumerate_unref(en);
	return ret;
}

int uio_locate(struct uio_region *out)
{
	struct udev *udev = udev_new();
	struct uio_region r;
	int ret;

	if (!udev)
		return -ENOMEM;
	memset(&r, 0, sizeof(r));
	ret = find_uio(udev, &r);
	if (ret == 0) {
		ret = find_ctl(udev, &r);
		if (ret == -ENOENT)
			log_warn("%s is a uio_cma region but no matching /dev/uio_cma* control "
				 "device exists; is udev running?",
				 r.uio_name);
	}
	udev_unref(udev);
	if (ret == 0)
		*out = r;
	return ret;
}

/*
 * udevd's events come after its rules ran (the control device has its owner
 * and mode), so they are the ones to wait for when udevd runs. Boards with
 * busybox mdev, containers and the VM tests have no udevd, and nothing would
 * ever arrive: there the kernel's own uevents are the only ones, and devtmpfs
 * has made the nodes before it sends them.
 */
static const char *uevent_source(void)
{
	return access("/run/udev/control", F_OK) == 0 ? "udev" : "kernel";
}

struct udev_monitor *uio_monitor_new(void)
{
	struct udev *udev = udev_new();
	struct udev_monitor *m = udev ? udev_monitor_new_from_netlink(udev, uevent_source()) : NULL;

	udev_unref(udev); /* the monitor keeps its own reference */
	if (!m)
		return NULL;
	if (udev_monitor_filter_add_match_subsystem_devtype(m, "uio", NULL) < 0 ||
	    udev_monitor_filter_add_match_subsystem_devtype(m, "misc", NULL) < 0 ||
	    udev_monitor_enable_receiving(m) < 0) {
		udev_monitor_unref(m);
		return NULL;
	}
	return m;
}

int uio_monitor_fd(struct udev_monitor *m)
{
	return udev_monitor_get_fd(m);
}

void uio_monitor_drain(struct udev_monitor *m)
{
	struct udev_device *dev;

	while ((dev = udev_monitor_receive_device(m)))
		udev_device_unref(dev);
}

void uio_monitor_free(struct udev_monitor *m)
{
	if (m)
		udev_monitor_unref(m);
}
