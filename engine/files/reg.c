/* SPDX-License-Identifier: MIT */
/* Regular files and directories, reopened by path; deleted ones travel in the image. */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/files.h"

#define COOKIE_SPAN 4096
#define DELETED_SUFFIX " (deleted)"

/* FNV-1a over the first and the last 4 KiB: catches rewrites that keep size and mtime. */
static int file_cookie(int fd, uint64_t size, uint64_t *ret)
{
	uint8_t buf[2 * COOKIE_SPAN];
	size_t head = MIN(size, COOKIE_SPAN), tail = 0;
	uint64_t h = 0xcbf29ce484222325ULL;
	int r;

	r = pread_full(fd, buf, head, 0);
	if (r == 0 && size > COOKIE_SPAN) {
		tail = MIN(size - COOKIE_SPAN, COOKIE_SPAN);
		r = pread_full(fd, buf + head, tail, (off_t)(size - tail));
	}
	if (r < 0)
		return r;
	for (size_t i = 0; i < head + tail; i++)
		h = (h ^ buf[i]) * 0x100000001b3ULL;
	*ret = h;
	return 0;
}

/* A fresh read-only open file description of what @fd points at. */
static int reopen_ro(int fd)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return open(path, O_RDONLY | O_CLOEXEC);
}

static bool on_pseudo_fs(int fd)
{
	struct statfs sfs;

	if (fstatfs(fd, &sfs) < 0)
		return true;
	return sfs.f_type == PROC_SUPER_MAGIC || sfs.f_type == SYSFS_MAGIC ||
	       sfs.f_type == DEBUGFS_MAGIC || sfs.f_type == CGROUP_SUPER_MAGIC ||
	       sfs.f_type == CGROUP2_SUPER_MAGIC;
}

static int dump_deleted(struct dump_ctx *d, RegFileEntry *reg, int fd, const struct stat *st)
{
	_cleanup_close_ int ro = reopen_ro(fd);
	int r;

	if (ro < 0)
		return pr_err_errno(-errno, "task %d: deleted file '%s': can't reopen", d->pid,
				    reg->path);
	if ((uint64_t)st->st_size > FILES_GHOST_MAX)
		return pr_err_ret(-EFBIG,
				  "task %d: deleted file '%s' holds %lld bytes, over the %u limit",
				  d->pid, reg->path, (long long)st->st_size, FILES_GHOST_MAX);
	reg->deleted = reg->has_deleted = reg->has_data = true;
	reg->data.len = (size_t)st->st_size;
	reg->data.data = xmalloc(reg->data.len);
	r = pread_full(ro, reg->data.data, reg->data.len, 0);
	if (r < 0)
		return pr_err_errno(r, "task %d: deleted file '%s': can't read", d->pid, reg->path);
	return 0;
}

static bool reg_match(int fd, const struct stat *st, const char *link)
{
	(void)fd;
	(void)link;
	return S_ISREG(st->st_mode) || S_ISDIR(st->st_mode);
}

static int reg_dump(struct dump_ctx *d, FileEntry *f, int fd, int tfd, const struct stat *st,
		    const char *link)
{
	RegFileEntry *reg = f->reg = xzalloc(sizeof(*reg));
	size_t len = strlen(link), sl = strlen(DELETED_SUFFIX);
	_cleanup_close_ int ro = -1;
	int r;

	(void)tfd;
	reg_file_entry__init(reg);
	reg->path = xstrdup(link);
	reg->has_mode = true;
	reg->mode = st->st_mode;
	if (link[0] != '/')
		return pr_err_ret(-EOPNOTSUPP, "task %d: file '%s' has no path", d->pid, link);
	if (st->st_nlink == 0 && len > sl && !strcmp(link + len - sl, DELETED_SUFFIX)) {
		reg->path[len - sl] = '\0';
		if (!S_ISREG(st->st_mode))
			return pr_err_ret(-EOPNOTSUPP, "task %d: deleted directory '%s' not supported",
					  d->pid, link);
		return dump_deleted(d, reg, fd, st);
	}
	if (!S_ISREG(st->st_mode) || on_pseudo_fs(fd))
		return 0;
	ro = reopen_ro(fd);
	if (ro < 0)
		return pr_err_errno(-errno, "task %d: file '%s': can't reopen", d->pid, link);
	reg->has_size = reg->has_mtime_ns = reg->has_cookie = true;
	reg->size = (uint64_t)st->st_size;
	reg->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
	r = file_cookie(ro, reg->size, &reg->cookie);
	if (r < 0)
		return pr_err_errno(r, "task %d: file '%s': can't read", d->pid, link);
	return 0;
}

static int reg_prepare(struct rst_ctx *r, const FileEntry *f)
{
	const RegFileEntry *reg = f->reg;
	_cleanup_close_ int fd = -1;
	struct stat st;
	uint64_t cookie;
	int64_t mtime;

	(void)r;
	if (!reg || !reg->path || reg->path[0] != '/' ||
	    (reg->deleted && reg->data.len > FILES_GHOST_MAX))
		return pr_err_ret(-EINVAL, "image 'files.img': file %lu is corrupt",
				  (unsigned long)f->id);
	if (reg->deleted)
		return 0;
	fd = open(reg->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0)
		return pr_err_errno(-errno, "file '%s' can't be opened", reg->path);
	if ((st.st_mode & S_IFMT) != (reg->mode & S_IFMT))
		return pr_err_ret(-ESTALE, "file '%s' is no longer of the type it had at dump",
				  reg->path);
	if (!reg->has_size)
		return 0;
	mtime = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
	if ((uint64_t)st.st_size != reg->size)
		return pr_err_ret(-ESTALE, "file '%s' changed since the dump (size %lu -> %lld)",
				  reg->path, (unsigned long)reg->size, (long long)st.st_size);
	if (mtime != reg->mtime_ns)
		return pr_err_ret(-ESTALE, "file '%s' changed since the dump (modification time)",
				  reg->path);
	if (file_cookie(fd, reg->size, &cookie) < 0 || cookie != reg->cookie)
		return pr_err_ret(-ESTALE, "file '%s' changed since the dump (contents)", reg->path);
	return 0;
}

/* Recreate a deleted file under its old name (or next to it), for the puppet to open. */
static int make_ghost(const RegFileEntry *reg, char **ret_path)
{
	_cleanup_free_ char *path = xstrdup(reg->path);
	_cleanup_close_ int fd = -1;
	int r;

	for (int i = 0; fd < 0 && i < 100; i++) {
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, reg->mode & 07777);
		if (fd < 0 && errno != EEXIST)
			return pr_err_errno(-errno, "deleted file '%s': can't recreate", reg->path);
		if (fd < 0) {
			free(path);
			path = xasprintf("%s.cryo-ghost.%d", reg->path, i);
		}
	}
	if (fd < 0)
		return pr_err_ret(-EEXIST, "deleted file '%s': no free name to recreate it", reg->path);
	r = write_full(fd, reg->data.data, reg->data.len);
	if (r < 0) {
		unlink(path);
		return pr_err_errno(r, "deleted file '%s': can't write", reg->path);
	}
	*ret_path = TAKE_PTR(path);
	return 0;
}

/*
 * cryo's fd of deleted file @f, recreated once for the whole tree: every process that has it
 * open or mapped reopens that same inode through /proc/CRYO/fd, so they share it as before.
 */
static int ghost_fd(struct rst_ctx *r, const FileEntry *f, int *ret)
{
	struct rst_tree *t = r->tree;
	_cleanup_free_ char *path = NULL;
	int rr, fd;

	if (!t->ghosts) {
		t->ghosts = xcalloc(t->nr_files, sizeof(*t->ghosts));
		for (size_t i = 0; i < t->nr_files; i++)
			t->ghosts[i] = -1;
	}
	if (t->ghosts[f->id - 1] < 0) {
		rr = make_ghost(f->reg, &path);
		if (rr < 0)
			return rr;
		fd = open(path, O_RDWR | O_CLOEXEC);
		rr = fd < 0 ? -errno : 0;
		unlink(path);
		if (rr < 0)
			return pr_err_errno(rr, "deleted file '%s': can't reopen", f->reg->path);
		t->ghosts[f->id - 1] = fd;
	}
	*ret = t->ghosts[f->id - 1];
	return 0;
}

static int reg_open(struct rst_ctx *r, const FileEntry *f, int flags, int *ret_fd)
{
	const char *path = f->reg->path;
	char via[64];
	int fd, rr;
	long a;

	flags &= ~(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC | O_NOCTTY);
	if (f->reg->deleted) {
		rr = ghost_fd(r, f, &fd);
		if (rr < 0)
			return rr;
		snprintf(via, sizeof(via), "/proc/%d/fd/%d", getpid(), fd);
		path = via;
	}
	rr = files_remote_openat(r, path, flags, 0, &fd);
	if (rr < 0)
		return rr;
	if (f->pos) {
		a = puppet_sys(&r->pup, SYS_lseek, (uint64_t)fd, f->pos, SEEK_SET);
		if (a < 0) {
			puppet_sys(&r->pup, SYS_close, (uint64_t)fd);
			return pr_err_errno((int)a, "task %d: file '%s': can't seek to %lu",
					    r->pup.pid, f->reg->path, (unsigned long)f->pos);
		}
	}
	*ret_fd = fd;
	return 0;
}

const struct file_ops reg_file_ops = {
	.kind = FILE_KIND__FILE_REG,
	.match = reg_match,
	.dump = reg_dump,
	.prepare = reg_prepare,
	.open = reg_open,
};

/* Memory devices (major 1) behave the same wherever they are reopened. */
#define MEM_MAJOR 1

static bool chr_match(int fd, const struct stat *st, const char *link)
{
	(void)fd;
	(void)link;
	return S_ISCHR(st->st_mode);
}

static int chr_dump(struct dump_ctx *d, FileEntry *f, int fd, int tfd, const struct stat *st,
		    const char *link)
{
	RegFileEntry *reg;

	(void)fd;
	(void)tfd;
	if (major(st->st_rdev) != MEM_MAJOR || link[0] != '/')
		return pr_err_ret(-EOPNOTSUPP,
				  "task %d: '%s' (char device %u:%u): only /dev/null, /dev/zero, /dev/full and /dev/[u]random are supported; terminals come with --shell-job",
				  d->pid, link, major(st->st_rdev), minor(st->st_rdev));
	reg = f->reg = xzalloc(sizeof(*reg));
	reg_file_entry__init(reg);
	reg->path = xstrdup(link);
	reg->has_mode = reg->has_rdev = true;
	reg->mode = st->st_mode;
	reg->rdev = (uint32_t)st->st_rdev;
	return 0;
}

static int chr_prepare(struct rst_ctx *r, const FileEntry *f)
{
	struct stat st;

	(void)r;
	if (!f->reg || !f->reg->path)
		return pr_err_ret(-EINVAL, "image 'files.img': file %lu is corrupt",
				  (unsigned long)f->id);
	if (stat(f->reg->path, &st) < 0)
		return pr_err_errno(-errno, "device '%s' is missing", f->reg->path);
	if (!S_ISCHR(st.st_mode) || st.st_rdev != f->reg->rdev)
		return pr_err_ret(-ESTALE, "device '%s' is not the device it was at dump",
				  f->reg->path);
	return 0;
}

static int chr_open(struct rst_ctx *r, const FileEntry *f, int flags, int *ret_fd)
{
	flags &= ~(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC | O_NOCTTY);
	return files_remote_openat(r, f->reg->path, flags, 0, ret_fd);
}

const struct file_ops chr_file_ops = {
	.kind = FILE_KIND__FILE_CHR,
	.match = chr_match,
	.dump = chr_dump,
	.prepare = chr_prepare,
	.open = chr_open,
};
