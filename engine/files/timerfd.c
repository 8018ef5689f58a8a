/* SPDX-License-Identifier: MIT */
/* timerfd: clock, time left, interval and unread expirations. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "engine/files.h"

static bool timerfd_match(int fd, const struct stat *st, const char *link)
{
	(void)fd;
	(void)st;
	return files_anon_inode_is(link, "timerfd");
}

static int timerfd_dump(struct dump_ctx *d, FileEntry *f, int fd, int tfd, const struct stat *st,
		        const char *link)
{
	(void)f;
	(void)fd;
	(void)st;
	return files_refuse(d, tfd, link, "timerfds are not supported yet");
}

static int timerfd_prepare(struct rst_ctx *r, const FileEntry *f)
{
	(void)r;
	return pr_err_ret(-EOPNOTSUPP, "image 'files.img': file %lu: timerfds are not supported yet",
			  (unsigned long)f->id);
}

static int timerfd_open(struct rst_ctx *r, const FileEntry *f, int flags, int *ret_fd)
{
	(void)flags;
	(void)ret_fd;
	return timerfd_prepare(r, f);
}

const struct file_ops timerfd_file_ops = {
	.kind = FILE_KIND__FILE_TIMERFD,
	.match = timerfd_match,
	.dump = timerfd_dump,
	.prepare = timerfd_prepare,
	.open = timerfd_open,
};
