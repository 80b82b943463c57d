/* SPDX-License-Identifier: MIT */
/*
 * The user side of the test-only tests/vm/ptewalk module (arm64): ask it
 * how a page-table entry maps an address, from the descriptor itself. Used
 * by test_arm64_mappings, and by test_kmod and test_uio_daemon for arm64's
 * counterpart of x86's PAT list. Header-only, like tap.h.
 */
#ifndef CMABUF_VM_PTEWALK_CLIENT_H
#define CMABUF_VM_PTEWALK_CLIENT_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PTEWALK "/sys/kernel/debug/ptewalk"

struct walk {
	char line[256];
	char level[8];
	char type[32];
	uint64_t va;	/* k and d */
	uint64_t pa;	/* of the leaf: a page, or a pmd or pud block */
	uint64_t val;	/* d only */
	int map_memory; /* k only */
};

static inline const char *ptewalk_field(const char *line, const char *key)
{
	const char *p = strstr(line, key);

	return p ? p + strlen(key) : NULL;
}

/*
 * Loads ptewalk from $CMABUF_VM_PTEWALK (tests/vm/vm-run --arch arm64 builds
 * it) unless it is loaded already: 0 or -errno.
 */
static inline int ptewalk_load(void)
{
	const char *ko = getenv("CMABUF_VM_PTEWALK");
	int fd, ret;

	if (access(PTEWALK, F_OK) == 0)
		return 0;
	if (!ko || !*ko)
		return -ENOENT;
	fd = open(ko, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, "", 0) == 0 ? 0 : -errno;
	close(fd);
	if (ret == 0 && access(PTEWALK, F_OK) != 0)
		ret = -ENOENT; /* loaded, but no debugfs file */
	return ret;
}

/* Sends ptewalk one request (see tests/vm/ptewalk/ptewalk.c), parses the answer: 0 or -errno. */
static inline int ptewalk_ask(const char *req, struct walk *w)
{
	size_t len = strlen(req);
	const char *v;
	ssize_t n;
	int fd;

	memset(w, 0, sizeof(*w));
	w->map_memory = -1;
	fd = open(PTEWALK, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, req, len) != (ssize_t)len || lseek(fd, 0, SEEK_SET) != 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	n = read(fd, w->line, sizeof(w->line) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	w->line[n] = '\0';
	w->line[strcspn(w->line, "\n")] = '\0';
	if ((v = ptewalk_field(w->line, "level=")))
		sscanf(v, "%7s", w->level);
	if ((v = ptewalk_field(w->line, "type=")))
		sscanf(v, "%31s", w->type);
	if ((v = ptewalk_field(w->line, " va=")))
		w->va = strtoull(v, NULL, 0);
	if ((v = ptewalk_field(w->line, " pa=")))
		w->pa = strtoull(v, NULL, 0);
	if ((v = ptewalk_field(w->line, " val=")))
		w->val = strtoull(v, NULL, 0);
	if ((v = ptewalk_field(w->line, "map_memory=")))
		w->map_memory = atoi(v);
	return 0;
}

/*
 * The physical address a valid leaf maps w->va (or va) to, from the leaf's
 * level (4 KiB granule: a pte maps 4 KiB, a pmd block 2 MiB, a pud block
 * 1 GiB); UINT64_MAX if no valid leaf maps it.
 */
static inline uint64_t ptewalk_phys(const struct walk *w, uint64_t va)
{
	int shift = strcmp(w->level, "pte") == 0   ? 12
		    : strcmp(w->level, "pmd") == 0 ? 21
		    : strcmp(w->level, "pud") == 0 ? 30
						   : 0;

	if (!shift)
		return UINT64_MAX;
	return w->pa + (va & ((1ull << shift) - 1));
}

/* "u ADDR" (this process's table) or "k PHYS" (the linear map): 0 or -errno. */
static inline int ptewalk(char kind, uint64_t addr, struct walk *w)
{
	char req[64];

	snprintf(req, sizeof(req), "%c %#" PRIx64, kind, addr);
	return ptewalk_ask(req, w);
}

/*
 * "d FD OFF [VAL]": the importer's kernel mapping of dma-buf fd (dma_buf_vmap)
 * at byte offset off, after writing *val there if val is not NULL; the word
 * read there in w->val. 0 or -errno.
 */
static inline int ptewalk_dmabuf(int fd, uint64_t off, const uint64_t *val, struct walk *w)
{
	char req[96];

	if (val)
		snprintf(req, sizeof(req), "d %#x %#" PRIx64 " %#" PRIx64, fd, off, *val);
	else
		snprintf(req, sizeof(req), "d %#x %#" PRIx64, fd, off);
	return ptewalk_ask(req, w);
}

/*
 * The memory type of the page at p in this process (touched first: a
 * fault-based mapping has no entry before), into type; 0 if a valid pte
 * maps it at physical want_pa, else -1 with the walker's line in why.
 */
static inline int ptewalk_user_type(const volatile void *p, uint64_t want_pa, char *type,
				    size_t type_len, char *why, size_t why_len)
{
	struct walk w;
	uint8_t v = *(const volatile uint8_t *)p;
	int ret;

	(void)v;
	type[0] = '\0';
	ret = ptewalk('u', (uint64_t)(uintptr_t)p, &w);
	if (ret < 0) {
		snprintf(why, why_len, "ptewalk u %p: %s", (const void *)p, strerror(-ret));
		return -1;
	}
	snprintf(type, type_len, "%s", w.type);
	snprintf(why, why_len, "%s", w.line);
	return strcmp(w.level, "pte") == 0 && w.pa == want_pa ? 0 : -1;
}

#endif
