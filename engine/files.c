/* SPDX-License-Identifier: MIT */
/* Fd tables: which open file each fd points at; file descriptions shared by several fds. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "common/log.h"
#include "common/missing.h"
#include "common/util.h"
#include "engine/files.h"

#define FILES_MAX 65536
#define FDS_MAX (1 << 20)

/* Every kind of file, in matching order: the first that matches (match(), anon_inode) takes it. */
static const struct file_ops *const kinds[] = {
	&memfd_file_ops,   &reg_file_ops,      &chr_file_ops,	  &pipe_file_ops,
	&fifo_file_ops,	   &eventfd_file_ops,  &signalfd_file_ops, &timerfd_file_ops,
	&epoll_file_ops,   &inotify_file_ops,  &unix_file_ops,	  &inet_file_ops,
};

static const struct file_ops *ops_of(FileKind kind)
{
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		if (kinds[i]->kind == kind)
			return kinds[i];
	return NULL;
}

int files_refuse(struct dump_ctx *d, int tfd, const char *link, const char *why)
{
	return pr_err_ret(-EOPNOTSUPP, "task %d: fd %d: '%s': %s", d->pid, tfd, link, why);
}

bool files_anon_inode_is(const char *link, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(link, "anon_inode:", 11))
		return false;
	link += 11;
	if (link[0] == '[')
		return !strncmp(link + 1, name, n) && !strcmp(link + 1 + n, "]");
	return !strcmp(link, name);
}

static FileEntry *table_add(struct dump_ctx *d, const struct stat *st, pid_t pid, int fd)
{
	struct file_table *t = &d->tree->ft;
	FileEntry *f = xzalloc(sizeof(*f));

	file_entry__init(f);
	f->has_id = f->has_kind = f->has_flags = f->has_pos = true;
	f->id = t->n + 1;
	t->files = xrealloc_array(t->files, t->n + 1, sizeof(*t->files));
	t->keys = xrealloc_array(t->keys, t->n + 1, sizeof(*t->keys));
	t->files[t->n] = f;
	t->keys[t->n] = (struct file_key){ .dev = st->st_dev, .ino = st->st_ino, .pid = pid, .fd = fd };
	t->n++;
	return f;
}

/* The entry for an open file description already seen: same inode and, by kcmp, same file. */
static FileEntry *table_find(struct dump_ctx *d, const struct stat *st, pid_t pid, int fd)
{
	for (size_t i = 0; i < d->tree->ft.n; i++) {
		const struct file_key *k = &d->tree->ft.keys[i];

		if (k->dev != st->st_dev || k->ino != st->st_ino || (k->fd < 0) != (fd < 0))
			continue;
		if (fd < 0 || syscall(SYS_kcmp, k->pid, pid, KCMP_FILE, k->fd, fd) == 0)
			return d->tree->ft.files[i];
	}
	return NULL;
}

/* Files reached by path (exe, cwd, mapped files) rather than by an fd. */
int files_dump_path(struct dump_ctx *d, const char *link, uint64_t *ret_id)
{
	_cleanup_close_ int copy = open(link, O_PATH | O_CLOEXEC);
	_cleanup_free_ char *target = NULL;
	struct stat st;
	FileEntry *f;
	int r;

	if (copy < 0 || fstat(copy, &st) < 0)
		return pr_err_errno(-errno, "task %d: can't open '%s'", d->pid, link);
	f = table_find(d, &st, d->pid, -1);
	if (f) {
		*ret_id = f->id;
		return 0;
	}
	r = readlink_alloc(link, &target);
	if (r < 0)
		return pr_err_errno(r, "task %d: can't read link '%s'", d->pid, link);
	/* O_PATH can't be read: reopen for the contents checks. */
	closep(&copy);
	copy = open(link, O_RDONLY | O_CLOEXEC | (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
	if (copy < 0)
		return pr_err_errno(-errno, "task %d: can't open '%s'", d->pid, link);
	f = table_add(d, &st, d->pid, -1);
	f->kind = FILE_KIND__FILE_REG;
	f->flags = O_RDONLY;
	r = reg_file_ops.dump(d, f, copy, -1, &st, target);
	if (r < 0)
		return r;
	*ret_id = f->id;
	return 0;
}

static const struct file_ops *classify(int fd, const struct stat *st, const char *link)
{
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		if (kinds[i]->match ? kinds[i]->match(fd, st, link)
				    : files_anon_inode_is(link, kinds[i]->anon_inode))
			return kinds[i];
	return NULL;
}

static int dump_one_fd(struct dump_ctx *d, int pidfd, int fd, struct img *img)
{
	_cleanup_close_ int copy = -1;
	_cleanup_free_ char *link = NULL;
	const struct file_ops *ops;
	FdEntry e = FD_ENTRY__INIT;
	struct proc_fdinfo info;
	struct stat st;
	char path[64];
	FileEntry *f;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", d->pid, fd);
	r = readlink_alloc(path, &link);
	if (r == 0)
		r = proc_parse_fdinfo(d->pid, fd, &info);
	if (r < 0)
		return pr_err_errno(r, "task %d: fd %d: can't inspect", d->pid, fd);
	/* pidfd_getfd (Linux 5.6) hands us the very open file description. */
	copy = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	if (copy < 0 || fstat(copy, &st) < 0)
		return pr_err_errno(-errno, "task %d: fd %d: can't take a copy", d->pid, fd);
	f = table_find(d, &st, d->pid, fd);
	if (!f) {
		ops = classify(copy, &st, link);
		if (!ops)
			return files_refuse(d, fd, link, "this kind of file is not supported yet");
		f = table_add(d, &st, d->pid, fd);
		f->kind = ops->kind;
		f->flags = info.flags & ~(uint32_t)O_CLOEXEC;
		f->pos = info.pos;
		r = ops->dump(d, f, copy, fd, &st, link);
		if (r < 0)
			return r;
	}
	e.has_fd = e.has_file_id = e.has_cloexec = true;
	e.fd = (uint32_t)fd;
	e.file_id = f->id;
	e.cloexec = !!(info.flags & O_CLOEXEC);
	return img_write(img, &e.base);
}

int files_dump(struct dump_ctx *d)
{
	_cleanup_img_ struct img *img = NULL;
	_cleanup_closedir_ DIR *dir = NULL;
	_cleanup_close_ int pidfd = -1;
	struct dirent *de;
	char path[64];
	int r;

	/* The owner of a shared fd table dumps it; a sharer only names the owner. */
	if (d->files_owner) {
		d->task->has_files_owner = true;
		d->task->files_owner = (uint32_t)d->files_owner;
		return 0;
	}
	pidfd = (int)syscall(SYS_pidfd_open, d->pid, 0);
	if (pidfd < 0)
		return pr_err_errno(-errno, "task %d: can't open a pidfd", d->pid);
	snprintf(path, sizeof(path), "/proc/%d/fd", d->pid);
	dir = opendir(path);
	if (!dir)
		return pr_err_errno(-errno, "task %d: can't list '%s'", d->pid, path);
	r = img_create(d->dirfd, IMG_NAME(path, "fds", d->pid), IMG_KIND__IMG_FDS, &img);
	if (r < 0)
		return r;
	while ((de = readdir(dir))) {
		uint64_t fd;

		if (de->d_name[0] == '.' || parse_u64(de->d_name, 10, &fd) < 0)
			continue;
		r = dump_one_fd(d, pidfd, (int)fd, img);
		if (r < 0)
			return r;
	}
	return img_close(TAKE_PTR(img));
}

/* Checks that need every process's fds: which pipes lead outside the tree. */
int files_check_tree(struct dump_tree *t)
{
	pipes_mark_external(t);
	return 0;
}

/* Written after every stage that may add files (mm, fds, cwd). */
int files_write_images(struct dump_tree *t)
{
	_cleanup_img_ struct img *files = NULL, *data = NULL;
	int r;

	r = img_create(t->dirfd, "files.img", IMG_KIND__IMG_FILES, &files);
	for (size_t i = 0; r == 0 && i < t->ft.n; i++)
		r = img_write(files, &t->ft.files[i]->base);
	if (r == 0)
		r = img_close(TAKE_PTR(files));
	if (r == 0)
		r = img_create(t->dirfd, "pipes-data.img", IMG_KIND__IMG_PIPE_DATA, &data);
	for (size_t i = 0; r == 0 && i < t->nr_pipe_data; i++)
		r = img_write(data, &t->pipe_data[i]->base);
	if (r == 0)
		r = img_close(TAKE_PTR(data));
	return r;
}

/* ---- restore ---- */

const FileEntry *files_find(struct rst_ctx *r, uint64_t id)
{
	if (id < 1 || id > r->nr_files)
		return NULL;
	return r->files[id - 1];
}

#define READ_ALL(r, name, kind, type, arr, n)                                                     \
	img_read_all((r)->dirfd, name, kind, &type##__descriptor, FILES_MAX,                       \
		     (ProtobufCMessage ***)&(arr), &(n))

static int read_files(struct rst_tree *t)
{
	int rr = READ_ALL(t, "files.img", IMG_KIND__IMG_FILES, file_entry, t->files, t->nr_files);

	for (size_t i = 0; rr == 0 && i < t->nr_files; i++)
		/* Ids are dense from 1 in file order: the id is the index. */
		if (t->files[i]->id != i + 1 || !ops_of(t->files[i]->kind))
			rr = pr_err_ret(-EINVAL, "image 'files.img': entry %zu is corrupt", i + 1);
	return rr;
}

static int read_pipe_data(struct rst_tree *t)
{
	int rr = READ_ALL(t, "pipes-data.img", IMG_KIND__IMG_PIPE_DATA, pipe_data_entry,
			  t->pipe_data, t->nr_pipe_data);

	for (size_t i = 0; rr == 0 && i < t->nr_pipe_data; i++)
		if (t->pipe_data[i]->data.len > FILES_PIPE_MAX)
			rr = pr_err_ret(-EINVAL, "image 'pipes-data.img': entry %zu is corrupt",
					i + 1);
	return rr;
}

static int read_fds(struct rst_ctx *r)
{
	_cleanup_free_ uint8_t *seen = NULL;
	char name[64];
	int rr;

	rr = READ_ALL(r, IMG_NAME(name, "fds", r->task->pid), IMG_KIND__IMG_FDS, fd_entry, r->fds,
		      r->nr_fds);
	if (rr < 0)
		return rr;
	seen = xzalloc(FDS_MAX / 8);
	for (size_t i = 0; i < r->nr_fds; i++) {
		const FdEntry *e = r->fds[i];

		if (e->fd >= FDS_MAX || !files_find(r, e->file_id))
			return pr_err_ret(-EINVAL, "image '%s': entry for fd %u is corrupt", name,
					  e->fd);
		if (seen[e->fd / 8] & (1u << (e->fd % 8)))
			return pr_err_ret(-EINVAL, "image '%s': fd %u appears twice", name, e->fd);
		seen[e->fd / 8] |= (uint8_t)(1u << (e->fd % 8));
	}
	return 0;
}

/* The name --inherit-fd gives file @f by, as its fd link reads: "pipe:[INO]"; "" if none. */
static void inherit_key(const FileEntry *f, char *buf, size_t len)
{
	buf[0] = '\0';
	if (f->kind == FILE_KIND__FILE_PIPE && f->pipe)
		snprintf(buf, len, "pipe:[%lu]", (unsigned long)f->pipe->pipe_id);
}

/*
 * Files given by --inherit-fd are cryo's own fds: every process gets a copy of one, the same
 * open file description (CRIU's semantics). An external pipe must be among them.
 */
static int inherit_files(struct rst_tree *t)
{
	for (size_t i = 0; i < t->nr_files; i++) {
		const struct cr_inherit_fd *in = NULL;
		char key[64];

		inherit_key(t->files[i], key, sizeof(key));
		for (size_t j = 0; key[0] && !in && j < t->opts->nr_inherit_fds; j++)
			if (!strcmp(t->opts->inherit_fds[j].key, key))
				in = &t->opts->inherit_fds[j];
		if (!in && t->files[i]->kind == FILE_KIND__FILE_PIPE && t->files[i]->pipe->external)
			return pr_err_ret(-ENOENT,
					  "%s: its other end was outside the dumped tree: restore with --inherit-fd fd[N]:%s, N an fd of cryo's that the tree gets in its place",
					  key, key);
		if (in && !(t->files[i]->kind == FILE_KIND__FILE_PIPE && t->files[i]->pipe->external)) {
			/* Both its ends are in the tree: cryo's fd can't be both. */
			pr_warn("--inherit-fd fd[%d]:%s: ignored, the tree holds both its ends", in->fd,
				key);
			continue;
		}
		if (!in)
			continue;
		t->copies[i] = fcntl(in->fd, F_DUPFD_CLOEXEC, 3);
		if (t->copies[i] < 0)
			return pr_err_errno(-errno, "--inherit-fd fd[%d]:%s: can't take fd %d", in->fd,
					    key, in->fd);
		pr_info("%s: is cryo's fd %d (--inherit-fd)", key, in->fd);
	}
	return 0;
}

/* The tree's files, read and checked once; every process must exist as a context. */
int files_prepare_tree(struct rst_tree *t)
{
	int rr;

	rr = read_files(t);
	if (rr == 0)
		rr = read_pipe_data(t);
	for (size_t i = 0; i < t->nr_procs; i++) {
		t->procs[i]->files = t->files;
		t->procs[i]->nr_files = t->nr_files;
		t->procs[i]->pipe_data = t->pipe_data;
		t->procs[i]->nr_pipe_data = t->nr_pipe_data;
	}
	if (rr < 0)
		return rr;
	t->copies = xcalloc(t->nr_files, sizeof(*t->copies));
	for (size_t i = 0; i < t->nr_files; i++)
		t->copies[i] = -1;
	return inherit_files(t);
}

/* Each kind checks its files, once every process's fd table is read too. */
int files_prepare_kinds(struct rst_tree *t)
{
	int rr = 0;

	for (size_t i = 0; rr == 0 && i < t->nr_files; i++)
		rr = ops_of(t->files[i]->kind)->prepare(t->procs[0], t->files[i]);
	return rr;
}

int files_prepare(struct rst_ctx *r)
{
	int rr = r->task->files_owner ? 0 : read_fds(r);

	if (rr < 0)
		return rr;
	r->file_fds = xcalloc(r->nr_files, sizeof(*r->file_fds));
	for (size_t i = 0; i < r->nr_files; i++)
		r->file_fds[i] = -1;
	return 0;
}

int files_remote_openat(struct rst_ctx *r, const char *path, int flags, int mode, int *ret_fd)
{
	uint64_t addr;
	long fd;
	int rr;

	rr = puppet_put(&r->pup, 8192, path, strlen(path) + 1, &addr);
	if (rr < 0)
		return rr;
	fd = puppet_sys(&r->pup, SYS_openat, (uint64_t)AT_FDCWD, addr, (uint64_t)flags,
			(uint64_t)mode);
	if (fd < 0)
		return pr_err_errno((int)fd, "task %d: can't open '%s'", r->pup.pid, path);
	*ret_fd = (int)fd;
	return 0;
}

int files_take_remote_fd(struct rst_ctx *r, int fd)
{
	int copy = (int)syscall(SYS_pidfd_getfd, r->pidfd, fd, 0);

	if (copy < 0)
		return pr_err_errno(-errno, "task %d: can't take fd %d", r->pup.pid, fd);
	return copy;
}

int files_open_remote(struct rst_ctx *r, uint64_t id, int flags, int *ret_fd)
{
	const FileEntry *f = files_find(r, id);

	if (!f)
		return pr_err_ret(-EINVAL, "images name file %lu that files.img lacks",
				  (unsigned long)id);
	return ops_of(f->kind)->open(r, f, flags, ret_fd);
}

/* Scratch offset of the recvmsg buffers of files_install. */
#define XFER_SCRATCH 16384

int files_install(struct rst_ctx *r, int local, int *ret_fd)
{
	char byte = 0, cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { &byte, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	uint64_t base = r->pup.scratch + XFER_SCRATCH;
	/* Remote layout: msghdr at 0, its iovec at 64, the byte at 96, the control data at 128. */
	struct iovec riov = { (void *)(base + 96), 1 };
	struct msghdr rmh = { .msg_iov = (void *)(base + 64), .msg_iovlen = 1,
			      .msg_control = (void *)(base + 128), .msg_controllen = sizeof(cbuf) };
	long n;
	int rr;

	/* The fd travels as SCM_RIGHTS over the socket every puppet inherited from cryo. */
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &local, sizeof(int));
	if (sendmsg(r->tree->xfer_local, &mh, 0) != 1)
		return pr_err_errno(-errno, "task %d: can't pass fd %d", r->pup.pid, local);
	rr = puppet_put(&r->pup, XFER_SCRATCH, &rmh, sizeof(rmh), NULL);
	if (rr == 0)
		rr = puppet_put(&r->pup, XFER_SCRATCH + 64, &riov, sizeof(riov), NULL);
	if (rr < 0)
		return rr;
	n = puppet_sys(&r->pup, SYS_recvmsg, (uint64_t)r->tree->xfer_fd, base, MSG_CMSG_CLOEXEC);
	if (n != 1)
		return pr_err_errno(n < 0 ? (int)n : -EIO, "task %d: can't receive a passed fd",
				    r->pup.pid);
	rr = puppet_get(&r->pup, XFER_SCRATCH + 128, cbuf, sizeof(cbuf));
	if (rr < 0)
		return rr;
	c = CMSG_FIRSTHDR(&mh);
	if (!c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)))
		return pr_err_ret(-EIO, "task %d: passed fd got lost", r->pup.pid);
	memcpy(ret_fd, CMSG_DATA(c), sizeof(int));
	return 0;
}

/* Move remote fd @fd above every fd the task will have, out of the way of the final dup3s. */
int files_park(struct rst_ctx *r, int fd, int *ret_fd)
{
	long nfd = puppet_sys(&r->pup, SYS_fcntl, (uint64_t)fd, F_DUPFD_CLOEXEC,
			      (uint64_t)r->park_base);

	puppet_sys(&r->pup, SYS_close, (uint64_t)fd);
	if (nfd < 0)
		return pr_err_errno((int)nfd, "task %d: can't move fd %d aside", r->pup.pid, fd);
	*ret_fd = (int)nfd;
	return 0;
}

/*
 * Have file @idx parked in the puppet: handed over from cryo's copy when another process
 * opened it already (one open file description, shared), else opened by its kind. Files the
 * kind parked along the way (the other end of a pipe) get copies too.
 */
static int open_parked(struct rst_ctx *r, size_t idx)
{
	int *copies = r->tree->copies;
	int fd, rr;

	if (copies[idx] >= 0)
		rr = files_install(r, copies[idx], &fd);
	else
		rr = files_open_remote(r, idx + 1, (int)r->files[idx]->flags, &fd);
	if (rr == 0)
		rr = files_park(r, fd, &r->file_fds[idx]);
	for (size_t i = 0; rr == 0 && i < r->nr_files; i++) {
		if (r->file_fds[i] < 0 || copies[i] >= 0)
			continue;
		copies[i] = files_take_remote_fd(r, r->file_fds[i]);
		rr = copies[i] < 0 ? copies[i] : 0;
	}
	return rr;
}

/* dup3 the parked file descriptions of the (non-)late kinds to the task's fd numbers. */
static int dup_to_fds(struct rst_ctx *r, bool late)
{
	for (size_t i = 0; i < r->nr_fds; i++) {
		const FdEntry *e = r->fds[i];
		long a;

		if (ops_of(r->files[e->file_id - 1]->kind)->late != late)
			continue;
		a = puppet_sys(&r->pup, SYS_dup3, (uint64_t)r->file_fds[e->file_id - 1], e->fd,
			       e->cloexec ? O_CLOEXEC : 0);
		if (a < 0)
			return pr_err_errno((int)a, "task %d: can't set up fd %u", r->pup.pid, e->fd);
	}
	return 0;
}

static int raise_nofile(struct rst_ctx *r, int need)
{
	struct rlimit rl;

	if (prlimit(r->pup.pid, RLIMIT_NOFILE, NULL, &rl) < 0)
		return pr_err_errno(-errno, "task %d: can't read RLIMIT_NOFILE", r->pup.pid);
	if (rl.rlim_cur >= (rlim_t)need)
		return 0;
	if (rl.rlim_max < (rlim_t)need)
		return pr_err_ret(-EMFILE, "task %d: needs %d fds, the hard limit here is %lu",
				  r->pup.pid, need, (unsigned long)rl.rlim_max);
	rl.rlim_cur = rl.rlim_max;
	if (prlimit(r->pup.pid, RLIMIT_NOFILE, &rl, NULL) < 0)
		return pr_err_errno(-errno, "task %d: can't raise RLIMIT_NOFILE", r->pup.pid);
	return 0;
}

int files_restore(struct rst_ctx *r)
{
	int rr = 0, maxfd = -1;

	/* A shared fd table was filled by its owner, an earlier process of the tree. */
	if (r->task->files_owner)
		return 0;
	for (size_t i = 0; i < r->nr_fds; i++)
		maxfd = MAX(maxfd, (int)r->fds[i]->fd);
	/* Parked fds go above the task's own and the fd-passing socket. */
	r->park_base = MAX(maxfd, r->tree->xfer_fd) + 1;
	rr = raise_nofile(r, r->park_base + (int)r->nr_files + 16);
	if (rr < 0)
		return rr;
	/*
	 * Open every file description once, parked high; then dup3 each to its fd numbers.
	 * Late kinds (epoll) go in a second pass and in place: they refer to the task's fds.
	 */
	for (int late = 0; late < 2; late++) {
		for (size_t i = 0; rr == 0 && i < r->nr_fds; i++) {
			size_t idx = r->fds[i]->file_id - 1;

			if (r->file_fds[idx] < 0 && ops_of(r->files[idx]->kind)->late == late)
				rr = open_parked(r, idx);
		}
		if (!late)
			rr = rr ? rr : dup_to_fds(r, false);
	}
	rr = rr ? rr : dup_to_fds(r, true);
	for (size_t i = 0; i < r->nr_files; i++)
		if (r->file_fds[i] >= 0)
			puppet_sys(&r->pup, SYS_close, (uint64_t)r->file_fds[i]);
	return rr;
}
