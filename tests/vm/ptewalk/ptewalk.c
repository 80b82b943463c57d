// SPDX-License-Identifier: GPL-2.0
/*
 * ptewalk: a test-only arm64 module that reads page-table entries, so the VM
 * suite can prove from the hardware's own descriptors (not from the exporter's
 * say-so) which memory type a mapping has. Debian's arm64 kernel has no
 * CONFIG_PTDUMP_DEBUGFS, hence this.
 *
 * /sys/kernel/debug/ptewalk (root only): write a request, read the answer,
 * on the same open file.
 *
 *   "u ADDR"  walk the writing process's page table at user address ADDR
 *   "k PHYS"  walk the kernel's (TTBR1) at the linear-map address of PHYS,
 *             and say whether memblock maps PHYS at all (pfn_is_map_memory)
 *   "d FD OFF [VAL]"  as a dma-buf importer would: dma_buf_vmap() the
 *             writer's dma-buf FD, walk the kernel's table at the returned
 *             address + OFF, (write the 64-bit VAL there,) read the 64-bit
 *             word there (val=), vunmap. The CPU side of importers such as
 *             vivid and vgem goes through this mapping.
 *
 * The answer is one line of key=value pairs:
 *   u va=0x... level=pte desc=0x... attrindx=2 mair=0x44 type=Normal-NC pa=0x...
 *   k pa=0x... va=0x... map_memory=0 level=none
 *   d va=0x... val=0x... level=pte desc=0x... ... type=Normal-NC pa=0x...
 * level=none: no valid descriptor maps the address. mair is the attribute
 * byte MAIR_EL1 holds for the descriptor's AttrIndx; type decodes that byte
 * per the Arm ARM (Device-nGnRnE, Device-nGnRE, Normal-NC, Normal-WB, ...).
 */
#include <linux/debugfs.h>
#include <linux/dma-buf.h>
#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pgtable.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/version.h>
#include <asm/sysreg.h>

#define ANSWER_MAX 256

struct walk {
	const char *level;
	u64 desc;
};

/* Level by level; stops at the first missing or leaf descriptor. */
static void walk_from(pgd_t *pgdp, unsigned long addr, struct walk *w)
{
	p4d_t *p4dp, p4d;
	pud_t *pudp, pud;
	pmd_t *pmdp, pmd;
	pte_t *ptep, pte;

	w->level = "none";
	w->desc = 0;
	if (pgd_none(READ_ONCE(*pgdp)) || pgd_bad(READ_ONCE(*pgdp)))
		return;
	p4dp = p4d_offset(pgdp, addr);
	p4d = READ_ONCE(*p4dp);
	if (p4d_none(p4d) || p4d_bad(p4d))
		return;
	pudp = pud_offset(p4dp, addr);
	pud = READ_ONCE(*pudp);
	if (pud_none(pud))
		return;
	if (pud_leaf(pud)) {
		w->level = "pud";
		w->desc = pud_val(pud);
		return;
	}
	if (pud_bad(pud))
		return;
	pmdp = pmd_offset(pudp, addr);
	pmd = READ_ONCE(*pmdp);
	if (pmd_none(pmd))
		return;
	if (pmd_leaf(pmd)) {
		w->level = "pmd";
		w->desc = pmd_val(pmd);
		return;
	}
	if (pmd_bad(pmd))
		return;
	/* arm64 has no highmem: the table is in the linear map for user tables too. */
	ptep = pte_offset_kernel(pmdp, addr);
	pte = READ_ONCE(*ptep);
	if (!pte_valid(pte))
		return;
	w->level = "pte";
	w->desc = pte_val(pte);
}

/* One MAIR attribute byte as the Arm ARM names it. */
static void mair_type(u8 attr, char *buf, size_t len)
{
	static const char *const device[] = { "nGnRnE", "nGnRE", "nGRE", "GRE" };
	u8 outer = attr >> 4, inner = attr & 0xf;

	if (!outer) {
		if (inner & 3)
			snprintf(buf, len, "UNPREDICTABLE");
		else
			snprintf(buf, len, "Device-%s", device[inner >> 2]);
	} else if (attr == 0xf0) {
		snprintf(buf, len, "Normal-Tagged");
	} else {
		const char *o = outer == 4 ? "NC" : outer >= 0xc ? "WB" : outer >= 8 ? "WT" : "transient";
		const char *i = inner == 4 ? "NC" : inner >= 0xc ? "WB" : inner >= 8 ? "WT" : "transient";

		if (o == i)
			snprintf(buf, len, "Normal-%s", o);
		else
			snprintf(buf, len, "Normal-%s/%s", o, i);
	}
}

static int describe(char *out, size_t len, const struct walk *w)
{
	u64 mair = read_sysreg(mair_el1);
	unsigned int idx;
	char type[32];
	u8 attr;

	if (!w->desc)
		return scnprintf(out, len, " level=none\n");
	idx = (w->desc & PTE_ATTRINDX_MASK) >> 2;
	attr = (mair >> (8 * idx)) & 0xff;
	mair_type(attr, type, sizeof(type));
	return scnprintf(out, len, " level=%s desc=%#llx attrindx=%u mair=%#04x type=%s pa=%#llx\n",
			 w->level, w->desc, idx, attr, type,
			 (unsigned long long)(w->desc & GENMASK_ULL(47, PAGE_SHIFT)));
}

static int walk_user(unsigned long addr, char *out)
{
	struct mm_struct *mm = current->mm;
	struct walk w;
	int n;

	if (!mm)
		return -EINVAL;
	mmap_read_lock(mm);
	walk_from(pgd_offset(mm, addr), addr, &w);
	mmap_read_unlock(mm);
	n = scnprintf(out, ANSWER_MAX, "u va=%#lx", addr);
	describe(out + n, ANSWER_MAX - n, &w);
	return 0;
}

/* TTBR1_EL1: the kernel's tables (swapper) while in the kernel, KPTI or not. */
static void walk_kernel_va(unsigned long va, struct walk *w)
{
	phys_addr_t root = read_sysreg(ttbr1_el1) & GENMASK_ULL(47, 1);

	walk_from(pgd_offset_pgd((pgd_t *)__va(root), va), va, w);
}

static int walk_kernel(phys_addr_t phys, char *out)
{
	unsigned long va = (unsigned long)__phys_to_virt(phys);
	struct walk w;
	int n;

	walk_kernel_va(va, &w);
	n = scnprintf(out, ANSWER_MAX, "k pa=%#llx va=%#lx map_memory=%d",
		      (unsigned long long)phys, va, pfn_is_map_memory(__phys_to_pfn(phys)));
	describe(out + n, ANSWER_MAX - n, &w);
	return 0;
}

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0)
#define importer_vmap dma_buf_vmap_unlocked
#define importer_vunmap dma_buf_vunmap_unlocked
#else
#define importer_vmap dma_buf_vmap
#define importer_vunmap dma_buf_vunmap
#endif

/* The word at OFF of the importer's kernel mapping, written first if asked. */
static int walk_dmabuf(int fd, unsigned long off, bool write, u64 val, char *out)
{
	struct dma_buf *dmabuf = dma_buf_get(fd);
	struct iosys_map map;
	unsigned long va;
	struct walk w;
	int n, ret;

	if (IS_ERR(dmabuf))
		return PTR_ERR(dmabuf);
	ret = -EINVAL;
	if (off > dmabuf->size - sizeof(u64) || !IS_ALIGNED(off, sizeof(u64)))
		goto put;
	ret = importer_vmap(dmabuf, &map);
	if (ret)
		goto put;
	ret = -EOPNOTSUPP; /* the stub maps system memory, never __iomem */
	if (map.is_iomem)
		goto unmap;
	va = (unsigned long)map.vaddr + off;
	walk_kernel_va(va, &w);
	if (write)
		WRITE_ONCE(*(u64 *)va, val);
	n = scnprintf(out, ANSWER_MAX, "d va=%#lx val=%#llx", va, READ_ONCE(*(u64 *)va));
	describe(out + n, ANSWER_MAX - n, &w);
	ret = 0;
unmap:
	importer_vunmap(dmabuf, &map);
put:
	dma_buf_put(dmabuf);
	return ret;
}

static int ptewalk_open(struct inode *inode, struct file *file)
{
	file->private_data = kzalloc(ANSWER_MAX, GFP_KERNEL);
	return file->private_data ? 0 : -ENOMEM;
}

static int ptewalk_release(struct inode *inode, struct file *file)
{
	kfree(file->private_data);
	return 0;
}

static ssize_t ptewalk_write(struct file *file, const char __user *ubuf, size_t len,
			     loff_t *ppos)
{
	char req[96], kind;
	unsigned long long addr, off, val;
	int ret, n;

	if (len >= sizeof(req))
		return -EINVAL;
	if (copy_from_user(req, ubuf, len))
		return -EFAULT;
	req[len] = '\0';
	n = sscanf(req, "%c %llx %llx %llx", &kind, &addr, &off, &val);
	if (n < 2)
		return -EINVAL;
	if (kind == 'u')
		ret = walk_user(addr, file->private_data);
	else if (kind == 'k')
		ret = walk_kernel(addr, file->private_data);
	else if (kind == 'd' && n >= 3)
		ret = walk_dmabuf(addr, off, n == 4, val, file->private_data);
	else
		ret = -EINVAL;
	return ret ? ret : len;
}

static ssize_t ptewalk_read(struct file *file, char __user *ubuf, size_t len, loff_t *ppos)
{
	const char *answer = file->private_data;

	return simple_read_from_buffer(ubuf, len, ppos, answer, strlen(answer));
}

static const struct file_operations ptewalk_fops = {
	.owner = THIS_MODULE,
	.open = ptewalk_open,
	.release = ptewalk_release,
	.write = ptewalk_write,
	.read = ptewalk_read,
	.llseek = default_llseek,
};

static struct dentry *ptewalk_dentry;

static int __init ptewalk_init(void)
{
	ptewalk_dentry = debugfs_create_file("ptewalk", 0600, NULL, NULL, &ptewalk_fops);
	return IS_ERR(ptewalk_dentry) ? PTR_ERR(ptewalk_dentry) : 0;
}
module_init(ptewalk_init);

static void __exit ptewalk_exit(void)
{
	debugfs_remove(ptewalk_dentry);
}
module_exit(ptewalk_exit);

MODULE_DESCRIPTION("Test-only: page-table entries and memory types of addresses (arm64)");
MODULE_LICENSE("GPL");
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 13, 0)
MODULE_IMPORT_NS("DMA_BUF");
#else
MODULE_IMPORT_NS(DMA_BUF);
#endif
