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
 * ABI 3 added the heap door (below): HEAP_SERVE, HEAP_ALLOC events,
 * HEAP_CALLER, HEAP_ANSWER, and QUERY. A caller built for ABI 2 never sees
 * a HEAP_ALLOC event: the stub forwards heap requests only to an opener
 * that asked for them with HEAP_SERVE.
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

#define UIO_CMA_ABI_VERSION 3

/* The UIO device name (/sys/class/uio/uioN/name) of every region. */
#define UIO_CMA_UIO_NAME "uio_cma"

#define UIO_CMA_NAME_LEN 32 /* == DMA_BUF_NAME_LEN, including the NUL */

/* UIO_CMA_IOC_INFO: describe the region. */
struct uio_cma_info {
	__u64 base;	   /* physical (and, here, device) address of the region */
	__u64 size;	   /* bytes */
	__u32 abi_version; /* UIO_CMA_ABI_VERSION */
	__u32 page_size;   /* granule of every offset and size */
	__u32 live;	   /* live exports, as LIST counts them */
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
/* UIO_CMA_EVENT_HEAP_ALLOC 2: see "The heap door" below. */

#define UIO_CMA_EVENT_REVOKED (1U << 0) /* released by UIO_CMA_IOC_REVOKE */

struct uio_cma_event {
	__u32 type;  /* UIO_CMA_EVENT_RELEASED, UIO_CMA_EVENT_HEAP_ALLOC */
	__u32 flags; /* UIO_CMA_EVENT_REVOKED */
	__u64 cookie;
	__u64 offset;
	__u64 size;
};

/*
 * The heap door. Each region may also appear as /dev/dma_heap/NAME (module
 * parameter heap=, or the DT property "cmabuf,heap-name"; default "cmabuf"
 * for the first region, none for others; "" for none), a misc device that
 * answers the upstream DMA_HEAP_IOCTL_ALLOC (<linux/dma-heap.h>) for
 * software that knows nothing of cmabuf. The stub decides nothing: every
 * ALLOC is forwarded to the daemon holding the control device.
 *
 * 1. The daemon opens the control device for writing and calls HEAP_SERVE.
 *    Until then, and after the control device is closed, an ALLOC fails at
 *    once with ENODEV ("no daemon serves this heap").
 * 2. An ALLOC (len rounded up to page_size; 0 or rounding past 2^64 is
 *    EINVAL, more than the region is ENOMEM; heap_flags not 0 or fd_flags
 *    outside O_CLOEXEC | O_ACCMODE is EINVAL, all before the daemon hears of
 *    it) queues an event { type = UIO_CMA_EVENT_HEAP_ALLOC, cookie = request
 *    id (never 0, never reused while the stub is loaded), size = the rounded
 *    len, offset = 0 } and the caller sleeps, interruptibly, for at most
 *    heap_timeout_ms (module parameter, default 5000) before failing with
 *    ETIMEDOUT. At most UIO_CMA_HEAP_PENDING_UID requests of one uid and
 *    UIO_CMA_HEAP_PENDING requests in all wait at once; beyond that ALLOC
 *    fails with EAGAIN.
 * 3. The daemon learns who asks with HEAP_CALLER (the caller's credentials
 *    as the stub took them when the ALLOC arrived) and answers with
 *    HEAP_ANSWER: a range to export for that request, or an errno.
 * 4. The caller wakes; its own thread installs the dma-buf in its own
 *    process (fd_flags as asked) and returns it, or returns -error.
 *
 * A caller that is interrupted, times out or dies before it is answered
 * leaves: HEAP_CALLER and HEAP_ANSWER then fail with ENOENT and nothing is
 * exported, and if its event was not read yet, it is withdrawn unread. An
 * interrupted ALLOC fails with EINTR, or, when the signal's handler has
 * SA_RESTART (or it was a stop signal), comes back as a new request. A caller that is answered but
 * cannot take the buffer (killed before it wakes, EMFILE) drops it: the export is released like any
 * other, with a RELEASED event. Either way nothing leaks and the daemon learns it.
 *
 * Identity without a race: the credentials are the stub's snapshot. The
 * tgid is the caller's while the request is pending (the caller's thread is
 * asleep in the stub, so the thread group, and its pid, exist): anything the
 * daemon reads from /proc/TGID between the event and a HEAP_ANSWER that
 * succeeds was read from the caller.
 */
#define UIO_CMA_EVENT_HEAP_ALLOC 2 /* a /dev/dma_heap caller waits: answer it */

#define UIO_CMA_HEAP_PENDING	 1024  /* waiting requests, all uids */
#define UIO_CMA_HEAP_PENDING_UID 128   /* waiting requests of one uid */
#define UIO_CMA_HEAP_GROUPS_MAX	 65536 /* = NGROUPS_MAX */

/*
 * UIO_CMA_IOC_HEAP_SERVE: this opener answers heap requests from now until
 * it closes the control device. EBADF not open for writing; EINVAL flags
 * or pad not zero; ENODEV the region has no heap node.
 */
struct uio_cma_heap_serve {
	__u32 flags; /* none defined: 0 */
	__u32 pad;
};

/*
 * UIO_CMA_IOC_HEAP_CALLER: who made request id. In the control device
 * opener's pid and user namespaces (uid/gid -1 when unmapped, tgid 0 when
 * not visible there). Copies up to groups_cap supplementary groups to the
 * array at groups; ngroups is how many there are (call again with more
 * room). ENOENT the request is not pending (answered, or its caller left);
 * EINVAL flags or pad not zero.
 */
struct uio_cma_heap_caller {
	__u64 id;	  /* in: the event's cookie */
	__u64 groups;	  /* in: user pointer to __u32[groups_cap] */
	__u32 groups_cap; /* in */
	__u32 ngroups;	  /* out */
	__u32 tgid;	  /* out: the calling process */
	__u32 tid;	  /* out: the calling thread */
	__u32 uid;	  /* out: effective uid */
	__u32 gid;	  /* out: effective gid */
	__u64 len;	  /* out: bytes asked for, rounded up to page_size */
	__u32 fd_flags;	  /* out: as asked */
	__u32 flags;	  /* in: none defined: 0 */
	char comm[16];	  /* out: the calling thread's command, NUL-terminated */
};

/*
 * UIO_CMA_IOC_HEAP_ANSWER: answer request id. error 0: export [offset,
 * offset + size) under cookie and name exactly as UIO_CMA_IOC_EXPORT would
 * (same checks, same errors; size must be at least the request's len), and
 * give it to the caller; the daemon gets no descriptor. error 1..511: the
 * caller's ALLOC fails with -error (512 and up are the kernel's internal
 * codes, ERESTARTSYS and the like, which must never reach a caller).
 * Returns 0 once the caller has it (it may still drop it: see above);
 * ENOENT the request is not pending, and nothing was exported; EINVAL
 * error out of range, flags not zero.
 */
struct uio_cma_heap_answer {
	__u64 id;
	__u64 offset;
	__u64 size;
	__u64 cookie;
	__u32 error; /* 0, or a positive errno for the caller */
	__u32 flags; /* none defined: 0 */
	char name[UIO_CMA_NAME_LEN];
};

/*
 * UIO_CMA_IOC_QUERY: what the stub knows of a live export that the daemon
 * does not: the name its holders gave it since (DMA_BUF_SET_NAME), and
 * whether a device or the kernel is using it. ENOENT no live export has
 * that cookie; EINVAL flags or pad not zero.
 */
struct uio_cma_query {
	__u64 cookie;	/* in */
	__u32 attached; /* out: device attachments */
	__u32 vmapped;	/* out: kernel mappings */
	__u32 flags;	/* in: none defined: 0 */
	__u32 pad;
	char name[UIO_CMA_NAME_LEN]; /* out: "" if none */
};

#define UIO_CMA_IOC_MAGIC 0xC3

#define UIO_CMA_IOC_INFO	_IOR(UIO_CMA_IOC_MAGIC, 0, struct uio_cma_info)
#define UIO_CMA_IOC_EXPORT	_IOW(UIO_CMA_IOC_MAGIC, 1, struct uio_cma_export)
#define UIO_CMA_IOC_REVOKE	_IOW(UIO_CMA_IOC_MAGIC, 2, struct uio_cma_revoke)
#define UIO_CMA_IOC_LIST	_IOWR(UIO_CMA_IOC_MAGIC, 3, struct uio_cma_list)
#define UIO_CMA_IOC_CLEAR	_IOW(UIO_CMA_IOC_MAGIC, 4, struct uio_cma_clear)
#define UIO_CMA_IOC_HEAP_SERVE	_IOW(UIO_CMA_IOC_MAGIC, 5, struct uio_cma_heap_serve)
#define UIO_CMA_IOC_HEAP_CALLER _IOWR(UIO_CMA_IOC_MAGIC, 6, struct uio_cma_heap_caller)
#define UIO_CMA_IOC_HEAP_ANSWER _IOW(UIO_CMA_IOC_MAGIC, 7, struct uio_cma_heap_answer)
#define UIO_CMA_IOC_QUERY	_IOWR(UIO_CMA_IOC_MAGIC, 8, struct uio_cma_query)

#endif /* _UAPI_LINUX_UIO_CMA_H */
