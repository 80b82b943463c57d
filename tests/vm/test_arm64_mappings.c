/* SPDX-License-Identifier: MIT */
/*
 * test_arm64_mappings: arm64's own evidence for "coherent mappings only", read
 * from the page tables rather than taken from the stub. Run inside an arm64
 * guest by tests/vm/vm-run --arch arm64 (uio_cma bound to the device tree's
 * regions, $CMABUF_VM_REGIONS, and the test-only tests/vm/ptewalk module at
 * $CMABUF_VM_PTEWALK). For every region:
 *
 * - it is not in the kernel's linear map: memblock does not map it
 *   (pfn_is_map_memory, i.e. MEMBLOCK_NOMAP), no kernel page-table entry maps
 *   its linear-map address, /proc/iomem has it reserved and outside System
 *   RAM, and /sys/kernel/debug/memblock/memory has it as ranges of its own;
 * - a dma-buf exported from it and mapped by a process is Normal-NC in the
 *   process's page table, at the right physical address;
 * - UIO's map0 mapped by a process is Normal-NC too, so no two mappings of a
 *   page differ in memory type (UIO's default pgprot_noncached is
 *   Device-nGnRnE on arm64: the mismatched alias the project exists to avoid);
 * - CPU and device see each other's writes without cache maintenance: a word
 *   written through the process's mapping is read through the kernel mapping
 *   an importer gets from dma_buf_vmap(), and the reverse (coherence() below
 *   says what this proves under qemu's TCG and what it cannot).
 *
 * Prints one TAP line per check; exits 1 if any failed, 77 when not in such
 * a guest.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ptewalk_client.h"
#include "tap.h"
#include "uio_cma.h"

#define MIB	    (1024ull * 1024ull)
#define MAX_REGIONS 8

static long page_size;

/* ---- the region in the kernel's view ---- */

static bool linear_map_check(uint64_t base, uint64_t size)
{
	uint64_t probes[] = {base, base + size / 2, base + size - (uint64_t)page_size};
	bool ok = true;

	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		struct walk w;

		if (ptewalk('k', probes[i], &w) < 0) {
			diag("ptewalk k %#" PRIx64 ": %s", probes[i], strerror(errno));
			return false;
		}
		if (w.map_memory != 0 || strcmp(w.level, "none") != 0) {
			diag("%s", w.line);
			ok = false;
		}
	}
	return ok;
}

/* Top-level /proc/iomem: inside a "reserved" range, overlapping no System RAM. */
static bool iomem_check(uint64_t base, uint64_t size)
{
	FILE *f = fopen("/proc/iomem", "re");
	uint64_t end = base + size - 1, lo, hi;
	bool reserved = false, ram = false;
	char line[256];
	int name_at;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == ' ')
			continue; /* nested */
		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " : %n", &lo, &hi, &name_at) != 2)
			continue;
		line[strcspn(line, "\n")] = '\0';
		if (hi < base || lo > end)
			continue;
		if (strcmp(line + name_at, "System RAM") == 0) {
			diag("iomem: %s", line);
			ram = true;
		}
		if (strcmp(line + name_at, "reserved") == 0 && lo <= base && hi >= end)
			reserved = true;
	}
	fclose(f);
	return reserved && !ram;
}

/*
 * /sys/kernel/debug/memblock/memory: the region is covered by whole ranges
 * (a no-map region is split off from the RAM around it: its flags differ)
 * and, where the kernel prints flags (newer kernels), they say NOMAP.
 */
static bool memblock_check(uint64_t base, uint64_t size)
{
	FILE *f = fopen("/sys/kernel/debug/memblock/memory", "re");
	uint64_t end = base + size, lo, hi, covered = 0;
	bool ok = true;
	char line[256];
	int rest;

	if (!f) {
		diag("memblock: %s", strerror(errno));
		return false;
	}
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, " %*d: %" SCNx64 "..%" SCNx64 "%n", &lo, &hi, &rest) != 2)
			continue;
		hi++; /* inclusive */
		line[strcspn(line, "\n")] = '\0';
		if (hi <= base || lo >= end)
			continue;
		if (lo < base || hi > end) {
			diag("memblock range straddles the region: %s", line);
			ok = false;
		}
		if (strpbrk(line + rest, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") &&
		    !strstr(line + rest, "NOMAP")) {
			diag("memblock range without NOMAP: %s", line);
			ok = false;
		}
		covered += (hi < end ? hi : end) - (lo > base ? lo : base);
	}
	fclose(f);
	if (covered != size) {
		diag("memblock covers %#" PRIx64 " of the region's %#" PRIx64 " bytes", covered,
		     size);
		ok = false;
	}
	return ok;
}

/* ---- user mappings ---- */

/* Touches the page at p (fault-based mappings have no entry before) and walks it. */
static bool user_walk(volatile uint32_t *p, uint64_t want_pa, const char *what, char *type,
		      size_t type_len)
{
	struct walk w;
	uint32_t v = *p;

	(void)v;
	if (ptewalk('u', (uint64_t)(uintptr_t)p, &w) < 0) {
		diag("ptewalk u %p: %s", (void *)p, strerror(errno));
		return false;
	}
	diag("%s: %s", what, w.line);
	snprintf(type, type_len, "%s", w.type);
	return check(strcmp(w.level, "pte") == 0 && w.pa == want_pa,
		     "%s: a valid entry maps physical %#" PRIx64, what, want_pa);
}

/* /dev/uioN whose map0 is at base, or -1. */
static int uio_index(uint64_t base)
{
	for (int i = 0; i < 16; i++) {
		char path[96];
		unsigned long long addr;
		FILE *f;
		int n;

		snprintf(path, sizeof(path), "/sys/class/uio/uio%d/maps/map0/addr", i);
		f = fopen(path, "re");
		if (!f)
			continue;
		n = fscanf(f, "%llx", &addr);
		fclose(f);
		if (n == 1 && addr == base)
			return i;
	}
	return -1;
}

static void region_mappings(int ctl, const struct uio_cma_info *info, const char *name)
{
	struct uio_cma_clear c = {.offset = 0, .size = 1 * MIB};
	struct uio_cma_export e = {.offset = 0, .size = 1 * MIB, .cookie = 7};
	char buf_type[32] = "", map0_type[32] = "", what[128], path[32];
	volatile uint32_t *p, *q;
	int fd, uio, idx;

	snprintf(e.name, sizeof(e.name), "ptewalk");
	check(ioctl(ctl, UIO_CMA_IOC_CLEAR, &c) == 0, "%s: CLEAR [0, 1M)", name);
	fd = ioctl(ctl, UIO_CMA_IOC_EXPORT, &e);
	if (!check(fd >= 0, "%s: EXPORT [0, 1M) as a dma-buf", name))
		return;
	p = mmap(NULL, 1 * MIB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (check(p != MAP_FAILED, "%s: mmap of the dma-buf", name)) {
		p[0] = 0x600dcafe;
		snprintf(what, sizeof(what), "%s dma-buf mmap", name);
		if (user_walk(p, info->base, what, buf_type, sizeof(buf_type)))
			check(strcmp(buf_type, "Normal-NC") == 0,
			      "%s dma-buf mmap: memory type Normal-NC (%s)", name, buf_type);
		/* Another page of it, half way in. */
		p[(512 * 1024) / 4] = 1;
		snprintf(what, sizeof(what), "%s dma-buf mmap +512K", name);
		user_walk(p + (512 * 1024) / 4, info->base + 512 * 1024, what, buf_type,
			  sizeof(buf_type));
	} else {
		p = NULL;
	}

	idx = uio_index(info->base);
	snprintf(path, sizeof(path), "/dev/uio%d", idx);
	uio = idx < 0 ? -1 : open(path, O_RDWR | O_CLOEXEC);
	q = uio < 0 ? MAP_FAILED : mmap(NULL, 1 * MIB, PROT_READ, MAP_SHARED, uio, 0);
	if (check(q != MAP_FAILED, "%s: mmap of %s map0", name, idx < 0 ? "uio?" : path)) {
		snprintf(what, sizeof(what), "%s %s map0", name, path);
		if (user_walk(q, info->base, what, map0_type, sizeof(map0_type))) {
			check(q[0] == 0x600dcafe, "%s map0 sees the dma-buf's write", name);
			check(strcmp(map0_type, "Normal-NC") == 0,
			      "%s %s map0: memory type Normal-NC (%s)", name, path, map0_type);
			check(buf_type[0] && strcmp(map0_type, buf_type) == 0,
			      "%s: map0 and the dma-buf map the same page with the same memory "
			      "type "
			      "(%s, %s)",
			      name, map0_type, buf_type);
		}
		munmap((void *)q, 1 * MIB);
	}
	if (uio >= 0)
		close(uio);
	if (p)
		munmap((void *)p, 1 * MIB);
	close(fd);
}

/*
 * CPU and device see each other's writes with no cache maintenance: no
 * DMA_BUF_IOCTL_SYNC, no begin/end_cpu_access. A word written through this
 * process's mapping of a dma-buf is read through the kernel mapping an
 * importer gets from dma_buf_vmap() (ptewalk "d": what vivid and vgem use for
 * CPU access to a buffer, the device side that qemu offers), and a word
 * written there is read here; both page-table entries must be Normal-NC at
 * the same physical page.
 *
 * What this proves, under TCG too: the importer's mapping is the same
 * physical memory (no bounce copy, no other page), and it is Normal-NC like
 * the process's, so no mapping of the page is cacheable: a cached alias (a
 * PAGE_KERNEL vmap, the linear map) fails the memory-type check, a wrong
 * page or a copy fails the data checks. What TCG cannot prove: qemu models no
 * caches, so the data checks alone would pass with a cached alias as well.
 * That hardware needs no maintenance follows from the memory types the walks
 * show (Normal-NC memory has no cache lines to clean or invalidate), which
 * is why they are checked here and not taken from the data.
 */
static void coherence(int ctl, const struct uio_cma_info *info, const char *name)
{
	const uint64_t off = 2 * MIB, word = 8192 + 40; /* in the buffer's third page */
	const uint64_t cpu = 0x0123456789abcdefull, dev = 0xfedcba9876543210ull;
	const uint64_t pa = info->base + off + word;
	struct uio_cma_clear c = {.offset = off, .size = 1 * MIB};
	struct uio_cma_export e = {.offset = off, .size = 1 * MIB, .cookie = 8};
	char type[32], why[256];
	volatile uint64_t *p;
	struct walk w;
	int fd, ret;

	snprintf(e.name, sizeof(e.name), "coherence");
	check(ioctl(ctl, UIO_CMA_IOC_CLEAR, &c) == 0, "%s: CLEAR [2M, 3M)", name);
	fd = ioctl(ctl, UIO_CMA_IOC_EXPORT, &e);
	if (!check(fd >= 0, "%s: EXPORT [2M, 3M) for the coherence check", name))
		return;
	p = mmap(NULL, 1 * MIB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (!check(p != MAP_FAILED, "%s: mmap it", name)) {
		close(fd);
		return;
	}
	check(p[word / 8] == 0, "%s: the cleared word reads 0 here", name);
	p[word / 8] = cpu;
	ret = ptewalk_user_type(&p[word / 8], pa & ~(uint64_t)(page_size - 1), type, sizeof(type),
				why, sizeof(why));
	check(ret == 0 && strcmp(type, "Normal-NC") == 0,
	      "%s: the process's mapping of the word is Normal-NC (%s)", name, why);
	ret = ptewalk_dmabuf(fd, word, NULL, &w);
	diag("%s importer vmap: %s", name, w.line);
	/* ioremap maps the region with blocks where it can: a pmd leaf is fine. */
	check(ret == 0 && ptewalk_phys(&w, w.va) == pa,
	      "%s: the importer's kernel mapping maps the word at physical %#" PRIx64 " (%s)", name,
	      pa, strerror(-ret));
	check(ret == 0 && strcmp(w.type, "Normal-NC") == 0,
	      "%s: the importer's kernel mapping is Normal-NC (%s)", name, w.type);
	check(ret == 0 && w.val == cpu,
	      "%s: a CPU write here is read by the importer, no sync (%#" PRIx64 ")", name, w.val);
	ret = ptewalk_dmabuf(fd, word, &dev, &w);
	check(ret == 0 && w.val == dev && p[word / 8] == dev,
	      "%s: the importer's write is read here, no sync (%#" PRIx64 ")", name,
	      (uint64_t)p[word / 8]);
	munmap((void *)p, 1 * MIB);
	close(fd);
}

int main(void)
{
	const char *ko = getenv("CMABUF_VM_PTEWALK"), *regions = getenv("CMABUF_VM_REGIONS");
	uint64_t bases[MAX_REGIONS], sizes[MAX_REGIONS];
	int n_regions = 0, ret;

	page_size = sysconf(_SC_PAGESIZE);
	if (!ko || !*ko || !regions || access("/dev/uio_cma0", F_OK) != 0) {
		printf("1..0 # SKIP no ptewalk module or no uio_cma region (run me under "
		       "tests/vm/vm-run --arch arm64)\n");
		return 77;
	}
	for (const char *r = regions; *r && n_regions < MAX_REGIONS;) {
		char *end;

		bases[n_regions] = strtoull(r, &end, 0);
		if (*end != ':')
			break;
		sizes[n_regions] = strtoull(end + 1, &end, 0);
		n_regions++;
		r = end + strspn(end, " ");
	}
	ret = ptewalk_load();
	if (!check(ret == 0, "ptewalk loaded (%s: %s)", ko, strerror(-ret)))
		goto out;

	for (int i = 0; i < n_regions; i++) {
		uint64_t b = bases[i], s = sizes[i];

		check(linear_map_check(b, s),
		      "region %#" PRIx64 "+%#" PRIx64 ": memblock does not map it and no kernel "
		      "page-table entry maps its linear-map address",
		      b, s);
		check(iomem_check(b, s),
		      "region %#" PRIx64 "+%#" PRIx64 ": /proc/iomem has it reserved, outside "
		      "System RAM",
		      b, s);
		check(memblock_check(b, s),
		      "region %#" PRIx64 "+%#" PRIx64 ": memblock.memory has it as ranges of "
		      "its own (NOMAP)",
		      b, s);
	}
	/* Sanity of the walker itself: ordinary RAM is in the linear map, Normal-WB. */
	{
		struct walk w;
		int *heap = malloc(4096);

		heap[0] = 1;
		if (check(ptewalk('u', (uint64_t)(uintptr_t)heap, &w) == 0 &&
				  strcmp(w.level, "pte") == 0,
			  "ptewalk finds this process's heap page (%s)", w.line))
			check(strcmp(w.type, "Normal-WB") == 0, "the heap is Normal-WB (%s)",
			      w.type);
		if (w.pa)
			check(ptewalk('k', w.pa, &w) == 0 && w.map_memory == 1 &&
				      strcmp(w.level, "none") != 0 &&
				      strcmp(w.type, "Normal-WB") == 0,
			      "and its page is in the linear map, Normal-WB (%s)", w.line);
		free(heap);
	}

	for (int i = 0; i < MAX_REGIONS; i++) {
		struct uio_cma_info info;
		char dev[32], name[48];
		int ctl;

		snprintf(dev, sizeof(dev), "/dev/uio_cma%d", i);
		ctl = open(dev, O_RDWR | O_CLOEXEC);
		if (ctl < 0)
			break;
		if (check(ioctl(ctl, UIO_CMA_IOC_INFO, &info) == 0, "%s: INFO", dev)) {
			snprintf(name, sizeof(name), "%s (%#" PRIx64 ")", dev, (uint64_t)info.base);
			region_mappings(ctl, &info, name);
			coherence(ctl, &info, name);
		}
		close(ctl);
	}
	check(system("rmmod ptewalk") == 0, "rmmod ptewalk");
out:
	printf("1..%d\n", n_tests);
	printf("%d passed, %d failed\n", n_tests - n_failed, n_failed);
	return n_failed ? 1 : 0;
}
