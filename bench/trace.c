/* SPDX-License-Identifier: MIT */
/*
 * Trace replay: the same generated media-churn trace, held at several
 * occupancies, against cmabuf's allocator (daemon/core/allocator.c, linked
 * directly) and the baselines. Reports failures while the region ideally had
 * room, contiguity of the free space over time, and how many 1080p / 4K NV12
 * frames could still be placed compared with a perfectly compacted region.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "clock.h"
#include "heap.h"
#include "sizes.h"
#include "trace_gen.h"

#define REGION	     (256ull << 20) /* unless TRACE_REGION_MIB says otherwise */
#define SEED	     0xc0ffee1234ull
#define SAMPLE_EVERY 8 /* events between contiguity samples */
#define NONE	     UINT64_MAX
#define FULL_STEPS   100000u /* streams per occupancy; --quick: 3000 */

/* The goal compares cmabuf grouped (first) with best fit, first fit and buddy: keep this order. */
static const struct heap_ops *const heaps[] = {&heap_cmabuf_grouped, &heap_bitmap,  &heap_buddy,
					       &heap_tlsf,	     &heap_bestfit, &heap_cmabuf};
#define NHEAPS	    (sizeof(heaps) / sizeof(heaps[0]))
#define H_FIRST_FIT 1
#define H_BUDDY	    2
#define H_BEST_FIT  4
#define NCLASSES    4

/* Failures are told apart by what was asked for: bitstreams, 1080p, 1440p/scanout, 4K. */
static const uint64_t class_max[NCLASSES] = {2ull << 20, 4ull << 20, 8ull << 20, UINT64_MAX};
static const char *const class_name[NCLASSES] = {"<= 2 MiB", "2-4 MiB", "4-8 MiB", "> 8 MiB"};

struct replay {
	uint64_t allocs, fails, fails_room; /* fails_room: the heap's own free bytes >= request */
	uint64_t fails_by[NCLASSES];	    /* by request size, class_max */
	uint64_t fails_4x;		    /* while 4x the request was free */
	double ratio_sum, ratio_min;	    /* largest free / total free */
	uint64_t nsamples;
	uint64_t fit[2], ideal[2]; /* summed over probes: 1080p, 4K */
	uint64_t ns, ops;
};

/* How many frames of size fit right now: place them until one fails, then give them back. */
static uint64_t count_fit(const struct heap_ops *o, struct heap *h, uint64_t size)
{
	uint64_t offs[128], n = 0, i;

	while (n < 128 && o->alloc(h, size, &offs[n]) == 0)
		n++;
	for (i = 0; i < n; i++)
		o->release(h, offs[i], size);
	return n;
}

static void probe(const struct heap_ops *o, struct heap *h, uint64_t region, uint64_t held,
		  struct replay *r)
{
	static const uint64_t frames[2] = {NV12_1080P, NV12_4K};
	uint64_t ideal_free = region - held;
	int k;

	for (k = 0; k < 2; k++) {
		r->fit[k] += count_fit(o, h, frames[k]);
		/* Ideal: the same free bytes in one piece. */
		r->ideal[k] += ideal_free / (heap_pages(frames[k]) * HEAP_PAGE);
	}
}

static void sample(const struct heap_ops *o, struct heap *h, struct replay *r)
{
	uint64_t f = o->free_bytes(h);
	double ratio;

	if (!f)
		return;
	ratio = (double)o->largest_free(h) / (double)f;
	r->ratio_sum += ratio;
	if (!r->nsamples || ratio < r->ratio_min)
		r->ratio_min = ratio;
	r->nsamples++;
}

static void count_failure(const struct heap_ops *o, struct heap *h, uint64_t size, struct replay *r)
{
	uint64_t need = heap_pages(size) * HEAP_PAGE, f = o->free_bytes(h);
	int k = 0;

	r->fails++;
	if (f >= need)
		r->fails_room++;
	if (f / 4 >= need)
		r->fails_4x++;
	while (size > class_max[k])
		k++;
	r->fails_by[k]++;
}

static void replay(const struct heap_ops *o, const struct trace *t, struct replay *r)
{
	struct heap *h = o->create(t->region);
	uint64_t *off = malloc(t->nids * sizeof(*off));
	uint64_t *sz = malloc(t->nids * sizeof(*sz));
	uint64_t held = 0, t0;
	size_t i;

	if (!h || !off || !sz) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	memset(r, 0, sizeof(*r));
	for (i = 0; i < t->n; i++) {
		const struct trace_ev *e = &t->ev[i];

		switch (e->op) {
		case TRACE_ALLOC:
			r->allocs++;
			sz[e->id] = e->size;
			t0 = now_ns();
			if ((o->alloc_group ? o->alloc_group(h, e->size, e->group, &off[e->id])
					    : o->alloc(h, e->size, &off[e->id])) < 0) {
				r->ns += now_ns() - t0;
				off[e->id] = NONE;
				count_failure(o, h, e->size, r);
			} else {
				r->ns += now_ns() - t0;
				held += heap_pages(e->size) * HEAP_PAGE;
			}
			r->ops++;
			break;
		case TRACE_FREE:
			if (off[e->id] == NONE)
				break; /* it was never placed */
			t0 = now_ns();
			o->release(h, off[e->id], sz[e->id]);
			r->ns += now_ns() - t0;
			r->ops++;
			held -= heap_pages(sz[e->id]) * HEAP_PAGE;
			break;
		case TRACE_PROBE:
			probe(o, h, t->region, held, r);
			break;
		default:
			abort();
		}
		if (i % SAMPLE_EVERY == 0)
			sample(o, h, r);
	}
	o->destroy(h);
	free(off);
	free(sz);
}

static double pct(uint64_t a, uint64_t b)
{
	return b ? 100.0 * (double)a / (double)b : 0;
}

static void print_table(const struct trace *t, struct replay *r)
{
	size_t k;

	printf("\nOccupancy held at %.0f%% (averaged %.1f%%), %zu events, region %llu MiB\n",
	       t->target * 100, t->mean_occupancy * 100, t->n,
	       (unsigned long long)(t->region >> 20));
	printf("%-24s | %7s %6s %8s | %-16s | %-15s | %7s\n", "", "", "", "fail w/", "largest/free",
	       "frames fit/ideal", "");
	printf("%-24s | %7s %6s %8s | %7s %8s | %7s %7s | %7s\n", "allocator", "allocs", "fails",
	       "own room", "mean", "min", "1080p", "4K", "ns/op");
	for (k = 0; k < NHEAPS; k++)
		printf("%-24s | %7llu %6llu %8llu | %6.1f%% %7.1f%% | %6.1f%% %6.1f%% | %7.0f\n",
		       heaps[k]->name, (unsigned long long)r[k].allocs,
		       (unsigned long long)r[k].fails, (unsigned long long)r[k].fails_room,
		       r[k].nsamples ? 100 * r[k].ratio_sum / (double)r[k].nsamples : 0,
		       100 * r[k].ratio_min, pct(r[k].fit[0], r[k].ideal[0]),
		       pct(r[k].fit[1], r[k].ideal[1]),
		       r[k].ops ? (double)r[k].ns / (double)r[k].ops : 0);
}

static void print_failures(const struct replay *r)
{
	size_t k;
	int c;

	printf("%-24s | failures by request size:", "");
	for (c = 0; c < NCLASSES; c++)
		printf(" %8s", class_name[c]);
	printf(" | >= 4x free\n");
	for (k = 0; k < NHEAPS; k++) {
		printf("%-24s |                          ", heaps[k]->name);
		for (c = 0; c < NCLASSES; c++)
			printf(" %8llu", (unsigned long long)r[k].fails_by[c]);
		printf(" | %10llu\n", (unsigned long long)r[k].fails_4x);
	}
}

/*
 * Issue 20's goal at 80/85%: no more than twice the failures of a clairvoyant
 * greedy placement with same-size affinity (10 / 173 on this trace in 256 MiB,
 * bench/RESULTS.md section 4; that simulator is not part of this bench, so the
 * figures are only known for 256 MiB and the full trace). At 90/95%: no more than exact best fit
 * and strictly fewer than first fit and buddy.
 */
static const uint64_t clairvoyant_256[2] = {10, 173};

static const char *goal_met(double occ, const struct replay *r, uint64_t region, unsigned steps)
{
	uint64_t c = r[0].fails;

	if (occ <= 0.85) {
		if (region != REGION || steps != FULL_STEPS)
			return "no clairvoyant figure for this region and length";
		return c <= 2 * clairvoyant_256[occ > 0.80] ? "met" : "MISSED";
	}
	return c <= r[H_BEST_FIT].fails && c < r[H_FIRST_FIT].fails && c < r[H_BUDDY].fails
		       ? "met"
		       : "MISSED";
}

/* TRACE_REGION_MIB replays the same mix in another region size (default 256). */
static uint64_t region_bytes(void)
{
	const char *s = getenv("TRACE_REGION_MIB");
	unsigned long long mib = s && *s ? strtoull(s, NULL, 0) : 0;

	return mib ? mib << 20 : REGION;
}

int main(int argc, char **argv)
{
	static const double occ[] = {0.80, 0.85, 0.90, 0.95};
	struct replay r[sizeof(occ) / sizeof(occ[0])][NHEAPS];
	struct bench_args args;
	uint64_t region = region_bytes();
	struct trace t;
	unsigned steps, o;
	size_t k;

	bench_args_parse(argc, argv, "Trace replay: cmabuf's allocator against the baselines.",
			 &args);
	steps = args.quick ? 3000 : FULL_STEPS;
	printf("Trace replay: seed 0x%llx, %u streams per occupancy; every request is made while "
	       "the region ideally has room for it, so every failure is fragmentation "
	       "('fail w/ own room': the allocator's own free bytes also sufficed)\n",
	       (unsigned long long)SEED, steps);
	for (o = 0; o < sizeof(occ) / sizeof(occ[0]); o++) {
		trace_generate(&t, region, occ[o], steps, 50, SEED);
		for (k = 0; k < NHEAPS; k++)
			replay(heaps[k], &t, &r[o][k]);
		print_table(&t, r[o]);
		print_failures(r[o]);
		trace_free(&t);
	}
	printf("\nGoals: at 80%% and 85%% (256 MiB) <= 2x the clairvoyant+affinity failures "
	       "(%llu / %llu); at 90%% and 95%% no more than exact best fit and strictly fewer "
	       "than first fit and buddy\n",
	       (unsigned long long)(2 * clairvoyant_256[0]),
	       (unsigned long long)(2 * clairvoyant_256[1]));
	for (o = 0; o < sizeof(occ) / sizeof(occ[0]); o++)
		printf("  %.0f%%: cmabuf grouped %llu failures (best fit %llu, first fit %llu, "
		       "buddy %llu) "
		       "-> %s\n",
		       occ[o] * 100, (unsigned long long)r[o][0].fails,
		       (unsigned long long)r[o][H_BEST_FIT].fails,
		       (unsigned long long)r[o][H_FIRST_FIT].fails,
		       (unsigned long long)r[o][H_BUDDY].fails,
		       goal_met(occ[o], r[o], region, steps));
	return 0; /* goals are reported, never asserted: a benchmark is not a test */
}
