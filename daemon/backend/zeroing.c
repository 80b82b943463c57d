/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "zeroing.h"

/* Big enough to amortise the ioctl, small enough that waiting for one is short. */
#define ZEROING_CHUNK (8ull << 20)

struct range {
	uint64_t offset, size;
	int err;
	struct range *next;
};

struct range_list {
	struct range *head, *tail;
};

struct zeroing {
	zeroing_clear_fn clear;
	zeroing_done_fn done;
	void *ctx;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;	/* work queued, or stopping */
	pthread_cond_t drained; /* a range finished (todo and busy may both be empty) */
	struct range_list todo, finished;
	bool busy, stopping;
	uint64_t pending; /* bytes not yet reported zero; the loop's thread only */
	int efd;	  /* the worker tells the loop about finished ranges */
	struct event *ev;
};

static void push(struct range_list *l, struct range *r)
{
	r->next = NULL;
	if (l->tail)
		l->tail->next = r;
	else
		l->head = r;
	l->tail = r;
}

static struct range *pop(struct range_list *l)
{
	struct range *r = l->head;

	if (r) {
		l->head = r->next;
		if (!l->head)
			l->tail = NULL;
	}
	return r;
}

static void *worker(void *arg)
{
	struct zeroing *z = arg;
	uint64_t one = 1;
	struct range *r;
	bool notify;

	pthread_mutex_lock(&z->lock);
	for (;;) {
		while (!z->todo.head && !z->stopping)
			pthread_cond_wait(&z->wake, &z->lock);
		r = pop(&z->todo);
		if (!r)
			break;
		z->busy = true;
		pthread_mutex_unlock(&z->lock);
		r->err = z->clear(z->ctx, r->offset, r->size);
		pthread_mutex_lock(&z->lock);
		z->busy = false;
		/*
		 * The loop is told only when the list goes from empty to not: until it
		 * drains the list, one wake-up covers every range added meanwhile.
		 */
		notify = !z->finished.head;
		push(&z->finished, r);
		/* Every range, not only the last: zeroing_wait_some waits for one. */
		pthread_cond_broadcast(&z->drained);
		if (notify) {
			/*
			 * Written without the lock, so that the loop, woken by it, does
			 * not find the lock held and block on it.
			 */
			pthread_mutex_unlock(&z->lock);
			if (write(z->efd, &one, sizeof(one)) < 0) {
				/* cannot overflow in practice; the loop also drains on wait */
			}
			pthread_mutex_lock(&z->lock);
		}
	}
	pthread_mutex_unlock(&z->lock);
	return NULL;
}

/* On the loop: hand finished ranges to the owner. */
static void report_finished(struct zeroing *z)
{
	struct range_list done;
	struct range *r;

	pthread_mutex_lock(&z->lock);
	done = z->finished;
	z->finished.head = z->finished.tail = NULL;
	pthread_mutex_unlock(&z->lock);
	while ((r = pop(&done))) {
		z->pending -= r->size; /* only the loop's thread touches pending */
		z->done(z->ctx, r->offset, r->size, r->err);
		free(r);
	}
}

static void on_finished(evutil_socket_t fd, short what, void *arg)
{
	struct zeroing *z = arg;
	uint64_t n;

	if (read(z->efd, &n, sizeof(n)) < 0) {
		/* EAGAIN: a wait_all already drained it */
	}
	report_finished(z);
}

struct zeroing *zeroing_new(struct event_base *base, zeroing_clear_fn clear, zeroing_done_fn done,
			    void *ctx)
{
	struct zeroing *z = calloc(1, sizeof(*z));

	if (!z)
		return NULL;
	z->clear = clear;
	z->done = done;
	z->ctx = ctx;
	pthread_mutex_init(&z->lock, NULL);
	pthread_cond_init(&z->wake, NULL);
	pthread_cond_init(&z->drained, NULL);
	z->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	z->ev = z->efd >= 0 ? event_new(base, z->efd, EV_READ | EV_PERSIST, on_finished, z) : NULL;
	if (!z->ev || event_add(z->ev, NULL) < 0 ||
	    pthread_create(&z->thread, NULL, worker, z) != 0) {
		if (z->ev)
			event_free(z->ev);
		if (z->efd >= 0)
			close(z->efd);
		free(z);
		return NULL;
	}
	return z;
}

void zeroing_free(struct zeroing *z)
{
	struct range *r;

	if (!z)
		return;
	pthread_mutex_lock(&z->lock);
	z->stopping = true;
	while ((r = pop(&z->todo))) /* never cleared: nobody will allocate again */
		free(r);
	pthread_cond_broadcast(&z->wake);
	pthread_mutex_unlock(&z->lock);
	pthread_join(z->thread, NULL);
	while ((r = pop(&z->finished)))
		free(r);
	event_free(z->ev);
	close(z->efd);
	pthread_mutex_destroy(&z->lock);
	pthread_cond_destroy(&z->wake);
	pthread_cond_destroy(&z->drained);
	free(z);
}

int zeroing_submit(struct zeroing *z, uint64_t offset, uint64_t size)
{
	struct range_list add = {NULL, NULL};
	int ret = 0;

	while (size) {
		uint64_t len = size < ZEROING_CHUNK ? size : ZEROING_CHUNK;
		struct range *r = calloc(1, sizeof(*r));

		if (!r) {
			ret = -ENOMEM; /* the chunks before this one are still queued */
			break;
		}
		r->offset = offset;
		r->size = len;
		z->pending += len;
		push(&add, r);
		offset += len;
		size -= len;
	}
	if (!add.head)
		return ret;
	/*
	 * All chunks in one go, and the worker signalled after the unlock: woken
	 * under the lock, it would find it held and sleep again on the mutex,
	 * costing a second wake-up (a cross-CPU one, usually) per released buffer.
	 */
	pthread_mutex_lock(&z->lock);
	if (z->todo.tail)
		z->todo.tail->next = add.head;
	else
		z->todo.head = add.head;
	z->todo.tail = add.tail;
	pthread_mutex_unlock(&z->lock);
	pthread_cond_signal(&z->wake);
	return ret;
}

void zeroing_wait_all(struct zeroing *z)
{
	pthread_mutex_lock(&z->lock);
	while (z->todo.head || z->busy)
		pthread_cond_wait(&z->drained, &z->lock);
	pthread_mutex_unlock(&z->lock);
	report_finished(z);
}

uint64_t zeroing_wait_some(struct zeroing *z)
{
	pthread_mutex_lock(&z->lock);
	while (!z->finished.head && (z->todo.head || z->busy))
		pthread_cond_wait(&z->drained, &z->lock);
	pthread_mutex_unlock(&z->lock);
	report_finished(z);
	return z->pending;
}

uint64_t zeroing_pending(const struct zeroing *z)
{
	return z ? z->pending : 0;
}
