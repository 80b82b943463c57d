/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "free_awaited.h"

int proto_alloc(struct cmabuf_conn *c, uint64_t size, uint64_t *id)
{
	struct cmabuf_msg_alloc req;
	struct cmabuf_msg reply;
	int fd = -1, ret;

	memset(&req, 0, sizeof(req));
	req.size = size;
	memcpy(req.name, "bench", 6);
	ret = cmabuf_conn_request(c, CMABUF_MSG_ALLOC, &req, sizeof(req), &reply, &fd);
	if (ret < 0)
		return ret;
	if (reply.hdr.type != CMABUF_MSG_ALLOC_REPLY || fd < 0) {
		if (fd >= 0)
			close(fd);
		return -EPROTO;
	}
	*id = reply.u.alloc_reply.id;
	return fd;
}

int proto_free_awaited(struct cmabuf_conn *c, uint64_t id, int fd)
{
	struct cmabuf_msg_free req;
	struct cmabuf_msg reply;
	int ret;

	memset(&req, 0, sizeof(req));
	req.id = id;
	/* FREE before close, as cmabuf_free does: the daemon must hear of it first. */
	ret = cmabuf_conn_request(c, CMABUF_MSG_FREE, &req, sizeof(req), &reply, NULL);
	close(fd);
	return ret;
}
