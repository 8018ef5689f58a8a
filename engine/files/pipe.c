/* SPDX-License-Identifier: MIT */
/*
 * Pipes with the data queued in them. A pipe whose other end is outside the tree is external:
 * restore takes it from --inherit-fd, and its data, which stays in it, is not in the images.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/files.h"

static bool is_read_end(const FileEntry *f)
{
	return (f->flags & O_ACCMODE) == O_RDONLY;
}

/* Copy the queued bytes without consuming them: tee() them into a pipe of our own. */
int pipe_dump_data(struct dump_ctx *d, const FileEntry *f, int fd)
{
	_cleanup_free_ uint8_t *buf = NULL;
	PipeDataEntry *e;
	int tmp[2], queued = 0, r = 0;
	ssize_t n;

	if (ioctl(fd, FIONREAD, &queued) < 0)
		return pr_err_errno(-errno, "task %d: pipe:[%lu]: can't count queued bytes", d->pid,
				    (unsigned long)f->pipe->pipe_id);
	if (queued <= 0)
		return 0;
	if (pipe2(tmp, O_CLOEXEC | O_NONBLOCK) < 0)
		return pr_err_errno(-errno, "can't create a pipe");
	if (fcntl(tmp[1], F_SETPIPE_SZ, (int)f->pipe->size) < 0)
		r = -errno;
	buf = xmalloc((size_t)queued);
	n = r ? -1 : tee(fd, tmp[1], (size_t)queued, SPLICE_F_NONBLOCK);
	if (n == queued)
		n = read(tmp[0], buf, (size_t)queued);
	close(tmp[0]);
	close(tmp[1]);
	if (n != queued)
		return pr_err_errno(n < 0 ? -errno : -EIO, "task %d: pipe:[%lu]: can't copy %d queued bytes",
				    d->pid, (unsigned long)f->pipe->pipe_id, queued);
	e = xzalloc(sizeof(*e));
	pipe_data_entry__init(e);
	e->has_pipe_id = e->has_data = true;
	e->pipe_id = f->pipe->pipe_id;
	e->data.len = (size_t)queued;
	e->data.data = TAKE_PTR(buf);
	d->tree->pipe_data = xrealloc_array(d->tree->pipe_data, d->tree->nr_pipe_data + 1,
					    sizeof(*d->tree->pipe_data));
	d->tree->pipe_data[d->tree->nr_pipe_data++] = e;
	return 0;
}

static bool pipe_match(int fd, const struct stat *st, const char *link)
{
	(void)fd;
	return S_ISFIFO(st->st_mode) && !strncmp(link, "pipe:", 5);
}

static int pipe_dump(struct dump_ctx *d, FileEntry *f, int fd, int tfd, const struct stat *st,
		     const char *link)
{
	PipeFileEntry *p = f->pipe = xzalloc(sizeof(*p));
	int size = fcntl(fd, F_GETPIPE_SZ);

	(void)tfd;
	pipe_file_entry__init(p);
	if (size < 0)
		return pr_err_errno(-errno, "task %d: '%s': can't get the pipe size", d->pid, link);
	p->has_pipe_id = p->has_size = true;
	p->pipe_id = st->st_ino;
	p->size = (uint32_t)size;
	return is_read_end(f) ? pipe_dump_data(d, f, fd) : 0;
}

static const FileEntry *other_end(FileEntry **files, size_t n, const FileEntry *f)
{
	for (size_t i = 0; i < n; i++)
		if (files[i] != f && files[i]->kind == FILE_KIND__FILE_PIPE && files[i]->pipe &&
		    files[i]->pipe->pipe_id == f->pipe->pipe_id && is_read_end(files[i]) != is_read_end(f))
			return files[i];
	return NULL;
}

/* Forget the data dumped of external pipe @pipe_id: it stays in the pipe outside. */
static void drop_data(struct dump_tree *t, uint64_t pipe_id)
{
	size_t n = 0;

	for (size_t i = 0; i < t->nr_pipe_data; i++) {
		if (t->pipe_data[i]->pipe_id == pipe_id)
			pipe_data_entry__free_unpacked(t->pipe_data[i], NULL);
		else
			t->pipe_data[n++] = t->pipe_data[i];
	}
	t->nr_pipe_data = n;
}

void pipes_mark_external(struct dump_tree *t)
{
	for (size_t i = 0; i < t->ft.n; i++) {
		FileEntry *f = t->ft.files[i];

		if (f->kind != FILE_KIND__FILE_PIPE || other_end(t->ft.files, t->ft.n, f))
			continue;
		f->pipe->has_external = f->pipe->external = true;
		drop_data(t, f->pipe->pipe_id);
		pr_info("task %d: pipe:[%lu]: its other end is outside the dumped tree: restore it with --inherit-fd fd[N]:pipe:[%lu]",
			t->ft.keys[i].pid, (unsigned long)f->pipe->pipe_id,
			(unsigned long)f->pipe->pipe_id);
	}
}

static int pipe_prepare(struct rst_ctx *r, const FileEntry *f)
{
	/* An external pipe is inherited (files_prepare_tree made sure): it is never opened. */
	if (!f->pipe || !other_end(r->files, r->nr_files, f) == !f->pipe->external ||
	    f->pipe->size > FILES_PIPE_MAX)
		return pr_err_ret(-EINVAL, "image 'files.img': pipe file %lu is corrupt",
				  (unsigned long)f->id);
	return 0;
}

static int fill_pipe(struct rst_ctx *r, const FileEntry *f, int wfd)
{
	_cleanup_close_ int copy = -1;

	for (size_t i = 0; i < r->nr_pipe_data; i++) {
		const PipeDataEntry *e = r->pipe_data[i];
		int rr;

		if (e->pipe_id != f->pipe->pipe_id)
			continue;
		copy = files_take_remote_fd(r, wfd);
		if (copy < 0)
			return copy;
		/* The pipe was sized to hold it all, so this write can't block. */
		rr = write_full(copy, e->data.data, e->data.len);
		if (rr < 0)
			return pr_err_errno(rr, "task %d: pipe:[%lu]: can't refill", r->pup.pid,
					    (unsigned long)f->pipe->pipe_id);
		return 0;
	}
	return 0;
}

static int set_status_flags(struct rst_ctx *r, int fd, uint32_t flags)
{
	long a = puppet_sys(&r->pup, SYS_fcntl, (uint64_t)fd, F_SETFL, flags & (O_NONBLOCK | O_DIRECT));

	if (a < 0)
		return pr_err_errno((int)a, "task %d: can't set pipe flags", r->pup.pid);
	return 0;
}

static int pipe_open(struct rst_ctx *r, const FileEntry *f, int flags, int *ret_fd)
{
	const FileEntry *o = other_end(r->files, r->nr_files, f);
	const FileEntry *rd = is_read_end(f) ? f : o, *wr = is_read_end(f) ? o : f;
	uint64_t addr;
	int p[2] = { -1, -1 }, rr;
	long a;

	(void)flags;
	rr = puppet_put(&r->pup, 0, p, sizeof(p), &addr);
	if (rr < 0)
		return rr;
	a = puppet_sys(&r->pup, SYS_pipe2, addr, O_CLOEXEC);
	if (a < 0)
		return pr_err_errno((int)a, "task %d: can't create a pipe", r->pup.pid);
	rr = puppet_get(&r->pup, 0, p, sizeof(p));
	if (rr == 0 && f->pipe->size) {
		a = puppet_sys(&r->pup, SYS_fcntl, (uint64_t)p[1], F_SETPIPE_SZ, f->pipe->size);
		if (a < 0)
			rr = pr_err_errno((int)a, "task %d: can't size pipe:[%lu]", r->pup.pid,
					  (unsigned long)f->pipe->pipe_id);
	}
	if (rr == 0)
		rr = fill_pipe(r, f, p[1]);
	if (rr == 0)
		rr = set_status_flags(r, p[0], rd->flags);
	if (rr == 0)
		rr = set_status_flags(r, p[1], wr->flags);
	if (rr == 0) {
		int mine = f == rd ? p[0] : p[1], theirs = f == rd ? p[1] : p[0];

		rr = files_park(r, theirs, &r->file_fds[o->id - 1]);
		*ret_fd = mine;
		return rr;
	}
	puppet_sys(&r->pup, SYS_close, (uint64_t)p[0]);
	puppet_sys(&r->pup, SYS_close, (uint64_t)p[1]);
	return rr;
}

const struct file_ops pipe_file_ops = {
	.kind = FILE_KIND__FILE_PIPE,
	.match = pipe_match,
	.dump = pipe_dump,
	.prepare = pipe_prepare,
	.open = pipe_open,
};
