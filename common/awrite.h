/* SPDX-License-Identifier: MIT */
/*
 * An asynchronous writer: the caller fills buffers while a thread writes the previous ones to
 * a file, so reading the source and writing the page cache overlap on two CPUs.
 */
#ifndef CRYO_COMMON_AWRITE_H
#define CRYO_COMMON_AWRITE_H

#include <stddef.h>
#include <stdint.h>

struct awrite;

/* Start writing to @fd with buffers of @buf_size bytes. */
int awrite_start(int fd, size_t buf_size, struct awrite **ret);
/* A free buffer to fill; blocks while all are queued. NULL once a write failed. */
uint8_t *awrite_buf(struct awrite *w);
/* Queue the buffer awrite_buf gave, holding @len bytes. */
void awrite_submit(struct awrite *w, size_t len);
/* Wait for every queued write and free @w: 0 or the first write's -errno. */
int awrite_finish(struct awrite *w);

#endif
