/* SPDX-License-Identifier: MIT */
/* memfd: name, contents and seals. */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/files.h"

#define MEMFD_PREFIX "/memfd:"
#define DELETED_SUFFIX " (deleted)"
/* memfd_create(2) names: NAME_MAX less "memfd:" (MFD_NAME_MAX_LEN in mm/memfd.c). */
#define MEMFD_NAME_MAX 249
/* The contents travel in the file's entry, which must stay under the image entry limit. */
#define MEMFD_DATA_MAX (IMG_ENTRY_MAX - (1u << 20))
/* Holes shorter than this are read as data: fewer extents for little more data. */
#define MEMFD_MERGE_GAP (64u << 10)
/* At least a page of data and a 64 KiB hole each: MEMFD_DATA_MAX / 4 KiB extents at most. */
#define MEMFD_EXTENTS_MAX (MEMFD_DATA_MAX / 4096 + 1)

/* F_SEAL_EXEC and MFD_EXEC: Linux 6.3, newer than Debian 12's headers. */
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#define MEMFD_SEALS_KNOWN                                                                          \
	(F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE |          \
	 F_SEAL_EXEC)
/* Status flags F_SETFL changes on a shmem file. */
#define MEMFD_SETFL_MASK (O_APPEND | O_NONBLOCK | O_NOATIME | O_DIRECT)

static bool memfd_match(int fd, const struct stat *st, const char *link)
{
	(void)fd;
	/* memfd_create (Linux 3.17) makes an unlinked shmem file named "/memfd:NAME (deleted)". */
	return S_ISREG(st->st_mode) && st->st_nlink == 0 &&
	       !strncmp(link, MEMFD_PREFIX, strlen(MEMFD_PREFIX));
}

/* A new open file description in cryo of what cryo's @fd points at. */
static int reopen_local(int fd, int flags)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return open(path, flags | O_CLOEXEC);
}

/* The first entry of the memfd at (dev, ino) of @st other than @f: it holds the contents. */
static const FileEntry *owner_at_dump(const struct dump_ctx *d, const FileEntry *f,
				      const struct stat *st)
{
	const struct file_table *t = &d->tree->ft;

	for (size_t i = 0; i < t->n; i++) {
		const FileEntry *o = t->files[i];

		if (o != f && o->kind == FILE_KIND__FILE_MEMFD && o->memfd &&
		    t->keys[i].dev == st->st_dev && t->keys[i].ino == st->st_ino)
			return o;
	}
	return NULL;
}

static int dump_name(struct dump_ctx *d, MemfdEntry *m, int tfd, const char *link)
{
	size_t pl = strlen(MEMFD_PREFIX), sl = strlen(DELETED_SUFFIX), len = strlen(link);

	if (len < pl + sl || strcmp(link + len - sl, DELETED_SUFFIX) ||
	    len - pl - sl > MEMFD_NAME_MAX)
		return files_refuse(d, tfd, link, "memfd link is not '/memfd:NAME (deleted)'");
	m->name = xzalloc(len - pl - sl + 1);
	memcpy(m->name, link + pl, len - pl - sl);
	return 0;
}

static int add_extent(MemfdEntry *m, uint64_t off, uint64_t end)
{
	MemfdExtent *x = m->n_extents ? m->extents[m->n_extents - 1] : NULL;

	if (x && off - (x->off + x->len) < MEMFD_MERGE_GAP) {
		x->len = end - x->off;
		return 0;
	}
	if (m->n_extents >= MEMFD_EXTENTS_MAX)
		return -E2BIG;
	x = xzalloc(sizeof(*x));
	memfd_extent__init(x);
	x->has_off = x->has_len = true;
	x->off = off;
	x->len = end - off;
	m->extents = xrealloc_array(m->extents, m->n_extents + 1, sizeof(*m->extents));
	m->extents[m->n_extents++] = x;
	return 0;
}

/* The ranges that hold data: SEEK_DATA/SEEK_HOLE (tmpfs: Linux 3.8) skip unwritten pages. */
static int find_extents(int ro, MemfdEntry *m, uint64_t *ret_total)
{
	uint64_t total = 0;
	off_t off = 0;
	int r;

	while ((uint64_t)off < m->size) {
		off_t data = lseek(ro, off, SEEK_DATA), hole;

		if (data < 0 && errno == ENXIO)
			break;
		hole = data < 0 ? -1 : lseek(ro, data, SEEK_HOLE);
		if (hole < 0)
			return -errno;
		hole = MIN((uint64_t)hole, m->size);
		if (hole <= data)
			break;
		r = add_extent(m, (uint64_t)data, (uint64_t)hole);
		if (r < 0)
			return r;
		off = hole;
	}
	for (size_t i = 0; i < m->n_extents; i++)
		total += m->extents[i]->len;
	*ret_total = total;
	return 0;
}

static int dump_data(struct dump_ctx *d, MemfdEntry *m, int ro, int tfd, const char *link)
{
	uint64_t total = 0, done = 0;
	int r;

	r = find_extents(ro, m, &total);
	if (r == -E2BIG)
		return files_refuse(d, tfd, link, "memfd data is too fragmented");
	if (r < 0)
		return pr_err_errno(r, "task %d: fd %d: '%s': can't find the data", d->pid, tfd,
				    link);
	if (total > MEMFD_DATA_MAX)
		return pr_err_ret(-EFBIG,
				  "task %d: fd %d: '%s': %lu bytes of data, over the %u limit",
				  d->pid, tfd, link, (unsigned long)total, MEMFD_DATA_MAX);
	m->has_data = true;
	m->data.len = total;
	m->data.data = total ? xmalloc(total) : NULL;
	for (size_t i = 0; i < m->n_extents; i++) {
		const MemfdExtent *x = m->extents[i];

		r = pread_full(ro, m->data.data + done, x->len, (off_t)x->off);
		if (r < 0)
			return pr_err_errno(r, "task %d: fd %d: '%s': can't read", d->pid, tfd,
					    link);
		done += x->len;
	}
	return 0;
}

static int memfd_dump(struct dump_ctx *d, FileEntry *f, int fd, int tfd, const struct stat *st,
		      const char *link)
{
	MemfdEntry *m = f->memfd = xzalloc(sizeof(*m));
	_cleanup_close_ int ro = -1;
	const FileEntry *owner;
	struct statfs sfs;
	int seals, r;

	memfd_entry__init(m);
	r = dump_name(d, m, tfd, link);
	if (r < 0)
		return r;
	/*
	 * Our own read-only open: the task's fd may be write-only or O_PATH, and reads and seeks
	 * on it would move the task's position.
	 */
	ro = reopen_local(fd, O_RDONLY);
	if (ro < 0 || fstatfs(ro, &sfs) < 0)
		return pr_err_errno(-errno, "task %d: fd %d: '%s': can't reopen", d->pid, tfd,
				    link);
	if (sfs.f_type == HUGETLBFS_MAGIC)
		return files_refuse(d, tfd, link,
				    "memfds on hugetlbfs (MFD_HUGETLB) are not supported yet");
	if (sfs.f_type != TMPFS_MAGIC)
		return files_refuse(d, tfd, link, "memfd is not on tmpfs");
	/* F_GET_SEALS: Linux 3.17. */
	seals = fcntl(ro, F_GET_SEALS);
	if (seals < 0)
		return pr_err_errno(-errno, "task %d: fd %d: '%s': can't get the seals", d->pid,
				    tfd, link);
	m->has_size = m->has_seals = m->has_mode = m->has_ino = true;
	m->size = (uint64_t)st->st_size;
	m->seals = (uint32_t)seals;
	m->mode = st->st_mode & 07777;
	m->ino = st->st_ino;
	/* Another open file description of this memfd was seen first: its entry has the data. */
	owner = owner_at_dump(d, f, st);
	if (owner) {
		m->has_owner_id = true;
		m->owner_id = owner->id;
		return 0;
	}
	return dump_data(d, m, ro, tfd, link);
}

/* ---- restore ---- */

static int corrupt(const FileEntry *f)
{
	return pr_err_ret(-EINVAL, "image 'files.img': memfd file %lu is corrupt",
			  (unsigned long)f->id);
}

/* Extents in order, inside the file, their lengths adding up to the data. */
static bool extents_valid(const MemfdEntry *m)
{
	uint64_t end = 0, total = 0;

	if (m->n_extents > MEMFD_EXTENTS_MAX || m->data.len > MEMFD_DATA_MAX)
		return false;
	for (size_t i = 0; i < m->n_extents; i++) {
		const MemfdExtent *x = m->extents[i];

		if (!x->len || x->off < end || x->len > m->size || x->off > m->size - x->len)
			return false;
		end = x->off + x->len;
		total += x->len;
	}
	return total == m->data.len;
}

static int memfd_prepare(struct rst_ctx *r, const FileEntry *f)
{
	const MemfdEntry *m = f->memfd;
	const FileEntry *o;

	if (!m || !m->name || strlen(m->name) > MEMFD_NAME_MAX || m->size > INT64_MAX ||
	    (m->seals & ~(uint32_t)MEMFD_SEALS_KNOWN) || m->mode > 07777 || f->pos > INT64_MAX ||
	    (f->flags & O_ACCMODE) == O_ACCMODE)
		return corrupt(f);
	if (!m->owner_id)
		return extents_valid(m) ? 0 : corrupt(f);
	/* The owner comes first, so that it is checked before the entries that lean on it. */
	o = m->owner_id < f->id ? files_find(r, m->owner_id) : NULL;
	if (!o || o->kind != FILE_KIND__FILE_MEMFD || !o->memfd || o->memfd->owner_id ||
	    m->n_extents || m->data.len)
		return corrupt(f);
	return 0;
}

/* memfd_create in the puppet: the remote fd, or -errno. */
static long create_remote(struct rst_ctx *r, const MemfdEntry *m)
{
	unsigned int flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
	uint64_t addr;
	long a;
	int rr;

	rr = puppet_put(&r->pup, 0, m->name, strlen(m->name) + 1, &addr);
	if (rr < 0)
		return rr;
	/*
	 * Linux 6.3: without MFD_EXEC or MFD_NOEXEC_SEAL, vm.memfd_noexec decides and may seal
	 * the file against exec before fchmod can give it its mode: ask for MFD_EXEC, then set
	 * the mode and the seals that were dumped. Older kernels refuse the flag.
	 */
	a = puppet_sys(&r->pup, SYS_memfd_create, addr, flags | MFD_EXEC);
	if (a == -EINVAL)
		a = puppet_sys(&r->pup, SYS_memfd_create, addr, flags);
	return a;
}

/* Contents, size, mode and seals, in that order: seals may forbid the rest. */
static int fill(struct rst_ctx *r, const MemfdEntry *m, int fd)
{
	_cleanup_close_ int copy = files_take_remote_fd(r, fd);
	uint64_t done = 0;
	int rr;

	if (copy < 0)
		return copy;
	for (size_t i = 0; i < m->n_extents; i++) {
		const MemfdExtent *x = m->extents[i];

		rr = pwrite_full(copy, m->data.data + done, x->len, (off_t)x->off);
		if (rr < 0)
			return pr_err_errno(rr, "task %d: memfd '%s': can't write %lu bytes at %lu",
					    r->pup.pid, m->name, (unsigned long)x->len,
					    (unsigned long)x->off);
		done += x->len;
	}
	if (ftruncate(copy, (off_t)m->size) < 0)
		return pr_err_errno(-errno, "task %d: memfd '%s': can't set its size to %lu",
				    r->pup.pid, m->name, (unsigned long)m->size);
	if (fchmod(copy, m->mode) < 0)
		return pr_err_errno(-errno, "task %d: memfd '%s': can't set its mode to %#o",
				    r->pup.pid, m->name, m->mode);
	if (m->seals && fcntl(copy, F_ADD_SEALS, (int)m->seals) < 0)
		return pr_err_errno(-errno, "task %d: memfd '%s': can't add seals %#x", r->pup.pid,
				    m->name, m->seals);
	return 0;
}

/* Flags to reopen a memfd with: none that would create or truncate it. */
static int reopen_flags(int flags)
{
	return (flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY)) | O_CLOEXEC;
}

/* Another open file description of the file at remote fd @fd, through /proc/self/fd. */
static int reopen_remote(struct rst_ctx *r, int fd, int flags, int *ret_fd)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return files_remote_openat(r, path, reopen_flags(flags), 0, ret_fd);
}

/* Access mode and status flags: memfd_create gives O_RDWR and no others. */
static int set_flags(struct rst_ctx *r, const FileEntry *f, int flags, int *fd)
{
	int nfd, rr;
	long a;

	if ((flags & O_ACCMODE) != O_RDWR || (flags & O_PATH)) {
		rr = reopen_remote(r, *fd, flags, &nfd);
		if (rr < 0)
			return rr;
		puppet_sys(&r->pup, SYS_close, (uint64_t)*fd);
		*fd = nfd;
		return 0;
	}
	if (!(flags & MEMFD_SETFL_MASK))
		return 0;
	a = puppet_sys(&r->pup, SYS_fcntl, (uint64_t)*fd, F_SETFL, flags & MEMFD_SETFL_MASK);
	if (a < 0)
		return pr_err_errno((int)a, "task %d: memfd '%s': can't set flags %#o", r->pup.pid,
				    f->memfd->name, flags);
	return 0;
}

/* Remote fd @fd to the offset of @f; closed on failure. */
static int seek_remote(struct rst_ctx *r, const FileEntry *f, int fd)
{
	long a = f->pos ? puppet_sys(&r->pup, SYS_lseek, (uint64_t)fd, f->pos, SEEK_SET) : 0;

	if (a >= 0)
		return 0;
	puppet_sys(&r->pup, SYS_close, (uint64_t)fd);
	return pr_err_errno((int)a, "task %d: memfd '%s': can't seek to %lu", r->pup.pid,
			    f->memfd->name, (unsigned long)f->pos);
}

/* A new memfd in the puppet for @f, which holds the contents, open and placed as @f says. */
static int create_filled(struct rst_ctx *r, const FileEntry *f, int flags, int *ret_fd)
{
	const MemfdEntry *m = f->memfd;
	long a = create_remote(r, m);
	int fd, rr;

	if (a < 0)
		return pr_err_errno((int)a, "task %d: can't create memfd '%s'", r->pup.pid,
				    m->name);
	fd = (int)a;
	rr = fill(r, m, fd);
	if (rr == 0)
		rr = set_flags(r, f, flags, &fd);
	if (rr < 0) {
		puppet_sys(&r->pup, SYS_close, (uint64_t)fd);
		return rr;
	}
	rr = seek_remote(r, f, fd);
	if (rr == 0)
		*ret_fd = fd;
	return rr;
}

/* Cryo's @copy of the memfd, reopened for @f and handed to the puppet. */
static int install_reopened(struct rst_ctx *r, const FileEntry *f, int copy, int flags,
			    int *ret_fd)
{
	_cleanup_close_ int local = reopen_local(copy, reopen_flags(flags));

	if (local < 0)
		return pr_err_errno(-errno, "task %d: memfd '%s': can't reopen", r->pup.pid,
				    f->memfd->name);
	/* The open file description is the one the puppet gets: seek it here. */
	if (f->pos && lseek(local, (off_t)f->pos, SEEK_SET) < 0)
		return pr_err_errno(-errno, "task %d: memfd '%s': can't seek to %lu", r->pup.pid,
				    f->memfd->name, (unsigned long)f->pos);
	return files_install(r, local, ret_fd);
}

/*
 * A new open file description of the memfd whose contents @o holds, for @f: from the
 * puppet's own fd of it, or cryo's copy if another process has it, or a new memfd.
 */
static int reopen_owner(struct rst_ctx *r, const FileEntry *o, const FileEntry *f, int flags,
			int *ret_fd)
{
	int *ofd = &r->file_fds[o->id - 1], copy = r->tree->copies[o->id - 1];
	int fd, rr;

	if (*ofd < 0 && copy >= 0)
		return install_reopened(r, f, copy, flags, ret_fd);
	/* Parked, it is the owner's open file description when the task's fds come to it. */
	if (*ofd < 0) {
		rr = create_filled(r, o, (int)o->flags, &fd);
		if (rr == 0)
			rr = files_park(r, fd, ofd);
		if (rr < 0)
			return rr;
	}
	rr = reopen_remote(r, *ofd, flags, &fd);
	if (rr == 0)
		rr = seek_remote(r, f, fd);
	if (rr == 0)
		*ret_fd = fd;
	return rr;
}

static int memfd_open(struct rst_ctx *r, const FileEntry *f, int flags, int *ret_fd)
{
	const FileEntry *o = f->memfd->owner_id ? files_find(r, f->memfd->owner_id) : NULL;

	return o ? reopen_owner(r, o, f, flags, ret_fd) : create_filled(r, f, flags, ret_fd);
}

const struct file_ops memfd_file_ops = {
	.kind = FILE_KIND__FILE_MEMFD,
	.match = memfd_match,
	.dump = memfd_dump,
	.prepare = memfd_prepare,
	.open = memfd_open,
};
