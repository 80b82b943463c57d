/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the contiguous allocator, including a randomized comparison
 * against a byte-per-page reference model. Set ALLOC_TEST_SEED / ALLOC_TEST_OPS
 * to replay a failure or to shorten the run (e.g. under valgrind).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "allocator.h"

#define KiB	   (1024ULL)
#define MiB	   (1024ULL * KiB)
#define PAGE	   (4 * KiB)
#define REGION	   (256 * MiB)
#define NPAGES	   (REGION / PAGE)
#define NV12_1080P 3110400ULL /* 1920 * 1080 * 3 / 2 */

/* ---- helpers ---------------------------------------------------------- */

static uint64_t rng_state;

/* splitmix64: tiny, good enough, and reproducible across libcs unlike rand(). */
static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rnd_range(uint64_t lo, uint64_t hi) /* inclusive */
{
	return lo + rnd() % (hi - lo + 1);
}

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *s = getenv(name);

	return s && *s ? strtoull(s, NULL, 0) : def;
}

#define MAX_EXT 4096

struct extents {
	uint32_t n;
	uint64_t off[MAX_EXT];
	uint64_t size[MAX_EXT];
};

static int collect_cb(uint64_t off, uint64_t size, void *ctx)
{
	struct extents *x = ctx;

	if (x->n == MAX_EXT)
		return -1;
	x->off[x->n] = off;
	x->size[x->n] = size;
	x->n++;
	return 0;
}

static void collect(const struct allocator *a, struct extents *x)
{
	x->n = 0;
	assert_int_equal(allocator_for_each_free(a, collect_cb, x), 0);
}

/* A full picture of the allocator's observable state, to prove an error changed nothing. */
struct snapshot {
	struct allocator_stats st;
	struct extents ext;
};

static void snap(const struct allocator *a, struct snapshot *s)
{
	memset(s, 0, sizeof(*s));
	allocator_get_stats(a, &s->st);
	collect(a, &s->ext);
}

static void assert_unchanged(const struct allocator *a, const struct snapshot *before)
{
	struct snapshot *now = malloc(sizeof(*now));

	assert_non_null(now);
	snap(a, now);
	assert_memory_equal(&now->st, &before->st, sizeof(now->st));
	assert_memory_equal(&now->ext, &before->ext, sizeof(now->ext));
	free(now);
}

static uint64_t alloc_ok(struct allocator *a, uint64_t size, uint64_t align)
{
	uint64_t off = UINT64_MAX;

	assert_int_equal(allocator_alloc(a, size, align, &off), 0);
	return off;
}

/* ---- randomized model test ------------------------------------------- */

struct live {
	uint64_t off;
	uint64_t size;
};

struct model {
	struct allocator *a;
	uint8_t page[NPAGES]; /* 1 = allocated */
	uint64_t used;
	struct live live[NPAGES];
	uint32_t nlive;
	uint64_t seed;
	uint64_t op;
	uint64_t n_alloc, n_nomem, n_exact, n_release, n_reserve;
	uint64_t last_freed; /* size of the last release: pools re-request it */
	uint32_t max_free_extents;
};

#define CHECK(m, cond)                                                                             \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fail_msg("seed %#" PRIx64 " op %" PRIu64 ": %s (%s:%d)", (m)->seed,        \
				 (m)->op, #cond, __FILE__, __LINE__);                              \
	} while (0)

/* Free runs of the reference, in address order: what for_each_free must report. */
static void ref_runs(const struct model *m, struct extents *x)
{
	uint64_t p = 0, s;

	x->n = 0;
	while (p < NPAGES) {
		if (m->page[p]) {
			p++;
			continue;
		}
		for (s = p; p < NPAGES && !m->page[p]; p++)
			;
		x->off[x->n] = s * PAGE;
		x->size[x->n] = (p - s) * PAGE;
		x->n++;
	}
}

/* Free runs [s, p) of the reference in address order, one per call; false at the end. */
static bool ref_next_run(const struct model *m, uint64_t *p, uint64_t *s)
{
	while (*p < NPAGES && m->page[*p])
		(*p)++;
	if (*p == NPAGES)
		return false;
	for (*s = *p; *p < NPAGES && !m->page[*p]; (*p)++)
		;
	return true;
}

/* Whether the npages pages from page p on are all free and inside the region. */
static bool ref_free_from(const struct model *m, uint64_t p, uint64_t npages)
{
	uint64_t q;

	if (p > NPAGES || npages > NPAGES - p)
		return false;
	for (q = p; q < p + npages; q++)
		if (m->page[q])
			return false;
	return true;
}

/* Live blocks of exactly npages pages: the allocator looks at a bounded number. */
static uint32_t ref_count_size(const struct model *m, uint64_t npages)
{
	uint32_t i, n = 0;

	for (i = 0; i < m->nlive; i++)
		n += m->live[i].size == npages * PAGE;
	return n;
}

/*
 * Affinity: right above or right below a live block of exactly npages pages,
 * at an aligned start; the highest such place (high) or the lowest.
 */
static bool ref_affine(const struct model *m, uint64_t npages, uint64_t align_pages, bool high,
		       uint64_t *off)
{
	uint64_t cand[2], p, best = UINT64_MAX;
	uint32_t i;
	int k;

	for (i = 0; i < m->nlive; i++) {
		if (m->live[i].size != npages * PAGE)
			continue;
		p = m->live[i].off / PAGE;
		cand[0] = p + npages;				 /* above: the block ends there */
		cand[1] = p >= npages ? p - npages : UINT64_MAX; /* below */
		for (k = 0; k < 2; k++) {
			if (cand[k] == UINT64_MAX || cand[k] % align_pages ||
			    !ref_free_from(m, cand[k], npages))
				continue;
			if (best == UINT64_MAX || (high ? cand[k] > best : cand[k] < best))
				best = cand[k];
		}
	}
	if (best == UINT64_MAX)
		return false;
	*off = best * PAGE;
	return true;
}

/*
 * Small (high): the highest run that holds npages aligned, at its highest aligned
 * start; large: the lowest such run, at its lowest aligned start.
 */
static bool ref_fit(const struct model *m, uint64_t npages, uint64_t align_pages, bool high,
		    uint64_t *off)
{
	uint64_t p = 0, s, lo;
	bool found = false;

	while (ref_next_run(m, &p, &s)) {
		lo = (s + align_pages - 1) / align_pages * align_pages;
		if (lo + npages > p)
			continue;
		*off = (high ? (p - npages) / align_pages * align_pages : lo) * PAGE;
		found = true;
		if (!high)
			break;
	}
	return found;
}

/* Where the placement policy must put npages at a multiple of align_pages. */
static bool ref_place(const struct model *m, uint64_t npages, uint64_t align_pages, uint64_t *off)
{
	bool small = npages * PAGE <= allocator_small_max(m->a);

	return ref_affine(m, npages, align_pages, small, off) ||
	       ref_fit(m, npages, align_pages, small, off);
}

/* The length of the longest free run, in pages. */
static uint64_t ref_longest(const struct model *m)
{
	uint64_t p = 0, s, best = 0;

	while (ref_next_run(m, &p, &s))
		if (p - s > best)
			best = p - s;
	return best;
}

static void ref_mark(struct model *m, uint64_t off, uint64_t size, uint8_t v)
{
	uint64_t p;

	CHECK(m, off % PAGE == 0 && size % PAGE == 0 && off + size <= REGION);
	for (p = off / PAGE; p < (off + size) / PAGE; p++) {
		CHECK(m, m->page[p] != v); /* overlap with a live range, or freeing free pages */
		m->page[p] = v;
	}
	m->used += v ? size : -size;
}

static void model_add(struct model *m, uint64_t off, uint64_t size)
{
	ref_mark(m, off, size, 1);
	m->live[m->nlive].off = off;
	m->live[m->nlive].size = size;
	m->nlive++;
}

static void model_check_stats(struct model *m)
{
	struct allocator_stats st;

	allocator_get_stats(m->a, &st);
	CHECK(m, st.size == REGION);
	CHECK(m, st.used == m->used);
	CHECK(m, st.free == REGION - m->used);
	CHECK(m, st.used + st.free == st.size);
	CHECK(m, st.used_extents == m->nlive);
}

static void model_check_full(struct model *m)
{
	static struct extents got, want;
	struct allocator_stats st;
	uint64_t largest = 0;
	uint32_t i;

	collect(m->a, &got);
	ref_runs(m, &want);
	CHECK(m, got.n == want.n);
	for (i = 0; i < want.n; i++) {
		CHECK(m, got.off[i] == want.off[i] && got.size[i] == want.size[i]);
		if (want.size[i] > largest)
			largest = want.size[i];
	}
	allocator_get_stats(m->a, &st);
	CHECK(m, st.free_extents == want.n);
	CHECK(m, st.largest_free == largest);
	CHECK(m, allocator_check(m->a) == 0); /* subtree maxima, both trees, parent links */
	if (st.free_extents > m->max_free_extents)
		m->max_free_extents = st.free_extents;
}

static uint64_t random_size(void)
{
	/* Half uniform over the whole range, half log-uniform so small sizes show up too. */
	if (rnd() & 1)
		return rnd_range(1, 8 * MiB);
	return rnd_range(1, 1ULL << rnd_range(0, 23));
}

/* Groups the random model spreads its requests over; 0: allocator_alloc only (the seed's run). */
static unsigned model_groups;

static void model_alloc(struct model *m)
{
	static const uint64_t aligns[] = {0, 4 * KiB, 64 * KiB, 1 * MiB, 2 * MiB};
	uint64_t size = m->last_freed && rnd() % 4 == 0 ? m->last_freed : random_size();
	uint64_t align = aligns[rnd() % 5];
	uint64_t rsize = allocator_round(m->a, size), eff = align ? align : PAGE;
	uint64_t off = UINT64_MAX, want = UINT64_MAX;
	struct allocator_stats st;
	bool exact, fits;
	int ret;

	/* Unaligned placement is exact. Aligned requests look at a bounded number of
	 * candidates (free extents, and blocks of their size for affinity), so with no
	 * more of either than that they must be exact too. */
	allocator_get_stats(m->a, &st);
	exact = eff == PAGE || (st.free_extents <= 64 && ref_count_size(m, rsize / PAGE) <= 64);
	uint64_t group = model_groups ? rnd() % (model_groups + 1) : 0;

	/* A grouped request's place is its own rule; group 0 is checked as ungrouped. */
	exact = exact && !group;
	if (model_groups)
		ret = allocator_alloc_group(m->a, size, align, group, &off);
	else
		ret = allocator_alloc(m->a, size, align, &off);
	CHECK(m, ret == 0 || (ret == -ENOMEM && off == UINT64_MAX));
	/* Checking the choice costs a scan of the reference: always on failure (never miss
	 * a fit), on every fourth success otherwise. */
	if (exact && (ret || m->op % 4 == 0)) {
		fits = ref_place(m, rsize / PAGE, eff / PAGE, &want);
		CHECK(m, fits == (ret == 0));
		CHECK(m, ret || off == want);
		m->n_exact++;
	}
	if (ret) {
		/* Even past the bound, a run of size + align - page pages always holds it. */
		CHECK(m, ref_longest(m) < (rsize + eff - PAGE) / PAGE);
		m->n_nomem++;
		return;
	}
	CHECK(m, off % eff == 0);
	model_add(m, off, rsize);
	m->n_alloc++;
}

static void model_release(struct model *m)
{
	uint32_t i = rnd() % m->nlive;
	struct live l = m->live[i];

	CHECK(m, allocator_release(m->a, l.off, l.size) == 0);
	m->live[i] = m->live[--m->nlive];
	ref_mark(m, l.off, l.size, 0);
	m->last_freed = l.size;
	m->n_release++;
	if (rnd() % 16 == 0) /* double free must be refused */
		CHECK(m, allocator_release(m->a, l.off, l.size) == -EINVAL);
}

/* Reserves a random sub-range of a free run, or checks that a used page is refused. */
static void model_reserve(struct model *m)
{
	uint64_t p = rnd() % NPAGES, end, start, len;

	if (m->page[p]) {
		CHECK(m, allocator_reserve(m->a, p * PAGE, rnd_range(1, PAGE)) == -EBUSY);
		return;
	}
	for (end = p; end < NPAGES && !m->page[end]; end++)
		;
	start = rnd_range(p, end - 1);
	len = rnd_range(1, end - start < 2048 ? end - start : 2048);
	CHECK(m, allocator_reserve(m->a, start * PAGE, len * PAGE - rnd() % PAGE) == 0);
	model_add(m, start * PAGE, len * PAGE);
	m->n_reserve++;
}

static void run_random_model(unsigned groups)
{
	struct model *m = calloc(1, sizeof(*m));
	uint64_t nops = env_u64("ALLOC_TEST_OPS", 100000), r;

	assert_non_null(m);
	model_groups = groups;
	m->seed = env_u64("ALLOC_TEST_SEED", 0xc0ffee);
	rng_state = m->seed;
	m->a = allocator_new(REGION, PAGE);
	assert_non_null(m->a);
	for (m->op = 0; m->op < nops; m->op++) {
		r = rnd() % 100;
		if (r < 55 || m->nlive == 0)
			model_alloc(m);
		else if (r < 96)
			model_release(m);
		else
			model_reserve(m);
		model_check_stats(m);
		if (m->op % 8 == 0)
			model_check_full(m);
	}
	model_check_full(m);
	print_message("seed %#" PRIx64 ": %" PRIu64 " allocs, %" PRIu64 " ENOMEM, %" PRIu64
		      " placements verified, %" PRIu64 " releases, %" PRIu64
		      " reserves, <= %u free extents\n",
		      m->seed, m->n_alloc, m->n_nomem, m->n_exact, m->n_release, m->n_reserve,
		      m->max_free_extents);
	allocator_destroy(m->a);
	free(m);
}

static void test_random_model(void **state)
{
	(void)state;
	run_random_model(0);
}

/* The same with requests spread over 7 groups and group 0: every invariant after each op. */
static void test_random_model_grouped(void **state)
{
	(void)state;
	run_random_model(7);
}

/* ---- directed tests --------------------------------------------------- */

static void test_coalesce_after_free_all(void **state)
{
	struct allocator *a = allocator_new(REGION, PAGE);
	struct live *l = calloc(NPAGES, sizeof(*l));
	struct allocator_stats st;
	struct live tmp;
	uint32_t n = 0, i, j;

	(void)state;
	assert_non_null(a);
	assert_non_null(l);
	rng_state = 42;
	/* Random sizes until nothing fits, then single pages until the region is full. */
	for (l[n].size = random_size(); allocator_alloc(a, l[n].size, 0, &l[n].off) == 0; n++)
		l[n + 1].size = random_size();
	for (l[n].size = PAGE; allocator_alloc(a, PAGE, 0, &l[n].off) == 0; n++)
		l[n + 1].size = PAGE;
	allocator_get_stats(a, &st);
	assert_int_equal(st.free, 0);
	assert_int_equal(st.free_extents, 0);
	assert_int_equal(st.largest_free, 0);
	for (i = n; i > 1; i--) { /* Fisher-Yates */
		j = rnd() % i;
		tmp = l[i - 1];
		l[i - 1] = l[j];
		l[j] = tmp;
	}
	for (i = 0; i < n; i++)
		assert_int_equal(allocator_release(a, l[i].off, l[i].size), 0);
	allocator_get_stats(a, &st);
	assert_int_equal(st.free_extents, 1);
	assert_int_equal(st.largest_free, REGION);
	assert_int_equal(st.free, REGION);
	assert_int_equal(st.used, 0);
	assert_int_equal(st.used_extents, 0);
	free(l);
	allocator_destroy(a);
}

static void test_nv12_frames_kept_together(void **state)
{
	struct allocator *a = allocator_new(REGION, PAGE);
	uint64_t big, ao, bo, co, f = allocator_round(a, NV12_1080P);

	(void)state;
	assert_non_null(a);
	big = alloc_ok(a, 8 * MiB, 0);
	ao = alloc_ok(a, NV12_1080P, 0);
	bo = alloc_ok(a, NV12_1080P, 0);
	co = alloc_ok(a, NV12_1080P, 0);
	assert_true(big < ao && ao < bo && bo < co);
	assert_int_equal(allocator_release(a, big, 8 * MiB), 0);
	assert_int_equal(allocator_release(a, bo, NV12_1080P), 0);
	/* Not first fit (offset 0) nor the frame-sized hole at bo: the lowest place
	 * next to a frame of the same size, which is just below the first frame... */
	assert_int_equal(alloc_ok(a, NV12_1080P, 0), ao - f);
	assert_int_equal(alloc_ok(a, NV12_1080P, 0), ao - 2 * f);
	/* ...and once the hole below is too small, the freed frame's hole, taken whole. */
	assert_int_equal(alloc_ok(a, NV12_1080P, 0), bo);
	assert_int_equal(allocator_check(a), 0);
	allocator_destroy(a);
}

/* One release across several blocks and into another: the block records follow. */
static void test_release_across_blocks(void **state)
{
	struct allocator *a = allocator_new(REGION, PAGE);
	uint64_t b0, b1, b2;

	(void)state;
	assert_non_null(a);
	b0 = alloc_ok(a, 600 * PAGE, 0);
	b1 = alloc_ok(a, 600 * PAGE, 0);
	b2 = alloc_ok(a, 600 * PAGE, 0);
	assert_true(b0 < b1 && b1 < b2);
	/* The top half of b0, all of b1, the bottom half of b2. */
	assert_int_equal(allocator_release(a, b0 + 300 * PAGE, 1200 * PAGE), 0);
	assert_int_equal(allocator_check(a), 0);
	/* What is left of b0 and b2 is 300 pages each, and 300 is small here: the
	 * highest place next to one of them, right above what is left of b2. */
	assert_int_equal(alloc_ok(a, 300 * PAGE, 0), b2 + 600 * PAGE);
	assert_int_equal(allocator_release(a, b0, 300 * PAGE), 0);
	assert_int_equal(allocator_release(a, b2 + 300 * PAGE, 300 * PAGE), 0);
	assert_int_equal(allocator_release(a, b2 + 600 * PAGE, 300 * PAGE), 0);
	assert_int_equal(allocator_check(a), 0);
	assert_int_equal(alloc_ok(a, REGION, 0), 0); /* all one extent again */
	allocator_destroy(a);
}

/* Affinity beats both ends: a request goes next to a block of its own size. */
static void test_affinity(void **state)
{
	struct allocator *a = allocator_new(REGION, PAGE);
	const uint64_t top = REGION / PAGE;
	uint64_t off[6];
	int i;

	(void)state;
	assert_non_null(a);
	/* Large (over 512 pages): 800, 600, 600, 800, 600, 800 pages from the bottom. */
	for (i = 0; i < 6; i++)
		off[i] = alloc_ok(a, (i == 0 || i == 3 || i == 5 ? 800 : 600) * PAGE, 0);
	assert_int_equal(off[5], 3400 * PAGE);
	assert_int_equal(allocator_release(a, off[0], 800 * PAGE), 0); /* [0,800) */
	assert_int_equal(allocator_release(a, off[3], 800 * PAGE), 0); /* [2000,2800) */
	/* First fit would take 0: against the 600-page block at 800 instead. */
	assert_int_equal(alloc_ok(a, 600 * PAGE, 0), 200 * PAGE);
	/* Not the exact hole [2000,2800): next to the 800-page block at 3400. */
	assert_int_equal(alloc_ok(a, 800 * PAGE, 0), 4200 * PAGE);
	/* Small, from the top: 4, 20, 16 pages, then the 20 freed. */
	assert_int_equal(alloc_ok(a, 4 * PAGE, 0), (top - 4) * PAGE);
	assert_int_equal(alloc_ok(a, 20 * PAGE, 0), (top - 24) * PAGE);
	assert_int_equal(alloc_ok(a, 16 * PAGE, 0), (top - 40) * PAGE);
	assert_int_equal(allocator_release(a, (top - 24) * PAGE, 20 * PAGE), 0);
	/* The top of the highest hole would be top - 20: right above the 16 instead. */
	assert_int_equal(alloc_ok(a, 16 * PAGE, 0), (top - 24) * PAGE);
	assert_int_equal(allocator_check(a), 0);
	allocator_destroy(a);
}

/* Group 0 is allocator_alloc: the same sequence places every block at the same offset. */
static void test_group_zero_is_ungrouped(void **state)
{
	struct allocator *a = allocator_new(REGION, PAGE), *b = allocator_new(REGION, PAGE);
	uint64_t offs[256], size[256], oa, ob;
	int i, n = 0, ra, rb;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	rng_state = 7;
	for (i = 0; i < 4000; i++) {
		if (n && (n == 256 || rnd() % 3 == 0)) {
			int k = (int)(rnd() % (uint64_t)n);

			assert_int_equal(allocator_release(a, offs[k], size[k]), 0);
			assert_int_equal(allocator_release(b, offs[k], size[k]), 0);
			offs[k] = offs[--n];
			size[k] = size[n];
			continue;
		}
		size[n] = random_size();
		ra = allocator_alloc(a, size[n], 0, &oa);
		rb = allocator_alloc_group(b, size[n], 0, 0, &ob);
		assert_int_equal(ra, rb);
		if (ra == 0) {
			assert_int_equal(oa, ob);
			offs[n++] = oa;
		}
	}
	assert_int_equal(allocator_check(b), 0);
	allocator_destroy(a);
	allocator_destroy(b);
}

/*
 * A new group starts where several blocks of its size fit, not in the first
 * hole that holds one, and its next block goes beside it rather than into the
 * hole beside another block of its size; releasing its last block moves the
 * group's place to the neighbour of its own, and releasing all ends the group.
 */
static void test_group_run_and_adjacency(void **state)
{
	struct allocator *a = allocator_new(REGION, PAGE);
	const uint64_t f = 600 * PAGE; /* large: above the 512-page threshold */
	uint64_t y, w, g1, g2;

	(void)state;
	assert_non_null(a);
	assert_int_equal(alloc_ok(a, f, 0), 0);
	y = alloc_ok(a, f, 0);
	assert_int_equal(alloc_ok(a, f, 0), 1200 * PAGE);
	w = alloc_ok(a, 700 * PAGE, 0);
	assert_int_equal(w, 1800 * PAGE);
	assert_int_equal(allocator_release(a, y, f), 0); /* a one-frame hole beside x and z */
	assert_int_equal(allocator_alloc_group(a, f, 0, 1, &g1), 0);
	assert_int_equal(g1, 2500 * PAGE); /* not the hole at 600: 8 frames fit from 2500 */
	assert_int_equal(allocator_alloc_group(a, f, 0, 1, &g2), 0);
	assert_int_equal(g2, 3100 * PAGE); /* beside g1, not in the hole beside the frame at 0 */
	assert_int_equal(alloc_ok(a, f, 0), y); /* ungrouped: affinity as before */
	assert_int_equal(allocator_check(a), 0);
	assert_int_equal(allocator_release(a, g2, f), 0);
	assert_int_equal(allocator_alloc_group(a, 2 * f, 0, 1, &g2), 0);
	assert_int_equal(g2, 3100 * PAGE); /* beside g1 again, whatever its size */
	assert_int_equal(allocator_release(a, g1, f), 0);
	assert_int_equal(allocator_release(a, g2, 2 * f), 0);
	assert_int_equal(allocator_check(a), 0);
	/* The group has ended: its id starts a new run, at the lowest place 8 frames fit. */
	assert_int_equal(allocator_alloc_group(a, f, 0, 1, &g1), 0);
	assert_int_equal(g1, 2500 * PAGE);
	assert_int_equal(allocator_check(a), 0);
	allocator_destroy(a);
}

/* A fully used region with [off, off + size) pages freed for each pair. */
static struct allocator *make_holes_in(uint64_t region, const uint64_t *holes, int n)
{
	struct allocator *a = allocator_new(region, PAGE);
	int i;

	assert_non_null(a);
	assert_int_equal(allocator_reserve(a, 0, region), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(allocator_release(a, holes[2 * i] * PAGE, holes[2 * i + 1] * PAGE),
				 0);
	assert_int_equal(allocator_check(a), 0);
	return a;
}

static struct allocator *make_holes(const uint64_t *holes, int n)
{
	return make_holes_in(REGION, holes, n);
}

static void test_small_top_large_bottom(void **state)
{
	struct allocator *a = allocator_new(REGION, PAGE);
	struct allocator_stats st;
	uint64_t small = 2 * MiB;

	(void)state;
	assert_non_null(a);
	assert_int_equal(allocator_small_max(a), small);
	/* Small ones stack down from the top, each at the top of what is left. */
	assert_int_equal(alloc_ok(a, 64 * KiB, 0), REGION - 64 * KiB);
	assert_int_equal(alloc_ok(a, 1 * MiB - 100, 0), REGION - 64 * KiB - 1 * MiB);
	assert_int_equal(alloc_ok(a, small, 0), REGION - 64 * KiB - 1 * MiB - small);
	/* One page over the threshold is large: from the bottom, as are frames. */
	assert_int_equal(alloc_ok(a, small + 1, 0), 0);
	assert_int_equal(alloc_ok(a, NV12_1080P, 0), small + PAGE);
	allocator_get_stats(a, &st);
	assert_int_equal(st.free_extents, 1); /* everything in between, in one piece */
	assert_int_equal(st.largest_free, REGION - 64 * KiB - 1 * MiB - 2 * small - PAGE -
						  allocator_round(a, NV12_1080P));
	assert_int_equal(allocator_check(a), 0);
	allocator_destroy(a);
}

static void test_small_highest_hole(void **state)
{
	/* Pages [1,17), [18,22), [23,31), [32,36), then nothing. */
	static const uint64_t holes[] = {1, 16, 18, 4, 23, 8, 32, 4};
	struct allocator *a = make_holes(holes, 4);
	uint64_t off;

	(void)state;
	/* Not the smallest hole nor the lowest: the highest that fits, at its top. */
	assert_int_equal(alloc_ok(a, 3 * PAGE, 0), 33 * PAGE);
	assert_int_equal(alloc_ok(a, 5 * PAGE, 0), 26 * PAGE);
	/* [18,22) is now the highest hole that holds 4 pages: taken whole. */
	assert_int_equal(alloc_ok(a, 4 * PAGE, 0), 18 * PAGE);
	assert_int_equal(alloc_ok(a, 9 * PAGE, 0), 8 * PAGE);
	assert_int_equal(allocator_alloc(a, 8 * PAGE, 0, &off), -ENOMEM); /* 7 pages left at most */
	assert_int_equal(alloc_ok(a, 7 * PAGE, 0), 1 * PAGE);		  /* what is left */
	assert_int_equal(allocator_check(a), 0);
	allocator_destroy(a);
}

static void test_large_lowest_hole(void **state)
{
	/* Large is more than 512 pages here. Holes [100,2100), [3000,3600), [4000,4700). */
	static const uint64_t holes[] = {100, 2000, 3000, 600, 4000, 700};
	struct allocator *a = make_holes(holes, 3);
	uint64_t off;

	(void)state;
	/* Best fit would take [4000,4700); first fit from the bottom takes the lowest. */
	assert_int_equal(alloc_ok(a, 513 * PAGE, 0), 100 * PAGE);
	/* No exact-size preference: a lower hole that holds it wins over [3000,3600). */
	assert_int_equal(alloc_ok(a, 600 * PAGE, 0), 613 * PAGE);
	assert_int_equal(alloc_ok(a, 700 * PAGE, 0), 1213 * PAGE);
	assert_int_equal(alloc_ok(a, 650 * PAGE, 0), 4000 * PAGE);
	assert_int_equal(allocator_alloc(a, 601 * PAGE, 0, &off), -ENOMEM); /* 600 at most */
	assert_int_equal(allocator_check(a), 0);
	allocator_destroy(a);
}

static void test_small_hole_reused(void **state)
{
	struct allocator *a = allocator_new(REGION, PAGE);
	uint64_t x, y, z;

	(void)state;
	assert_non_null(a);
	x = alloc_ok(a, 1 * MiB, 0);
	y = alloc_ok(a, 1 * MiB, 0);
	z = alloc_ok(a, 1 * MiB, 0);
	assert_true(z < y && y < x);
	assert_int_equal(allocator_release(a, y, 1 * MiB), 0);
	/* A bitstream buffer of the same rounded size goes back into its hole... */
	assert_int_equal(alloc_ok(a, 1 * MiB - 4000, 0), y);
	assert_int_equal(allocator_release(a, y, 1 * MiB), 0);
	/* ...and a smaller one into the top of the highest hole, which is that one. */
	assert_int_equal(alloc_ok(a, 256 * KiB, 0), y + 768 * KiB);
	allocator_destroy(a);
}

static void test_threshold_scales_with_region(void **state)
{
	static const struct {
		uint64_t region, small;
	} want[] = {
		{16 * MiB, 512 * KiB}, {32 * MiB, 1 * MiB},   {64 * MiB, 1 * MiB},
		{128 * MiB, 2 * MiB},  {256 * MiB, 2 * MiB},  {300 * MiB, 2 * MiB},
		{1024 * MiB, 4 * MiB}, {2048 * MiB, 8 * MiB}, {64 * 1024 * MiB, 8 * MiB},
	};
	struct allocator *a;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		a = allocator_new(want[i].region, PAGE);
		assert_non_null(a);
		assert_int_equal(allocator_small_max(a), want[i].small);
		allocator_destroy(a);
	}
	/* In a 32 MiB region a 720p frame (1.3 MiB) is large, a 1 MiB bitstream small. */
	a = allocator_new(32 * MiB, PAGE);
	assert_non_null(a);
	assert_int_equal(alloc_ok(a, 1280 * 720 * 3 / 2, 0), 0);
	assert_int_equal(alloc_ok(a, 1 * MiB, 0), 31 * MiB);
	allocator_destroy(a);
}

static void test_fit_found_among_many_small_extents(void **state)
{
	/* 1000 one-page holes, then six-page holes at 3001 and 5001. */
	static uint64_t holes[2 * 1002];
	struct allocator *a;
	uint64_t off;
	int k;

	(void)state;
	for (k = 0; k < 1000; k++) {
		holes[2 * k] = 2 * k + 1;
		holes[2 * k + 1] = 1;
	}
	holes[2000] = 3001;
	holes[2001] = 6;
	holes[2002] = 5001;
	holes[2003] = 6;
	a = make_holes(holes, 1002);
	assert_int_equal(alloc_ok(a, 2 * PAGE, 0), 5005 * PAGE);
	assert_int_equal(alloc_ok(a, 3 * PAGE, 0), 5002 * PAGE);
	assert_int_equal(alloc_ok(a, 4 * PAGE, 0), 3003 * PAGE);
	assert_int_equal(alloc_ok(a, 2 * PAGE, 0), 3001 * PAGE); /* exact */
	assert_int_equal(allocator_alloc(a, 2 * PAGE, 0, &off), -ENOMEM);
	assert_int_equal(alloc_ok(a, PAGE, 0), 1 * PAGE); /* exact, the lowest of many */
	assert_int_equal(allocator_check(a), 0);
	allocator_destroy(a);
}

static void test_aligned_small_top(void **state)
{
	/* Holes [1,4), [5,9), [10,18) (pages), aligned to 4 pages. */
	static const uint64_t holes[] = {1, 3, 5, 4, 10, 8};
	struct allocator *a = make_holes(holes, 3);
	struct allocator_stats st;
	uint64_t off;

	(void)state;
	/* The highest aligned start in the highest hole that has one. */
	assert_int_equal(alloc_ok(a, PAGE, 4 * PAGE), 16 * PAGE);
	assert_int_equal(alloc_ok(a, 3 * PAGE, 4 * PAGE), 12 * PAGE);
	/* [17,18), [15,16), [10,12) have no aligned page; [5,9) has 8. */
	assert_int_equal(alloc_ok(a, PAGE, 4 * PAGE), 8 * PAGE);
	assert_int_equal(allocator_alloc(a, PAGE, 4 * PAGE, &off), -ENOMEM);
	allocator_get_stats(a, &st);
	assert_int_equal(st.free, (3 + 3 + 2 + 1 + 1) * PAGE);
	assert_int_equal(st.free_extents, 5);
	assert_int_equal(allocator_check(a), 0);
	allocator_destroy(a);
}

static void test_aligned_affinity(void **state)
{
	/* Two-page holes at 1 (not 4-page aligned) and 8 (aligned), and [20,30). */
	static const uint64_t holes[] = {1, 2, 8, 2, 20, 10};
	struct allocator *a = make_holes(holes, 3);

	(void)state;
	assert_int_equal(alloc_ok(a, 2 * PAGE, 4 * PAGE), 28 * PAGE); /* the top, aligned */
	/* Right below that block would start at 26, not aligned: the top again. */
	assert_int_equal(alloc_ok(a, 2 * PAGE, 4 * PAGE), 24 * PAGE);
	assert_int_equal(alloc_ok(a, 2 * PAGE, 0), 26 * PAGE); /* unaligned: next to them */
	assert_int_equal(allocator_check(a), 0);
	allocator_destroy(a);
}

static void test_aligned_large_bottom(void **state)
{
	/* 600 pages (large) aligned to 1024: [1,1000) has no aligned start, [1500,2700)
	 * has 2048, [3000,5000) has 3072. */
	static const uint64_t holes[] = {1, 999, 1500, 1200, 3000, 2000};
	struct allocator *a = make_holes(holes, 3);
	uint64_t off;

	(void)state;
	assert_int_equal(alloc_ok(a, 600 * PAGE, 1024 * PAGE), 2048 * PAGE);
	assert_int_equal(alloc_ok(a, 600 * PAGE, 1024 * PAGE), 3072 * PAGE);
	assert_int_equal(alloc_ok(a, 600 * PAGE, 1024 * PAGE), 4096 * PAGE); /* [3672,5000) */
	assert_int_equal(allocator_alloc(a, 600 * PAGE, 1024 * PAGE, &off), -ENOMEM);
	assert_int_equal(alloc_ok(a, 600 * PAGE, 0), 1 * PAGE); /* unaligned: the lowest */
	assert_int_equal(allocator_check(a), 0);
	allocator_destroy(a);
}

static void test_aligned_fallback_past_scan_limit(void **state)
{
	/* A hole of 18 pages at 1, then 100 three-page holes with no 16-page-aligned start.
	 * Scanning from the top meets the misfits first; past the bound, any hole of
	 * 2 + 15 pages must still be found. */
	static uint64_t holes[2 * 101];
	struct allocator *a;
	int k;

	(void)state;
	holes[0] = 1;
	holes[1] = 18;
	for (k = 1; k <= 100; k++) {
		holes[2 * k] = 16 * k + 49;
		holes[2 * k + 1] = 3;
	}
	a = make_holes(holes, 101);
	assert_int_equal(alloc_ok(a, 2 * PAGE, 16 * PAGE), 16 * PAGE);
	allocator_destroy(a);
}

static void test_aligned_large_fallback_past_scan_limit(void **state)
{
	/* 1 GiB: large is more than 1024 pages. 70 holes of 1200 pages with no 2048-page-
	 * aligned start for 1100 pages, then one of 3200 pages (>= 1100 + 2047) at 163841. */
	static uint64_t holes[2 * 71];
	struct allocator *a;
	int k;

	(void)state;
	for (k = 0; k < 70; k++) {
		holes[2 * k] = 2048 * k + 1;
		holes[2 * k + 1] = 1200;
	}
	holes[140] = 163841;
	holes[141] = 3200;
	a = make_holes_in(1024 * MiB, holes, 71);
	assert_int_equal(alloc_ok(a, 1100 * PAGE, 2048 * PAGE), 165888 * PAGE);
	allocator_destroy(a);
}

static void test_aligned_fallback_smallest(void **state)
{
	/* No hole of 17 pages anywhere; 100 misfitting four-page holes above a three-page one
	 * at 0 that holds two 16-page-aligned pages. Past the address-order bound, the
	 * smallest candidates are tried, as exact best fit did. */
	static uint64_t holes[2 * 101];
	struct allocator *a;
	int k;

	(void)state;
	holes[0] = 0;
	holes[1] = 3;
	for (k = 1; k <= 100; k++) {
		holes[2 * k] = 16 * k + 1;
		holes[2 * k + 1] = 4;
	}
	a = make_holes(holes, 101);
	assert_int_equal(alloc_ok(a, 2 * PAGE, 16 * PAGE), 0);
	allocator_destroy(a);
}

static void test_invalid_input(void **state)
{
	struct allocator *a = allocator_new(REGION, PAGE);
	struct snapshot *s = malloc(sizeof(*s));
	uint64_t off = 1234, x, y;

	(void)state;
	assert_non_null(a);
	assert_non_null(s);
	x = 0; /* laid out by hand: [0,3) free, [3,8) used, the rest free */
	y = 3 * PAGE;
	assert_int_equal(allocator_reserve(a, x, 3 * PAGE), 0);
	assert_int_equal(allocator_reserve(a, y, 5 * PAGE), 0);
	assert_int_equal(allocator_release(a, x, 3 * PAGE), 0);
	snap(a, s);
	assert_int_equal(allocator_alloc(a, 0, 0, &off), -EINVAL);
	assert_int_equal(allocator_alloc(a, PAGE, 3 * PAGE, &off), -EINVAL);
	assert_int_equal(allocator_alloc(a, PAGE, 12345, &off), -EINVAL);
	assert_int_equal(allocator_alloc(a, REGION + 1, 0, &off), -EINVAL);
	assert_int_equal(allocator_alloc(a, UINT64_MAX, 0, &off), -EINVAL);
	assert_int_equal(allocator_alloc(a, UINT64_MAX - PAGE, 0, &off), -EINVAL);
	assert_int_equal(off, 1234);
	/* Double free, partially free, out of range, unaligned, empty, overflowing. */
	assert_int_equal(allocator_release(a, x, 3 * PAGE), -EINVAL);
	assert_int_equal(allocator_release(a, x + PAGE, PAGE), -EINVAL);
	assert_int_equal(allocator_release(a, y, 6 * PAGE), -EINVAL);
	assert_int_equal(allocator_release(a, x, 8 * PAGE), -EINVAL);
	assert_int_equal(allocator_release(a, y + 1, PAGE), -EINVAL);
	assert_int_equal(allocator_release(a, y, 0), -EINVAL);
	assert_int_equal(allocator_release(a, REGION, PAGE), -EINVAL);
	assert_int_equal(allocator_release(a, REGION - PAGE, 2 * PAGE), -EINVAL);
	assert_int_equal(allocator_release(a, UINT64_MAX - PAGE + 1, 2 * PAGE), -EINVAL);
	assert_int_equal(allocator_release(a, y, UINT64_MAX), -EINVAL);
	/* Reserve over used space is busy; malformed ranges are invalid. */
	assert_int_equal(allocator_reserve(a, y, PAGE), -EBUSY);
	assert_int_equal(allocator_reserve(a, x, 4 * PAGE), -EBUSY);
	assert_int_equal(allocator_reserve(a, x + 1, PAGE), -EINVAL);
	assert_int_equal(allocator_reserve(a, x, 0), -EINVAL);
	assert_int_equal(allocator_reserve(a, REGION - PAGE, 2 * PAGE), -EINVAL);
	assert_int_equal(allocator_reserve(a, UINT64_MAX - PAGE + 1, PAGE), -EINVAL);
	assert_int_equal(allocator_reserve(a, 0, UINT64_MAX), -EINVAL);
	assert_unchanged(a, s);
	free(s);
	allocator_destroy(a);
}

static void test_new_and_round(void **state)
{
	struct allocator *a;
	struct allocator_stats st;
	uint64_t off;

	(void)state;
	assert_null(allocator_new(REGION, 0));
	assert_null(allocator_new(REGION, 3 * KiB));
	assert_null(allocator_new(PAGE - 1, PAGE));
	a = allocator_new(10 * PAGE + 123, PAGE); /* rounded down to the granule */
	assert_non_null(a);
	allocator_get_stats(a, &st);
	assert_int_equal(st.size, 10 * PAGE);
	assert_int_equal(st.free, 10 * PAGE);
	assert_int_equal(st.largest_free, 10 * PAGE);
	assert_int_equal(st.free_extents, 1);
	assert_int_equal(allocator_granule(a), PAGE);
	assert_int_equal(allocator_round(a, 1), PAGE);
	assert_int_equal(allocator_round(a, PAGE), PAGE);
	assert_int_equal(allocator_round(a, UINT64_MAX), 0);
	/* Alignment far beyond the region: only offset 0 qualifies, and nothing overflows. */
	assert_int_equal(alloc_ok(a, 1, 1ULL << 63), 0);
	assert_int_equal(allocator_alloc(a, 1, 1ULL << 63, &off), -ENOMEM);
	/* Small alignments are raised to the granule; the page goes next to the other one. */
	assert_int_equal(alloc_ok(a, 1, 1), 1 * PAGE);
	assert_int_equal(allocator_alloc(a, 9 * PAGE, 0, &off), -ENOMEM);
	allocator_destroy(a);
	allocator_destroy(NULL);
}

static int stop_after_two(uint64_t off, uint64_t size, void *ctx)
{
	int *n = ctx;

	(void)off;
	(void)size;
	return ++*n == 2 ? 7 : 0;
}

static void test_for_each_free_order(void **state)
{
	struct allocator *a = allocator_new(REGION, PAGE);
	static struct extents x;
	uint64_t o[8];
	uint32_t i;
	int n = 0;

	(void)state;
	assert_non_null(a);
	for (i = 0; i < 8; i++) { /* laid out by hand, in address order */
		o[i] = i ? o[i - 1] + i * PAGE : 0;
		assert_int_equal(allocator_reserve(a, o[i], (i + 1) * PAGE), 0);
	}
	/* Free in an order unrelated to address or size. */
	assert_int_equal(allocator_release(a, o[5], 6 * PAGE), 0);
	assert_int_equal(allocator_release(a, o[1], 2 * PAGE), 0);
	assert_int_equal(allocator_release(a, o[3], 4 * PAGE), 0);
	collect(a, &x);
	assert_int_equal(x.n, 4); /* three holes and the tail */
	for (i = 1; i < x.n; i++)
		assert_true(x.off[i - 1] + x.size[i - 1] < x.off[i]);
	assert_int_equal(x.off[0], o[1]);
	assert_int_equal(x.off[1], o[3]);
	assert_int_equal(x.off[2], o[5]);
	assert_int_equal(x.off[3], o[7] + 8 * PAGE);
	assert_int_equal(allocator_for_each_free(a, stop_after_two, &n), 7);
	assert_int_equal(n, 2);
	/* Releasing o[4] joins its free neighbours o[3] and o[5] into one extent. */
	assert_int_equal(allocator_release(a, o[4], 5 * PAGE), 0);
	collect(a, &x);
	assert_int_equal(x.n, 3);
	assert_int_equal(x.off[1], o[3]);
	assert_int_equal(x.size[1], (4 + 5 + 6) * PAGE);
	allocator_destroy(a);
}

/*
 * allocator_for_each_free_from: exactly the extents of the full walk that
 * start at or after the offset, from any offset (an extent's start, inside
 * one, between two, past the last), in a fragmented region.
 */
static void test_for_each_free_from(void **state)
{
	struct allocator *a = allocator_new(REGION, PAGE);
	static struct extents all, from;
	uint64_t o, starts[] = {0, PAGE, 3 * PAGE + 1, REGION / 2, REGION - PAGE, REGION};
	uint32_t i, j, k;

	(void)state;
	assert_non_null(a);
	for (o = 0; o < 2048 * PAGE; o += PAGE) /* the first 8 MiB: every other page free */
		if ((o / PAGE) % 2)
			assert_int_equal(allocator_reserve(a, o, PAGE), 0);
	collect(a, &all);
	assert_true(all.n > 100);
	for (i = 0; i < sizeof(starts) / sizeof(starts[0]) + all.n; i++) {
		uint64_t start =
			i < sizeof(starts) / sizeof(starts[0])
				? starts[i]
				: all.off[i - sizeof(starts) / sizeof(starts[0])] + (i % 3);

		from.n = 0;
		assert_int_equal(allocator_for_each_free_from(a, start, collect_cb, &from), 0);
		for (j = 0; j < all.n && all.off[j] < start; j++)
			;
		assert_int_equal(from.n, all.n - j);
		for (k = 0; k < from.n; k++, j++) {
			assert_int_equal(from.off[k], all.off[j]);
			assert_int_equal(from.size[k], all.size[j]);
		}
	}
	allocator_destroy(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_and_round),
		cmocka_unit_test(test_nv12_frames_kept_together),
		cmocka_unit_test(test_affinity),
		cmocka_unit_test(test_release_across_blocks),
		cmocka_unit_test(test_small_top_large_bottom),
		cmocka_unit_test(test_small_highest_hole),
		cmocka_unit_test(test_large_lowest_hole),
		cmocka_unit_test(test_small_hole_reused),
		cmocka_unit_test(test_threshold_scales_with_region),
		cmocka_unit_test(test_fit_found_among_many_small_extents),
		cmocka_unit_test(test_aligned_small_top),
		cmocka_unit_test(test_aligned_affinity),
		cmocka_unit_test(test_aligned_large_bottom),
		cmocka_unit_test(test_aligned_fallback_past_scan_limit),
		cmocka_unit_test(test_aligned_large_fallback_past_scan_limit),
		cmocka_unit_test(test_aligned_fallback_smallest),
		cmocka_unit_test(test_invalid_input),
		cmocka_unit_test(test_for_each_free_order),
		cmocka_unit_test(test_for_each_free_from),
		cmocka_unit_test(test_coalesce_after_free_all),
		cmocka_unit_test(test_group_zero_is_ungrouped),
		cmocka_unit_test(test_group_run_and_adjacency),
		cmocka_unit_test(test_random_model),
		cmocka_unit_test(test_random_model_grouped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
