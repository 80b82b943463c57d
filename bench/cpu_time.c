/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <stdio.h>
#include <time.h>

#include "cpu_time.h"

uint64_t self_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* schedstat's first field is the time the thread ran, in ns (CONFIG_SCHED_INFO). */
static uint64_t thread_cpu_ns(pid_t pid, const char *tid)
{
	unsigned long long ran = 0;
	char path[sizeof("/proc//task//schedstat") + 2 * 256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%s/schedstat", (int)pid, tid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (fscanf(f, "%llu", &ran) != 1)
		ran = 0;
	fclose(f);
	return ran;
}

uint64_t proc_cpu_ns(pid_t pid)
{
	char path[64];
	struct dirent *d;
	uint64_t sum = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		return 0;
	while ((d = readdir(dir)))
		if (d->d_name[0] != '.')
			sum += thread_cpu_ns(pid, d->d_name);
	closedir(dir);
	return sum;
}
