/* SPDX-License-Identifier: MIT */
/* Named pipes (FIFOs), reopened by path, with their queued data. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "engine/files.h"

static bool fifo_match(int fd, const struct stat *st, const char *link)
{
	(void)fd;
	return S_ISFIFO(st->st_mode) && link[0] == '/';
}

static int fifo_dump(struct dump_ctx *d, FileEntry *f, int fd, int tfd, const struct stat *st,
		     const char *link)
{
	(void)f;
	(void)fd;
	(void)st;
	return files_refuse(d, tfd, link, "named FIFOs are not supported yet");
}

static int fifo_prepare(struct rst_ctx *r, const FileEntry *f)
{
	(void)r;
	return pr_err_ret(-EOPNOTSUPP, "image 'files.img': file %lu: named FIFOs are not supported yet",
			  (unsigned long)f->id);
}

static int fifo_open(struct rst_ctx *r, const FileEntry *f, int flags, int *ret_fd)
{
	(void)flags;
	(void)ret_fd;
	return fifo_prepare(r, f);
}

const struct file_ops fifo_file_ops = {
	.kind = FILE_KIND__FILE_FIFO,
	.match = fifo_match,
	.dump = fifo_dump,
	.prepare = fifo_prepare,
	.open = fifo_open,
};
