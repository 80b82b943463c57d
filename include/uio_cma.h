/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR MIT) */
/*
 * uio_cma: the user-space ABI of the cmabuf kernel stub.
 *
 * One copy, shared by the kernel module (kmod/uio_cma) and the daemon.
 * Each carved region appears as a UIO device named "uio_cma" whose map0 is
 * the region, plus a control character device /dev/uio_cmaN (mode 0600,
 * one opener at a time) that takes the ioctls below and yields
 * struct uio_cma_event records from read()/poll().
 *
 * All offsets and sizes are relative to the region and must be multiples of
 * uio_cma_info.page_size. Every struct has fixed-width members and explicit
 * padding; padding and flags must be zero (the stub returns EINVAL otherwise)
 * so that they can be given meaning later.
 *
 * Versions: a stub serves callers built against its ABI version or any
 * older one, so a caller checks abi_version >= the version it was built
 * for. ABI 2 added flags (and pad) at the end of uio_cma_revoke,
 * uio_cma_list and uio_cma_clear; the stub still takes ABI 1's shorter
 * structs (their ioctl numbers differ only in the size field) and reads
 * them as flags 0. ABI 2 also made these rules, which ABI 1 callers meet
 * if they CLEAR before they EXPORT and open the control device O_RDWR:
 *  - EXPORT refuses (EACCES) a range holding any page not cleared since
 *    the stub was loaded or since its last owner let it go (release or
 *    REVOKE): nothing an owner wrote reaches the next one, even from a
 *    buggy daemon or across a reboot or kexec.
 *  - EXPORT, REVOKE and CLEAR need the control device open for writing
 *    (EBADF otherwise); INFO, LIST, read() and poll() do not.
 *
 * What the stub cannot promise, by design:
 *  - Anyone who can open the UIO node (/dev/uioN) can map the whole region,
 *    every buffer included: give it the same owner and mode as the control
 *    device, and no wider.
 *  - REVOKE zaps CPU mappings only. It refuses (EBUSY) a buffer a device is
 *    attached to or the kernel has vmapped, so any importer that attaches
 *    (V4L2 dma-contig, DRM PRIME, ...) keeps a buffer until it detaches.
 *    A VM_PFNMAP mapping pinned without an mmu notifier (VFIO type 1
 *    passthrough pins the PFNs of a dma-buf mapping a VM's memory came
 *    from) keeps reaching the range after REVOKE: do not hand revocable
 *    buffers to such users.
 */
#ifndef _UAPI_LINUX_UIO_CMA_H
#define _UAPI_LINUX_UIO_CMA_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define UIO_CMA_ABI_VERSION 2

/* The UIO device name (/sys/class/uio/uioN/name) of every region. */
#define UIO_CMA_UIO_NAME "uio_cma"

#define UIO_CMA_NAME_LEN 32 /* == DMA_BUF_NAME_LEN, including the NUL */

/* UIO_CMA_IOC_INFO: describe the region. */
struct uio_cma_info {
	__u64 base;        /* physical (and, here, device) address of the region */
	__u64 size;        /* bytes */
	__u32 abi_version; /* UIO_CMA_ABI_VERSION */
	__u32 page_size;   /* granule of every offset and size */
	__u32 live;        /* live exports, as LIST counts them */
	__u32 pad;
};

/*
 * UIO_CMA_IOC_EXPORT: wrap [offset, offset + size) of the region in a new
 * dma-buf and return its file descriptor (O_CLOEXEC, opened O_RDWR) as the
 * ioctl's return value. The buffer's name (seen in /proc/PID/fdinfo/FD and
 * /sys/kernel/debug/dma_buf/bufinfo) is set before the fd exists.
 * Errors: EINVAL unaligned, empty, out of range, name not NUL-terminated,
 * flags or pad not zero; EBUSY the range overlaps a live export or a CLEAR
 * in progress; EEXIST the cookie names a live export; EACCES some page of
 * the range was not cleared since its last owner (CLEAR it); EBADF the
 * control device is not open for writing.
 *
 * A buffer of 4 GiB or more is mapped for a device as several scatterlist
 * entries (each under 4 GiB), adjacent in DMA address. Attaching a device
 * that cannot address the whole buffer (DMA mask, bus limit) fails with
 * EINVAL.
 */
struct uio_cma_export {
	__u64 offset;
	__u64 size;
	__u64 cookie; /* chosen by the caller, unique among live exports */
	__u32 flags;  /* none defined: 0 */
	__u32 pad;
	char name[UIO_CMA_NAME_LEN];
};

/*
 * UIO_CMA_IOC_REVOKE: take a buffer back from a holder that cannot be
 * trusted to give it up (purgeable buffers). Every CPU mapping of the
 * dma-buf is zapped; later faults get SIGBUS, later mmap, attach and vmap
 * fail. The range is free at once: a RELEASED event with
 * UIO_CMA_EVENT_REVOKED is queued and the export leaves LIST; the dma-buf
 * itself lives on, empty, until its holders close it (no second event).
 * A kernel vmap made after REVOKE (vb2-vmalloc importers vmap without
 * attaching) gets a private zeroed page, repeated, never the range.
 * Errors: ENOENT no live export has that cookie (or its last holder is
 * closing it: the RELEASED event follows); EBUSY a device is attached or a
 * kernel mapping (vmap) exists -- that memory can be reached without the
 * CPU page tables, so it cannot be taken back; ENOMEM; EBADF not open for
 * writing; EINVAL flags or pad not zero. See the limits at the top.
 */
struct uio_cma_revoke {
	__u64 cookie;
	__u32 flags; /* none defined: 0 (ABI 2) */
	__u32 pad;
};

struct uio_cma_list_entry {
	__u64 offset;
	__u64 size;
	__u64 cookie;
};

/*
 * UIO_CMA_IOC_LIST: copy up to capacity live exports (in address order) to
 * the array at entries; count is set to, and the ioctl returns, the number
 * of live exports (which may exceed capacity: call again with more room).
 * capacity 0 just counts.
 */
struct uio_cma_list {
	__u64 entries; /* user pointer to struct uio_cma_list_entry[capacity] */
	__u32 capacity;
	__u32 count; /* out */
	__u32 flags; /* none defined: 0 (ABI 2) */
	__u32 pad;
};

/*
 * UIO_CMA_IOC_CLEAR: zero [offset, offset + size) through the kernel's
 * write-combined mapping, and mark it clean for EXPORT. EBUSY if the range
 * overlaps a live export or another CLEAR; EINTR if a fatal signal arrived
 * (the range is then only partly zeroed, and only that part is clean);
 * EBADF not open for writing; EINVAL flags or pad not zero.
 */
struct uio_cma_clear {
	__u64 offset;
	__u64 size;
	__u32 flags; /* none defined: 0 (ABI 2) */
	__u32 pad;
};

/*
 * read() on the control device returns whole records, as many as fit; it
 * blocks unless O_NONBLOCK (EAGAIN). poll() reports POLLIN while any is
 * queued. Events are queued only while the control device is open, and
 * opening it discards older ones: after (re)opening, LIST is the truth.
 */
#define UIO_CMA_EVENT_RELEASED 1 /* the range is no longer reachable: reuse it */

#define UIO_CMA_EVENT_REVOKED (1U << 0) /* released by UIO_CMA_IOC_REVOKE */

struct uio_cma_event {
	__u32 type;  /* UIO_CMA_EVENT_RELEASED */
	__u32 flags; /* UIO_CMA_EVENT_REVOKED */
	__u64 cookie;
	__u64 offset;
	__u64 size;
};

#define UIO_CMA_IOC_MAGIC 0xC3

#define UIO_CMA_IOC_INFO _IOR(UIO_CMA_IOC_MAGIC, 0, struct uio_cma_info)
#define UIO_CMA_IOC_EXPORT _IOW(UIO_CMA_IOC_MAGIC, 1, struct uio_cma_export)
#define UIO_CMA_IOC_REVOKE _IOW(UIO_CMA_IOC_MAGIC, 2, struct uio_cma_revoke)
#define UIO_CMA_IOC_LIST _IOWR(UIO_CMA_IOC_MAGIC, 3, struct uio_cma_list)
#define UIO_CMA_IOC_CLEAR _IOW(UIO_CMA_IOC_MAGIC, 4, struct uio_cma_clear)

#endif /* _UAPI_LINUX_UIO_CMA_H */
