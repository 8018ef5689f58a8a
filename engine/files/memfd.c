/* SPDX-License-Identifier: MIT */
/* memfd: name, contents and seals. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "engine/files.h"

static bool memfd_match(int fd, const struct stat *st, const char *link)
{
	(void)fd;
	return S_ISREG(st->st_mode) && !strncmp(link, "/memfd:", 7);
}

static int memfd_dump(struct dump_ctx *d, FileEntry *f, int fd, int tfd, const struct stat *st,
		      const char *link)
{
	(void)f;
	(void)fd;
	(void)st;
	return files_refuse(d, tfd, link, "memfds are not supported yet");
}

static int memfd_prepare(struct rst_ctx *r, const FileEntry *f)
{
	(void)r;
	return pr_err_ret(-EOPNOTSUPP, "image 'files.img': file %lu: memfds are not supported yet",
			  (unsigned long)f->id);
}

static int memfd_open(struct rst_ctx *r, const FileEntry *f, int flags, int *ret_fd)
{
	(void)flags;
	(void)ret_fd;
	return memfd_prepare(r, f);
}

const struct file_ops memfd_file_ops = {
	.kind = FILE_KIND__FILE_MEMFD,
	.match = memfd_match,
	.dump = memfd_dump,
	.prepare = memfd_prepare,
	.open = memfd_open,
};
