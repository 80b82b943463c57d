/* SPDX-License-Identifier: MIT */
/*
 * test_kmod: the uio_cma stub on a real kernel, no daemon. Run inside the
 * VM by tests/vm/vm-run (as root, uio_cma loaded over base=$CMABUF_VM_BASE
 * size=$CMABUF_VM_SIZE, vivid with allocators=1,0 and vgem loaded). Prints
 * one TAP line per check; exits 1 if any failed, 77 if there is no stub.
 *
 *   test_kmod [--device /dev/uio_cma0] [--no-rmmod] [--above-4g]
 *
 * --above-4g runs only the checks for a region above 4 GiB (vm-run --mem 3584
 * --region 0x10000000@0x100000000): attach refused to a 32-bit device.
 *
 * The rmmod check runs last and reloads the module from $CMABUF_VM_KO with
 * the same parameters, so that later programs in the guest find it again.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/klog.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/userfaultfd.h>
#include <linux/videodev2.h>
#include <xf86drm.h>

#include "ptewalk_client.h"
#include "tap.h"
#include "uio_cma.h"

#define KIB 1024ull
#define MIB (1024ull * 1024ull)

static int ctl = -1;
static struct uio_cma_info info;

/* Returns the dma-buf fd, or -errno. */
static int export_range(uint64_t offset, uint64_t size, uint64_t cookie, const char *name)
{
	struct uio_cma_export e = {.offset = offset, .size = size, .cookie = cookie};
	int fd;

	snprintf(e.name, sizeof(e.name), "%s", name);
	fd = ioctl(ctl, UIO_CMA_IOC_EXPORT, &e);
	return fd < 0 ? -errno : fd;
}

static int revoke_cookie(uint64_t cookie)
{
	struct uio_cma_revoke r = {.cookie = cookie};

	return ioctl(ctl, UIO_CMA_IOC_REVOKE, &r) < 0 ? -errno : 0;
}

static int clear_range(uint64_t offset, uint64_t size)
{
	struct uio_cma_clear c = {.offset = offset, .size = size};

	return ioctl(ctl, UIO_CMA_IOC_CLEAR, &c) < 0 ? -errno : 0;
}

/* Waits up to timeout_ms for one event; 1 if read, 0 if none, -errno. */
static int next_event(struct uio_cma_event *ev, int timeout_ms)
{
	struct pollfd p = {.fd = ctl, .events = POLLIN};
	ssize_t n;
	int ret;

	ret = poll(&p, 1, timeout_ms);
	if (ret <= 0)
		return ret < 0 ? -errno : 0;
	n = read(ctl, ev, sizeof(*ev));
	if (n < 0)
		return -errno;
	return n == sizeof(*ev) ? 1 : -EIO;
}

static bool expect_released(uint64_t cookie, uint64_t offset, uint64_t size, uint32_t flags)
{
	struct uio_cma_event ev;
	int ret = next_event(&ev, 2000);

	if (ret != 1) {
		diag("no event: %d", ret);
		return false;
	}
	if (ev.type != UIO_CMA_EVENT_RELEASED || ev.cookie != cookie || ev.offset != offset ||
	    ev.size != size || ev.flags != flags) {
		diag("event type %u flags %u cookie %" PRIu64 " offset %#" PRIx64 " size %#" PRIx64,
		     ev.type, ev.flags, (uint64_t)ev.cookie, (uint64_t)ev.offset,
		     (uint64_t)ev.size);
		return false;
	}
	return true;
}

static bool no_event(void)
{
	struct uio_cma_event ev;

	return next_event(&ev, 100) == 0;
}

static void *map_buf(int fd, size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

static bool all_bytes(const volatile uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

/* Runs fn(arg) in a child; returns its wait status. */
static int in_child(int (*fn)(void *), void *arg)
{
	int status;
	pid_t pid = fork();

	if (pid == 0)
		_exit(fn(arg));
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

#if defined(__x86_64__)
/* Every PAT entry overlapping the region must be write-combining. */
static int pat_check(int *entries)
{
	FILE *f = fopen("/sys/kernel/debug/x86/pat_memtype_list", "re");
	uint64_t lo, hi, end = info.base + info.size;
	char line[256], type[64];
	int bad = 0;

	*entries = 0;
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "PAT: [mem %" SCNx64 "-%" SCNx64 "] %63s", &lo, &hi, type) != 3)
			continue;
		if (hi <= info.base || lo >= end)
			continue;
		(*entries)++;
		if (strcmp(type, "write-combining") != 0) {
			diag("PAT: %s", line);
			bad++;
		}
	}
	fclose(f);
	return bad;
}

/* x86: PAT's own bookkeeping says what every mapping of the region is. */
static void mapping_check(const char *what, const volatile void *p, uint64_t pa)
{
	int entries, ret = pat_check(&entries);

	(void)p; /* PAT covers every mapping of the range at once */
	(void)pa;
	check(ret == 0 && entries > 0,
	      "%s: pat_memtype_list has %d entries in the region, all write-combining", what,
	      entries);
}
#elif defined(__aarch64__)
/*
 * arm64 has no PAT list: the page-table entry of this mapping itself, read by
 * tests/vm/ptewalk, must say Normal-NC at the right physical address.
 */
static void mapping_check(const char *what, const volatile void *p, uint64_t pa)
{
	char type[32], why[256];
	int ret = ptewalk_load();

	if (!check(ret == 0, "%s: ptewalk loaded (%s)", what, strerror(-ret)))
		return;
	ret = ptewalk_user_type(p, pa, type, sizeof(type), why, sizeof(why));
	diag("%s: %s", what, why);
	check(ret == 0 && strcmp(type, "Normal-NC") == 0,
	      "%s: its pte maps %#" PRIx64 " as Normal-NC (%s)", what, pa, type);
}
#else
#error "test_kmod: no evidence of mapping attributes for this architecture"
#endif

static bool fdinfo_has_name(int fd, const char *name)
{
	char path[64], line[256], want[128];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	snprintf(want, sizeof(want), "name:\t%s\n", name);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (strcmp(line, want) == 0)
			found = true;
	fclose(f);
	return found;
}

/* ---- the checks ---- */

static void test_info(void)
{
	const char *b = getenv("CMABUF_VM_BASE"), *s = getenv("CMABUF_VM_SIZE");
	int fd2;

	check(ioctl(ctl, UIO_CMA_IOC_INFO, &info) == 0, "INFO");
	check(info.abi_version == UIO_CMA_ABI_VERSION, "INFO abi_version %u", info.abi_version);
	check(info.page_size == (uint32_t)sysconf(_SC_PAGESIZE), "INFO page_size %u",
	      info.page_size);
	if (b && s)
		check(info.base == strtoull(b, NULL, 0) && info.size == strtoull(s, NULL, 0),
		      "INFO base %#" PRIx64 " size %#" PRIx64 " match the module parameters",
		      (uint64_t)info.base, (uint64_t)info.size);
	check(info.live == 0, "no live exports at start");
	fd2 = open("/dev/uio_cma0", O_RDWR | O_CLOEXEC);
	check(fd2 < 0 && errno == EBUSY, "a second opener of the control device gets EBUSY");
	if (fd2 >= 0)
		close(fd2);
}

static void test_export_refusals(void)
{
	struct uio_cma_export e = {.offset = 0, .size = 4096, .cookie = 99};
	uint64_t sz = info.size;
	int a;

	a = export_range(0, 1 * MIB, 1, "test-a");
	if (!check(a >= 0, "EXPORT [0, 1M) returns a dma-buf fd (%d)", a))
		return;
	check(fcntl(a, F_GETFD) == FD_CLOEXEC, "the fd is close-on-exec");
	check((fcntl(a, F_GETFL) & O_ACCMODE) == O_RDWR, "the fd is O_RDWR");
	check(fdinfo_has_name(a, "test-a"), "the name shows in /proc/self/fdinfo");

	check(export_range(512 * KIB, 1 * MIB, 2, "x") == -EBUSY, "overlapping EXPORT: EBUSY");
	check(export_range(0, 4096, 3, "x") == -EBUSY, "EXPORT inside a live one: EBUSY");
	check(export_range(1 * MIB - 4096, 8192, 4, "x") == -EBUSY, "EXPORT across the end: EBUSY");
	check(export_range(4 * MIB, 4096, 1, "x") == -EEXIST, "duplicate cookie: EEXIST");
	check(export_range(sz - 4096, 8192, 5, "x") == -EINVAL, "EXPORT past the end: EINVAL");
	check(export_range(sz, 4096, 5, "x") == -EINVAL, "EXPORT at the end: EINVAL");
	check(export_range(UINT64_MAX - 4095, 8192, 5, "x") == -EINVAL, "EXPORT wrapping: EINVAL");
	check(export_range(2 * MIB + 100, 4096, 5, "x") == -EINVAL, "unaligned offset: EINVAL");
	check(export_range(2 * MIB, 4000, 5, "x") == -EINVAL, "unaligned size: EINVAL");
	check(export_range(2 * MIB, 0, 5, "x") == -EINVAL, "empty EXPORT: EINVAL");
	e.offset = 2 * MIB;
	e.flags = 1;
	check(ioctl(ctl, UIO_CMA_IOC_EXPORT, &e) < 0 && errno == EINVAL, "unknown flags: EINVAL");
	e.flags = 0;
	memset(e.name, 'n', sizeof(e.name));
	check(ioctl(ctl, UIO_CMA_IOC_EXPORT, &e) < 0 && errno == EINVAL,
	      "name without NUL: EINVAL");
	check(no_event(), "refused EXPORTs queue no event");

	close(a);
	check(expect_released(1, 0, 1 * MIB, 0), "close: RELEASED with the cookie");
	check(export_range(0, 1 * MIB, 1, "again") == -EACCES,
	      "the released range is dirty: EXPORT before CLEAR gets EACCES");
	check(clear_range(0, 1 * MIB) == 0, "CLEAR it");
	a = export_range(0, 1 * MIB, 1, "again");
	check(a >= 0, "the released range can be exported again");
	close(a);
	check(expect_released(1, 0, 1 * MIB, 0), "and released again");
}

static int child_rw(void *arg)
{
	volatile uint32_t *p = arg;

	if (p[0] != 0xc0ffee00u || p[1023] != 0xc0ffee00u + 1023)
		return 1;
	p[1] = 0xfeedbeefu;
	return 0;
}

static int child_touch(void *arg)
{
	volatile uint8_t *p = arg;

	return p[0] == 0x5a ? 0 : 1; /* a revoked mapping dies here */
}

static void test_mmap(void)
{
	const size_t size = 2 * MIB;
	volatile uint32_t *m1, *m2;
	int fd, uio;
	bool same = true;
	void *p;

	fd = export_range(4 * MIB, size, 10, "test-mmap");
	if (!check(fd >= 0, "EXPORT [4M, 6M)"))
		return;
	m1 = map_buf(fd, size);
	m2 = map_buf(fd, size);
	if (!check(m1 && m2, "two shared mmaps")) {
		close(fd);
		return;
	}
	for (uint32_t i = 0; i < size / 4; i++)
		m1[i] = 0xc0ffee00u + i;
	for (uint32_t i = 0; i < size / 4; i++)
		same = same && m2[i] == 0xc0ffee00u + i;
	check(same, "bytes written through one mapping are read through the other");
	check(in_child(child_rw, (void *)m1) == 0, "a forked child reads them too");
	check(m2[1] == 0xfeedbeefu, "and the child's write is seen by the parent");

	mapping_check("dma-buf mmap", m1, info.base + 4 * MIB);
	mapping_check("dma-buf mmap (second)", m2 + size / 8, info.base + 4 * MIB + size / 2);

	/*
	 * UIO's map0 is the same memory, mapped by the stub's hook with the same
	 * attributes (x86: its UC- request resolves to WC, no PAT conflict).
	 */
	uio = open("/dev/uio0", O_RDWR | O_CLOEXEC);
	p = uio < 0 ? MAP_FAILED : mmap(NULL, 8 * MIB, PROT_READ, MAP_SHARED, uio, 0);
	if (check(p != MAP_FAILED, "mmap of /dev/uio0 map0")) {
		volatile uint32_t *u = p;

		check(u[(4 * MIB) / 4] == 0xc0ffee00u && u[(4 * MIB) / 4 + 1] == 0xfeedbeefu,
		      "map0 sees the buffer's bytes at its offset");
		mapping_check("map0 mmap", u + (4 * MIB) / 4, info.base + 4 * MIB);
		munmap(p, 8 * MIB);
	}
	if (uio >= 0)
		close(uio);

	p = mmap(NULL, size + 4096, PROT_READ, MAP_SHARED, fd, 0);
	check(p == MAP_FAILED, "mmap larger than the buffer is refused");
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	check(p == MAP_FAILED, "MAP_PRIVATE is refused");
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, (off_t)(size - 4096));
	if (check(p != MAP_FAILED, "mmap of the last page at an offset")) {
		check(((volatile uint32_t *)p)[0] == 0xc0ffee00u + (size - 4096) / 4,
		      "the offset mapping sees the right page");
		munmap(p, 4096);
	}

	close(fd);
	check(no_event(), "no RELEASED while mappings hold the buffer");
	munmap((void *)m1, size);
	check(no_event(), "nor with one mapping left");
	munmap((void *)m2, size);
	check(expect_released(10, 4 * MIB, size, 0), "RELEASED after the last munmap");
}

static void test_list_clear(void)
{
	struct uio_cma_list_entry ent[4];
	struct uio_cma_list l = {.entries = (uintptr_t)ent, .capacity = 4};
	volatile uint8_t *m;
	int a, b, ret;

	b = export_range(16 * MIB, 64 * KIB, 21, "list-b");
	a = export_range(8 * MIB, 4 * MIB, 20, "list-a");
	if (!check(a >= 0 && b >= 0, "two exports for LIST"))
		goto out;
	struct uio_cma_list count_only = {0};
	ret = ioctl(ctl, UIO_CMA_IOC_LIST, &count_only);
	check(ret == 2 && count_only.count == 2, "LIST with capacity 0 counts 2 (%d)", ret);
	ret = ioctl(ctl, UIO_CMA_IOC_LIST, &l);
	check(ret == 2 && ent[0].cookie == 20 && ent[0].offset == 8 * MIB &&
		      ent[0].size == 4 * MIB && ent[1].cookie == 21 && ent[1].offset == 16 * MIB &&
		      ent[1].size == 64 * KIB,
	      "LIST returns both, in address order, with cookies");
	l.capacity = 1;
	memset(ent, 0, sizeof(ent));
	ret = ioctl(ctl, UIO_CMA_IOC_LIST, &l);
	check(ret == 2 && ent[0].cookie == 20 && ent[1].cookie == 0,
	      "LIST with capacity 1 copies one and still counts 2");

	check(clear_range(8 * MIB, 4096) == -EBUSY, "CLEAR of a live export: EBUSY");
	check(clear_range(12 * MIB - 4096, 8192) == -EBUSY, "CLEAR overlapping one: EBUSY");
	check(clear_range(1, 4096) == -EINVAL, "unaligned CLEAR: EINVAL");

	m = map_buf(a, 4 * MIB);
	if (m) {
		memset((void *)m, 0xa5, 4 * MIB);
		munmap((void *)m, 4 * MIB);
	}
	close(a);
	check(expect_released(20, 8 * MIB, 4 * MIB, 0), "RELEASED for list-a");
	check(clear_range(8 * MIB, 4 * MIB) == 0, "CLEAR of the released range");
	a = export_range(8 * MIB, 4 * MIB, 22, "list-a2");
	m = a >= 0 ? map_buf(a, 4 * MIB) : NULL;
	if (check(m != NULL, "re-export and map it")) {
		check(all_bytes(m, 4 * MIB, 0), "CLEAR zeroed it");
		munmap((void *)m, 4 * MIB);
	}
	if (a >= 0) {
		close(a);
		expect_released(22, 8 * MIB, 4 * MIB, 0);
	}
out:
	if (b >= 0) {
		close(b);
		check(expect_released(21, 16 * MIB, 64 * KIB, 0), "RELEASED for list-b");
	}
}

static void test_revoke(void)
{
	volatile uint8_t *m;
	int fd, fd2, status;
	void *p;

	fd = export_range(32 * MIB, 1 * MIB, 30, "revoke");
	m = fd >= 0 ? map_buf(fd, 1 * MIB) : NULL;
	if (!check(m != NULL, "export and map a buffer to revoke"))
		return;
	m[0] = 0x5a;
	check(in_child(child_touch, (void *)m) == 0, "a child reads it before REVOKE");
	check(revoke_cookie(31) == -ENOENT, "REVOKE of an unknown cookie: ENOENT");
	check(revoke_cookie(30) == 0, "REVOKE");
	check(expect_released(30, 32 * MIB, 1 * MIB, UIO_CMA_EVENT_REVOKED),
	      "RELEASED (REVOKED) queued at once");
	status = in_child(child_touch, (void *)m);
	check(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS,
	      "the holder's next access gets SIGBUS (status %#x)", status);
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	check(p == MAP_FAILED, "a new mmap of a revoked buffer fails");
	check(revoke_cookie(30) == -ENOENT, "REVOKE twice: ENOENT");
	check(export_range(32 * MIB, 1 * MIB, 32, "reuse") == -EACCES,
	      "the revoked range is dirty: EXPORT before CLEAR gets EACCES");
	check(clear_range(32 * MIB, 1 * MIB) == 0, "CLEAR of the revoked range at once");
	fd2 = export_range(32 * MIB, 1 * MIB, 32, "reuse");
	check(fd2 >= 0, "the revoked range can be exported again at once");
	munmap((void *)m, 1 * MIB);
	close(fd);
	check(no_event(), "closing the revoked buffer queues nothing more");
	if (fd2 >= 0) {
		close(fd2);
		expect_released(32, 32 * MIB, 1 * MIB, 0);
	}
}

/* ---- real importers ---- */

static int find_vivid(const char *bus_info)
{
	char path[32];

	for (int i = 0; i < 16; i++) {
		struct v4l2_capability cap;
		int fd;

		snprintf(path, sizeof(path), "/dev/video%d", i);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (ioctl(fd, VIDIOC_QUERYCAP, &cap) == 0 &&
		    strcmp((const char *)cap.bus_info, bus_info) == 0 &&
		    (cap.device_caps & V4L2_CAP_VIDEO_CAPTURE))
			return fd;
		close(fd);
	}
	return -1;
}

static void test_vivid(const char *bus_info, uint64_t offset, uint64_t cookie)
{
	struct v4l2_format fmt = {.type = V4L2_BUF_TYPE_VIDEO_CAPTURE};
	struct v4l2_requestbuffers req = {
		.count = 1, .type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .memory = V4L2_MEMORY_DMABUF};
	struct v4l2_buffer buf = {.type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
				  .memory = V4L2_MEMORY_DMABUF};
	enum v4l2_buf_type type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	struct pollfd pfd;
	volatile uint8_t *m = NULL;
	uint64_t size;
	int vfd, fd = -1, ret;

	vfd = find_vivid(bus_info);
	if (!check(vfd >= 0, "%s: vivid capture node found", bus_info))
		return;
	fmt.fmt.pix.width = 640;
	fmt.fmt.pix.height = 360;
	fmt.fmt.pix.pixelformat = V4L2_PIX_FMT_YUYV;
	fmt.fmt.pix.field = V4L2_FIELD_NONE;
	ret = ioctl(vfd, VIDIOC_S_FMT, &fmt);
	if (!check(ret == 0 && fmt.fmt.pix.width == 640 &&
			   fmt.fmt.pix.pixelformat == V4L2_PIX_FMT_YUYV,
		   "%s: S_FMT 640x360 YUYV (sizeimage %u)", bus_info, fmt.fmt.pix.sizeimage))
		goto out;
	size = (fmt.fmt.pix.sizeimage + info.page_size - 1) & ~(uint64_t)(info.page_size - 1);
	check(clear_range(offset, size) == 0, "%s: CLEAR the range first", bus_info);
	fd = export_range(offset, size, cookie, "vivid");
	if (!check(fd >= 0, "%s: EXPORT %" PRIu64 " bytes", bus_info, size))
		goto out;
	if (!check(ioctl(vfd, VIDIOC_REQBUFS, &req) == 0 && req.count >= 1,
		   "%s: REQBUFS V4L2_MEMORY_DMABUF", bus_info))
		goto out;
	buf.index = 0;
	buf.m.fd = fd;
	buf.length = (uint32_t)size;
	ret = ioctl(vfd, VIDIOC_QBUF, &buf) == 0 ? 0 : -errno;
	if (!check(ret == 0, "%s: QBUF the dma-buf (%s)", bus_info, strerror(-ret)))
		goto release;
	check(revoke_cookie(cookie) == -EBUSY, "%s: REVOKE of an attached buffer: EBUSY", bus_info);
	if (!check(ioctl(vfd, VIDIOC_STREAMON, &type) == 0, "%s: STREAMON", bus_info))
		goto release;
	pfd = (struct pollfd){.fd = vfd, .events = POLLIN};
	memset(&buf, 0, sizeof(buf));
	buf.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	buf.memory = V4L2_MEMORY_DMABUF;
	ret = poll(&pfd, 1, 10000) == 1 && ioctl(vfd, VIDIOC_DQBUF, &buf) == 0;
	if (check(ret, "%s: DQBUF a captured frame (%u bytes)", bus_info, buf.bytesused)) {
		m = map_buf(fd, size);
		check(m && !all_bytes(m, fmt.fmt.pix.sizeimage, 0),
		      "%s: the frame read through the CPU mapping is not all zero", bus_info);
		if (m)
			munmap((void *)m, size);
	}
	ioctl(vfd, VIDIOC_STREAMOFF, &type);
release:
	req.count = 0;
	ioctl(vfd, VIDIOC_REQBUFS, &req);
out:
	close(vfd);
	if (fd >= 0) {
		close(fd);
		check(expect_released(cookie, offset, size, 0), "%s: RELEASED after vivid let go",
		      bus_info);
	}
}

static int find_vgem(void)
{
	char path[32];

	for (int i = 0; i < 8; i++) {
		drmVersionPtr v;
		int fd;

		snprintf(path, sizeof(path), "/dev/dri/card%d", i);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		v = drmGetVersion(fd);
		if (v && strcmp(v->name, "vgem") == 0) {
			drmFreeVersion(v);
			return fd;
		}
		drmFreeVersion(v);
		close(fd);
	}
	return -1;
}

static void test_vgem(void)
{
	uint32_t handle = 0;
	int dfd, fd, ret;

	dfd = find_vgem();
	if (!check(dfd >= 0, "vgem: DRM node found"))
		return;
	fd = export_range(64 * MIB, 1 * MIB, 40, "vgem");
	if (check(fd >= 0, "vgem: EXPORT")) {
		ret = drmPrimeFDToHandle(dfd, fd, &handle);
		check(ret == 0 && handle != 0, "vgem: drmPrimeFDToHandle imports it (%d)", ret);
		check(revoke_cookie(40) == -EBUSY, "vgem: REVOKE of an imported buffer: EBUSY");
		close(fd);
		check(no_event(), "vgem: no RELEASED while vgem holds the buffer");
		if (handle)
			drmCloseBufferHandle(dfd, handle);
	}
	close(dfd);
	if (fd >= 0)
		check(expect_released(40, 64 * MIB, 1 * MIB, 0),
		      "vgem: RELEASED after the handle closed");
}

/* ---- the review findings of issue 15 ---- */

/* Fresh from probe every page is dirty: nothing is exported before a CLEAR. */
static void test_dirty_at_probe(void)
{
	int fd;

	fd = export_range(0, 4096, 1, "dirty");
	check(fd == -EACCES, "EXPORT before any CLEAR: EACCES (never-cleared memory) (%d)", fd);
	if (fd >= 0)
		close(fd);
	check(clear_range(0, 1 * MIB) == 0, "CLEAR [0, 1M)");
	fd = export_range(0, 2 * MIB, 1, "half");
	check(fd == -EACCES, "EXPORT [0, 2M) with [1M, 2M) never cleared: EACCES (%d)", fd);
	if (fd >= 0)
		close(fd);
	fd = export_range(0, 1 * MIB, 1, "clean");
	check(fd >= 0, "EXPORT of the cleared part works");
	if (fd >= 0) {
		close(fd);
		expect_released(1, 0, 1 * MIB, 0);
	}
	check(clear_range(0, info.size) == 0, "CLEAR of the whole region");
}

/* State changes need the control device open for writing. */
static void test_readonly_open(const char *dev)
{
	struct uio_cma_list l = {0};
	struct uio_cma_info in;
	int ro;

	close(ctl);
	ro = open(dev, O_RDONLY | O_CLOEXEC);
	if (check(ro >= 0, "the control device opens O_RDONLY")) {
		ctl = ro;
		check(export_range(2 * MIB, 4096, 7, "ro") == -EBADF,
		      "O_RDONLY: EXPORT gets EBADF");
		check(revoke_cookie(7) == -EBADF, "O_RDONLY: REVOKE gets EBADF");
		check(clear_range(2 * MIB, 4096) == -EBADF, "O_RDONLY: CLEAR gets EBADF");
		check(ioctl(ro, UIO_CMA_IOC_INFO, &in) == 0 && ioctl(ro, UIO_CMA_IOC_LIST, &l) == 0,
		      "O_RDONLY: INFO and LIST work");
		close(ro);
	}
	ctl = open(dev, O_RDWR | O_CLOEXEC);
}

/* ABI 1's shorter REVOKE, LIST and CLEAR structs are still served; flags are checked. */
struct v1_list {
	uint64_t entries;
	uint32_t capacity, count;
};
struct v1_clear {
	uint64_t offset, size;
};

static void test_abi(void)
{
	struct uio_cma_revoke rv = {.cookie = 12345, .flags = 1};
	struct uio_cma_clear cl = {.offset = 0, .size = 4096, .flags = 1};
	struct uio_cma_list li = {.flags = 1};
	struct v1_list l1 = {0};
	struct v1_clear c1 = {.offset = 0, .size = 4096};
	uint64_t cookie = 12345;
	int fd;

	check(ioctl(ctl, UIO_CMA_IOC_REVOKE, &rv) < 0 && errno == EINVAL,
	      "REVOKE with unknown flags: EINVAL");
	check(ioctl(ctl, UIO_CMA_IOC_CLEAR, &cl) < 0 && errno == EINVAL,
	      "CLEAR with unknown flags: EINVAL");
	check(ioctl(ctl, UIO_CMA_IOC_LIST, &li) < 0 && errno == EINVAL,
	      "LIST with unknown flags: EINVAL");
	check(ioctl(ctl, _IOW(UIO_CMA_IOC_MAGIC, 2, uint64_t), &cookie) < 0 && errno == ENOENT,
	      "ABI 1 REVOKE (8 bytes) is served: ENOENT for an unknown cookie");
	check(ioctl(ctl, _IOW(UIO_CMA_IOC_MAGIC, 4, struct v1_clear), &c1) == 0,
	      "ABI 1 CLEAR (16 bytes) is served");
	fd = export_range(0, 4096, 3, "abi1");
	check(ioctl(ctl, _IOWR(UIO_CMA_IOC_MAGIC, 3, struct v1_list), &l1) == 1 && l1.count == 1,
	      "ABI 1 LIST (16 bytes) is served and counts 1");
	check(ioctl(ctl, _IOW(UIO_CMA_IOC_MAGIC, 2, uint32_t), &cookie) < 0 && errno == ENOTTY,
	      "a REVOKE struct shorter than ABI 1's: ENOTTY");
	if (fd >= 0) {
		close(fd);
		expect_released(3, 0, 4096, 0);
		clear_range(0, 4096);
	}
}

/* One fault maps the whole buffer (was one per page: 2,048 for 8 MiB). */
static void test_prefault(void)
{
	const size_t size = 8 * MIB, page = info.page_size;
	struct rusage before, after;
	volatile uint8_t *m;
	unsigned sum = 0;
	long faults;
	int fd;

	fd = export_range(40 * MIB, size, 70, "prefault");
	m = fd >= 0 ? map_buf(fd, size) : NULL;
	if (!check(m != NULL, "export and map an 8 MiB buffer"))
		goto out;
	getrusage(RUSAGE_SELF, &before);
	for (size_t off = 0; off < size; off += page)
		sum += m[off];
	getrusage(RUSAGE_SELF, &after);
	faults = after.ru_minflt - before.ru_minflt;
	diag("touching %zu pages of one mapping took %ld faults", size / page, faults);
	check(sum == 0 && faults <= 16,
	      "the first fault maps the whole 8 MiB buffer (%ld faults for %zu pages)", faults,
	      size / page);
	munmap((void *)m, size);
out:
	if (fd >= 0) {
		close(fd);
		expect_released(70, 40 * MIB, size, 0);
		clear_range(40 * MIB, size);
	}
}

/*
 * read() copies events without the region lock: a reader parked in a page
 * fault (userfaultfd) must not hold up the release of another buffer.
 */
struct parked_read {
	void *page;
	ssize_t n;
};

static void *reader(void *arg)
{
	struct parked_read *pr = arg;

	pr->n = read(ctl, pr->page, sizeof(struct uio_cma_event));
	return NULL;
}

struct closer {
	int fd, pipe_w;
};

static void *closer(void *arg)
{
	struct closer *c = arg;

	close(c->fd); /* the last reference: release() runs before this returns */
	if (write(c->pipe_w, "x", 1) != 1)
		return NULL;
	return NULL;
}

static void test_read_unlocked(void)
{
	struct uffdio_api api = {.api = UFFD_API};
	struct uio_cma_event *ev;
	struct parked_read pr = {0};
	struct uffd_msg msg;
	struct pollfd p;
	pthread_t rt, ct;
	struct closer c;
	int uffd, a, b, pfd[2] = {-1, -1};
	bool closed_while_parked;
	char x;

	uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (!check(uffd >= 0 && ioctl(uffd, UFFDIO_API, &api) == 0 && pipe(pfd) == 0,
		   "userfaultfd for a reader parked in a fault"))
		return;
	pr.page = mmap(NULL, info.page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	struct uffdio_register reg = {.range = {.start = (uintptr_t)pr.page, .len = info.page_size},
				      .mode = UFFDIO_REGISTER_MODE_MISSING};
	check(pr.page != MAP_FAILED && ioctl(uffd, UFFDIO_REGISTER, &reg) == 0,
	      "register a page with userfaultfd");

	a = export_range(48 * MIB, 64 * KIB, 80, "event-a");
	b = export_range(49 * MIB, 64 * KIB, 81, "event-b");
	if (!check(a >= 0 && b >= 0, "two exports"))
		goto out;
	close(a); /* queues A's RELEASED */
	pthread_create(&rt, NULL, reader, &pr);
	p = (struct pollfd){.fd = uffd, .events = POLLIN};
	check(poll(&p, 1, 5000) == 1 && read(uffd, &msg, sizeof(msg)) == sizeof(msg) &&
		      msg.event == UFFD_EVENT_PAGEFAULT,
	      "read() of the control device is parked in a fault on its buffer");

	/* Closing B needs the region lock: it must not wait for the parked copy. */
	c = (struct closer){.fd = b, .pipe_w = pfd[1]};
	b = -1;
	pthread_create(&ct, NULL, closer, &c);
	p = (struct pollfd){.fd = pfd[0], .events = POLLIN};
	closed_while_parked = poll(&p, 1, 3000) == 1;
	check(closed_while_parked, "the last close of another buffer finishes meanwhile");

	struct uffdio_zeropage zp = {.range = {.start = (uintptr_t)pr.page, .len = info.page_size}};
	ioctl(uffd, UFFDIO_ZEROPAGE, &zp);
	pthread_join(rt, NULL);
	pthread_join(ct, NULL);
	if (read(pfd[0], &x, 1) != 1 && closed_while_parked)
		diag("closer wrote nothing");
	ev = pr.page;
	check(pr.n == sizeof(*ev) && ev->cookie == 80, "the parked read() returns A's event");
	check(expect_released(81, 49 * MIB, 64 * KIB, 0), "then B's RELEASED is read");
out:
	if (a >= 0 && b >= 0)
		close(b);
	clear_range(48 * MIB, 2 * MIB);
	if (pr.page != MAP_FAILED)
		munmap(pr.page, info.page_size);
	close(uffd);
	close(pfd[0]);
	close(pfd[1]);
}

/* A failed copy leaves the event queued for the next read(). */
static void test_read_efault(void)
{
	struct uio_cma_event *bad;
	int fd;

	bad = mmap(NULL, info.page_size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	fd = export_range(50 * MIB, 64 * KIB, 82, "efault");
	if (!check(fd >= 0 && bad != MAP_FAILED, "export for the EFAULT read"))
		return;
	close(fd);
	check(read(ctl, bad, sizeof(*bad)) < 0 && errno == EFAULT,
	      "read() into read-only memory: EFAULT");
	check(expect_released(82, 50 * MIB, 64 * KIB, 0),
	      "the event is still there for the next read()");
	clear_range(50 * MIB, 64 * KIB);
	munmap(bad, info.page_size);
}

/*
 * vmap never fails once an export exists: a vb2-vmalloc importer (vivid
 * allocators=0) given a revoked buffer captures into a scratch page, not the
 * range and not a WARNING (the harness fails on one in dmesg).
 */
static void test_vmap_revoked(uint64_t offset, uint64_t cookie)
{
	struct v4l2_format fmt = {.type = V4L2_BUF_TYPE_VIDEO_CAPTURE};
	struct v4l2_requestbuffers req = {
		.count = 1, .type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .memory = V4L2_MEMORY_DMABUF};
	struct v4l2_buffer buf = {.type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
				  .memory = V4L2_MEMORY_DMABUF};
	enum v4l2_buf_type type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	struct pollfd pfd;
	uint64_t size = 0;
	int vfd, fd = -1, uio, ret;
	void *p;

	vfd = find_vivid("platform:vivid-001");
	if (!check(vfd >= 0, "vivid-001 (vmalloc) found"))
		return;
	fmt.fmt.pix.width = 640;
	fmt.fmt.pix.height = 360;
	fmt.fmt.pix.pixelformat = V4L2_PIX_FMT_YUYV;
	fmt.fmt.pix.field = V4L2_FIELD_NONE;
	if (!check(ioctl(vfd, VIDIOC_S_FMT, &fmt) == 0, "vivid-001: S_FMT"))
		goto out;
	size = (fmt.fmt.pix.sizeimage + info.page_size - 1) & ~(uint64_t)(info.page_size - 1);
	clear_range(offset, size);
	fd = export_range(offset, size, cookie, "revoked-vmap");
	if (!check(fd >= 0 && revoke_cookie(cookie) == 0, "export a buffer and REVOKE it"))
		goto out;
	expect_released(cookie, offset, size, UIO_CMA_EVENT_REVOKED);
	if (!check(ioctl(vfd, VIDIOC_REQBUFS, &req) == 0, "vivid-001: REQBUFS DMABUF"))
		goto out;
	buf.index = 0;
	buf.m.fd = fd;
	buf.length = (uint32_t)size;
	ret = ioctl(vfd, VIDIOC_QBUF, &buf) == 0 ? 0 : -errno;
	if (!check(ret == 0, "vivid-001: QBUF of the revoked buffer works: vmap did not fail (%s)",
		   strerror(-ret)))
		goto release;
	if (check(ioctl(vfd, VIDIOC_STREAMON, &type) == 0, "vivid-001: STREAMON")) {
		pfd = (struct pollfd){.fd = vfd, .events = POLLIN};
		memset(&buf, 0, sizeof(buf));
		buf.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
		buf.memory = V4L2_MEMORY_DMABUF;
		check(poll(&pfd, 1, 10000) == 1 && ioctl(vfd, VIDIOC_DQBUF, &buf) == 0,
		      "vivid-001: a frame is captured into it");
		ioctl(vfd, VIDIOC_STREAMOFF, &type);
	}
	uio = open("/dev/uio0", O_RDONLY | O_CLOEXEC);
	p = uio < 0 ? MAP_FAILED : mmap(NULL, offset + size, PROT_READ, MAP_SHARED, uio, 0);
	if (check(p != MAP_FAILED, "map0 mapped"))
		check(all_bytes((uint8_t *)p + offset, size, 0),
		      "the range stayed zero: the frame went to the scratch page");
	if (p != MAP_FAILED)
		munmap(p, offset + size);
	if (uio >= 0)
		close(uio);
release:
	req.count = 0;
	ioctl(vfd, VIDIOC_REQBUFS, &req);
out:
	close(vfd);
	if (fd >= 0)
		close(fd);
	check(no_event(), "closing the revoked buffer queues nothing more");
	if (size)
		clear_range(offset, size);
}

/*
 * REVOKE racing the last close: REVOKE pins the dma-buf's file before it
 * zaps its mapping. Without KASAN (Debian's kernels have none) a use after
 * free rarely shows; this only checks that the race ends in one event each.
 */
struct race {
	int fd;
};

static void *race_close(void *arg)
{
	close(((struct race *)arg)->fd);
	return NULL;
}

static void test_revoke_close_race(void)
{
	int events = 0, revoked = 0, rounds = 200;
	struct uio_cma_event ev;

	for (int i = 0; i < rounds; i++) {
		struct race r = {.fd = export_range(52 * MIB, 64 * KIB, 90 + i, "race")};
		pthread_t t;

		if (r.fd < 0)
			break;
		pthread_create(&t, NULL, race_close, &r);
		if (revoke_cookie(90 + i) == 0)
			revoked++;
		pthread_join(t, NULL);
		while (next_event(&ev, 0) == 1)
			events++;
		clear_range(52 * MIB, 64 * KIB);
	}
	check(events == rounds,
	      "REVOKE racing the last close: one RELEASED per buffer (%d of %d, %d revoked)",
	      events, rounds, revoked);
}

/*
 * --above-4g: the region lies above 4 GiB. vivid's dma-contig instance has a
 * 32-bit DMA mask: its attach must be refused (the map would WARN in
 * dma_direct_map_resource, and the harness fails on that), while vgem (64
 * bits) imports and vivid's vmalloc instance (vmap, no attach) captures.
 */
static int vivid_qbuf(int vfd, int fd, uint64_t size)
{
	struct v4l2_requestbuffers req = {
		.count = 1, .type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .memory = V4L2_MEMORY_DMABUF};
	struct v4l2_buffer buf = {.type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
				  .memory = V4L2_MEMORY_DMABUF};
	int ret;

	if (ioctl(vfd, VIDIOC_REQBUFS, &req) < 0)
		return -errno;
	buf.m.fd = fd;
	buf.length = (uint32_t)size;
	ret = ioctl(vfd, VIDIOC_QBUF, &buf) == 0 ? 0 : -errno;
	req.count = 0;
	ioctl(vfd, VIDIOC_REQBUFS, &req);
	return ret;
}

static void test_above_4g(void)
{
	struct v4l2_format fmt = {.type = V4L2_BUF_TYPE_VIDEO_CAPTURE};
	const uint64_t size = 1 * MIB;
	int info_ret = ioctl(ctl, UIO_CMA_IOC_INFO, &info);
	uint32_t handle = 0;
	int vfd, dfd, fd, fd2, ret;

	check(info_ret == 0 && info.base >= 4096 * MIB,
	      "INFO: the region is above 4 GiB (%#" PRIx64 ")", (uint64_t)info.base);
	check(clear_range(0, 16 * MIB) == 0, "CLEAR [0, 16M)");
	fd = export_range(0, size, 1, "high");
	fd2 = export_range(size, size, 2, "high-refused");
	if (!check(fd >= 0 && fd2 >= 0, "EXPORT [0, 1M) and [1M, 2M)"))
		return;
	fmt.fmt.pix.width = 640;
	fmt.fmt.pix.height = 360;
	fmt.fmt.pix.pixelformat = V4L2_PIX_FMT_YUYV;
	fmt.fmt.pix.field = V4L2_FIELD_NONE;
	vfd = find_vivid("platform:vivid-001");
	if (check(vfd >= 0 && ioctl(vfd, VIDIOC_S_FMT, &fmt) == 0, "vivid-001: found, S_FMT")) {
		ret = vivid_qbuf(vfd, fd, size);
		check(ret == 0, "vivid-001 (vmalloc, no attach): QBUF works (%s)", strerror(-ret));
	}
	if (vfd >= 0)
		close(vfd);
	dfd = find_vgem();
	if (check(dfd >= 0, "vgem found")) {
		ret = drmPrimeFDToHandle(dfd, fd, &handle);
		check(ret == 0 && handle, "vgem (64-bit DMA mask) imports it (%d)", ret);
		if (handle)
			drmCloseBufferHandle(dfd, handle);
		close(dfd);
	}
	close(fd);
	check(expect_released(1, 0, size, 0), "RELEASED");

	/*
	 * On its own buffer: 6.12's vb2 keeps the dma-buf reference when an
	 * attach fails (6.1's does not), so this one may never be released.
	 */
	vfd = find_vivid("platform:vivid-000");
	if (check(vfd >= 0 && ioctl(vfd, VIDIOC_S_FMT, &fmt) == 0, "vivid-000: found, S_FMT")) {
		ret = vivid_qbuf(vfd, fd2, size);
		check(ret < 0, "vivid-000 (dma-contig, 32-bit DMA mask): QBUF refused (%s)",
		      strerror(-ret));
	}
	if (vfd >= 0)
		close(vfd);
	close(fd2);
}

/* ---- unload ---- */

static int delete_module(const char *name)
{
	return syscall(SYS_delete_module, name, O_NONBLOCK) == 0 ? 0 : -errno;
}

/* finit_module(2) of $CMABUF_VM_KO with these parameters: 0 or -errno. */
static int load_module(const char *ko, const char *params)
{
	int fd = open(ko, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, params, 0) == 0 ? 0 : -errno;
	close(fd);
	return ret;
}

/* How often the kernel log holds text (the stub's reasons for refusals). */
static int dmesg_count(const char *text)
{
	int len = klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0), n = 0;
	char *buf, *p;

	if (len <= 0)
		return -1;
	buf = malloc((size_t)len + 1);
	if (!buf)
		return -1;
	len = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, len);
	if (len < 0) {
		free(buf);
		return -1;
	}
	buf[len] = '\0';
	for (p = buf; (p = strstr(p, text)); p++)
		n++;
	free(buf);
	return n;
}

/*
 * Loading with params (BASE and SIZE give the "region %pa+%pa" the stub
 * names) is refused with EINVAL, and the kernel log gains the stub's line
 * that says why: the region, then why.
 */
static void refused_with(const char *ko, uint64_t b, uint64_t sz, const char *extra,
			 const char *why, const char *what)
{
	char params[128], line[160];
	int before, ret;

	snprintf(params, sizeof(params), "base=%#" PRIx64 " size=%#" PRIx64 "%s", b, sz, extra);
	snprintf(line, sizeof(line), "region %#018" PRIx64 "+%#018" PRIx64 " %s", b, sz, why);
	before = dmesg_count(line);
	ret = load_module(ko, params);
	if (ret == 0)
		delete_module("uio_cma");
	check(ret == -EINVAL && access("/dev/uio_cma0", F_OK) != 0,
	      "%s (%s) is refused: EINVAL (%s)", what, params, strerror(-ret));
	check(before >= 0 && dmesg_count(line) == before + 1, "and dmesg says why: \"%s\"", line);
}

#if defined(__x86_64__)
/*
 * The i-th page-aligned area from 1 MiB on, at most 16 MiB, that the firmware
 * itself reports Reserved (qemu: one below the top of RAM, the BIOS at 4 GiB).
 */
static bool firmware_reserved(int nth, uint64_t *start, uint64_t *size)
{
	char path[128], type[32];
	uint64_t s, e;

	for (int i = 0; i < 64; i++) {
		FILE *f;
		bool ok;

		snprintf(path, sizeof(path), "/sys/firmware/memmap/%d/type", i);
		f = fopen(path, "re");
		if (!f)
			break;
		ok = fgets(type, sizeof(type), f) && strcmp(type, "Reserved\n") == 0;
		fclose(f);
		snprintf(path, sizeof(path), "/sys/firmware/memmap/%d/start", i);
		f = fopen(path, "re");
		ok = ok && f && fscanf(f, "%" SCNx64, &s) == 1;
		if (f)
			fclose(f);
		snprintf(path, sizeof(path), "/sys/firmware/memmap/%d/end", i);
		f = fopen(path, "re");
		ok = ok && f && fscanf(f, "%" SCNx64, &e) == 1;
		if (f)
			fclose(f);
		if (ok && s % info.page_size == 0 && (e + 1) % info.page_size == 0 && e > s &&
		    s >= 1 * MIB && e - s < 16 * MIB && nth-- == 0) {
			*start = s;
			*size = e + 1 - s;
			return true;
		}
	}
	return false;
}

/* x86: only RAM that memmap= turned into one Reserved resource. */
static void param_refusals(const char *ko)
{
	const char *not_carveout = "is not within one memmap=SIZE$BASE carve-out of RAM";
	uint64_t fw_base = 0, fw_size = 0;
	int nth = 0;

	/* 0x60000000 is ordinary RAM in a 2 GiB guest: refused, with a hint. */
	refused_with(ko, 0x60000000, 0x1000000, "", "is System RAM, refusing it",
		     "a region in System RAM");
	/* Past the end of memory: not reserved either. */
	refused_with(ko, 0x1000000000, 0x1000000, "", not_carveout,
		     "a region that is not reserved memory");
	for (; firmware_reserved(nth, &fw_base, &fw_size); nth++)
		refused_with(ko, fw_base, fw_size, "", not_carveout, "a firmware Reserved area");
	check(nth > 0, "%d firmware Reserved areas tried", nth);
}
#else
/*
 * Without e820 (arm64) every base=/size= region is refused: a no-map range
 * looks the same whether it is our device-tree node's, firmware's (EFI
 * runtime, a TEE) or another device's carve-out, so the region comes from
 * the device tree only. The x86 check of firmware Reserved areas
 * (/sys/firmware/memmap, which arm64 has not) becomes this: the device
 * tree's own no-map region, unbound, is refused as parameters too.
 */
static void param_refusals(const char *ko)
{
	const char *use_dt = "given as base=/size= is refused on this architecture: declare it "
			     "in the device tree";

	/* 0x60000000 is ordinary RAM in qemu virt's 2 GiB from 0x40000000. */
	refused_with(ko, 0x60000000, 0x1000000, "", "is System RAM, refusing it",
		     "a region in System RAM");
	refused_with(ko, 0x1000000000, 0x1000000, "", use_dt,
		     "a region that is not reserved memory");
	refused_with(ko, info.base, info.size, "", use_dt,
		     "the device tree's own no-map region, given as parameters");
}
#endif

static void test_rmmod(void)
{
	const char *ko = getenv("CMABUF_VM_KO");
	char cmd[128];
	int fd, ret;

	clear_range(0, 1 * MIB);
	fd = export_range(0, 1 * MIB, 50, "pin");
	close(ctl);
	ctl = -1;
	ret = delete_module("uio_cma");
	check(fd >= 0 && (ret == -EWOULDBLOCK || ret == -EBUSY),
	      "rmmod refused while an export lives (%s)", strerror(-ret));
	if (fd >= 0)
		close(fd);
	ret = delete_module("uio_cma");
	if (!check(ret == 0, "rmmod succeeds once it is released (%s)", strerror(-ret)))
		return;
	if (!ko || !*ko) {
		diag("no $CMABUF_VM_KO: not reloading");
		return;
	}
	param_refusals(ko);
	/*
	 * The module's error is the probe's, and probe stays synchronous. x86:
	 * the memmap= region again as parameters; arm64: no parameters, the
	 * device tree's nodes bind again.
	 */
#if defined(__x86_64__)
	snprintf(cmd, sizeof(cmd), "base=%#" PRIx64 " size=%#" PRIx64 " async_probe=1",
		 (uint64_t)info.base, (uint64_t)info.size);
#else
	snprintf(cmd, sizeof(cmd), "async_probe=1");
#endif
	ret = load_module(ko, cmd);
	check(ret == 0, "the module loads again with %s (%s)", cmd, strerror(-ret));
	for (int i = 0; i < 50 && ctl < 0; i++) {
		ctl = open("/dev/uio_cma0", O_RDWR | O_CLOEXEC);
		if (ctl < 0)
			usleep(20000);
	}
	struct uio_cma_info again = {0};
	check(ctl >= 0 && ioctl(ctl, UIO_CMA_IOC_INFO, &again) == 0 && again.live == 0 &&
		      again.base == info.base,
	      "and answers INFO");
}

int main(int argc, char **argv)
{
	const char *dev = "/dev/uio_cma0";
	bool rmmod = true, above_4g = false;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--device") == 0 && i + 1 < argc)
			dev = argv[++i];
		else if (strcmp(argv[i], "--no-rmmod") == 0)
			rmmod = false;
		else if (strcmp(argv[i], "--above-4g") == 0)
			above_4g = true;
		else {
			fprintf(stderr, "usage: %s [--device PATH] [--no-rmmod] [--above-4g]\n",
				argv[0]);
			return 2;
		}
	}
	ctl = open(dev, O_RDWR | O_CLOEXEC);
	if (ctl < 0) {
		printf("1..0 # SKIP %s: %s (run me under tests/vm/vm-run)\n", dev, strerror(errno));
		return 77;
	}

	if (above_4g) {
		test_above_4g();
		goto done;
	}
	test_info();
	test_dirty_at_probe();
	test_readonly_open(dev);
	test_abi();
	test_export_refusals();
	test_mmap();
	test_list_clear();
	test_revoke();
	test_vivid("platform:vivid-000", 96 * MIB, 60);
	test_vivid("platform:vivid-001", 128 * MIB, 61);
	test_vgem();
	test_prefault();
	test_read_unlocked();
	test_read_efault();
	test_vmap_revoked(160 * MIB, 62);
	test_revoke_close_race();
	check(ioctl(ctl, UIO_CMA_IOC_INFO, &info) == 0 && info.live == 0,
	      "no live exports left (%u)", info.live);
	if (rmmod)
		test_rmmod();
done:
	if (ctl >= 0)
		close(ctl);

	printf("1..%d\n", n_tests);
	printf("%d passed, %d failed\n", n_tests - n_failed, n_failed);
	return n_failed ? 1 : 0;
}
