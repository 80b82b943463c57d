/* SPDX-License-Identifier: MIT */
/* The options every benchmark program takes. */
#ifndef BENCH_ARGS_H
#define BENCH_ARGS_H

#include <stdbool.h>

struct bench_args {
	bool quick;	    /* --quick: a smoke run of a few seconds, numbers not meaningful */
	const char *daemon; /* --daemon=PATH, else $CMABUFD, else the cmabufd built with us */
};

/* Pins the caller to the CPU named by environment variable env, if set; exits if it cannot. */
void bench_pin(const char *env);

/* Exits with a usage message on unknown options; pins to $BENCH_CLIENT_CPU. */
void bench_args_parse(int argc, char **argv, const char *what, struct bench_args *out);

#endif
