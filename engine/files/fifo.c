/* SPDX-License-Identifier: MIT */
/* Named pipes (FIFOs), reopened by path, with their queued data. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/files.h"

#define DELETED_SUFFIX " (deleted)"
/*
 * pipes-data.img matches data to pipes by id. Anonymous pipes use their pipefs inode number,
 * which get_next_ino() keeps to 32 bits; a FIFO's inode number on its own filesystem could
 * equal one of those, so FIFOs get ids from here up instead: this plus the file id of the
 * FIFO's first open file description.
 */
#define FIFO_ID_BASE (1ULL << 32)
/* Status flags F_SETFL changes on a pipe. */
#define FIFO_SETFL_MASK (O_APPEND | O_NONBLOCK | O_NOATIME | O_DIRECT)

static bool fifo_match(int fd, const struct stat *st, const char *link)
{
	(void)fd;
	return S_ISFIFO(st->st_mode) && link[0] == '/';
}

/* Another entry of the FIFO at (dev, ino) of @st than @f; with @end, one that is no O_PATH fd. */
static const FileEntry *sibling(const struct dump_ctx *d, const FileEntry *f, const struct stat *st,
				bool end)
{
	const struct file_table *t = &d->tree->ft;

	for (size_t i = 0; i < t->n; i++) {
		const FileEntry *o = t->files[i];

		if (o != f && o->kind == FILE_KIND__FILE_FIFO && o->pipe &&
		    t->keys[i].dev == st->st_dev && t->keys[i].ino == st->st_ino &&
		    (!end || !(o->flags & O_PATH)))
			return o;
	}
	return NULL;
}

/* pipe_dump_data copies the queued bytes with tee(), which needs a readable end. */
static int dump_data(struct dump_ctx *d, const FileEntry *f, int fd, int tfd, const char *link)
{
	_cleanup_close_ int rd = -1;
	char path[64];

	if ((f->flags & O_ACCMODE) != O_WRONLY)
		return pipe_dump_data(d, f, fd);
	/*
	 * A read-only O_NONBLOCK open of a FIFO never blocks. It is a reader for a moment: a
	 * writer outside the process that waits in open() for one would go on.
	 */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	rd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (rd < 0)
		return pr_err_errno(-errno, "task %d: fd %d: FIFO '%s': can't open it for reading",
				    d->pid, tfd, link);
	return pipe_dump_data(d, f, rd);
}

static int fifo_dump(struct dump_ctx *d, FileEntry *f, int fd, int tfd, const struct stat *st,
		     const char *link)
{
	RegFileEntry *reg = f->reg = xzalloc(sizeof(*reg));
	PipeFileEntry *p = f->pipe = xzalloc(sizeof(*p));
	size_t len = strlen(link), sl = strlen(DELETED_SUFFIX);
	const FileEntry *sib = sibling(d, f, st, false);
	int size;

	reg_file_entry__init(reg);
	pipe_file_entry__init(p);
	if (st->st_nlink == 0 && len > sl && !strcmp(link + len - sl, DELETED_SUFFIX))
		return files_refuse(d, tfd, link, "deleted FIFOs are not supported yet");
	reg->path = xstrdup(link);
	reg->has_mode = true;
	reg->mode = st->st_mode;
	p->has_pipe_id = true;
	p->pipe_id = sib ? sib->pipe->pipe_id : FIFO_ID_BASE + f->id;
	/* An O_PATH fd is no end of the pipe: the path is all it has. */
	if (f->flags & O_PATH)
		return 0;
	size = fcntl(fd, F_GETPIPE_SZ);
	if (size < 0)
		return pr_err_errno(-errno, "task %d: fd %d: FIFO '%s': can't get the pipe size",
				    d->pid, tfd, link);
	p->has_size = true;
	p->size = (uint32_t)size;
	/* The queued bytes belong to the FIFO, not to one of its ends: dump them once. */
	return sibling(d, f, st, true) ? 0 : dump_data(d, f, fd, tfd, link);
}

/* ---- restore ---- */

static const PipeDataEntry *fifo_data(const struct rst_ctx *r, uint64_t id)
{
	for (size_t i = 0; i < r->nr_pipe_data; i++)
		if (r->pipe_data[i]->pipe_id == id)
			return r->pipe_data[i];
	return NULL;
}

static int fifo_prepare(struct rst_ctx *r, const FileEntry *f)
{
	const RegFileEntry *reg = f->reg;
	const PipeFileEntry *p = f->pipe;
	const PipeDataEntry *e;
	struct stat st;

	if (!reg || !reg->path || reg->path[0] != '/' || !p || p->size > FILES_PIPE_MAX ||
	    (f->flags & O_ACCMODE) == O_ACCMODE)
		return pr_err_ret(-EINVAL, "image 'files.img': FIFO file %lu is corrupt",
				  (unsigned long)f->id);
	/* The data must fit the pipe, so that refilling it can't block. */
	e = fifo_data(r, p->pipe_id);
	if (e && !(f->flags & O_PATH) && e->data.len > p->size)
		return pr_err_ret(-EINVAL,
				  "image 'pipes-data.img': data of FIFO file %lu is corrupt",
				  (unsigned long)f->id);
	if (stat(reg->path, &st) < 0)
		return pr_err_errno(-errno, "FIFO '%s' is missing", reg->path);
	if (!S_ISFIFO(st.st_mode))
		return pr_err_ret(-ESTALE, "'%s' is no longer a FIFO", reg->path);
	return 0;
}

/* Size the pipe and refill its queued data through @helper, a remote fd holding both ends. */
static int fill(struct rst_ctx *r, const FileEntry *f, int helper)
{
	const PipeDataEntry *e = fifo_data(r, f->pipe->pipe_id);
	_cleanup_close_ int copy = files_take_remote_fd(r, helper);
	int queued = 0, rr;

	if (copy < 0)
		return copy;
	if (f->pipe->size && fcntl(copy, F_GETPIPE_SZ) != (int)f->pipe->size &&
	    fcntl(copy, F_SETPIPE_SZ, (int)f->pipe->size) < 0)
		return pr_err_errno(-errno, "FIFO '%s': can't set its size to %u", f->reg->path,
				    f->pipe->size);
	if (!e || !e->data.len)
		return 0;
	if (ioctl(copy, FIONREAD, &queued) < 0)
		return pr_err_errno(-errno, "FIFO '%s': can't count queued bytes", f->reg->path);
	/* Refilled already for another of its open file descriptions (or held outside). */
	if (queued) {
		pr_debug("FIFO '%s': %d bytes queued already, not refilled", f->reg->path, queued);
		return 0;
	}
	/* The helper is O_NONBLOCK: data that doesn't fit would fail here, not hang. */
	rr = write_full(copy, e->data.data, e->data.len);
	if (rr < 0)
		return pr_err_errno(rr, "FIFO '%s': can't refill %zu bytes", f->reg->path,
				    e->data.len);
	return 0;
}

static int fifo_open(struct rst_ctx *r, const FileEntry *f, int flags, int *ret_fd)
{
	const char *path = f->reg->path;
	int helper, fd = -1, rr;
	long a;

	flags &= ~(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY);
	if (flags & O_PATH)
		return files_remote_openat(r, path, flags | O_CLOEXEC, 0, ret_fd);
	/* On Linux an O_RDWR open of a FIFO never blocks: it holds both ends while we work. */
	rr = files_remote_openat(r, path, O_RDWR | O_NONBLOCK | O_CLOEXEC, 0, &helper);
	if (rr < 0)
		return rr;
	rr = fill(r, f, helper);
	/* With a reader and a writer there, O_NONBLOCK opens neither wait nor fail (ENXIO). */
	if (rr == 0)
		rr = files_remote_openat(r, path, flags | O_NONBLOCK | O_CLOEXEC, 0, &fd);
	if (rr == 0 && !(flags & O_NONBLOCK)) {
		a = puppet_sys(&r->pup, SYS_fcntl, (uint64_t)fd, F_SETFL, flags & FIFO_SETFL_MASK);
		if (a < 0)
			rr = pr_err_errno((int)a, "task %d: FIFO '%s': can't set flags %#o",
					  r->pup.pid, path, flags);
	}
	puppet_sys(&r->pup, SYS_close, (uint64_t)helper);
	if (rr < 0) {
		if (fd >= 0)
			puppet_sys(&r->pup, SYS_close, (uint64_t)fd);
		return rr;
	}
	*ret_fd = fd;
	return 0;
}

const struct file_ops fifo_file_ops = {
	.kind = FILE_KIND__FILE_FIFO,
	.match = fifo_match,
	.dump = fifo_dump,
	.prepare = fifo_prepare,
	.open = fifo_open,
};
