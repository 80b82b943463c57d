/* SPDX-License-Identifier: MIT */
/*
 * Replays a fuzz target's corpus without libFuzzer, so the seeds and every
 * crash ever found run as ordinary tests with any compiler (gcc here, with or
 * without sanitizers). Arguments are files or directories (not recursive).
 * A broken invariant aborts, which fails the test.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

/*
 * The input being replayed, named when it aborts (FUZZ_CHECK, or a sanitizer with
 * abort_on_error). Other signals are left to the sanitizers' own handlers.
 */
static const char *current;

static void name_crashing_input(int sig)
{
	static const char msg[] = "crashing input: ";

	if (current) {
		(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
		(void)!write(STDERR_FILENO, current, strlen(current));
		(void)!write(STDERR_FILENO, "\n", 1);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rbe");
	uint8_t *data = NULL;
	long len;
	int ret = -1;

	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		/* An exact-size heap copy: ASan then sees any read past the input's end. */
		data = malloc(len ? (size_t)len : 1);
		if (data && fread(data, 1, (size_t)len, f) == (size_t)len) {
			current = path;
			LLVMFuzzerTestOneInput(data, (size_t)len);
			current = NULL;
			ret = 0;
		}
	}
	if (ret)
		fprintf(stderr, "%s: cannot read\n", path);
	free(data);
	fclose(f);
	return ret;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int run_dir(const char *dir, unsigned *count)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, by_name);
	int ret = 0;

	if (n < 0) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char path[4096];

		if (names[i]->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
			if (run_file(path) < 0)
				ret = -1;
			else
				(*count)++;
		}
		free(names[i]);
	}
	free(names);
	return ret;
}

int main(int argc, char **argv)
{
	unsigned count = 0;
	int ret = 0;

	signal(SIGABRT, name_crashing_input);
	for (int i = 1; i < argc; i++) {
		struct stat sb;

		if (stat(argv[i], &sb) < 0) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			ret = 1;
		} else if (S_ISDIR(sb.st_mode)) {
			ret |= run_dir(argv[i], &count) < 0;
		} else if (run_file(argv[i]) < 0) {
			ret = 1;
		} else {
			count++;
		}
	}
	printf("%u inputs replayed\n", count);
	/* An empty corpus would pass without testing anything. */
	return ret || count == 0 ? 1 : 0;
}
