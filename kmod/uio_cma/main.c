// SPDX-License-Identifier: GPL-2.0
/*
 * uio_cma - hand out slices of a boot-time carve-out as dma-bufs.
 *
 * A region of physical memory that the kernel does not map (memmap=SIZE$BASE
 * on x86, a no-map reserved-memory node on device-tree machines) is exposed
 * as a UIO device (map0 = the region) and a control device, /dev/uio_cmaN.
 * A user-space daemon owns all allocation policy; this stub only wraps the
 * ranges the daemon picks in dma-bufs, and refuses anything that could hand
 * one page to two owners: overlapping exports, unaligned or out-of-range
 * requests, unload while a buffer lives. The ABI is include/uio_cma.h.
 *
 * Every mapping of the region is write-combined: the one kernel mapping is
 * made once at probe with memremap(MEMREMAP_WC), which on x86 also records
 * the range as WC in the PAT memtype tree so that user mappings, and UIO's
 * own, resolve to WC too. There is no cached alias, hence no cache
 * maintenance anywhere. The region may have no struct page, so DMA mappings
 * come from dma_map_resource() and user mappings from inserted PFNs.
 *
 * checkpatch (--no-tree -f, from linux 6.1) is clean except for the four
 * LINUX_VERSION_CODE tests ("should be avoided", "constant on the right"):
 * this module is built out of tree, with DKMS, against whatever kernel a
 * board or distribution runs (Debian 12: 6.1 and 6.12), so the API changes
 * since 6.1 (vm_flags_set, get_file_active, void platform remove, the
 * quoted namespace of MODULE_IMPORT_NS) are bridged here rather than in a
 * merge.
 */

#include <linux/dma-buf.h>
#include <linux/dma-mapping.h>
#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/io.h>
#include <linux/ioport.h>
#include <linux/iommu.h>
#include <linux/iosys-map.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/of.h>
#include <linux/of_reserved_mem.h>
#include <linux/platform_device.h>
#include <linux/poll.h>
#include <linux/rwsem.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/uio_driver.h>
#include <linux/version.h>
#include <linux/vmalloc.h>
#include <linux/wait.h>

#ifdef CONFIG_X86
#include <asm/e820/api.h>
#endif

#include "uio_cma_priv.h"

#define CLEAR_CHUNK SZ_1M
/* The largest sg entry (sg_dma_len is an unsigned int), page aligned. */
#define SG_CHUNK ((u64)SZ_2G)

static unsigned long long base;
module_param(base, ullong, 0444);
MODULE_PARM_DESC(base, "x86: physical base of a region reserved with memmap=SIZE$BASE (elsewhere: the device tree)");
static unsigned long long size;
module_param(size, ullong, 0444);
MODULE_PARM_DESC(size, "Size in bytes of that region");

static DEFINE_IDA(uio_cma_ida);

/* Compatibility with kernels newer than the 6.1 this was written against. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
static void uio_cma_set_vm_flags(struct vm_area_struct *vma, unsigned long f)
{
	vm_flags_set(vma, f);
}
#else
static void uio_cma_set_vm_flags(struct vm_area_struct *vma, unsigned long f)
{
	vma->vm_flags |= f;
}
#endif

static bool ranges_overlap(u64 a, u64 alen, u64 b, u64 blen)
{
	return a < b + blen && b < a + alen;
}

/* Validates [offset, offset + len) against the region; 0 or -EINVAL. */
static int check_range(struct uio_cma_region *r, u64 offset, u64 len)
{
	if (!len || !PAGE_ALIGNED(offset) || !PAGE_ALIGNED(len))
		return -EINVAL;
	if (offset >= r->size || len > r->size - offset)
		return -EINVAL;
	return 0;
}

static bool range_dirty(struct uio_cma_region *r, u64 offset, u64 len)
{
	unsigned long first = offset >> PAGE_SHIFT;
	unsigned long end = first + (len >> PAGE_SHIFT);

	return find_next_bit(r->dirty, end, first) < end;
}

/*
 * Caller holds r->lock and owns e->release_ev, which this consumes. A range
 * whose fd was handed out may hold its owner's data: it is dirty until the
 * next CLEAR.
 */
static void queue_release(struct uio_cma_region *r, struct uio_cma_buf *e,
			  u32 flags)
{
	struct uio_cma_event_node *n = e->release_ev;

	e->release_ev = NULL;
	list_del(&e->node);
	e->live = false;
	if (e->published) {
		r->live--;
		bitmap_set(r->dirty, e->offset >> PAGE_SHIFT,
			   e->size >> PAGE_SHIFT);
	}
	if (!e->published || !r->opened) {
		kfree(n);
		return;
	}
	n->ev.type = UIO_CMA_EVENT_RELEASED;
	n->ev.flags = flags;
	n->ev.cookie = e->cookie;
	n->ev.offset = e->offset;
	n->ev.size = e->size;
	list_add_tail(&n->node, &r->events);
	wake_up_interruptible(&r->wait);
}

static void flush_events(struct uio_cma_region *r)
{
	struct uio_cma_event_node *n, *tmp;

	list_for_each_entry_safe(n, tmp, &r->events, node) {
		list_del(&n->node);
		kfree(n);
	}
}

/* ---- dma-buf exporter ---- */

/*
 * Unless the DMA API maps through an IOMMU (whose addresses honour the
 * mask), the device sees the bus address, which its mask must cover:
 * dma-buf.h asks a carve-out exporter to refuse the attach, and
 * dma_direct_map_resource() would WARN at map time. An identity (pass-
 * through) IOMMU domain is direct too.
 */
static bool uio_cma_reachable(struct device *dev, struct uio_cma_buf *e)
{
	struct iommu_domain *domain = iommu_get_domain_for_dev(dev);
	phys_addr_t last = e->region->base + e->offset + e->size - 1;

	if (domain && (domain->type & __IOMMU_DOMAIN_DMA_API))
		return true;
	/* What dma_direct_map_resource() checks: the bus address is @last. */
	return last <= min_not_zero(dma_get_mask(dev), dev->bus_dma_limit);
}

static int uio_cma_attach(struct dma_buf *dmabuf,
			  struct dma_buf_attachment *attach)
{
	struct uio_cma_buf *e = dmabuf->priv;
	int ret = 0;

	if (!uio_cma_reachable(attach->dev, e)) {
		dev_dbg(attach->dev, "cannot reach uio_cma buffer at %#llx+%#llx\n",
			e->region->base + e->offset, e->size);
		return -EINVAL;
	}
	down_write(&e->lock);
	if (e->revoked)
		ret = -ENODEV;
	else
		e->attached++;
	up_write(&e->lock);
	return ret;
}

static void uio_cma_detach(struct dma_buf *dmabuf,
			   struct dma_buf_attachment *attach)
{
	struct uio_cma_buf *e = dmabuf->priv;

	down_write(&e->lock);
	e->attached--;
	up_write(&e->lock);
}

/*
 * One contiguous DMA range, DMA side only: the region may have no struct
 * page, so sg_page() is NULL and sg->length 0, which importers must not use.
 * sg_dma_len() is an unsigned int: a buffer of 4 GiB or more takes several
 * entries, adjacent in DMA address.
 */
static struct sg_table *uio_cma_map(struct dma_buf_attachment *attach,
				    enum dma_data_direction dir)
{
	struct uio_cma_buf *e = attach->dmabuf->priv;
	phys_addr_t phys = e->region->base + e->offset;
	struct scatterlist *sg;
	struct sg_table *sgt;
	dma_addr_t addr;
	u64 done = 0;
	int ret, i;

	sgt = kzalloc(sizeof(*sgt), GFP_KERNEL);
	if (!sgt)
		return ERR_PTR(-ENOMEM);
	ret = sg_alloc_table(sgt, DIV_ROUND_UP_ULL(e->size, SG_CHUNK),
			     GFP_KERNEL);
	if (ret)
		goto free_sgt;

	addr = dma_map_resource(attach->dev, phys, e->size, dir,
				DMA_ATTR_SKIP_CPU_SYNC);
	if (dma_mapping_error(attach->dev, addr)) {
		ret = -EIO;
		goto free_table;
	}
	for_each_sgtable_sg(sgt, sg, i) {
		unsigned int len = min(e->size - done, SG_CHUNK);

		sg_dma_address(sg) = addr + done;
		sg_dma_len(sg) = len;
		done += len;
	}
	return sgt;

free_table:
	sg_free_table(sgt);
free_sgt:
	kfree(sgt);
	return ERR_PTR(ret);
}

static void uio_cma_unmap(struct dma_buf_attachment *attach,
			  struct sg_table *sgt, enum dma_data_direction dir)
{
	struct uio_cma_buf *e = attach->dmabuf->priv;

	dma_unmap_resource(attach->dev, sg_dma_address(sgt->sgl), e->size, dir,
			   DMA_ATTR_SKIP_CPU_SYNC);
	sg_free_table(sgt);
	kfree(sgt);
}

/* The last reference is gone: nothing can reach the range any more. */
static void uio_cma_release(struct dma_buf *dmabuf)
{
	struct uio_cma_buf *e = dmabuf->priv;
	struct uio_cma_region *r = e->region;

	mutex_lock(&r->lock);
	if (e->live)
		queue_release(r, e, 0);
	mutex_unlock(&r->lock);
	kfree(e->release_ev); /* still ours if revoked or never live */
	if (e->scratch) {
		vunmap(e->scratch);
		__free_page(e->scratch_page);
	}
	kfree(e);
}

/* Nothing is cached, so there is nothing to clean: only order the accesses. */
static int uio_cma_begin_cpu_access(struct dma_buf *dmabuf,
				    enum dma_data_direction dir)
{
	mb(); /* order earlier device-visible accesses before CPU reads */
	return 0;
}

static int uio_cma_end_cpu_access(struct dma_buf *dmabuf,
				  enum dma_data_direction dir)
{
	wmb(); /* drain write-combining buffers before a device reads */
	return 0;
}

/*
 * The first fault fills the whole mapping: a frame is read or written
 * whole, and one fault per page (2,048 for an 8 MiB frame) is pure cost.
 * The PTEs take vma->vm_page_prot, write-combined since mmap.
 */
static vm_fault_t uio_cma_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct uio_cma_buf *e = vma->vm_private_data;
	unsigned long pages = e->size >> PAGE_SHIFT;
	unsigned long pfn, addr, pgoff;
	vm_fault_t ret = VM_FAULT_SIGBUS;

	if (vmf->pgoff >= pages)
		return VM_FAULT_SIGBUS;

	down_read(&e->lock);
	if (e->revoked)
		goto unlock;
	pfn = PHYS_PFN(e->region->base + e->offset);
	ret = vmf_insert_pfn(vma, vmf->address, pfn + vmf->pgoff);
	if (ret != VM_FAULT_NOPAGE)
		goto unlock;
	/* The rest is a courtesy: a page that fails here faults on its own. */
	for (addr = vma->vm_start, pgoff = vma->vm_pgoff;
	     addr < vma->vm_end && pgoff < pages;
	     addr += PAGE_SIZE, pgoff++) {
		if (addr != (vmf->address & PAGE_MASK) &&
		    vmf_insert_pfn(vma, addr, pfn + pgoff) != VM_FAULT_NOPAGE)
			break;
	}
unlock:
	up_read(&e->lock);
	return ret;
}

static const struct vm_operations_struct uio_cma_vm_ops = {
	.fault = uio_cma_fault,
};

static int uio_cma_mmap(struct dma_buf *dmabuf, struct vm_area_struct *vma)
{
	struct uio_cma_buf *e = dmabuf->priv;

	/* A private COW copy of a PFN map makes no sense for a shared buffer. */
	if (!(vma->vm_flags & (VM_SHARED | VM_MAYSHARE)))
		return -EINVAL;
	if (READ_ONCE(e->revoked))
		return -ENODEV;

	uio_cma_set_vm_flags(vma, VM_PFNMAP | VM_IO | VM_DONTEXPAND |
			     VM_DONTDUMP);
	/*
	 * The kernel's WC mapping and the devices see the memory unencrypted
	 * (AMD SME): so must user space, as drm_gem_mmap_obj() does.
	 */
	vma->vm_page_prot = pgprot_decrypted(pgprot_writecombine(
				vm_get_page_prot(vma->vm_flags)));
	vma->vm_ops = &uio_cma_vm_ops;
	vma->vm_private_data = e;
	return 0;
}

/*
 * Never fails: the 6.1 core WARNs on a vmap error, and a vb2-vmalloc
 * importer (uvcvideo, vivid allocators=0) vmaps without attaching. A revoked
 * buffer maps the scratch page REVOKE prepared, which nobody else sees.
 */
static int uio_cma_vmap(struct dma_buf *dmabuf, struct iosys_map *map)
{
	struct uio_cma_buf *e = dmabuf->priv;

	down_write(&e->lock);
	if (e->revoked) {
		iosys_map_set_vaddr(map, e->scratch);
	} else {
		e->vmapped++;
		iosys_map_set_vaddr(map, e->region->vaddr + e->offset);
	}
	up_write(&e->lock);
	return 0;
}

static void uio_cma_vunmap(struct dma_buf *dmabuf, struct iosys_map *map)
{
	struct uio_cma_buf *e = dmabuf->priv;

	down_write(&e->lock);
	if (map->vaddr != e->scratch)
		e->vmapped--;
	up_write(&e->lock);
}

static const struct dma_buf_ops uio_cma_dmabuf_ops = {
	.attach = uio_cma_attach,
	.detach = uio_cma_detach,
	.map_dma_buf = uio_cma_map,
	.unmap_dma_buf = uio_cma_unmap,
	.release = uio_cma_release,
	.begin_cpu_access = uio_cma_begin_cpu_access,
	.end_cpu_access = uio_cma_end_cpu_access,
	.mmap = uio_cma_mmap,
	.vmap = uio_cma_vmap,
	.vunmap = uio_cma_vunmap,
};

/* ---- control device ---- */

static struct uio_cma_buf *find_cookie(struct uio_cma_region *r, u64 cookie)
{
	struct uio_cma_buf *e;

	list_for_each_entry(e, &r->exports, node)
		if (e->cookie == cookie)
			return e;
	return NULL;
}

/*
 * Claims the range for @e under r->lock. The exports list stays in address
 * order so that LIST is sorted; the walk goes to the end all the same, as
 * cookies must be unique across the whole list.
 */
static int claim_range(struct uio_cma_region *r, struct uio_cma_buf *e)
{
	struct list_head *pos = &r->exports;
	struct uio_cma_buf *o;

	if (r->clear_end && ranges_overlap(e->offset, e->size, r->clear_start,
					   r->clear_end - r->clear_start))
		return -EBUSY;
	if (range_dirty(r, e->offset, e->size))
		return -EACCES;
	list_for_each_entry(o, &r->exports, node) {
		if (o->cookie == e->cookie)
			return -EEXIST;
		if (ranges_overlap(e->offset, e->size, o->offset, o->size))
			return -EBUSY;
		if (pos == &r->exports && o->offset > e->offset)
			pos = &o->node;
	}
	list_add_tail(&e->node, pos);
	e->live = true;
	return 0;
}

/*
 * Claims [arg->offset, +arg->size) and wraps it in a dma-buf whose file has
 * @file_flags, named before anyone can see it. The export is not yet
 * published: dma_buf_put() undoes it without an event or a dirty range.
 */
struct uio_cma_buf *uio_cma_export_buf(struct uio_cma_region *r,
				       const struct uio_cma_export *arg,
				       int file_flags)
{
	DEFINE_DMA_BUF_EXPORT_INFO(info);
	struct uio_cma_buf *e;
	struct dma_buf *dmabuf;
	char *name = NULL;
	int ret;

	if (arg->flags || arg->pad ||
	    !memchr(arg->name, '\0', sizeof(arg->name)))
		return ERR_PTR(-EINVAL);
	ret = check_range(r, arg->offset, arg->size);
	if (ret)
		return ERR_PTR(ret);

	e = kzalloc(sizeof(*e), GFP_KERNEL);
	if (!e)
		return ERR_PTR(-ENOMEM);
	e->release_ev = kzalloc(sizeof(*e->release_ev), GFP_KERNEL);
	if (arg->name[0])
		name = kstrdup(arg->name, GFP_KERNEL);
	if (!e->release_ev || (arg->name[0] && !name)) {
		ret = -ENOMEM;
		goto free_export;
	}
	e->region = r;
	e->offset = arg->offset;
	e->size = arg->size;
	e->cookie = arg->cookie;
	init_rwsem(&e->lock);

	mutex_lock(&r->lock);
	ret = claim_range(r, e);
	mutex_unlock(&r->lock);
	if (ret)
		goto free_export;

	info.exp_name = DRV_NAME;
	info.owner = THIS_MODULE; /* the module stays while the buffer does */
	info.ops = &uio_cma_dmabuf_ops;
	info.size = e->size;
	info.flags = file_flags;
	info.priv = e;
	dmabuf = dma_buf_export(&info);
	if (IS_ERR(dmabuf)) {
		ret = PTR_ERR(dmabuf);
		goto unclaim;
	}
	e->dmabuf = dmabuf;
	/* What DMA_BUF_SET_NAME does, before anyone else can see the buffer. */
	spin_lock(&dmabuf->name_lock);
	dmabuf->name = name;
	spin_unlock(&dmabuf->name_lock);
	return e;

unclaim:
	mutex_lock(&r->lock);
	list_del(&e->node);
	mutex_unlock(&r->lock);
free_export:
	kfree(name);
	kfree(e->release_ev);
	kfree(e);
	return ERR_PTR(ret);
}

/*
 * Caller holds r->lock. Done before the fd exists: once it does, another
 * thread may close it and release() free @e under our feet. From here on
 * the range is the holder's: its release is an event and leaves it dirty.
 */
void uio_cma_publish(struct uio_cma_region *r, struct uio_cma_buf *e)
{
	e->published = true;
	r->live++;
}

static long ioctl_export(struct uio_cma_region *r, void __user *argp)
{
	struct uio_cma_export arg;
	struct uio_cma_buf *e;
	struct dma_buf *dmabuf;
	int fd;

	if (copy_from_user(&arg, argp, sizeof(arg)))
		return -EFAULT;
	e = uio_cma_export_buf(r, &arg, O_RDWR);
	if (IS_ERR(e))
		return PTR_ERR(e);
	dmabuf = e->dmabuf;

	mutex_lock(&r->lock);
	uio_cma_publish(r, e);
	mutex_unlock(&r->lock);
	fd = dma_buf_fd(dmabuf, O_CLOEXEC);
	if (fd < 0) {
		mutex_lock(&r->lock);
		e->published = false;
		r->live--;
		mutex_unlock(&r->lock);
		dma_buf_put(dmabuf); /* release() unclaims, with no event */
	}
	return fd;
}

/* A zeroed page mapped over the whole buffer: what vmap gives once revoked. */
static int prepare_scratch(struct uio_cma_buf *e)
{
	unsigned long i, n = e->size >> PAGE_SHIFT;
	struct page **pages;

	e->scratch_page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!e->scratch_page)
		return -ENOMEM;
	pages = kvmalloc_array(n, sizeof(*pages), GFP_KERNEL);
	if (pages) {
		for (i = 0; i < n; i++)
			pages[i] = e->scratch_page;
		e->scratch = vmap(pages, n, VM_MAP, PAGE_KERNEL);
		kvfree(pages);
	}
	if (!e->scratch) {
		__free_page(e->scratch_page);
		e->scratch_page = NULL;
		return -ENOMEM;
	}
	return 0;
}

/*
 * A reference to the dma-buf's file, or NULL if its last one is being
 * dropped: the final fput() frees the inode before release() runs and
 * waits for r->lock, so the mapping must not be touched without one.
 */
static struct file *pin_file(struct uio_cma_buf *e)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
	return get_file_active(&e->dmabuf->file);
#else
	struct file *file = e->dmabuf->file;

	return get_file_rcu(file) ? file : NULL;
#endif
}

static long ioctl_revoke(struct uio_cma_region *r, void __user *argp,
			 unsigned int usize)
{
	struct uio_cma_revoke arg = {};
	struct file *file = NULL;
	struct uio_cma_buf *e;
	int ret;

	if (copy_from_user(&arg, argp, usize))
		return -EFAULT;
	if (arg.flags || arg.pad)
		return -EINVAL;

	mutex_lock(&r->lock);
	e = find_cookie(r, arg.cookie);
	if (e && e->published)
		file = pin_file(e);
	if (!file) {
		ret = -ENOENT;
		goto unlock;
	}
	down_write(&e->lock);
	if (e->attached || e->vmapped) {
		ret = -EBUSY;
		goto unlock_buf;
	}
	ret = prepare_scratch(e);
	if (ret)
		goto unlock_buf;
	WRITE_ONCE(e->revoked, true);
	/* Faults now fail; remove what earlier faults inserted. */
	unmap_mapping_range(file->f_mapping, 0, 0, 1);
	queue_release(r, e, UIO_CMA_EVENT_REVOKED);
unlock_buf:
	up_write(&e->lock);
unlock:
	mutex_unlock(&r->lock);
	if (file)
		fput(file); /* may be the last: release() takes r->lock */
	return ret;
}

static long ioctl_list(struct uio_cma_region *r, void __user *argp,
		       unsigned int usize)
{
	struct uio_cma_list_entry *out = NULL;
	struct uio_cma_list arg = {};
	struct uio_cma_buf *e;
	u32 n = 0, cap;
	long ret;

	if (copy_from_user(&arg, argp, usize))
		return -EFAULT;
	if (arg.flags || arg.pad)
		return -EINVAL;
	mutex_lock(&r->lock);
	cap = min_t(u32, arg.capacity, r->live);
	if (cap) {
		out = kvmalloc_array(cap, sizeof(*out), GFP_KERNEL);
		if (!out) {
			mutex_unlock(&r->lock);
			return -ENOMEM;
		}
	}
	list_for_each_entry(e, &r->exports, node) {
		if (!e->published)
			continue;
		if (n < cap) {
			out[n].offset = e->offset;
			out[n].size = e->size;
			out[n].cookie = e->cookie;
		}
		n++;
	}
	mutex_unlock(&r->lock);

	ret = n;
	arg.count = n;
	if (copy_to_user(argp, &arg, usize))
		ret = -EFAULT;
	else if (cap && copy_to_user(u64_to_user_ptr(arg.entries), out,
				     (size_t)min(cap, n) * sizeof(*out)))
		ret = -EFAULT;
	kvfree(out);
	return ret;
}

static long ioctl_clear(struct uio_cma_region *r, void __user *argp,
			unsigned int usize)
{
	struct uio_cma_clear arg = {};
	struct uio_cma_buf *e;
	u64 done;
	int ret;

	if (copy_from_user(&arg, argp, usize))
		return -EFAULT;
	if (arg.flags || arg.pad)
		return -EINVAL;
	ret = check_range(r, arg.offset, arg.size);
	if (ret)
		return ret;

	/* Fence the range off, then zero it without holding the lock. */
	mutex_lock(&r->lock);
	if (r->clear_end)
		ret = -EBUSY;
	list_for_each_entry(e, &r->exports, node)
		if (ranges_overlap(arg.offset, arg.size, e->offset, e->size))
			ret = -EBUSY;
	if (!ret) {
		r->clear_start = arg.offset;
		r->clear_end = arg.offset + arg.size;
	}
	mutex_unlock(&r->lock);
	if (ret)
		return ret;

	for (done = 0; done < arg.size;) {
		size_t len = min_t(u64, CLEAR_CHUNK, arg.size - done);

		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		memset(r->vaddr + arg.offset + done, 0, len);
		done += len;
		cond_resched();
	}
	wmb(); /* drain write-combining buffers before the range is handed out */

	mutex_lock(&r->lock);
	bitmap_clear(r->dirty, arg.offset >> PAGE_SHIFT, done >> PAGE_SHIFT);
	r->clear_start = 0;
	r->clear_end = 0;
	mutex_unlock(&r->lock);
	return ret;
}

/*
 * What holders did to a live export since: its name (DMA_BUF_SET_NAME) and
 * who uses it. Under r->lock a listed export and its dma-buf exist, even if
 * its last holder is closing it: release() waits for the lock.
 */
static long ioctl_query(struct uio_cma_region *r, void __user *argp)
{
	struct uio_cma_query arg;
	struct uio_cma_buf *e;

	if (copy_from_user(&arg, argp, sizeof(arg)))
		return -EFAULT;
	if (arg.flags || arg.pad)
		return -EINVAL;
	mutex_lock(&r->lock);
	e = find_cookie(r, arg.cookie);
	if (!e || !e->published) {
		mutex_unlock(&r->lock);
		return -ENOENT;
	}
	down_read(&e->lock);
	arg.attached = e->attached;
	arg.vmapped = e->vmapped;
	up_read(&e->lock);
	spin_lock(&e->dmabuf->name_lock);
	strscpy_pad(arg.name, e->dmabuf->name ?: "", sizeof(arg.name));
	spin_unlock(&e->dmabuf->name_lock);
	mutex_unlock(&r->lock);
	return copy_to_user(argp, &arg, sizeof(arg)) ? -EFAULT : 0;
}

/*
 * ABI 1's REVOKE, LIST and CLEAR structs lacked the flags and pad at their
 * end: a command is matched by number and direction, and a struct from
 * ABI 1's size up to ours is taken, the missing tail reading as zero.
 */
static const struct uio_cma_cmd {
	unsigned int cmd;
	unsigned int min_size;
	bool write; /* changes state: the fd must be open for writing */
} uio_cma_cmds[] = {
	{ UIO_CMA_IOC_INFO, sizeof(struct uio_cma_info), false },
	{ UIO_CMA_IOC_EXPORT, sizeof(struct uio_cma_export), true },
	{ UIO_CMA_IOC_REVOKE, 8, true },
	{ UIO_CMA_IOC_LIST, 16, false },
	{ UIO_CMA_IOC_CLEAR, 16, true },
	{ UIO_CMA_IOC_HEAP_SERVE, sizeof(struct uio_cma_heap_serve), true },
	{ UIO_CMA_IOC_HEAP_CALLER, sizeof(struct uio_cma_heap_caller), false },
	{ UIO_CMA_IOC_HEAP_ANSWER, sizeof(struct uio_cma_heap_answer), true },
	{ UIO_CMA_IOC_QUERY, sizeof(struct uio_cma_query), false },
};

static const struct uio_cma_cmd *find_cmd(unsigned int ucmd)
{
	const struct uio_cma_cmd *c;
	unsigned int usize = _IOC_SIZE(ucmd);

	for (c = uio_cma_cmds; c < uio_cma_cmds + ARRAY_SIZE(uio_cma_cmds);
	     c++) {
		if (_IOC_TYPE(ucmd) == _IOC_TYPE(c->cmd) &&
		    _IOC_NR(ucmd) == _IOC_NR(c->cmd) &&
		    _IOC_DIR(ucmd) == _IOC_DIR(c->cmd) &&
		    usize >= c->min_size && usize <= _IOC_SIZE(c->cmd))
			return c;
	}
	return NULL;
}

static long uio_cma_ioctl(struct file *file, unsigned int ucmd,
			  unsigned long arg)
{
	struct uio_cma_region *r = file->private_data;
	const struct uio_cma_cmd *c = find_cmd(ucmd);
	unsigned int usize = _IOC_SIZE(ucmd);
	void __user *argp = (void __user *)arg;
	struct uio_cma_info info = {
		.base = r->base,
		.size = r->size,
		.abi_version = UIO_CMA_ABI_VERSION,
		.page_size = PAGE_SIZE,
	};

	if (!c)
		return -ENOTTY;
	if (c->write && !(file->f_mode & FMODE_WRITE))
		return -EBADF;
	switch (c->cmd) {
	case UIO_CMA_IOC_INFO:
		mutex_lock(&r->lock);
		info.live = r->live;
		mutex_unlock(&r->lock);
		return copy_to_user(argp, &info, sizeof(info)) ? -EFAULT : 0;
	case UIO_CMA_IOC_EXPORT:
		return ioctl_export(r, argp);
	case UIO_CMA_IOC_REVOKE:
		return ioctl_revoke(r, argp, usize);
	case UIO_CMA_IOC_LIST:
		return ioctl_list(r, argp, usize);
	case UIO_CMA_IOC_CLEAR:
		return ioctl_clear(r, argp, usize);
	case UIO_CMA_IOC_HEAP_SERVE:
		return uio_cma_heap_serve(r, file, argp);
	case UIO_CMA_IOC_HEAP_CALLER:
		return uio_cma_heap_caller(r, argp);
	case UIO_CMA_IOC_HEAP_ANSWER:
		return uio_cma_heap_answer(r, argp);
	case UIO_CMA_IOC_QUERY:
		return ioctl_query(r, argp);
	default:
		return -ENOTTY;
	}
}

/*
 * Events are taken off the queue under the lock and copied without it: a
 * copy can fault and sleep, and release() must not wait behind it. What
 * could not be copied goes back to the head of the queue.
 */
static ssize_t uio_cma_read(struct file *file, char __user *buf, size_t count,
			    loff_t *ppos)
{
	struct uio_cma_region *r = file->private_data;
	struct uio_cma_event_node *n, *tmp;
	size_t want = count / sizeof(n->ev);
	LIST_HEAD(batch);
	ssize_t done = 0;
	int ret;

	if (!want)
		return -EINVAL;

	mutex_lock(&r->lock);
	while (list_empty(&r->events)) {
		mutex_unlock(&r->lock);
		if (file->f_flags & O_NONBLOCK)
			return -EAGAIN;
		ret = wait_event_interruptible(r->wait,
					       !list_empty(&r->events));
		if (ret)
			return ret;
		mutex_lock(&r->lock);
	}
	list_for_each_entry_safe(n, tmp, &r->events, node) {
		if (!want--)
			break;
		uio_cma_heap_event_read(n);
		list_move_tail(&n->node, &batch);
	}
	mutex_unlock(&r->lock);

	list_for_each_entry_safe(n, tmp, &batch, node) {
		if (copy_to_user(buf + done, &n->ev, sizeof(n->ev)))
			break;
		list_del(&n->node);
		kfree(n);
		done += sizeof(n->ev);
	}
	if (!list_empty(&batch)) {
		mutex_lock(&r->lock);
		list_splice(&batch, &r->events);
		mutex_unlock(&r->lock);
	}
	return done ? done : -EFAULT;
}

static __poll_t uio_cma_poll(struct file *file, poll_table *wait)
{
	struct uio_cma_region *r = file->private_data;
	__poll_t mask = 0;

	poll_wait(file, &r->wait, wait);
	mutex_lock(&r->lock);
	if (!list_empty(&r->events))
		mask = EPOLLIN | EPOLLRDNORM;
	mutex_unlock(&r->lock);
	return mask;
}

/* One opener, the daemon: two would split the RELEASED events between them. */
static int uio_cma_open(struct inode *inode, struct file *file)
{
	struct uio_cma_region *r = container_of(file->private_data,
						struct uio_cma_region, misc);
	int ret = 0;

	mutex_lock(&r->lock);
	if (r->opened) {
		ret = -EBUSY;
	} else {
		r->opened = true;
		flush_events(r);
		file->private_data = r;
	}
	mutex_unlock(&r->lock);
	return ret ? ret : nonseekable_open(inode, file);
}

static int uio_cma_close(struct inode *inode, struct file *file)
{
	struct uio_cma_region *r = file->private_data;

	mutex_lock(&r->lock);
	uio_cma_heap_stop(r); /* waiting heap callers fail: ENODEV */
	flush_events(r);
	r->opened = false;
	mutex_unlock(&r->lock);
	return 0;
}

static const struct file_operations uio_cma_fops = {
	.owner = THIS_MODULE,
	.open = uio_cma_open,
	.release = uio_cma_close,
	.read = uio_cma_read,
	.poll = uio_cma_poll,
	.unlocked_ioctl = uio_cma_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	/* nonseekable_open() makes lseek fail; no_llseek is gone in 6.12. */
};

/* ---- regions ---- */

/* Where the region comes from: a reserved-memory node, or base=/size=. */
static int uio_cma_find_region(struct device *dev, phys_addr_t *pbase,
			       resource_size_t *psize)
{
	struct device_node *np;
	struct reserved_mem *rmem;
	bool nomap;

	if (!dev->of_node) {
		*pbase = base;
		*psize = size;
		return 0;
	}
	np = of_parse_phandle(dev->of_node, "memory-region", 0);
	if (!np) {
		dev_err(dev, "no memory-region phandle: point it at a reserved-memory node with no-map\n");
		return -EINVAL;
	}
	nomap = of_property_read_bool(np, "no-map");
	rmem = of_reserved_mem_lookup(np);
	of_node_put(np);
	if (!rmem) {
		dev_err(dev, "memory-region is not a reserved-memory node\n");
		return -EINVAL;
	}
	if (!nomap) {
		dev_err(dev, "reserved-memory %s lacks no-map: the kernel would keep a cached mapping; add no-map\n",
			rmem->name);
		return -EINVAL;
	}
	*pbase = rmem->base;
	*psize = rmem->size;
	return 0;
}

#ifdef CONFIG_X86
static int one_resource(struct resource *res, void *arg)
{
	struct resource *want = arg;

	/* The walk clips each resource to the range: whole means it held all. */
	if (res->start == want->start && res->end == want->end)
		return 1;
	return 0;
}

/*
 * memmap=SIZE$BASE turns RAM into one Reserved resource. The whole range
 * must lie in one such resource (not across a hole or two neighbours), and
 * must have been RAM to the firmware: a firmware Reserved area (ACPI, BIOS)
 * is not ours to hand out.
 */
static bool is_memmap_carveout(phys_addr_t b, resource_size_t s)
{
	struct resource want = DEFINE_RES_MEM(b, s);

	if (walk_iomem_res_desc(IORES_DESC_RESERVED, IORESOURCE_MEM, b,
				b + s - 1, &want, one_resource) != 1)
		return false;
	if (e820__mapped_raw_any(b, b + s, E820_TYPE_RESERVED) ||
	    !e820__mapped_raw_any(b, b + s, E820_TYPE_RAM))
		return false;
	return true;
}

/* A base=/size= region: what memmap= made of RAM, nothing else. */
static int uio_cma_check_param_region(struct device *dev, phys_addr_t b,
				      resource_size_t s)
{
	if (is_memmap_carveout(b, s))
		return 0;
	dev_err(dev, "region %pa+%pa is not within one memmap=SIZE$BASE carve-out of RAM (see /proc/iomem, /sys/firmware/memmap)\n",
		&b, &s);
	return -EINVAL;
}
#else
/*
 * Without e820 (arm64) a carve-out is a no-map reserved-memory node of the
 * device tree. It shows as a top-level "reserved" resource outside System
 * RAM, without IORES_DESC_RESERVED -- and so do the no-map ranges that
 * firmware keeps (EFI runtime services, a TEE) and other devices'
 * carve-outs: a bare address cannot say whose memory it is, only the node
 * that names it can. So the region comes from the device tree, never from
 * parameters.
 */
static int uio_cma_check_param_region(struct device *dev, phys_addr_t b,
				      resource_size_t s)
{
	dev_err(dev, "region %pa+%pa given as base=/size= is refused on this architecture: declare it in the device tree (a no-map reserved-memory node and a \"cmabuf,uio-cma\" node whose memory-region points at it, docs/kmod.md) and load the module without base= and size=\n",
		&b, &s);
	return -EINVAL;
}
#endif

static int uio_cma_check_region(struct device *dev, phys_addr_t b,
				resource_size_t s)
{
	if (!s || !PAGE_ALIGNED(b) || !PAGE_ALIGNED(s) || b + s < b) {
		dev_err(dev, "region %pa+%pa is empty or not page aligned\n",
			&b, &s);
		return -EINVAL;
	}
	if (region_intersects(b, s, IORESOURCE_SYSTEM_RAM, IORES_DESC_NONE) !=
	    REGION_DISJOINT) {
		dev_err(dev, "region %pa+%pa is System RAM, refusing it: reserve it first with memmap=SIZE$BASE (x86) or a no-map reserved-memory node\n",
			&b, &s);
		return -EINVAL;
	}
	/* A device-tree region was checked against its node (no-map). */
	if (!dev->of_node)
		return uio_cma_check_param_region(dev, b, s);
	return 0;
}

/*
 * UIO maps map0 with pgprot_noncached(): Device memory on arm64, next to the
 * Normal-NC of every dma-buf mapping of the same pages -- the mismatched
 * alias this stub exists to avoid. Map it write-combined like everything
 * else. UIO has checked the map index and the length before calling this.
 */
static int uio_cma_uio_mmap(struct uio_info *info, struct vm_area_struct *vma)
{
	struct uio_cma_region *r = container_of(info, struct uio_cma_region, uio);

	vma->vm_page_prot = pgprot_decrypted(pgprot_writecombine(vma->vm_page_prot));
	return remap_pfn_range(vma, vma->vm_start, PHYS_PFN(r->base),
			       vma->vm_end - vma->vm_start, vma->vm_page_prot);
}

static int uio_cma_probe(struct platform_device *pdev)
{
	struct device *dev = &pdev->dev;
	struct uio_cma_region *r;
	int ret;

	r = devm_kzalloc(dev, sizeof(*r), GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	mutex_init(&r->lock);
	INIT_LIST_HEAD(&r->exports);
	INIT_LIST_HEAD(&r->events);
	init_waitqueue_head(&r->wait);
	INIT_LIST_HEAD(&r->heap.pending);

	ret = uio_cma_find_region(dev, &r->base, &r->size);
	if (ret)
		return ret;
	ret = uio_cma_check_region(dev, r->base, r->size);
	if (ret)
		return ret;
	if (!devm_request_mem_region(dev, r->base, r->size, DRV_NAME)) {
		dev_err(dev, "region %pa+%pa is claimed by another driver (see /proc/iomem)\n",
			&r->base, &r->size);
		return -EBUSY;
	}
	/* The only kernel mapping, and on x86 the PAT reservation as WC. */
	r->vaddr = devm_memremap(dev, r->base, r->size, MEMREMAP_WC);
	if (IS_ERR(r->vaddr)) {
		dev_err(dev, "cannot map region %pa+%pa write-combining\n",
			&r->base, &r->size);
		return PTR_ERR(r->vaddr);
	}
	/* Whatever the region holds from before (boot, kexec) is nobody's. */
	r->dirty = devm_bitmap_zalloc(dev, r->size >> PAGE_SHIFT, GFP_KERNEL);
	if (!r->dirty)
		return -ENOMEM;
	bitmap_fill(r->dirty, r->size >> PAGE_SHIFT);

	r->id = ida_alloc(&uio_cma_ida, GFP_KERNEL);
	if (r->id < 0)
		return r->id;
	snprintf(r->name, sizeof(r->name), DRV_NAME "%d", r->id);

	r->uio.name = UIO_CMA_UIO_NAME;
	r->uio.version = __stringify(UIO_CMA_ABI_VERSION);
	r->uio.irq = UIO_IRQ_NONE;
	r->uio.mem[0].name = "region";
	r->uio.mem[0].addr = r->base;
	r->uio.mem[0].size = r->size;
	r->uio.mem[0].memtype = UIO_MEM_PHYS;
	r->uio.mmap = uio_cma_uio_mmap;
	ret = uio_register_device(dev, &r->uio);
	if (ret)
		goto free_id;

	r->misc.minor = MISC_DYNAMIC_MINOR;
	r->misc.name = r->name;
	r->misc.fops = &uio_cma_fops;
	r->misc.mode = 0600;
	r->misc.parent = dev;
	ret = misc_register(&r->misc);
	if (ret)
		goto unregister_uio;
	ret = uio_cma_heap_register(r, dev);
	if (ret)
		goto unregister_misc;

	platform_set_drvdata(pdev, r);
	dev_info(dev, "region %pa+%pa write-combined, control /dev/%s%s%s\n",
		 &r->base, &r->size, r->name,
		 r->heap.misc.name ? ", heap /dev/" : "",
		 r->heap.misc.name ? r->heap.nodename : "");
	return 0;

unregister_misc:
	misc_deregister(&r->misc);
unregister_uio:
	uio_unregister_device(&r->uio);
free_id:
	ida_free(&uio_cma_ida, r->id);
	return ret;
}

/* Never with live exports: each holds a module reference. */
static void uio_cma_teardown(struct platform_device *pdev)
{
	struct uio_cma_region *r = platform_get_drvdata(pdev);

	uio_cma_heap_unregister(r);
	misc_deregister(&r->misc);
	uio_unregister_device(&r->uio);
	flush_events(r);
	ida_free(&uio_cma_ida, r->id);
}

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 11, 0)
static void uio_cma_remove(struct platform_device *pdev)
{
	uio_cma_teardown(pdev);
}
#else
static int uio_cma_remove(struct platform_device *pdev)
{
	uio_cma_teardown(pdev);
	return 0;
}
#endif

static const struct of_device_id uio_cma_of_match[] = {
	{ .compatible = "cmabuf,uio-cma" },
	{ }
};
MODULE_DEVICE_TABLE(of, uio_cma_of_match);

static int uio_cma_param_err; /* why the base=/size= region failed probe */

static int uio_cma_probe_one(struct platform_device *pdev)
{
	int ret = uio_cma_probe(pdev);

	if (!pdev->dev.of_node)
		uio_cma_param_err = ret;
	return ret;
}

static struct platform_driver uio_cma_driver = {
	.probe = uio_cma_probe_one,
	.remove = uio_cma_remove,
	.driver = {
		.name = DRV_NAME,
		.of_match_table = uio_cma_of_match,
		/* Unbinding under live exports would pull the region away. */
		.suppress_bind_attrs = true,
		/* init reports the probe's error (async_probe=1 would hide it). */
		.probe_type = PROBE_FORCE_SYNCHRONOUS,
	},
};

static struct platform_device *uio_cma_param_dev;

static int __init uio_cma_init(void)
{
	struct platform_device *pdev;
	int ret;

	ret = platform_driver_register(&uio_cma_driver);
	if (ret || !size)
		return ret;

	/* base=/size=: one region, probed by the same driver, synchronously. */
	pdev = platform_device_register_simple(DRV_NAME, PLATFORM_DEVID_NONE,
					       NULL, 0);
	if (IS_ERR(pdev)) {
		ret = PTR_ERR(pdev);
		goto unregister_driver;
	}
	if (!platform_get_drvdata(pdev)) {
		ret = uio_cma_param_err ?: -ENODEV; /* probe said why */
		goto unregister_device;
	}
	uio_cma_param_dev = pdev;
	return 0;

unregister_device:
	platform_device_unregister(pdev);
unregister_driver:
	platform_driver_unregister(&uio_cma_driver);
	return ret;
}
module_init(uio_cma_init);

static void __exit uio_cma_exit(void)
{
	platform_device_unregister(uio_cma_param_dev);
	platform_driver_unregister(&uio_cma_driver);
	ida_destroy(&uio_cma_ida);
}
module_exit(uio_cma_exit);

MODULE_DESCRIPTION("Contiguous carve-out exported through UIO and dma-buf");
MODULE_AUTHOR("The cmabuf authors");
MODULE_LICENSE("GPL");
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 13, 0)
MODULE_IMPORT_NS("DMA_BUF");
#else
MODULE_IMPORT_NS(DMA_BUF);
#endif
