/* SPDX-License-Identifier: MIT */
/* eventfd: its counter and mode; EFD_NONBLOCK travels as O_NONBLOCK in file_entry.flags. */
#include <errno.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/files.h"

/* The largest value an eventfd counter holds (fs/eventfd.c: ULLONG_MAX - 1). */
#define EVENTFD_COUNT_MAX (UINT64_MAX - 1)

static int eventfd_dump(struct dump_ctx *d, FileEntry *f, int fd, int tfd, const struct stat *st,
			const char *link)
{
	EventfdEntry *e = f->eventfd = xzalloc(sizeof(*e));
	_cleanup_free_ char *info = NULL;
	uint64_t count, sem;
	int r;

	(void)fd;
	(void)st;
	eventfd_entry__init(e);
	r = proc_read_fdinfo(d->pid, tfd, &info);
	if (r < 0)
		return pr_err_errno(r, "task %d: fd %d: can't read '/proc/%d/fdinfo/%d'",
				    d->pid, tfd, d->pid, tfd);
	/* "eventfd-count:" is in hex (Linux 3.8). */
	if (proc_fdinfo_u64(info, "eventfd-count:", 16, &count) < 0)
		return pr_err_ret(-EINVAL, "task %d: fd %d: '/proc/%d/fdinfo/%d' has no eventfd-count",
				  d->pid, tfd, d->pid, tfd);
	/* EFD_SEMAPHORE is not a file flag: only fdinfo shows it, from Linux 6.5 on. */
	if (proc_fdinfo_u64(info, "eventfd-semaphore:", 10, &sem) < 0 || sem > 1)
		return files_refuse(d, tfd, link,
				    "the kernel does not show the eventfd's mode in fdinfo (Linux 6.5)");
	e->has_count = e->has_semaphore = true;
	e->count = count;
	e->semaphore = sem;
	pr_debug("task %d: fd %d: eventfd count %lu%s", d->pid, tfd, (unsigned long)count,
		 sem ? ", semaphore" : "");
	return 0;
}

static int eventfd_prepare(struct rst_ctx *r, const FileEntry *f)
{
	const EventfdEntry *e = f->eventfd;

	(void)r;
	if (!e || !e->has_count || e->count > EVENTFD_COUNT_MAX)
		return pr_err_ret(-EINVAL, "image 'files.img': eventfd file %lu is corrupt",
				  (unsigned long)f->id);
	return 0;
}

/* eventfd2 takes an unsigned int: a larger counter is written into the new eventfd instead. */
static int add_count(struct rst_ctx *r, const FileEntry *f, int rfd)
{
	_cleanup_close_ int copy = -1;
	uint64_t v = f->eventfd->count;
	int rr;

	copy = files_take_remote_fd(r, rfd);
	if (copy < 0)
		return copy;
	/* The counter is 0 and v at most EVENTFD_COUNT_MAX, so this write can't block. */
	rr = write_full(copy, &v, sizeof(v));
	if (rr < 0)
		return pr_err_errno(rr, "task %d: eventfd file %lu: can't set the counter",
				    r->pup.pid, (unsigned long)f->id);
	return 0;
}

static int eventfd_open(struct rst_ctx *r, const FileEntry *f, int flags, int *ret_fd)
{
	const EventfdEntry *e = f->eventfd;
	bool small = e->count <= UINT32_MAX;
	uint64_t efd_flags = EFD_CLOEXEC;
	long fd;
	int rr;

	if (e->semaphore)
		efd_flags |= EFD_SEMAPHORE;
	if (flags & O_NONBLOCK)
		efd_flags |= EFD_NONBLOCK;
	fd = puppet_sys(&r->pup, SYS_eventfd2, small ? e->count : 0, efd_flags);
	if (fd < 0)
		return pr_err_errno((int)fd, "task %d: eventfd file %lu: can't create it", r->pup.pid,
				    (unsigned long)f->id);
	rr = small ? 0 : add_count(r, f, (int)fd);
	if (rr < 0) {
		puppet_sys(&r->pup, SYS_close, (uint64_t)fd);
		return rr;
	}
	*ret_fd = (int)fd;
	return 0;
}

const struct file_ops eventfd_file_ops = {
	.kind = FILE_KIND__FILE_EVENTFD,
	.anon_inode = "eventfd",
	.dump = eventfd_dump,
	.prepare = eventfd_prepare,
	.open = eventfd_open,
};
