/* SPDX-License-Identifier: MIT */
/* eventfd: its counter and flags. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "engine/files.h"

static bool eventfd_match(int fd, const struct stat *st, const char *link)
{
	(void)fd;
	(void)st;
	return files_anon_inode_is(link, "eventfd");
}

static int eventfd_dump(struct dump_ctx *d, FileEntry *f, int fd, int tfd, const struct stat *st,
		        const char *link)
{
	(void)f;
	(void)fd;
	(void)st;
	return files_refuse(d, tfd, link, "eventfds are not supported yet");
}

static int eventfd_prepare(struct rst_ctx *r, const FileEntry *f)
{
	(void)r;
	return pr_err_ret(-EOPNOTSUPP, "image 'files.img': file %lu: eventfds are not supported yet",
			  (unsigned long)f->id);
}

static int eventfd_open(struct rst_ctx *r, const FileEntry *f, int flags, int *ret_fd)
{
	(void)flags;
	(void)ret_fd;
	return eventfd_prepare(r, f);
}

const struct file_ops eventfd_file_ops = {
	.kind = FILE_KIND__FILE_EVENTFD,
	.match = eventfd_match,
	.dump = eventfd_dump,
	.prepare = eventfd_prepare,
	.open = eventfd_open,
};
