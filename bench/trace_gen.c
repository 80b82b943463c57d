/* SPDX-License-Identifier: MIT */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "sizes.h"
#include "trace_gen.h"

#define MAX_FRAMES 12

enum kind { K_BITSTREAM, K_POOL, K_LONG };

/* A stream's buffers, created together and destroyed together. */
struct group {
	enum kind kind;
	uint32_t ids[MAX_FRAMES];
	unsigned n;
	uint64_t size;	/* each buffer's */
	uint64_t death; /* step at which it goes; UINT64_MAX: never */
	int immortal;	/* created at boot, never a victim */
	uint32_t group; /* the trace's name for this stream */
};

struct gen {
	struct trace *t;
	uint64_t rng;
	struct group *g;
	size_t ng, capg;
	uint64_t live; /* ideal: page-rounded bytes */
	uint64_t limit;
};

/* splitmix64: tiny, deterministic everywhere, good enough for a workload. */
static uint64_t next_u64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double uniform(struct gen *g)
{
	return (double)(next_u64(&g->rng) >> 11) / 9007199254740992.0;
}

static uint64_t range(struct gen *g, uint64_t lo, uint64_t hi)
{
	return lo + next_u64(&g->rng) % (hi - lo + 1);
}

static void emit(struct trace *t, uint32_t op, uint32_t id, uint64_t size, uint32_t group)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 65536;
		struct trace_ev *ev = realloc(t->ev, cap * sizeof(*ev));

		if (!ev) {
			perror("trace");
			exit(1);
		}
		t->ev = ev;
		t->cap = cap;
	}
	t->ev[t->n].op = op;
	t->ev[t->n].id = id;
	t->ev[t->n].size = size;
	t->ev[t->n].group = group;
	t->n++;
}

static uint64_t group_bytes(const struct group *gr)
{
	return gr->n * heap_pages(gr->size) * HEAP_PAGE;
}

/* Pools are destroyed in allocation order, as a decoder tearing down its queue would. */
static void destroy(struct gen *g, size_t i)
{
	struct group *gr = &g->g[i];
	unsigned k;

	for (k = 0; k < gr->n; k++)
		emit(g->t, TRACE_FREE, gr->ids[k], 0, gr->group);
	g->live -= group_bytes(gr);
	g->g[i] = g->g[--g->ng];
}

static void create(struct gen *g, struct group *gr)
{
	unsigned k;

	gr->group = ++g->t->ngroups;
	for (k = 0; k < gr->n; k++) {
		gr->ids[k] = g->t->nids++;
		emit(g->t, TRACE_ALLOC, gr->ids[k], gr->size, gr->group);
	}
	g->live += group_bytes(gr);
	if (g->ng == g->capg) {
		g->capg = g->capg ? g->capg * 2 : 256;
		g->g = realloc(g->g, g->capg * sizeof(*g->g));
		if (!g->g) {
			perror("trace");
			exit(1);
		}
	}
	g->g[g->ng++] = *gr;
}

/* A frame pool: a resolution weighted towards what embedded pipelines run. */
static void make_pool(struct gen *g, struct group *gr, uint64_t now)
{
	static const struct {
		unsigned w, h, weight;
	} res[] = {{640, 480, 20},   {720, 576, 10},  {1280, 720, 25},
		   {1920, 1080, 30}, {2560, 1440, 5}, {3840, 2160, 10}};
	unsigned pick = (unsigned)range(g, 0, 99), i, acc = 0;

	for (i = 0; i < sizeof(res) / sizeof(res[0]) - 1; i++) {
		acc += res[i].weight;
		if (pick < acc)
			break;
	}
	gr->kind = K_POOL;
	gr->size = NV12_BYTES(res[i].w, res[i].h);
	gr->n = res[i].w >= 3840 ? (unsigned)range(g, 3, 6) : (unsigned)range(g, 4, 10);
	gr->death = now + range(g, 100, 3000);
}

/* Bitstream buffers: log-uniform in 64 KiB..2 MiB, arbitrary byte sizes, short lives. */
static void make_bitstream(struct gen *g, struct group *gr, uint64_t now)
{
	double lo = log(64.0 * 1024), hi = log(2.0 * 1024 * 1024);

	gr->kind = K_BITSTREAM;
	gr->size = (uint64_t)exp(lo + (hi - lo) * uniform(g));
	gr->n = 1;
	gr->death = now + range(g, 1, 300);
}

static void make_long(struct gen *g, struct group *gr, uint64_t now)
{
	static const uint64_t sizes[] = {256 << 10, 1 << 20, 2 << 20, 4 << 20,
					 1920 * 1080 * 4 /* ARGB scanout */};

	gr->kind = K_LONG;
	gr->size = sizes[range(g, 0, sizeof(sizes) / sizeof(sizes[0]) - 1)];
	gr->n = 1;
	gr->death = now + range(g, 5000, 50000);
}

/* A random victim that is not a boot-time buffer; -1 if there is none. */
static long pick_victim(struct gen *g)
{
	size_t i, tries;

	for (tries = 0; tries < 64 && g->ng; tries++) {
		i = (size_t)range(g, 0, g->ng - 1);
		if (!g->g[i].immortal)
			return (long)i;
	}
	for (i = 0; i < g->ng; i++)
		if (!g->g[i].immortal)
			return (long)i;
	return -1;
}

static void boot(struct gen *g)
{
	struct group gr;

	/* About 10% of the region in buffers that live as long as the system. */
	while (g->live < g->t->region / 10) {
		memset(&gr, 0, sizeof(gr));
		make_long(g, &gr, 0);
		gr.death = UINT64_MAX;
		gr.immortal = 1;
		create(g, &gr);
	}
}

void trace_generate(struct trace *t, uint64_t region, double target, unsigned steps,
		    unsigned probe_every, uint64_t seed)
{
	struct gen g = {.t = t, .rng = seed};
	double occ_sum = 0;
	uint64_t now;
	size_t i;

	memset(t, 0, sizeof(*t));
	t->region = region;
	t->target = target;
	g.limit = (uint64_t)((double)region * target);
	boot(&g);
	for (now = 1; now <= steps; now++) {
		struct group gr;
		double r = uniform(&g);

		for (i = 0; i < g.ng;) /* streams that ended on their own */
			if (g.g[i].death <= now)
				destroy(&g, i);
			else
				i++;
		memset(&gr, 0, sizeof(gr));
		if (r < 0.60)
			make_bitstream(&g, &gr, now);
		else if (r < 0.95)
			make_pool(&g, &gr, now);
		else
			make_long(&g, &gr, now);
		while (g.live + group_bytes(&gr) > g.limit) {
			long v = pick_victim(&g);

			if (v < 0)
				break;
			destroy(&g, (size_t)v);
		}
		if (g.live + group_bytes(&gr) <= g.limit)
			create(&g, &gr);
		occ_sum += (double)g.live / (double)region;
		if (probe_every && now % probe_every == 0)
			emit(t, TRACE_PROBE, 0, 0, 0);
	}
	t->mean_occupancy = occ_sum / steps;
	free(g.g);
}

void trace_free(struct trace *t)
{
	free(t->ev);
	memset(t, 0, sizeof(*t));
}
