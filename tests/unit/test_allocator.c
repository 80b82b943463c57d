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

/*
 * Where exact best fit must place npages at a multiple of align_pages: in the
 * smallest free run that can hold them (ties to the lowest address), at its
 * first aligned page. False if no run can.
 */
static bool ref_best(const struct model *m, uint64_t npages, uint64_t align_pages, uint64_t *off)
{
	uint64_t p = 0, s, start, best_len = UINT64_MAX;

	while (p < NPAGES) {
		if (m->page[p]) {
			p++;
			continue;
		}
		for (s = p; p < NPAGES && !m->page[p]; p++)
			;
		start = (s + align_pages - 1) / align_pages * align_pages;
		if (start + npages <= p && p - s < best_len) {
			best_len = p - s;
			*off = start * PAGE;
		}
	}
	return best_len != UINT64_MAX;
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

static void model_alloc(struct model *m)
{
	static const uint64_t aligns[] = {0, 4 * KiB, 64 * KiB, 1 * MiB, 2 * MiB};
	uint64_t size = random_size(), align = aligns[rnd() % 5];
	uint64_t rsize = allocator_round(m->a, size), eff = align ? align : PAGE;
	uint64_t off = UINT64_MAX, want = UINT64_MAX;
	struct allocator_stats st;
	bool exact, fits;
	int ret;

	/* Page-aligned best fit is exact. Aligned requests scan at most 64 candidates, so
	 * with no more free extents than that they must be exact too. */
	allocator_get_stats(m->a, &st);
	exact = eff == PAGE || st.free_extents <= 64;
	ret = allocator_alloc(m->a, size, align, &off);
	CHECK(m, ret == 0 || (ret == -ENOMEM && off == UINT64_MAX));
	/* Checking the choice costs a scan of the reference: always on failure (never miss
	 * a fit), on every fourth success otherwise. */
	if (exact && (ret || m->op % 4 == 0)) {
		fits = ref_best(m, rsize / PAGE, eff / PAGE, &want);
		CHECK(m, fits == (ret == 0));
		CHECK(m, ret || off == want);
		m->n_exact++;
	}
	if (ret) {
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

static void test_random_model(void **state)
{
	struct model *m = calloc(1, sizeof(*m));
	uint64_t nops = env_u64("ALLOC_TEST_OPS", 100000), r;

	(void)state;
	assert_non_null(m);
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

static void test_nv12_hole_reused(void **state)
{
	struct allocator *a = allocator_new(REGION, PAGE);
	uint64_t big, ao, bo, co;

	(void)state;
	assert_non_null(a);
	/* A larger hole at a lower address: first fit would take it, best fit must not. */
	big = alloc_ok(a, 8 * MiB, 0);
	ao = alloc_ok(a, NV12_1080P, 0);
	bo = alloc_ok(a, NV12_1080P, 0);
	co = alloc_ok(a, NV12_1080P, 0);
	assert_true(ao < bo && bo < co);
	assert_int_equal(allocator_release(a, big, 8 * MiB), 0);
	assert_int_equal(allocator_release(a, bo, NV12_1080P), 0);
	assert_int_equal(alloc_ok(a, NV12_1080P, 0), bo);
	allocator_destroy(a);
}

/* A fully used region with [off, off + size) pages freed for each pair. */
static struct allocator *make_holes(const uint64_t *holes, int n)
{
	struct allocator *a = allocator_new(REGION, PAGE);
	int i;

	assert_non_null(a);
	assert_int_equal(allocator_reserve(a, 0, REGION), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(allocator_release(a, holes[2 * i] * PAGE, holes[2 * i + 1] * PAGE),
				 0);
	return a;
}

static void test_best_fit_smallest_hole(void **state)
{
	/* Pages [1,17), [18,22), [23,31), [32,36), then nothing. */
	static const uint64_t holes[] = {1, 16, 18, 4, 23, 8, 32, 4};
	struct allocator *a = make_holes(holes, 4);
	uint64_t off;

	(void)state;
	assert_int_equal(alloc_ok(a, 3 * PAGE, 0), 18 * PAGE); /* smallest; tie -> lowest */
	assert_int_equal(alloc_ok(a, 4 * PAGE, 0), 32 * PAGE); /* exact fit */
	assert_int_equal(alloc_ok(a, 5 * PAGE, 0), 23 * PAGE);
	assert_int_equal(alloc_ok(a, 9 * PAGE, 0), 1 * PAGE);
	assert_int_equal(allocator_alloc(a, 8 * PAGE, 0, &off), -ENOMEM);
	allocator_destroy(a);
}

static void test_best_fit_aligned(void **state)
{
	/* Holes [1,4), [5,9), [10,18) (pages), aligned to 4 pages. */
	static const uint64_t holes[] = {1, 3, 5, 4, 10, 8};
	struct allocator *a = make_holes(holes, 3);
	struct allocator_stats st;
	uint64_t off;

	(void)state;
	/* [1,4) has no aligned page; [5,9) has page 8, and is smaller than [10,18). */
	assert_int_equal(alloc_ok(a, PAGE, 4 * PAGE), 8 * PAGE);
	/* Only [10,18) fits three aligned pages, at 12; [10,12) and [15,18) stay free. */
	assert_int_equal(alloc_ok(a, 3 * PAGE, 4 * PAGE), 12 * PAGE);
	allocator_get_stats(a, &st);
	assert_int_equal(st.free, (3 + 3 + 2 + 3) * PAGE);
	assert_int_equal(st.free_extents, 4);
	assert_int_equal(alloc_ok(a, 3 * PAGE, 0), 1 * PAGE); /* three 3-page holes: lowest */
	assert_int_equal(allocator_alloc(a, PAGE, 32 * PAGE, &off), -ENOMEM);
	allocator_destroy(a);
}

static void test_aligned_scan_past_misfit(void **state)
{
	/* Pages [1,4), [6,9), [10,20): the smallest hole has no page aligned to 4, the next
	 * one of the same size does (page 8), so it wins over the larger [10,20). */
	static const uint64_t holes[] = {1, 3, 6, 3, 10, 10};
	struct allocator *a = make_holes(holes, 3);

	(void)state;
	assert_int_equal(alloc_ok(a, PAGE, 4 * PAGE), 8 * PAGE);
	assert_int_equal(alloc_ok(a, PAGE, 4 * PAGE), 12 * PAGE);
	allocator_destroy(a);
}

static void test_aligned_fallback_past_scan_limit(void **state)
{
	/* 100 three-page holes with no 16-page-aligned start, then one of 18 pages at 1601. */
	static uint64_t holes[2 * 101];
	struct allocator *a;
	int k;

	(void)state;
	for (k = 0; k < 100; k++) {
		holes[2 * k] = 16 * k + 1;
		holes[2 * k + 1] = 3;
	}
	holes[200] = 1601;
	holes[201] = 18;
	a = make_holes(holes, 101);
	assert_int_equal(alloc_ok(a, 2 * PAGE, 16 * PAGE), 1616 * PAGE);
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
	x = alloc_ok(a, 3 * PAGE, 0);
	y = alloc_ok(a, 5 * PAGE, 0);
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
	assert_int_equal(alloc_ok(a, 1, 1), PAGE); /* small alignments are raised to the granule */
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
	for (i = 0; i < 8; i++)
		o[i] = alloc_ok(a, (i + 1) * PAGE, 0);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_and_round),
		cmocka_unit_test(test_nv12_hole_reused),
		cmocka_unit_test(test_best_fit_smallest_hole),
		cmocka_unit_test(test_best_fit_aligned),
		cmocka_unit_test(test_aligned_scan_past_misfit),
		cmocka_unit_test(test_aligned_fallback_past_scan_limit),
		cmocka_unit_test(test_invalid_input),
		cmocka_unit_test(test_for_each_free_order),
		cmocka_unit_test(test_coalesce_after_free_all),
		cmocka_unit_test(test_random_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
