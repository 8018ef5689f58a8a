/* SPDX-License-Identifier: MIT */
/* signalfd: the set of signals it reads. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "engine/files.h"

static bool signalfd_match(int fd, const struct stat *st, const char *link)
{
	(void)fd;
	(void)st;
	return files_anon_inode_is(link, "signalfd");
}

static int signalfd_dump(struct dump_ctx *d, FileEntry *f, int fd, int tfd, const struct stat *st,
		         const char *link)
{
	(void)f;
	(void)fd;
	(void)st;
	return files_refuse(d, tfd, link, "signalfds are not supported yet");
}

static int signalfd_prepare(struct rst_ctx *r, const FileEntry *f)
{
	(void)r;
	return pr_err_ret(-EOPNOTSUPP, "image 'files.img': file %lu: signalfds are not supported yet",
			  (unsigned long)f->id);
}

static int signalfd_open(struct rst_ctx *r, const FileEntry *f, int flags, int *ret_fd)
{
	(void)flags;
	(void)ret_fd;
	return signalfd_prepare(r, f);
}

const struct file_ops signalfd_file_ops = {
	.kind = FILE_KIND__FILE_SIGNALFD,
	.match = signalfd_match,
	.dump = signalfd_dump,
	.prepare = signalfd_prepare,
	.open = signalfd_open,
};
