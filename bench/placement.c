/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "placement.h"

static cpu_set_t started_with;
static int cpu_a = -1, cpu_b = -1;

bool placement_init(void)
{
	int i;

	if (sched_getaffinity(0, sizeof(started_with), &started_with) < 0)
		return false;
	for (i = 0; i < CPU_SETSIZE; i++) {
		if (!CPU_ISSET(i, &started_with))
			continue;
		if (cpu_a < 0)
			cpu_a = i;
		else if (cpu_b < 0)
			cpu_b = i;
	}
	return cpu_b >= 0;
}

static void one_cpu(cpu_set_t *set, int cpu)
{
	CPU_ZERO(set);
	CPU_SET(cpu, set);
}

/* Every thread of pid (a new thread inherits its creator's mask; all of them exist by now). */
static void move_all(pid_t pid, const cpu_set_t *set)
{
	char path[64];
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d) {
		perror(path);
		exit(1);
	}
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' &&
		    sched_setaffinity(atoi(e->d_name), sizeof(*set), set) < 0) {
			perror("sched_setaffinity");
			exit(1);
		}
	closedir(d);
}

void placement_apply(enum placement p, const pid_t *servers, int nservers)
{
	cpu_set_t client, server;
	int i;

	if (p == PLACE_UNPINNED) {
		client = server = started_with;
	} else {
		one_cpu(&client, cpu_a);
		one_cpu(&server, p == PLACE_ONE_CPU ? cpu_a : cpu_b);
	}
	move_all(getpid(), &client);
	for (i = 0; i < nservers; i++)
		move_all(servers[i], &server);
}

const char *placement_name(enum placement p)
{
	static const char *const names[PLACE_COUNT] = {"one CPU", "apart", "unpinned"};

	return names[p];
}

const char *placement_describe(enum placement p)
{
	static char s[128];

	if (p == PLACE_UNPINNED)
		snprintf(s, sizeof(s), "client, cmabufd (every thread) and floor: any of %d CPUs",
			 CPU_COUNT(&started_with));
	else
		snprintf(s, sizeof(s), "client CPU %d; cmabufd (every thread) and floor CPU %d",
			 cpu_a, p == PLACE_ONE_CPU ? cpu_a : cpu_b);
	return s;
}

static void add_task(struct proc_cost *c, const char *dir, bool migrations)
{
	char path[400], line[256];
	unsigned long long run = 0, mig;
	FILE *f;

	snprintf(path, sizeof(path), "%s/schedstat", dir);
	f = fopen(path, "r");
	if (f && fscanf(f, "%llu", &run) == 1)
		c->cpu_ns += run;
	if (f)
		fclose(f);
	if (!migrations) {
		c->threads++;
		return;
	}
	snprintf(path, sizeof(path), "%s/sched", dir);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "se.nr_migrations : %llu", &mig) == 1)
			c->migrations += mig;
	if (f)
		fclose(f);
	c->threads++;
}

static struct proc_cost read_cost(pid_t pid, bool migrations)
{
	struct proc_cost c = {0, 0, 0};
	char path[64], dir[320];
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid ? (int)pid : (int)getpid());
	d = opendir(path);
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", path, e->d_name);
		add_task(&c, dir, migrations);
	}
	if (d)
		closedir(d);
	return c;
}

struct proc_cost proc_cost_read(pid_t pid)
{
	return read_cost(pid, true);
}

uint64_t proc_cpu_ns(pid_t pid)
{
	return read_cost(pid, false).cpu_ns;
}

uint64_t self_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
