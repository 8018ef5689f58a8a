/* SPDX-License-Identifier: MIT */
/* inotify: its watches. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "engine/files.h"

static bool inotify_match(int fd, const struct stat *st, const char *link)
{
	(void)fd;
	(void)st;
	return files_anon_inode_is(link, "inotify");
}

static int inotify_dump(struct dump_ctx *d, FileEntry *f, int fd, int tfd, const struct stat *st,
		        const char *link)
{
	(void)f;
	(void)fd;
	(void)st;
	return files_refuse(d, tfd, link, "inotify instances are not supported yet");
}

static int inotify_prepare(struct rst_ctx *r, const FileEntry *f)
{
	(void)r;
	return pr_err_ret(-EOPNOTSUPP, "image 'files.img': file %lu: inotify instances are not supported yet",
			  (unsigned long)f->id);
}

static int inotify_open(struct rst_ctx *r, const FileEntry *f, int flags, int *ret_fd)
{
	(void)flags;
	(void)ret_fd;
	return inotify_prepare(r, f);
}

const struct file_ops inotify_file_ops = {
	.kind = FILE_KIND__FILE_INOTIFY,
	.match = inotify_match,
	.dump = inotify_dump,
	.prepare = inotify_prepare,
	.open = inotify_open,
};
