/* SPDX-License-Identifier: MIT */
/*
 * cmabuf-share: a producer allocates image buffers from cmabufd, draws into
 * them and passes the dma-buf fds, with their plane layout, to a consumer
 * process over a Unix socket (SCM_RIGHTS). The consumer never talks to the
 * daemon: a dma-buf fd and the layout are all it needs. The producer frees
 * each buffer as soon as it is sent -- the memory stays valid (and is not
 * handed to anyone else) until the consumer lets go too.
 *
 *   cmabuf-share [--frames N] [--size WxH]
 *
 * Exit status 0 when the consumer saw every frame the producer drew.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/dma-buf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmabuf.h>
#include <drm_fourcc.h>

/* What travels with each fd: enough to interpret the bytes. */
struct frame_msg {
	uint32_t seq;
	uint32_t fourcc, width, height;
	uint32_t nplanes;
	uint64_t size;
	struct cmabuf_plane planes[CMABUF_MAX_PLANES];
};

/* Luma ramps with position and frame number; chroma is neutral grey. */
static uint8_t luma(uint32_t x, uint32_t y, uint32_t seq)
{
	return (uint8_t)(x + 2 * y + 17 * seq);
}

static void draw_nv12(uint8_t *base, const struct frame_msg *m)
{
	const struct cmabuf_plane *y = &m->planes[0], *uv = &m->planes[1];

	for (uint32_t r = 0; r < m->height; r++)
		for (uint32_t c = 0; c < m->width; c++)
			base[y->offset + (uint64_t)r * y->pitch + c] = luma(c, r, m->seq);
	for (uint32_t r = 0; r < (m->height + 1) / 2; r++)
		memset(base + uv->offset + (uint64_t)r * uv->pitch, 0x80, (m->width + 1) / 2 * 2);
}

/* Returns the number of wrong bytes. */
static uint64_t check_nv12(const uint8_t *base, const struct frame_msg *m)
{
	const struct cmabuf_plane *y = &m->planes[0], *uv = &m->planes[1];
	uint64_t bad = 0;

	for (uint32_t r = 0; r < m->height; r++)
		for (uint32_t c = 0; c < m->width; c++)
			bad += base[y->offset + (uint64_t)r * y->pitch + c] != luma(c, r, m->seq);
	for (uint32_t r = 0; r < (m->height + 1) / 2; r++)
		for (uint32_t c = 0; c < (m->width + 1) / 2 * 2; c++)
			bad += base[uv->offset + (uint64_t)r * uv->pitch + c] != 0x80;
	return bad;
}

static int send_frame(int sock, const struct frame_msg *m, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = (void *)m, .iov_len = sizeof(*m)};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.buf,
			    .msg_controllen = sizeof(ctl.buf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)sizeof(*m) ? 0 : -1;
}

/* Returns the fd, -1 at end of stream or on error. */
static int recv_frame(int sock, struct frame_msg *m)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = m, .iov_len = sizeof(*m)};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.buf,
			    .msg_controllen = sizeof(ctl.buf)};
	struct cmsghdr *c;
	int fd = -1;

	if (recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) != (ssize_t)sizeof(*m))
		return -1;
	c = CMSG_FIRSTHDR(&mh);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

/* The dma-buf's CPU access bracket; a memfd (the daemon's test backend) needs none. */
static void cpu_access(int fd, uint64_t flags)
{
	struct dma_buf_sync s = {.flags = flags};

	if (ioctl(fd, DMA_BUF_IOCTL_SYNC, &s) < 0 && errno != ENOTTY)
		perror("consumer: DMA_BUF_IOCTL_SYNC");
}

/* The consumer: only a socket, no daemon. Replies with the number of bad bytes per frame. */
static int consumer(int sock)
{
	struct frame_msg m;
	int fd, frames = 0;

	while ((fd = recv_frame(sock, &m)) >= 0) {
		uint64_t bad = UINT64_MAX;
		void *p = mmap(NULL, m.size, PROT_READ, MAP_SHARED, fd, 0);

		if (p != MAP_FAILED && m.fourcc == DRM_FORMAT_NV12 && m.nplanes == 2) {
			cpu_access(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ);
			bad = check_nv12(p, &m);
			cpu_access(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ);
		}
		if (p != MAP_FAILED)
			munmap(p, m.size);
		close(fd); /* the last reference: now the daemon may reuse the memory */
		printf("consumer: frame %u, %ux%u NV12, %" PRIu64 " bytes: %s\n", m.seq, m.width,
		       m.height, m.size, bad ? "WRONG" : "ok");
		fflush(stdout);
		if (write(sock, &bad, sizeof(bad)) != sizeof(bad))
			return 1;
		frames++;
	}
	return frames ? 0 : 1;
}

static pid_t spawn_consumer(int sock, const char *self)
{
	char arg[16];
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	/* A fresh program image: nothing of the producer's connection survives. */
	snprintf(arg, sizeof(arg), "%d", sock);
	execl("/proc/self/exe", self, "--consumer", arg, (char *)NULL);
	perror("exec consumer");
	_exit(127);
}

static int produce(struct cmabuf *cb, int sock, uint32_t seq, uint32_t w, uint32_t h)
{
	struct frame_msg m = {.seq = seq, .fourcc = DRM_FORMAT_NV12, .width = w, .height = h};
	struct cmabuf_alloc_desc desc = {.name = "share-frame"};
	struct cmabuf_buffer *buf;
	uint64_t bad = 0;
	uint8_t *p;
	int ret;

	ret = cmabuf_alloc_image(cb, w, h, DRM_FORMAT_NV12, DRM_FORMAT_MOD_LINEAR, &desc, &buf);
	if (ret < 0) {
		fprintf(stderr, "alloc: %s\n", cmabuf_last_error(cb));
		return -1;
	}
	m.nplanes = (uint32_t)cmabuf_buffer_planes(buf, m.planes, CMABUF_MAX_PLANES);
	m.size = cmabuf_buffer_size(buf);
	p = cmabuf_map(buf);
	if (!p) {
		perror("map");
		cmabuf_free(buf);
		return -1;
	}
	cmabuf_sync_begin(buf, CMABUF_SYNC_WRITE);
	draw_nv12(p, &m);
	cmabuf_sync_end(buf, CMABUF_SYNC_WRITE);
	ret = send_frame(sock, &m, cmabuf_buffer_fd(buf));
	/* Sent: our handle can go; the consumer's fd keeps the memory. */
	cmabuf_free(buf);
	if (ret < 0 || read(sock, &bad, sizeof(bad)) != sizeof(bad)) {
		fprintf(stderr, "producer: the consumer went away\n");
		return -1;
	}
	printf("producer: frame %u: consumer found %" PRIu64 " wrong bytes\n", seq, bad);
	fflush(stdout);
	return bad ? -1 : 0;
}

int main(int argc, char **argv)
{
	uint32_t frames = 3, w = 640, h = 480;
	struct cmabuf *cb;
	int sv[2], status, failed = 0, ret;
	pid_t pid;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--consumer") == 0 && i + 1 < argc)
			return consumer(atoi(argv[i + 1]));
		if (strcmp(argv[i], "--frames") == 0 && i + 1 < argc)
			frames = (uint32_t)strtoul(argv[++i], NULL, 0);
		else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc &&
			 sscanf(argv[i + 1], "%ux%u", &w, &h) == 2)
			i++;
		else {
			fprintf(stderr, "usage: %s [--frames N] [--size WxH]\n", argv[0]);
			return 2;
		}
	}
	if ((ret = cmabuf_connect(NULL, &cb)) < 0) {
		fprintf(stderr, "connect: %s\n", strerror(-ret));
		return 1;
	}
	/* The consumer's end survives exec; ours does not. */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0 ||
	    fcntl(sv[0], F_SETFD, FD_CLOEXEC) < 0) {
		perror("socketpair");
		return 1;
	}
	pid = spawn_consumer(sv[1], argv[0]);
	close(sv[1]);
	for (uint32_t seq = 0; seq < frames && !failed; seq++)
		failed = produce(cb, sv[0], seq, w, h) < 0;
	close(sv[0]); /* end of stream */
	cmabuf_disconnect(cb);
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		failed = 1;
	printf("%s: %u frames shared\n", failed ? "FAILED" : "ok", frames);
	return failed;
}
