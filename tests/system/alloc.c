/* SPDX-License-Identifier: MIT */
/* alloc SIZE: one buffer of SIZE bytes from cmabufd; prints the daemon's answer. */
#include <cmabuf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	struct cmabuf_alloc_desc desc = {.name = "systest"};
	struct cmabuf_buffer *buf;
	struct cmabuf *cb;
	int ret;

	if (argc != 2)
		return fprintf(stderr, "usage: alloc SIZE\n"), 2;
	desc.size = strtoull(argv[1], NULL, 0);
	if ((ret = cmabuf_connect(NULL, &cb)) < 0)
		return printf("connect: %s\n", strerror(-ret)), 1;
	if ((ret = cmabuf_alloc(cb, &desc, &buf)) < 0) {
		printf("alloc: %s: %s\n", strerror(-ret), cmabuf_last_error(cb));
		cmabuf_disconnect(cb);
		return 1;
	}
	printf("allocated %llu bytes\n", (unsigned long long)cmabuf_buffer_size(buf));
	cmabuf_free(buf);
	cmabuf_disconnect(cb);
	return 0;
}
