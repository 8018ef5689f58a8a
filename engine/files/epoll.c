/* SPDX-License-Identifier: MIT */
/* epoll: the interest list, restored after the fds it watches. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "engine/files.h"

static bool epoll_match(int fd, const struct stat *st, const char *link)
{
	(void)fd;
	(void)st;
	return files_anon_inode_is(link, "eventpoll");
}

static int epoll_dump(struct dump_ctx *d, FileEntry *f, int fd, int tfd, const struct stat *st,
		      const char *link)
{
	(void)f;
	(void)fd;
	(void)st;
	return files_refuse(d, tfd, link, "epoll instances are not supported yet");
}

static int epoll_prepare(struct rst_ctx *r, const FileEntry *f)
{
	(void)r;
	return pr_err_ret(-EOPNOTSUPP, "image 'files.img': file %lu: epoll instances are not supported yet",
			  (unsigned long)f->id);
}

static int epoll_open(struct rst_ctx *r, const FileEntry *f, int flags, int *ret_fd)
{
	(void)flags;
	(void)ret_fd;
	return epoll_prepare(r, f);
}

const struct file_ops epoll_file_ops = {
	.kind = FILE_KIND__FILE_EPOLL,
	.match = epoll_match,
	.dump = epoll_dump,
	.prepare = epoll_prepare,
	.open = epoll_open,
};
