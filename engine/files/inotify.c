/* SPDX-License-Identifier: MIT */
/*
 * inotify: its watches, each a watch descriptor (wd), an event mask and the watched inode.
 * fdinfo gives the inode as a file handle; at dump it is opened with open_by_handle_at() and
 * its path read back. At restore a new inotify gets the watches again by path, in wd order,
 * and the kernel hands out the same wds (see skip_to). Not restored: events queued and not
 * yet read at dump are lost (reading them would take them from the task), and so is the
 * wd the next new watch gets, when the last ones were removed before the dump.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/files.h"

/* Most watches of one inotify in an image. */
#define INOTIFY_WATCHES_MAX 65536
/* Highest wd restored: the wds below it that are free cost two syscalls each. */
#define INOTIFY_WD_MAX (1 << 20)
/* Largest mountinfo read. */
#define INOTIFY_TEXT_MAX (16u << 20)
/* A mask as fdinfo shows it: events, and IN_ONESHOT and IN_EXCL_UNLINK since Linux 5.19. */
#define INOTIFY_MASK_OK (IN_ALL_EVENTS | IN_ONESHOT | IN_EXCL_UNLINK)

/* One "inotify wd:..." line of fdinfo. */
struct watch {
	uint64_t wd, ino, sdev, mask;
	dev_t dev; /* sdev, the kernel's dev_t, in user space encoding */
	union {
		struct file_handle fh;
		char buf[sizeof(struct file_handle) + MAX_HANDLE_SZ];
	} h;
};

/* A file on the filesystem of a watched inode, for open_by_handle_at(); kept for the next. */
struct mount_fd {
	dev_t dev;
	int fd;
};

static int parse_handle(const char *line, struct watch *w)
{
	const char *hex = proc_fdinfo_field(line, "f_handle:");
	uint64_t bytes, type;

	/* No handle when the filesystem can't make one (or was busy): -ENODATA. */
	if (proc_fdinfo_field_u64(line, "fhandle-bytes:", 16, &bytes) || !hex)
		return -ENODATA;
	if (proc_fdinfo_field_u64(line, "fhandle-type:", 16, &type) || bytes > MAX_HANDLE_SZ ||
	    type > INT_MAX)
		return -EINVAL;
	if (strspn(hex, "0123456789abcdef") != bytes * 2 ||
	    (hex[bytes * 2] && hex[bytes * 2] != ' '))
		return -EINVAL;
	w->h.fh.handle_bytes = (unsigned int)bytes;
	w->h.fh.handle_type = (int)type;
	for (size_t i = 0; i < bytes; i++) {
		char byte[3] = { hex[2 * i], hex[2 * i + 1], 0 };

		w->h.fh.f_handle[i] = (unsigned char)strtoul(byte, NULL, 16);
	}
	return 0;
}

/*
 * "inotify wd:%x ino:%lx sdev:%x mask:%x ignored_mask:%x fhandle-bytes:%x fhandle-type:%x
 * f_handle:%s", the handle part missing when the kernel can't make one.
 */
static int parse_watch(const char *line, struct watch *w)
{
	if (proc_fdinfo_field_u64(line, "wd:", 16, &w->wd) ||
	    proc_fdinfo_field_u64(line, "ino:", 16, &w->ino) ||
	    proc_fdinfo_field_u64(line, "sdev:", 16, &w->sdev) ||
	    proc_fdinfo_field_u64(line, "mask:", 16, &w->mask) || w->sdev > UINT32_MAX)
		return -EINVAL;
	/* The kernel's dev_t has a 20-bit minor. */
	w->dev = makedev(w->sdev >> 20, w->sdev & 0xfffff);
	return parse_handle(line, w);
}

/* Undo the octal escapes (\040 for a space) of a mountinfo path, in place. */
static void unescape(char *s)
{
	char *o = s;

	for (; *s; s++, o++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*o = *s;
		}
	}
	*o = '\0';
}

/* A mount point of device @dev in cryo's /proc/self/mountinfo, a mount of its root first. */
static int find_mount_point(dev_t dev, char **ret)
{
	_cleanup_free_ char *buf = NULL, *best = NULL;
	char want[32], *save = NULL, *line;
	int r;

	r = read_file_at(AT_FDCWD, "/proc/self/mountinfo", INOTIFY_TEXT_MAX, &buf, NULL);
	if (r < 0)
		return r;
	snprintf(want, sizeof(want), "%u:%u", major(dev), minor(dev));
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *fsave = NULL, *f[5];
		int i;

		for (i = 0; i < 5 && (f[i] = strtok_r(i ? NULL : line, " ", &fsave)); i++)
			;
		if (i < 5 || strcmp(f[2], want))
			continue;
		if (!best || !strcmp(f[3], "/")) {
			free(best);
			best = xstrdup(f[4]);
		}
		if (!strcmp(f[3], "/"))
			break;
	}
	if (!best)
		return -ENOENT;
	unescape(best);
	*ret = TAKE_PTR(best);
	return 0;
}

static void mount_fd_close(struct mount_fd *m)
{
	closep(&m->fd);
	m->fd = -1;
}

/*
 * An fd on the filesystem of @dev: "/" in the common case, else one of its mount points. Not
 * O_PATH: open_by_handle_at() takes its mount fd with fdget(), which refuses O_PATH files.
 */
static int mount_fd_get(struct mount_fd *m, dev_t dev)
{
	_cleanup_free_ char *mp = NULL;
	struct stat st;
	int r;

	if (m->fd >= 0 && m->dev == dev)
		return m->fd;
	mount_fd_close(m);
	m->fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (m->fd >= 0 && fstat(m->fd, &st) == 0 && st.st_dev == dev) {
		m->dev = dev;
		return m->fd;
	}
	mount_fd_close(m);
	r = find_mount_point(dev, &mp);
	if (r < 0)
		return r;
	m->fd = open(mp, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (m->fd < 0)
		return -errno;
	if (fstat(m->fd, &st) < 0 || st.st_dev != dev) {
		mount_fd_close(m);
		return -ESTALE;
	}
	m->dev = dev;
	return m->fd;
}

/*
 * The path of the inode watch @w watches, checked to lead back to that very inode; its type
 * in @ret_st even without a path. open_by_handle_at (Linux 2.6.39, CAP_DAC_READ_SEARCH)
 * gives the inode; a directory comes with its path, a file only if its name is in the dcache.
 */
static int watch_path(struct mount_fd *m, struct watch *w, char **ret_path, struct stat *ret_st)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int fd = -1;
	int mfd = mount_fd_get(m, w->dev), r;
	char link[64];
	struct stat st;

	if (mfd < 0)
		return mfd == -ENOENT ? -ENODEV : mfd;
	fd = open_by_handle_at(mfd, &w->h.fh, O_PATH | O_CLOEXEC);
	/* -ENOENT is kept for "no path": the caller then looks for one. */
	if (fd < 0 || fstat(fd, ret_st) < 0)
		return errno == ENOENT ? -ESTALE : -errno;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	r = readlink_alloc(link, &path);
	if (r < 0)
		return r;
	if (path[0] != '/' || lstat(path, &st) < 0 || st.st_dev != w->dev || st.st_ino != w->ino)
		return -ENOENT;
	*ret_path = TAKE_PTR(path);
	return 0;
}

/* Watches whose file had no name in the dcache, looked for by inode in likely directories. */
struct lost {
	InotifyWdEntry *e;
	dev_t dev;
	uint64_t ino;
};

struct dump_state {
	struct dump_ctx *d;
	int tfd;
	InotifyEntry *in;
	struct mount_fd m;
	struct lost *lost;
	size_t nr_lost;
};

static void add_entry(struct dump_state *s, const struct watch *w, char *path, mode_t mode)
{
	InotifyWdEntry *e = xzalloc(sizeof(*e));

	inotify_wd_entry__init(e);
	e->has_wd = e->has_mask = e->has_mode = true;
	e->wd = (int32_t)w->wd;
	e->mask = (uint32_t)w->mask;
	e->mode = mode & S_IFMT;
	e->path = path;
	s->in->wds = xrealloc_array(s->in->wds, s->in->n_wds + 1, sizeof(*s->in->wds));
	s->in->wds[s->in->n_wds++] = e;
	if (path)
		return;
	s->lost = xrealloc_array(s->lost, s->nr_lost + 1, sizeof(*s->lost));
	s->lost[s->nr_lost++] = (struct lost){ .e = e, .dev = w->dev, .ino = w->ino };
}

/* One "inotify wd:..." line of the inotify's fdinfo. */
static int add_watch(struct dump_state *s, const char *line)
{
	struct dump_ctx *d = s->d;
	struct watch w;
	struct stat st;
	char *path = NULL;
	int r = parse_watch(line, &w);

	if (r == -ENODATA)
		return pr_err_ret(-EOPNOTSUPP,
				  "task %d: fd %d: inotify watch on inode %lu of device %u:%u: its filesystem gives no file handle (not supported)",
				  d->pid, s->tfd, (unsigned long)w.ino, major(w.dev), minor(w.dev));
	if (r < 0)
		return pr_err_ret(-EINVAL, "task %d: fd %d: can't parse inotify fdinfo line '%s'",
				  d->pid, s->tfd, line);
	if (w.wd < 1 || w.wd > INOTIFY_WD_MAX || s->in->n_wds >= INOTIFY_WATCHES_MAX)
		return pr_err_ret(-EOPNOTSUPP,
				  "task %d: fd %d: inotify watch %lu: more than %d watches or a wd over %d (not supported)",
				  d->pid, s->tfd, (unsigned long)w.wd, INOTIFY_WATCHES_MAX,
				  INOTIFY_WD_MAX);
	if (w.mask & ~(uint64_t)INOTIFY_MASK_OK)
		return pr_err_ret(-EOPNOTSUPP,
				  "task %d: fd %d: inotify watch %lu: unknown bits in mask %#lx (not supported)",
				  d->pid, s->tfd, (unsigned long)w.wd, (unsigned long)w.mask);
	r = watch_path(&s->m, &w, &path, &st);
	if (r == -ENOENT && !S_ISDIR(st.st_mode)) {
		add_entry(s, &w, NULL, st.st_mode);
		return 0;
	}
	if (r < 0)
		return pr_err_errno(r, "task %d: fd %d: inotify watch %lu on inode %lu of device %u:%u: can't open it by its file handle",
				    d->pid, s->tfd, (unsigned long)w.wd, (unsigned long)w.ino,
				    major(w.dev), minor(w.dev));
	add_entry(s, &w, path, st.st_mode);
	return 0;
}

/* Directories to look in: "/etc" and those of the other watches, the task's cwd and files. */
#define HINTS_MAX 256

struct hints {
	char *dirs[HINTS_MAX];
	size_t n;
};

static void hint_add(struct hints *h, const char *path, bool is_dir)
{
	size_t len;

	if (path[0] != '/' || h->n == HINTS_MAX)
		return;
	len = is_dir ? strlen(path) : (size_t)(strrchr(path, '/') - path);
	len = MAX(len, 1);
	for (size_t i = 0; i < h->n; i++)
		if (strlen(h->dirs[i]) == len && !strncmp(h->dirs[i], path, len))
			return;
	h->dirs[h->n++] = xasprintf("%.*s", (int)len, path);
}

/* The directory symlink @link of /proc points at, or the directory of the file it points at. */
static void hint_add_link(struct hints *h, const char *link)
{
	_cleanup_free_ char *target = NULL;
	struct stat st;

	if (readlink_alloc(link, &target) == 0 && stat(link, &st) == 0)
		hint_add(h, target, S_ISDIR(st.st_mode));
}

static void hints_collect(struct dump_state *s, struct hints *h)
{
	_cleanup_closedir_ DIR *dir = NULL;
	struct dirent *de;
	char path[64];

	hint_add(h, "/etc", true);
	for (size_t i = 0; i < s->in->n_wds; i++)
		if (s->in->wds[i]->path)
			hint_add(h, s->in->wds[i]->path, S_ISDIR(s->in->wds[i]->mode));
	snprintf(path, sizeof(path), "/proc/%d/cwd", s->d->pid);
	hint_add_link(h, path);
	snprintf(path, sizeof(path), "/proc/%d/fd", s->d->pid);
	dir = opendir(path);
	while (dir && (de = readdir(dir))) {
		char link[64 + 256];

		if (de->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "/proc/%d/fd/%s", s->d->pid, de->d_name);
		hint_add_link(h, link);
	}
}

/* The entry of @dir that is inode @l->ino of device @l->dev, as a new path. */
static char *search_dir(const char *dir, const struct lost *l)
{
	_cleanup_closedir_ DIR *dp = opendir(dir);
	struct dirent *de;
	struct stat st;

	/* A bind-mounted file shows its mount point's inode in d_ino: stat those too. */
	if (!dp || fstat(dirfd(dp), &st) < 0)
		return NULL;
	for (bool other_dev = st.st_dev != l->dev; (de = readdir(dp));)
		if ((de->d_ino == l->ino || other_dev) &&
		    fstatat(dirfd(dp), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    st.st_dev == l->dev && st.st_ino == l->ino)
			return xasprintf("%s%s%s", dir, strcmp(dir, "/") ? "/" : "", de->d_name);
	return NULL;
}

/*
 * A watched file is pinned by its watch, but not its name: once that leaves the dcache,
 * open_by_handle_at() gives a nameless dentry (readlink says "/"). Look for it by inode number
 * where it likely is, as CRIU's irmap does; refuse it if it isn't there.
 */
static int find_lost(struct dump_state *s)
{
	struct hints h = { .n = 0 };
	int r = 0;

	if (!s->nr_lost)
		return 0;
	hints_collect(s, &h);
	for (size_t i = 0; i < s->nr_lost; i++) {
		const struct lost *l = &s->lost[i];

		for (size_t j = 0; !l->e->path && j < h.n; j++)
			l->e->path = search_dir(h.dirs[j], l);
		if (!l->e->path) {
			r = pr_err_ret(-EOPNOTSUPP,
				       "task %d: fd %d: inotify watch %d on inode %lu of device %u:%u: its file has no name in the dentry cache and is not in the directories of the other watches, the task's files, its cwd or /etc (not supported)",
				       s->d->pid, s->tfd, l->e->wd, (unsigned long)l->ino,
				       major(l->dev), minor(l->dev));
			break;
		}
		pr_debug("task %d: fd %d: inotify watch %d: found '%s' by its inode", s->d->pid,
			 s->tfd, l->e->wd, l->e->path);
	}
	for (size_t j = 0; j < h.n; j++)
		free(h.dirs[j]);
	return r;
}

static int cmp_wd(const void *a, const void *b)
{
	int32_t x = (*(const InotifyWdEntry *const *)a)->wd;
	int32_t y = (*(const InotifyWdEntry *const *)b)->wd;

	return (x > y) - (x < y);
}

static int inotify_dump(struct dump_ctx *d, FileEntry *f, int fd, int tfd, const struct stat *st,
			const char *link)
{
	struct dump_state s = { .d = d, .tfd = tfd, .m = { .fd = -1 } };
	_cleanup_free_ char *buf = NULL;
	char *save = NULL, *line;
	int r, queued = 0;

	(void)st;
	(void)link;
	s.in = f->inotify = xzalloc(sizeof(*s.in));
	inotify_entry__init(s.in);
	r = proc_read_fdinfo(d->pid, tfd, &buf);
	if (r < 0)
		return pr_err_errno(r, "task %d: fd %d: can't read '/proc/%d/fdinfo/%d'",
				    d->pid, tfd, d->pid, tfd);
	for (line = strtok_r(buf, "\n", &save); r == 0 && line; line = strtok_r(NULL, "\n", &save))
		if (!strncmp(line, "inotify ", 8))
			r = add_watch(&s, line);
	mount_fd_close(&s.m);
	r = r ? r : find_lost(&s);
	free(s.lost);
	if (r < 0)
		return r;
	/* fdinfo lists the newest watch first: restore wants them in wd order. */
	qsort(s.in->wds, s.in->n_wds, sizeof(*s.in->wds), cmp_wd);
	if (ioctl(fd, FIONREAD, &queued) == 0 && queued > 0)
		pr_warn("task %d: fd %d: %d bytes of inotify events not yet read are not restored",
			d->pid, tfd, queued);
	return 0;
}

/* ---- restore ---- */

static int check_watch(const FileEntry *f, size_t i, int32_t prev)
{
	const InotifyWdEntry *w = f->inotify->wds[i];
	struct stat st;

	if (!w->has_wd || !w->has_mask || !w->path || w->path[0] != '/' ||
	    strlen(w->path) >= PATH_MAX || w->wd <= prev || w->wd > INOTIFY_WD_MAX ||
	    (w->mask & ~(uint32_t)INOTIFY_MASK_OK))
		return pr_err_ret(-EINVAL, "image 'files.img': inotify file %lu: watch %zu is corrupt",
				  (unsigned long)f->id, i + 1);
	if (lstat(w->path, &st) < 0)
		return pr_err_errno(-errno, "inotify watch %d: '%s' can't be found", w->wd, w->path);
	if (w->has_mode && (st.st_mode & S_IFMT) != (w->mode & S_IFMT))
		return pr_err_ret(-ESTALE, "inotify watch %d: '%s' is no longer of the type it had at dump",
				  w->wd, w->path);
	return 0;
}

static int inotify_prepare(struct rst_ctx *r, const FileEntry *f)
{
	int rr = 0;

	(void)r;
	if (!f->inotify || f->inotify->n_wds > INOTIFY_WATCHES_MAX)
		return pr_err_ret(-EINVAL, "image 'files.img': inotify file %lu is corrupt",
				  (unsigned long)f->id);
	/* Strictly increasing wds: no wd twice, and the order skip_to needs. */
	for (size_t i = 0; rr == 0 && i < f->inotify->n_wds; i++)
		rr = check_watch(f, i, i ? f->inotify->wds[i - 1]->wd : 0);
	return rr;
}

/* Empty the queue of inotify @fd, cryo's copy, which is non-blocking. */
static int drain(int fd)
{
	char buf[8192];

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n == 0 || (n < 0 && errno == EAGAIN))
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

/*
 * Make the next watch get wd @wd, the last given out being @last. The kernel hands out wds
 * cyclically from 1 (idr_alloc_cyclic, Linux 3.9): the one after the last given, even if lower
 * ones are free. A free wd is skipped by adding a placeholder watch on cryo's copy @copy of the
 * inotify and removing it; the removal queues an IN_IGNORED event, drained here.
 */
static int skip_to(int copy, int32_t last, int32_t wd)
{
	static const char *const spots[] = { "/", "/proc", "/sys", "/dev" };
	size_t s = 0;
	int rr = 0;

	while (rr == 0 && last + 1 < wd) {
		/* IN_MASK_CREATE (Linux 4.18): fail, not merge, on an inode the task watches. */
		int pw = inotify_add_watch(copy, spots[s], IN_DELETE_SELF | IN_MASK_CREATE);

		if (pw < 0 && errno == EEXIST && s + 1 < ARRAY_SIZE(spots)) {
			s++;
			continue;
		}
		if (pw < 0)
			return -errno;
		inotify_rm_watch(copy, pw);
		if (pw != last + 1)
			return -ERANGE;
		last = pw;
		/* Below max_queued_events (16384): an overflow would be an event of its own. */
		if (last % 1024 == 0 || last + 1 == wd)
			rr = drain(copy);
	}
	return rr;
}

static int add_watches(struct rst_ctx *r, const FileEntry *f, int fd, int copy)
{
	for (size_t i = 0; i < f->inotify->n_wds; i++) {
		const InotifyWdEntry *w = f->inotify->wds[i];
		uint64_t addr;
		long a;
		int rr;

		rr = skip_to(copy, i ? f->inotify->wds[i - 1]->wd : 0, w->wd);
		if (rr < 0)
			return pr_err_errno(rr, "task %d: inotify: can't skip to wd %d", r->pup.pid,
					    w->wd);
		rr = puppet_put(&r->pup, 0, w->path, strlen(w->path) + 1, &addr);
		if (rr < 0)
			return rr;
		/* The path names the watched inode itself, even a symlink. */
		a = puppet_sys(&r->pup, SYS_inotify_add_watch, (uint64_t)fd, addr,
			       w->mask | IN_DONT_FOLLOW);
		if (a < 0)
			return pr_err_errno((int)a, "task %d: inotify: can't watch '%s'", r->pup.pid,
					    w->path);
		if (a != w->wd)
			return pr_err_ret(-ERANGE, "task %d: inotify: '%s' got wd %ld, not %d",
					  r->pup.pid, w->path, a, w->wd);
	}
	return 0;
}

static int inotify_open(struct rst_ctx *r, const FileEntry *f, int flags, int *ret_fd)
{
	/* Non-blocking while cryo drains it; the task's O_NONBLOCK is set at the end. */
	long a = puppet_sys(&r->pup, SYS_inotify_init1, IN_CLOEXEC | IN_NONBLOCK);
	_cleanup_close_ int copy = -1;
	int rr;

	if (a < 0)
		return pr_err_errno((int)a, "task %d: can't create an inotify", r->pup.pid);
	copy = files_take_remote_fd(r, (int)a);
	rr = copy < 0 ? copy : add_watches(r, f, (int)a, copy);
	/* The copy shares the open file description: its status flags are the task's. */
	if (rr == 0 && !(flags & O_NONBLOCK) && fcntl(copy, F_SETFL, 0) < 0)
		rr = pr_err_errno(-errno, "task %d: inotify: can't clear O_NONBLOCK", r->pup.pid);
	if (rr < 0) {
		puppet_sys(&r->pup, SYS_close, (uint64_t)a);
		return rr;
	}
	*ret_fd = (int)a;
	return 0;
}

const struct file_ops inotify_file_ops = {
	.kind = FILE_KIND__FILE_INOTIFY,
	.anon_inode = "inotify",
	.dump = inotify_dump,
	.prepare = inotify_prepare,
	.open = inotify_open,
};
