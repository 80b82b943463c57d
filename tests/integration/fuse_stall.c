/* SPDX-License-Identifier: MIT */
/*
 * A FUSE file system of one empty file, served over the raw /dev/fuse protocol
 * by a child process that never answers FLUSH: whoever close()s a descriptor
 * of that file waits until the server goes away. That is the attacker's tool
 * (fusermount3 is setuid on Debian, so any user has one); tests use it to show
 * that the daemon never closes a client's descriptor where it could block.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuse_stall.h"

static void reply(int dev, uint64_t unique, int error, const void *out, size_t len)
{
	struct fuse_out_header h = {
		.len = (uint32_t)(sizeof(h) + (error ? 0 : len)), .error = error, .unique = unique};
	struct iovec iov[2] = {{&h, sizeof(h)}, {(void *)out, error ? 0 : len}};

	if (writev(dev, iov, 2) < 0) {
		/* the request was interrupted, or the connection is going away */
	}
}

static void fill_attr(struct fuse_attr *a, uint64_t ino)
{
	memset(a, 0, sizeof(*a));
	a->ino = ino;
	a->mode = ino == FUSE_ROOT_ID ? S_IFDIR | 0755 : S_IFREG | 0644;
	a->nlink = 1;
	a->blksize = 4096;
}

/* Reports the pid of every FLUSH's caller on report_fd, and answers no FLUSH. */
static void serve(int dev, int report_fd)
{
	static unsigned char buf[1 << 20];

	for (;;) {
		ssize_t n = read(dev, buf, sizeof(buf));
		const struct fuse_in_header *in = (const void *)buf;
		const void *arg = buf + sizeof(*in);

		if (n < 0 && (errno == EINTR || errno == ENOENT))
			continue;
		if (n < (ssize_t)sizeof(*in))
			_exit(0); /* unmounted or aborted */
		switch (in->opcode) {
		case FUSE_INIT: {
			const struct fuse_init_in *ii = arg;
			struct fuse_init_out o = {.major = FUSE_KERNEL_VERSION,
						  .minor = FUSE_KERNEL_MINOR_VERSION,
						  .max_readahead = ii->max_readahead,
						  .max_write = 4096,
						  .max_background = 16,
						  .congestion_threshold = 12,
						  .time_gran = 1};

			reply(dev, in->unique, 0, &o, sizeof(o));
			break;
		}
		case FUSE_LOOKUP: {
			struct fuse_entry_out e = {.nodeid = 2, .generation = 1};

			if (in->nodeid != FUSE_ROOT_ID || strcmp(arg, FUSE_STALL_FILE)) {
				reply(dev, in->unique, -ENOENT, NULL, 0);
				break;
			}
			fill_attr(&e.attr, 2);
			reply(dev, in->unique, 0, &e, sizeof(e));
			break;
		}
		case FUSE_GETATTR: {
			struct fuse_attr_out a = {0};

			fill_attr(&a.attr, in->nodeid);
			reply(dev, in->unique, 0, &a, sizeof(a));
			break;
		}
		case FUSE_OPEN: {
			struct fuse_open_out o = {.fh = 1};

			reply(dev, in->unique, 0, &o, sizeof(o));
			break;
		}
		case FUSE_FLUSH: {
			uint32_t pid = in->pid;

			/* the whole point: no answer, ever */
			if (write(report_fd, &pid, sizeof(pid)) != sizeof(pid))
				_exit(1);
			break;
		}
		case FUSE_RELEASE:
			reply(dev, in->unique, 0, NULL, 0);
			break;
		case FUSE_FORGET:
		case FUSE_BATCH_FORGET:
		case FUSE_INTERRUPT: /* of a FLUSH: still no answer */
			break;
		default:
			reply(dev, in->unique, -ENOSYS, NULL, 0);
		}
	}
}

int fuse_stall_start(struct fuse_stall *fs)
{
	char opts[128];
	int dev, pfd[2];

	memset(fs, 0, sizeof(*fs));
	fs->report_fd = -1;
	strcpy(fs->dir, "/tmp/cmabuf-fuse-XXXXXX");
	if (!mkdtemp(fs->dir))
		return -errno;
	dev = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (dev < 0) {
		rmdir(fs->dir);
		return -errno;
	}
	snprintf(opts, sizeof(opts), "fd=%d,rootmode=40000,user_id=0,group_id=0", dev);
	if (mount("cmabuf-stall", fs->dir, "fuse.cmabuf-stall", MS_NOSUID | MS_NODEV, opts) < 0) {
		int err = -errno;

		close(dev);
		rmdir(fs->dir);
		return err;
	}
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	fs->server = fork();
	if (fs->server == 0) {
		close(pfd[0]);
		serve(dev, pfd[1]);
	}
	close(dev);
	close(pfd[1]);
	fs->report_fd = pfd[0];
	fcntl(fs->report_fd, F_SETFL, O_NONBLOCK);
	snprintf(fs->file, sizeof(fs->file), "%s/%s", fs->dir, FUSE_STALL_FILE);
	return fs->server < 0 ? -errno : 0;
}

int fuse_stall_flushes_by(struct fuse_stall *fs, pid_t pid)
{
	uint32_t p;
	int n = 0;

	while (read(fs->report_fd, &p, sizeof(p)) == sizeof(p))
		if ((pid_t)p == pid)
			n++;
	return n;
}

void fuse_stall_stop(struct fuse_stall *fs)
{
	/* The server's /dev/fuse goes with it: the kernel aborts every waiting request. */
	if (fs->server > 0) {
		kill(fs->server, SIGKILL);
		waitpid(fs->server, NULL, 0);
		fs->server = 0;
	}
	if (fs->report_fd >= 0)
		close(fs->report_fd);
	fs->report_fd = -1;
	if (fs->dir[0]) {
		umount2(fs->dir, MNT_DETACH);
		rmdir(fs->dir);
		fs->dir[0] = '\0';
	}
}
