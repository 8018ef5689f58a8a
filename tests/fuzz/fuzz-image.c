/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness of image reading (engine/image.c): the input is an image file, opened as
 * every kind with that kind's entry type and read to its end. Entries of the one kind that
 * opens are written to a second image and read back: what img_read accepts, img_write must
 * reproduce byte for byte. Errors are logged by image.c; stderr goes to /dev/null while an
 * input runs (sanitizer reports still get through) unless CRYO_FUZZ_VERBOSE is set.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/image.h"
#include "img-files.pb-c.h"
#include "img-inventory.pb-c.h"
#include "img-mm.pb-c.h"
#include "img-task.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
void __sanitizer_set_report_fd(void *fd) __attribute__((weak));

/* Most entries one input is read for; a few bytes each, so a 4 KiB input is far below. */
#define FUZZ_MAX_ENTRIES 100000

static const ProtobufCMessageDescriptor *const kind_desc[] = {
	[IMG_KIND__IMG_INVENTORY] = &inventory_entry__descriptor,
	[IMG_KIND__IMG_TASK] = &task_entry__descriptor,
	[IMG_KIND__IMG_MM] = &mm_entry__descriptor,
	[IMG_KIND__IMG_VMAS] = &vma_entry__descriptor,
	[IMG_KIND__IMG_PAGEMAP] = &pagemap_entry__descriptor,
	[IMG_KIND__IMG_FILES] = &file_entry__descriptor,
	[IMG_KIND__IMG_FDS] = &fd_entry__descriptor,
	[IMG_KIND__IMG_PIPE_DATA] = &pipe_data_entry__descriptor,
};

static char fuzz_dir[] = "/tmp/cryo-fuzz-image.XXXXXX";
static int fuzz_dfd = -1, stderr_fd = -1, null_fd = -1;

static void fuzz_cleanup(void)
{
	unlinkat(fuzz_dfd, "in.img", 0);
	unlinkat(fuzz_dfd, "out.img", 0);
	close(fuzz_dfd);
	rmdir(fuzz_dir);
}

static void fuzz_setup(void)
{
	if (!mkdtemp(fuzz_dir) || (fuzz_dfd = open(fuzz_dir, O_DIRECTORY | O_CLOEXEC)) < 0) {
		perror("fuzz-image: temp dir");
		abort();
	}
	atexit(fuzz_cleanup);
	log_set_level(-1);
	if (getenv("CRYO_FUZZ_VERBOSE"))
		return;
	/* Sanitizer reports go to a copy of the real stderr; the engine's errors to nowhere. */
	stderr_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (stderr_fd < 0 || null_fd < 0)
		abort();
	if (__sanitizer_set_report_fd)
		__sanitizer_set_report_fd((void *)(intptr_t)stderr_fd);
}

static void quiet(bool on)
{
	if (null_fd >= 0)
		dup2(on ? null_fd : stderr_fd, STDERR_FILENO);
}

static int put_file(const char *name, const uint8_t *data, size_t size)
{
	_cleanup_close_ int fd =
		openat(fuzz_dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || write_full(fd, data, size) < 0)
		abort();
	return 0;
}

static uint8_t *packed(const ProtobufCMessage *msg, size_t *len)
{
	uint8_t *buf;

	*len = protobuf_c_message_get_packed_size(msg);
	buf = xmalloc(*len);
	if (protobuf_c_message_pack(msg, buf) != *len)
		abort();
	return buf;
}

/* Write @n entries to out.img and check that they read back as the same bytes. */
static void check_rewrite(ImgKind kind, ProtobufCMessage **msgs, size_t n)
{
	const ProtobufCMessageDescriptor *desc = kind_desc[kind];
	_cleanup_img_ struct img *in = NULL;
	struct img *out;
	size_t i;

	if (img_create(fuzz_dfd, "out.img", kind, &out) < 0)
		abort();
	for (i = 0; i < n; i++)
		if (img_write(out, msgs[i]) < 0)
			abort();
	if (img_close(out) < 0 || img_open(fuzz_dfd, "out.img", kind, &in) < 0)
		abort();
	for (i = 0; i < n; i++) {
		_cleanup_free_ uint8_t *a = NULL, *b = NULL;
		ProtobufCMessage *msg;
		size_t la, lb;

		if (img_read(in, desc, &msg) != 1)
			abort();
		a = packed(msgs[i], &la);
		b = packed(msg, &lb);
		img_free(msg);
		if (la != lb || memcmp(a, b, la))
			abort();
	}
	if (img_read(in, desc, &(ProtobufCMessage *){ NULL }) != 0)
		abort();
}

static void read_kind(ImgKind kind)
{
	_cleanup_img_ struct img *img = NULL;
	ProtobufCMessage **msgs = NULL;
	ProtobufCMessage *msg;
	size_t n = 0;

	if (img_open(fuzz_dfd, "in.img", kind, &img) < 0)
		return;
	while (n < FUZZ_MAX_ENTRIES && img_read(img, kind_desc[kind], &msg) > 0) {
		msgs = xrealloc_array(msgs, n + 1, sizeof(*msgs));
		msgs[n++] = msg;
	}
	check_rewrite(kind, msgs, n);
	for (size_t i = 0; i < n; i++)
		img_free(msgs[i]);
	free(msgs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (fuzz_dfd < 0)
		fuzz_setup();
	put_file("in.img", data, size);
	quiet(true);
	for (int kind = IMG_KIND__IMG_INVENTORY; kind <= IMG_KIND__IMG_PIPE_DATA; kind++)
		read_kind((ImgKind)kind);
	quiet(false);
	return 0;
}
