// SPDX-License-Identifier: GPL-2.0
/*
 * uio_cma heap door: /dev/dma_heap/NAME for software that knows only the
 * kernel's dma-heap ABI. The stub decides nothing here either: each
 * DMA_HEAP_IOCTL_ALLOC becomes a HEAP_ALLOC event on the control device,
 * the caller sleeps until the daemon answers (an export made for it, or an
 * errno), and the caller's own thread then installs the dma-buf in its own
 * process. The contract is "The heap door" in include/uio_cma.h.
 *
 * The wait follows fs/fuse/dev.c (request_wait_answer): a request lives in
 * a list under the region lock, the answer takes it off the list and wakes
 * the caller, and the caller decides under the same lock whether it was
 * answered or leaves. A request that left cannot be answered (ENOENT), and
 * an answer that arrived cannot be lost: the caller takes the buffer or
 * drops it, which releases it like any other export (a RELEASED event).
 */

#include <linux/cred.h>
#include <linux/dma-buf.h>
#include <uapi/linux/dma-heap.h>
#include <linux/fs.h>
#include <linux/jiffies.h>
#include <linux/module.h>
#include <linux/of.h>
#include <linux/pid.h>
#include <linux/pid_namespace.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/uidgid.h>
#include <linux/user_namespace.h>

#include "uio_cma_priv.h"

static char *heap = "cmabuf";
module_param(heap, charp, 0444);
MODULE_PARM_DESC(heap, "Name of the first region's heap node, /dev/dma_heap/NAME (default cmabuf; empty: none)");

static unsigned int heap_timeout_ms = 5000;
module_param(heap_timeout_ms, uint, 0644);
MODULE_PARM_DESC(heap_timeout_ms, "How long a heap ALLOC waits for the daemon's answer, in ms (default 5000)");

/* A waiting DMA_HEAP_IOCTL_ALLOC. Owned by its caller's thread. */
struct uio_cma_heap_req {
	struct list_head node; /* in heap.pending until answered or left */
	u64 id;
	u64 len;
	u32 fd_flags;
	const struct cred *cred; /* the caller's, at ALLOC */
	struct pid *tgid, *tid;
	char comm[TASK_COMM_LEN];
	struct uio_cma_event_node *ev; /* its event, while queued and unread */
	wait_queue_head_t wait;
	bool answered; /* off the list: dmabuf or error is the answer */
	int error;
	struct dma_buf *dmabuf;
};

static struct uio_cma_heap_req *find_req(struct uio_cma_region *r, u64 id)
{
	struct uio_cma_heap_req *q;

	list_for_each_entry(q, &r->heap.pending, node)
		if (q->id == id)
			return q;
	return NULL;
}

/* Caller holds r->lock; the caller's thread may free @q once it is unlocked. */
static void answer_req(struct uio_cma_region *r, struct uio_cma_heap_req *q,
		       int error, struct dma_buf *dmabuf)
{
	list_del(&q->node);
	r->heap.npending--;
	if (q->ev) { /* answered before its event was read: leave it queued */
		q->ev->req = NULL;
		q->ev = NULL;
	}
	q->error = error;
	q->dmabuf = dmabuf;
	WRITE_ONCE(q->answered, true);
	wake_up(&q->wait);
}

static unsigned int pending_of(struct uio_cma_region *r, kuid_t uid)
{
	struct uio_cma_heap_req *q;
	unsigned int n = 0;

	list_for_each_entry(q, &r->heap.pending, node)
		if (uid_eq(q->cred->euid, uid))
			n++;
	return n;
}

/*
 * Queues @q and its event, or says why not: ENODEV nobody serves, EAGAIN
 * too many waiting (all uids, or this one).
 */
static int queue_req(struct uio_cma_region *r, struct uio_cma_heap_req *q,
		     struct uio_cma_event_node *n)
{
	int ret = 0;

	mutex_lock(&r->lock);
	if (!r->heap.serving)
		ret = -ENODEV;
	else if (r->heap.npending >= UIO_CMA_HEAP_PENDING ||
		 pending_of(r, q->cred->euid) >= UIO_CMA_HEAP_PENDING_UID)
		ret = -EAGAIN;
	if (!ret) {
		q->id = ++r->heap.next_id;
		list_add_tail(&q->node, &r->heap.pending);
		r->heap.npending++;
		n->ev.type = UIO_CMA_EVENT_HEAP_ALLOC;
		n->ev.cookie = q->id;
		n->ev.size = q->len;
		n->req = q;
		q->ev = n;
		list_add_tail(&n->node, &r->events);
		wake_up_interruptible(&r->wait);
	}
	mutex_unlock(&r->lock);
	return ret;
}

/*
 * Sleeps until answered, interrupted or timed out; then, under the lock,
 * either takes the answer or leaves the list. Returns the dma-buf, or an
 * ERR_PTR: the daemon's errno, ETIMEDOUT, or ERESTARTSYS on a signal (the
 * ALLOC is restarted as a new request, or fails with EINTR, as the signal's
 * handler says).
 */
static struct dma_buf *wait_answer(struct uio_cma_region *r,
				   struct uio_cma_heap_req *q)
{
	unsigned long timeout = msecs_to_jiffies(max(heap_timeout_ms, 1U));
	struct dma_buf *dmabuf;
	long left;

	left = wait_event_interruptible_timeout(q->wait, READ_ONCE(q->answered),
						timeout);
	mutex_lock(&r->lock);
	if (q->answered) {
		dmabuf = q->error ? ERR_PTR(-q->error) : q->dmabuf;
	} else {
		list_del(&q->node);
		r->heap.npending--;
		/*
		 * The daemon never hears of a request that left before it
		 * read the event: a hung daemon's queue stays bounded.
		 */
		if (q->ev) {
			list_del(&q->ev->node);
			kfree(q->ev);
		}
		dmabuf = ERR_PTR(left < 0 ? -ERESTARTSYS : -ETIMEDOUT);
	}
	mutex_unlock(&r->lock);
	return dmabuf;
}

static void free_req(struct uio_cma_heap_req *q)
{
	put_pid(q->tid);
	put_pid(q->tgid);
	put_cred(q->cred);
	kfree(q);
}

/* Returns the daemon's dma-buf for the caller, or an ERR_PTR. */
static struct dma_buf *heap_alloc(struct uio_cma_region *r, u64 len,
				  u32 fd_flags)
{
	struct uio_cma_event_node *n;
	struct uio_cma_heap_req *q;
	struct dma_buf *dmabuf;
	int ret;

	q = kzalloc(sizeof(*q), GFP_KERNEL);
	n = kzalloc(sizeof(*n), GFP_KERNEL);
	if (!q || !n) {
		kfree(q);
		kfree(n);
		return ERR_PTR(-ENOMEM);
	}
	q->len = len;
	q->fd_flags = fd_flags;
	q->cred = get_current_cred();
	q->tgid = get_task_pid(current, PIDTYPE_TGID);
	q->tid = get_task_pid(current, PIDTYPE_PID);
	get_task_comm(q->comm, current);
	init_waitqueue_head(&q->wait);

	ret = queue_req(r, q, n);
	if (ret) {
		kfree(n);
		dmabuf = ERR_PTR(ret);
	} else {
		dmabuf = wait_answer(r, q);
	}
	free_req(q);
	return dmabuf;
}

/*
 * DMA_HEAP_IOCTL_ALLOC, copied as drivers/dma-buf/dma-heap.c does: a struct
 * from the oldest one (no heap_flags, 16 bytes) up to any newer, larger
 * one is taken, the part we do not know of ignored and left as it was.
 */
static long heap_ioctl(struct file *file, unsigned int ucmd, unsigned long arg)
{
	struct uio_cma_region *r = container_of(file->private_data,
						struct uio_cma_region, heap.misc);
	size_t usize = min_t(size_t, _IOC_SIZE(ucmd),
			     sizeof(struct dma_heap_allocation_data));
	void __user *argp = (void __user *)arg;
	struct dma_heap_allocation_data data = {};
	struct dma_buf *dmabuf;
	u64 len;
	int fd;

	if (_IOC_TYPE(ucmd) != _IOC_TYPE(DMA_HEAP_IOCTL_ALLOC) ||
	    _IOC_NR(ucmd) != _IOC_NR(DMA_HEAP_IOCTL_ALLOC) ||
	    _IOC_DIR(ucmd) != _IOC_DIR(DMA_HEAP_IOCTL_ALLOC) ||
	    usize < offsetof(struct dma_heap_allocation_data, heap_flags))
		return -ENOTTY;
	if (copy_from_user(&data, argp, usize))
		return -EFAULT;
	if (data.fd || data.fd_flags & ~DMA_HEAP_VALID_FD_FLAGS ||
	    data.heap_flags & ~DMA_HEAP_VALID_HEAP_FLAGS)
		return -EINVAL;
	if (!data.len || data.len > U64_MAX - PAGE_SIZE + 1)
		return -EINVAL;
	len = PAGE_ALIGN(data.len);
	if (len > r->size)
		return -ENOMEM;

	dmabuf = heap_alloc(r, len, data.fd_flags);
	if (IS_ERR(dmabuf))
		return PTR_ERR(dmabuf);
	/*
	 * Whatever stops the caller from taking it (dying, EMFILE, a bad
	 * pointer) drops it: an ordinary release, with its RELEASED event.
	 */
	fd = fatal_signal_pending(current) ? -EINTR :
					     get_unused_fd_flags(data.fd_flags);
	if (fd < 0) {
		dma_buf_put(dmabuf);
		return fd;
	}
	data.fd = fd;
	if (copy_to_user(argp, &data, usize)) {
		put_unused_fd(fd);
		dma_buf_put(dmabuf);
		return -EFAULT;
	}
	fd_install(fd, dmabuf->file);
	return 0;
}

static const struct file_operations heap_fops = {
	.owner = THIS_MODULE, /* a waiting caller keeps the module */
	.open = nonseekable_open,
	.unlocked_ioctl = heap_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

/* ---- the control device's side ---- */

long uio_cma_heap_serve(struct uio_cma_region *r, struct file *file,
			void __user *argp)
{
	struct uio_cma_heap_serve arg;

	if (copy_from_user(&arg, argp, sizeof(arg)))
		return -EFAULT;
	if (arg.flags || arg.pad)
		return -EINVAL;
	if (!r->heap.misc.name)
		return -ENODEV;
	mutex_lock(&r->lock);
	if (!r->heap.serving) {
		r->heap.pid_ns = get_pid_ns(task_active_pid_ns(current));
		r->heap.user_ns = get_user_ns(file->f_cred->user_ns);
		r->heap.serving = true;
	}
	mutex_unlock(&r->lock);
	return 0;
}

/* Caller holds r->lock: the control device is closing. */
void uio_cma_heap_stop(struct uio_cma_region *r)
{
	struct uio_cma_heap_req *q, *tmp;

	if (!r->heap.serving)
		return;
	list_for_each_entry_safe(q, tmp, &r->heap.pending, node)
		answer_req(r, q, ENODEV, NULL);
	r->heap.serving = false;
	put_pid_ns(r->heap.pid_ns);
	put_user_ns(r->heap.user_ns);
	r->heap.pid_ns = NULL;
	r->heap.user_ns = NULL;
}

/* Caller holds r->lock: read() takes @n off the queue, for good. */
void uio_cma_heap_event_read(struct uio_cma_event_node *n)
{
	if (n->req) {
		n->req->ev = NULL;
		n->req = NULL;
	}
}

/* The groups are copied without the lock: the copy may fault and sleep. */
static int copy_groups(struct uio_cma_region *r, struct group_info *gi,
		       u64 to, u32 cap)
{
	u32 __user *out = u64_to_user_ptr(to);
	int i;

	for (i = 0; i < gi->ngroups && i < cap; i++)
		if (put_user(from_kgid(r->heap.user_ns, gi->gid[i]), out + i))
			return -EFAULT;
	return 0;
}

long uio_cma_heap_caller(struct uio_cma_region *r, void __user *argp)
{
	struct uio_cma_heap_caller arg;
	struct group_info *gi = NULL;
	struct uio_cma_heap_req *q;
	int ret = 0;

	if (copy_from_user(&arg, argp, sizeof(arg)))
		return -EFAULT;
	if (arg.flags)
		return -EINVAL;
	mutex_lock(&r->lock);
	q = r->heap.serving ? find_req(r, arg.id) : NULL;
	if (q) {
		arg.tgid = pid_nr_ns(q->tgid, r->heap.pid_ns);
		arg.tid = pid_nr_ns(q->tid, r->heap.pid_ns);
		arg.uid = from_kuid(r->heap.user_ns, q->cred->euid);
		arg.gid = from_kgid(r->heap.user_ns, q->cred->egid);
		arg.len = q->len;
		arg.fd_flags = q->fd_flags;
		memcpy(arg.comm, q->comm, sizeof(arg.comm));
		gi = get_group_info(q->cred->group_info);
		arg.ngroups = gi->ngroups;
	}
	mutex_unlock(&r->lock);
	if (!q)
		return -ENOENT;
	/* heap.user_ns stays: only this file's close, not now, puts it. */
	ret = copy_groups(r, gi, arg.groups, arg.groups_cap);
	put_group_info(gi);
	if (!ret && copy_to_user(argp, &arg, sizeof(arg)))
		ret = -EFAULT;
	return ret;
}

/* What the daemon's answer must say before anything is exported. */
static int check_answer(struct uio_cma_region *r,
			const struct uio_cma_heap_answer *a, u32 *fd_flags)
{
	struct uio_cma_heap_req *q;
	int ret = 0;

	mutex_lock(&r->lock);
	q = r->heap.serving ? find_req(r, a->id) : NULL;
	if (!q)
		ret = -ENOENT;
	else if (a->size < q->len)
		ret = -EINVAL;
	else
		*fd_flags = q->fd_flags;
	mutex_unlock(&r->lock);
	return ret;
}

long uio_cma_heap_answer(struct uio_cma_region *r, void __user *argp)
{
	struct uio_cma_heap_answer arg;
	struct uio_cma_export exp = {};
	struct uio_cma_heap_req *q;
	struct uio_cma_buf *e;
	u32 fd_flags = 0;
	int ret;

	if (copy_from_user(&arg, argp, sizeof(arg)))
		return -EFAULT;
	/* ERESTARTSYS (512) and above are the kernel's, never a caller's. */
	if (arg.flags || arg.error >= ERESTARTSYS)
		return -EINVAL;
	if (arg.error) {
		mutex_lock(&r->lock);
		q = r->heap.serving ? find_req(r, arg.id) : NULL;
		if (q)
			answer_req(r, q, arg.error, NULL);
		mutex_unlock(&r->lock);
		return q ? 0 : -ENOENT;
	}

	ret = check_answer(r, &arg, &fd_flags);
	if (ret)
		return ret;
	exp.offset = arg.offset;
	exp.size = arg.size;
	exp.cookie = arg.cookie;
	memcpy(exp.name, arg.name, sizeof(exp.name));
	e = uio_cma_export_buf(r, &exp, fd_flags & O_ACCMODE);
	if (IS_ERR(e))
		return PTR_ERR(e);

	/* The caller may have left while we exported: then nobody gets it. */
	mutex_lock(&r->lock);
	q = r->heap.serving ? find_req(r, arg.id) : NULL;
	if (q) {
		uio_cma_publish(r, e);
		answer_req(r, q, 0, e->dmabuf);
	}
	mutex_unlock(&r->lock);
	if (!q) {
		dma_buf_put(e->dmabuf); /* unpublished: no event, still clean */
		return -ENOENT;
	}
	return 0;
}

/* ---- registration ---- */

/* heap= names the first region's node; a DT node may name its own. */
static const char *heap_name(struct uio_cma_region *r, struct device *dev)
{
	const char *name = NULL;

	if (dev->of_node &&
	    !of_property_read_string(dev->of_node, "cmabuf,heap-name", &name))
		return name;
	return r->id == 0 ? heap : NULL;
}

static bool heap_name_ok(const char *name)
{
	return strlen(name) < sizeof(((struct uio_cma_heap *)0)->nodename) -
				      sizeof("dma_heap/") &&
	       !strchr(name, '/') && strcmp(name, ".") && strcmp(name, "..");
}

int uio_cma_heap_register(struct uio_cma_region *r, struct device *dev)
{
	const char *name = heap_name(r, dev);
	int ret;

	if (!name || !*name)
		return 0;
	if (!heap_name_ok(name)) {
		dev_err(dev, "heap name \"%s\" is not a file name of at most 63 bytes\n",
			name);
		return -EINVAL;
	}
	snprintf(r->heap.devname, sizeof(r->heap.devname), "cmabuf_heap%d",
		 r->id);
	snprintf(r->heap.nodename, sizeof(r->heap.nodename), "dma_heap/%s",
		 name);
	r->heap.misc.minor = MISC_DYNAMIC_MINOR;
	r->heap.misc.name = r->heap.devname;
	r->heap.misc.nodename = r->heap.nodename;
	r->heap.misc.fops = &heap_fops;
	r->heap.misc.mode = 0600; /* the udev rule says who may allocate */
	r->heap.misc.parent = dev;
	ret = misc_register(&r->heap.misc);
	if (ret) {
		dev_err(dev, "cannot register /dev/%s: %d\n", r->heap.nodename,
			ret);
		r->heap.misc.name = NULL;
	}
	return ret;
}

void uio_cma_heap_unregister(struct uio_cma_region *r)
{
	if (r->heap.misc.name)
		misc_deregister(&r->heap.misc);
}
