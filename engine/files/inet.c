/* SPDX-License-Identifier: MIT */
/* AF_INET and AF_INET6 sockets. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "common/log.h"
#include "engine/files.h"

static int socket_domain(int fd)
{
	int domain = -1;
	socklen_t len = sizeof(domain);

	return getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 ? -1 : domain;
}

static bool inet_match(int fd, const struct stat *st, const char *link)
{
	(void)link;
	return S_ISSOCK(st->st_mode) && (socket_domain(fd) == AF_INET || socket_domain(fd) == AF_INET6);
}

static int inet_dump(struct dump_ctx *d, FileEntry *f, int fd, int tfd, const struct stat *st,
		     const char *link)
{
	(void)f;
	(void)fd;
	(void)st;
	return files_refuse(d, tfd, link, "sockets of this family are not supported yet");
}

static int inet_prepare(struct rst_ctx *r, const FileEntry *f)
{
	(void)r;
	return pr_err_ret(-EOPNOTSUPP, "image 'files.img': file %lu: sockets of this family are not supported yet",
			  (unsigned long)f->id);
}

static int inet_open(struct rst_ctx *r, const FileEntry *f, int flags, int *ret_fd)
{
	(void)flags;
	(void)ret_fd;
	return inet_prepare(r, f);
}

const struct file_ops inet_file_ops = {
	.kind = FILE_KIND__FILE_INET,
	.match = inet_match,
	.dump = inet_dump,
	.prepare = inet_prepare,
	.open = inet_open,
};
