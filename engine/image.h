/* SPDX-License-Identifier: MIT */
#ifndef CRYO_ENGINE_IMAGE_H
#define CRYO_ENGINE_IMAGE_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>

#include "img-header.pb-c.h"

#define IMG_MAGIC 0x32595243u /* "CRY2" */
#define IMG_FORMAT_VERSION 2
#define IMG_HEADER_MAX 4096
/* Largest single entry: bounds every length read from an image before allocation. */
#define IMG_ENTRY_MAX (64u << 20)

struct img;

/* Create image file @name in @dirfd holding entries of @kind. */
int img_create(int dirfd, const char *name, ImgKind kind, struct img **ret);
/* Open image file @name; a missing file is -ENOENT and logged naming it. */
int img_open(int dirfd, const char *name, ImgKind kind, struct img **ret);
int img_write(struct img *img, const ProtobufCMessage *msg);
/* Read the next entry: 1 and *ret set, 0 at the end, or -errno logged with the file name. */
int img_read(struct img *img, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **ret);
/* Read exactly one entry; its absence is an error. */
int img_read_one(int dirfd, const char *name, ImgKind kind, const ProtobufCMessageDescriptor *desc,
		 ProtobufCMessage **ret);
/*
 * Read every entry of image @name, at most @max of them, into a new array *ret of *ret_n
 * messages (free each with img_free). Nothing is returned on failure.
 */
int img_read_all(int dirfd, const char *name, ImgKind kind, const ProtobufCMessageDescriptor *desc,
		 size_t max, ProtobufCMessage ***ret, size_t *ret_n);
/* Write a file holding the single entry @msg. */
int img_write_one(int dirfd, const char *name, ImgKind kind, const ProtobufCMessage *msg);
/* Flush and close; returns the first write error. */
int img_close(struct img *img);
int img_closep_helper(struct img **img);

#define _cleanup_img_ __attribute__((cleanup(img_closep_helper)))

/* Free a protobuf message unpacked by img_read. */
void img_free(ProtobufCMessage *msg);

#endif
