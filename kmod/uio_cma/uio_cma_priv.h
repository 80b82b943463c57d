/* SPDX-License-Identifier: GPL-2.0 */
/*
 * uio_cma internals shared by main.c (regions, exports, the control
 * device) and heap.c (the /dev/dma_heap door). Not an ABI.
 */
#ifndef UIO_CMA_PRIV_H
#define UIO_CMA_PRIV_H

#include <linux/list.h>
#include <linux/miscdevice.h>
#include <linux/mutex.h>
#include <linux/rwsem.h>
#include <linux/types.h>
#include <linux/uio_driver.h>
#include <linux/wait.h>

#include "uio_cma.h"

#define DRV_NAME "uio_cma"

struct pid_namespace;
struct user_namespace;

/* The heap door of one region (heap.c); every field under region->lock. */
struct uio_cma_heap {
	struct miscdevice misc; /* registered when misc.name is set */
	char devname[sizeof("cmabuf_heap") + 10]; /* sysfs: cmabuf_heapN */
	char nodename[sizeof("dma_heap/") + 64]; /* /dev/dma_heap/NAME */
	bool serving; /* the control device's opener called HEAP_SERVE */
	struct pid_namespace *pid_ns; /* the server's, for HEAP_CALLER */
	struct user_namespace *user_ns;
	struct list_head pending; /* struct uio_cma_heap_req, unanswered */
	unsigned int npending;
	u64 next_id;
};

struct uio_cma_region {
	phys_addr_t base;
	resource_size_t size;
	void *vaddr; /* memremap(MEMREMAP_WC) of the whole region */
	int id;
	char name[sizeof(DRV_NAME) + 10]; /* uio_cmaN: any int fits */
	struct miscdevice misc;
	struct uio_info uio;

	struct mutex lock; /* everything below */
	struct list_head exports; /* live, in address order */
	unsigned int live; /* published exports, what LIST counts */
	unsigned long *dirty; /* a page not cleared since boot or its last owner */
	struct list_head events; /* struct uio_cma_event_node */
	wait_queue_head_t wait;
	bool opened;
	u64 clear_start, clear_end; /* a CLEAR in progress, or 0, 0 */
	struct uio_cma_heap heap;
};

struct uio_cma_heap_req;

struct uio_cma_event_node {
	struct list_head node;
	struct uio_cma_event ev;
	struct uio_cma_heap_req *req; /* a HEAP_ALLOC's, until read() takes it */
};

struct uio_cma_buf {
	struct uio_cma_region *region;
	struct list_head node; /* in region->exports while live */
	u64 offset, size, cookie;
	struct dma_buf *dmabuf;
	struct uio_cma_event_node *release_ev; /* queued when the range frees */

	struct rw_semaphore lock; /* revoked vs. faults, attach, vmap */
	bool revoked;
	void *scratch; /* what vmap gives once revoked: one page, repeated */
	struct page *scratch_page;
	bool live;    /* still owns its range (region->lock) */
	bool published; /* an fd was handed out (region->lock) */
	unsigned int attached;
	unsigned int vmapped;
};

/* main.c */
struct uio_cma_buf *uio_cma_export_buf(struct uio_cma_region *r,
				       const struct uio_cma_export *arg,
				       int file_flags);
void uio_cma_publish(struct uio_cma_region *r, struct uio_cma_buf *e);

/* heap.c */
int uio_cma_heap_register(struct uio_cma_region *r, struct device *dev);
void uio_cma_heap_unregister(struct uio_cma_region *r);
void uio_cma_heap_stop(struct uio_cma_region *r);
void uio_cma_heap_event_read(struct uio_cma_event_node *n);
long uio_cma_heap_serve(struct uio_cma_region *r, struct file *file,
			void __user *argp);
long uio_cma_heap_caller(struct uio_cma_region *r, void __user *argp);
long uio_cma_heap_answer(struct uio_cma_region *r, void __user *argp);

#endif /* UIO_CMA_PRIV_H */
