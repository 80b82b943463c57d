/* SPDX-License-Identifier: MIT */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"

#ifndef BENCH_CMABUFD
#define BENCH_CMABUFD "cmabufd"
#endif

void bench_pin(const char *env)
{
	const char *v = getenv(env);
	char *end;
	long cpu;
	cpu_set_t set;

	if (!v || !*v)
		return;
	cpu = strtol(v, &end, 10);
	CPU_ZERO(&set);
	if (*end || cpu < 0 || cpu >= CPU_SETSIZE) {
		fprintf(stderr, "bench: %s=%s is not a CPU number\n", env, v);
		exit(2);
	}
	CPU_SET((int)cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0) {
		fprintf(stderr, "bench: cannot pin to CPU %ld (%s): ", cpu, env);
		perror("sched_setaffinity");
		exit(2);
	}
}

void bench_args_parse(int argc, char **argv, const char *what, struct bench_args *out)
{
	const char *env = getenv("CMABUFD");
	int i;

	out->quick = false;
	out->daemon = env && *env ? env : BENCH_CMABUFD;
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			out->quick = true;
		} else if (!strncmp(argv[i], "--daemon=", 9)) {
			out->daemon = argv[i] + 9;
		} else {
			fprintf(stderr,
				"usage: %s [--quick] [--daemon=PATH]\n%s\n"
				"  --quick        smoke run (seconds; numbers not meaningful)\n"
				"  --daemon=PATH  cmabufd to measure (default $CMABUFD, else %s)\n"
				"Environment: BENCH_CLIENT_CPU=N pins this program (and\n"
				"the clients it forks), BENCH_SERVER_CPU=N the servers\n"
				"(floor, cmabufd) to CPU N: the same N for both times them\n"
				"sharing one CPU, different ones apart.\n",
				argv[0], what, BENCH_CMABUFD);
			exit(strcmp(argv[i], "--help") ? 2 : 0);
		}
	}
	bench_pin("BENCH_CLIENT_CPU");
}
