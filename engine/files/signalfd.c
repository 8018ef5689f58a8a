/* SPDX-License-Identifier: MIT */
/*
 * signalfd: the set of signals it reads. The signals themselves are pending in the task and
 * come back with its pending signals; a signalfd holds no queue of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/files.h"

/* The kernel's sigset_t: 64 signals on x86-64. */
#define KSIGSET_SIZE 8

static int signalfd_dump(struct dump_ctx *d, FileEntry *f, int fd, int tfd, const struct stat *st,
			 const char *link)
{
	SignalfdEntry *e = f->signalfd = xzalloc(sizeof(*e));
	_cleanup_free_ char *info = NULL;
	uint64_t mask;
	int r;

	(void)fd;
	(void)st;
	(void)link;
	signalfd_entry__init(e);
	r = proc_read_fdinfo(d->pid, tfd, &info);
	if (r < 0)
		return pr_err_errno(r, "task %d: fd %d: can't read '/proc/%d/fdinfo/%d'",
				    d->pid, tfd, d->pid, tfd);
	/* "sigmask:" is the set the signalfd reads, in hex, bit N-1 for signal N (Linux 3.8). */
	if (proc_fdinfo_u64(info, "sigmask:", 16, &mask) < 0)
		return pr_err_ret(-EINVAL, "task %d: fd %d: '/proc/%d/fdinfo/%d' has no sigmask",
				  d->pid, tfd, d->pid, tfd);
	e->has_mask = true;
	e->mask = mask;
	pr_debug("task %d: fd %d: signalfd mask %#lx", d->pid, tfd, (unsigned long)mask);
	return 0;
}

static int signalfd_prepare(struct rst_ctx *r, const FileEntry *f)
{
	(void)r;
	/* Any 64-bit mask is valid: signalfd4 itself drops SIGKILL and SIGSTOP. */
	if (!f->signalfd || !f->signalfd->has_mask)
		return pr_err_ret(-EINVAL, "image 'files.img': signalfd file %lu is corrupt",
				  (unsigned long)f->id);
	return 0;
}

static int signalfd_open(struct rst_ctx *r, const FileEntry *f, int flags, int *ret_fd)
{
	uint64_t mask = f->signalfd->mask, addr, sfd_flags = SFD_CLOEXEC;
	long fd;
	int rr;

	if (flags & O_NONBLOCK)
		sfd_flags |= SFD_NONBLOCK;
	rr = puppet_put(&r->pup, 0, &mask, sizeof(mask), &addr);
	if (rr < 0)
		return rr;
	/* signalfd4 (Linux 2.6.27) with fd -1 makes a new one. */
	fd = puppet_sys(&r->pup, SYS_signalfd4, (uint64_t)-1, addr, KSIGSET_SIZE, sfd_flags);
	if (fd < 0)
		return pr_err_errno((int)fd, "task %d: signalfd file %lu: can't create it",
				    r->pup.pid, (unsigned long)f->id);
	*ret_fd = (int)fd;
	return 0;
}

const struct file_ops signalfd_file_ops = {
	.kind = FILE_KIND__FILE_SIGNALFD,
	.anon_inode = "signalfd",
	.dump = signalfd_dump,
	.prepare = signalfd_prepare,
	.open = signalfd_open,
};
