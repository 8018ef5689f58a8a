/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>

#include "common/awrite.h"
#include "common/util.h"

#define AWRITE_BUFS 4

struct awrite {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int fd;
	uint8_t *buf[AWRITE_BUFS];
	size_t len[AWRITE_BUFS];
	size_t queued, written; /* buffers handed in and written out, ever */
	bool closing;
	int err;
};

static void *writer(void *arg)
{
	struct awrite *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		size_t slot;
		int r;

		while (w->written == w->queued && !w->closing)
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->written == w->queued)
			break;
		slot = w->written % AWRITE_BUFS;
		pthread_mutex_unlock(&w->lock);
		r = w->err ? 0 : write_full(w->fd, w->buf[slot], w->len[slot]);
		pthread_mutex_lock(&w->lock);
		if (r < 0)
			w->err = r;
		w->written++;
		pthread_cond_broadcast(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int awrite_start(int fd, size_t buf_size, struct awrite **ret)
{
	struct awrite *w = xzalloc(sizeof(*w));
	int r;

	w->fd = fd;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	for (int i = 0; i < AWRITE_BUFS; i++)
		w->buf[i] = xmalloc(buf_size);
	r = pthread_create(&w->thread, NULL, writer, w);
	if (r) {
		for (int i = 0; i < AWRITE_BUFS; i++)
			free(w->buf[i]);
		free(w);
		return -r;
	}
	*ret = w;
	return 0;
}

uint8_t *awrite_buf(struct awrite *w)
{
	uint8_t *b;

	pthread_mutex_lock(&w->lock);
	while (w->queued - w->written == AWRITE_BUFS && !w->err)
		pthread_cond_wait(&w->cond, &w->lock);
	b = w->err ? NULL : w->buf[w->queued % AWRITE_BUFS];
	pthread_mutex_unlock(&w->lock);
	return b;
}

void awrite_submit(struct awrite *w, size_t len)
{
	pthread_mutex_lock(&w->lock);
	w->len[w->queued % AWRITE_BUFS] = len;
	w->queued++;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

int awrite_finish(struct awrite *w)
{
	int r;

	pthread_mutex_lock(&w->lock);
	w->closing = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	r = w->err;
	for (int i = 0; i < AWRITE_BUFS; i++)
		free(w->buf[i]);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w);
	return r;
}
