/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"

#ifndef BENCH_CMABUFD
#define BENCH_CMABUFD "cmabufd"
#endif

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
				"  --daemon=PATH  cmabufd to measure (default $CMABUFD, else %s)\n",
				argv[0], what, BENCH_CMABUFD);
			exit(strcmp(argv[i], "--help") ? 2 : 0);
		}
	}
}
