/* SPDX-License-Identifier: MIT */
/*
 * epoll: the interest list, restored after the fds it watches. A watch is (target file, the fd
 * number it was added with, events, data); fdinfo lists them. At restore the epoll is created
 * in the puppet and each watch added again with EPOLL_CTL_ADD on its fd number, which by then
 * holds the restored target: epoll is a late kind, opened once every other fd is in place.
 * An epoll may watch another epoll: the inner one is opened and put at its fd numbers first.
 * In a tree, the watches name fds of the first process found holding the epoll at dump; the
 * same process opens it at restore, and the others get it handed over.
 * Not restored: which watches sat on the ready list. EPOLL_CTL_ADD queues a target that is
 * ready, so an edge-triggered watch whose edge was already reported reports it once more.
 */
#include <linux/kcmp.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/files.h"

/* Most watches of one epoll in an image. */
#define EPOLL_TFDS_MAX 65536
/* Deepest chain of epolls watching epolls opened; the kernel allows 4 (EP_MAX_NESTS). */
#define EPOLL_NEST_MAX 8
/* Bits of a watch's events that are flags: all a fired EPOLLONESHOT watch keeps. */
#define EP_PRIVATE_BITS (EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE)
/* The bits EPOLLEXCLUSIVE may come with (Linux 4.5). */
#define EP_EXCLUSIVE_OK (EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | \
			 EPOLLEXCLUSIVE)
/* Every event a file may report, to make a disarmed EPOLLONESHOT watch fire. */
#define EP_ALL_EVENTS (EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLRDNORM | EPOLLRDBAND | EPOLLWRNORM | \
		       EPOLLWRBAND | EPOLLMSG | EPOLLRDHUP)

static bool is_disarmed(const EpollTfdEntry *t)
{
	return (t->events & EPOLLONESHOT) && !(t->events & ~(uint32_t)EP_PRIVATE_BITS);
}

/*
 * The watch must hold the file that fd @t->tfd holds now: the fd may have been closed, or
 * dup2()ed over, since the watch was added, and then restore would watch the wrong file.
 * Of two watches with one fd number at least one is such a stale watch, so the first with
 * that number (toff 0) is the only one that may pass.
 */
static int check_target(struct dump_ctx *d, int efd, const EpollTfdEntry *t)
{
	struct kcmp_epoll_slot slot = { .efd = (uint32_t)efd, .tfd = t->tfd, .toff = 0 };
	long k;

	/* KCMP_EPOLL_TFD (Linux 4.13): is the watch's file the one at this fd number? */
	k = syscall(SYS_kcmp, d->pid, d->pid, KCMP_EPOLL_TFD, t->tfd, (unsigned long)&slot);
	if (k == 0)
		return 0;
	if (k < 0 && errno == EBADF)
		return pr_err_ret(-EOPNOTSUPP,
				  "task %d: fd %d: epoll watches fd %u, which has been closed since (not supported)",
				  d->pid, efd, t->tfd);
	if (k < 0)
		return pr_err_errno(-errno, "task %d: fd %d: can't compare the file epoll watches as fd %u",
				    d->pid, efd, t->tfd);
	return pr_err_ret(-EOPNOTSUPP,
			  "task %d: fd %d: epoll watches a file added as fd %u, which now holds another file (not supported)",
			  d->pid, efd, t->tfd);
}

/* One "tfd: N events: HEX data: HEX pos:P ino:I sdev:D" line of the epoll's fdinfo. */
static int add_tfd(struct dump_ctx *d, EpollEntry *ep, int efd, const char *line)
{
	_cleanup_free_ EpollTfdEntry *t = xzalloc(sizeof(*t));
	uint64_t tfd, events, data;
	int r;

	epoll_tfd_entry__init(t);
	if (proc_fdinfo_field_u64(line, "tfd:", 10, &tfd) ||
	    proc_fdinfo_field_u64(line, "events:", 16, &events) ||
	    proc_fdinfo_field_u64(line, "data:", 16, &data) || tfd > INT32_MAX ||
	    events > UINT32_MAX)
		return pr_err_ret(-EINVAL, "task %d: fd %d: can't parse epoll fdinfo line '%s'",
				  d->pid, efd, line);
	if (ep->n_tfds >= EPOLL_TFDS_MAX)
		return pr_err_ret(-E2BIG, "task %d: fd %d: epoll watches more than %d fds",
				  d->pid, efd, EPOLL_TFDS_MAX);
	t->has_tfd = t->has_events = t->has_data = true;
	t->tfd = (uint32_t)tfd;
	t->events = (uint32_t)events;
	t->data = data;
	r = check_target(d, efd, t);
	if (r < 0)
		return r;
	ep->tfds = xrealloc_array(ep->tfds, ep->n_tfds + 1, sizeof(*ep->tfds));
	ep->tfds[ep->n_tfds++] = TAKE_PTR(t);
	return 0;
}

static int epoll_dump(struct dump_ctx *d, FileEntry *f, int fd, int efd, const struct stat *st,
		      const char *link)
{
	EpollEntry *ep = f->epoll = xzalloc(sizeof(*ep));
	_cleanup_free_ char *buf = NULL;
	char *save = NULL, *line;
	int r;

	(void)fd;
	(void)st;
	(void)link;
	epoll_entry__init(ep);
	ep->has_pid = true;
	ep->pid = (uint32_t)d->pid;
	r = proc_read_fdinfo(d->pid, efd, &buf);
	if (r < 0)
		return pr_err_errno(r, "task %d: fd %d: can't read '/proc/%d/fdinfo/%d'",
				    d->pid, efd, d->pid, efd);
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "tfd:", 4))
			continue;
		r = add_tfd(d, ep, efd, line);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- restore ---- */

/* An fd table sorted by fd number, to find the file a watch's fd number holds. */
struct fd_index {
	const FdEntry **fds;
	size_t n;
};

static int cmp_fd(const void *a, const void *b)
{
	uint32_t x = (*(const FdEntry *const *)a)->fd, y = (*(const FdEntry *const *)b)->fd;

	return (x > y) - (x < y);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

static void index_build(FdEntry *const *fds, size_t n, struct fd_index *ix)
{
	ix->fds = xcalloc(n ? n : 1, sizeof(*ix->fds));
	ix->n = n;
	for (size_t i = 0; i < n; i++)
		ix->fds[i] = fds[i];
	qsort(ix->fds, ix->n, sizeof(*ix->fds), cmp_fd);
}

/* The file at fd @fd of the indexed table, NULL if it has no such fd. */
static const FileEntry *index_find(struct rst_ctx *r, const struct fd_index *ix, uint32_t fd)
{
	FdEntry key = { .fd = fd };
	const FdEntry *k = &key, *const *e;

	e = bsearch(&k, ix->fds, ix->n, sizeof(*ix->fds), cmp_fd);
	return e ? files_find(r, (*e)->file_id) : NULL;
}

static bool tfd_valid(struct rst_ctx *r, const struct fd_index *ix, const FileEntry *f,
		      const EpollTfdEntry *t)
{
	const FileEntry *g;

	if (!t->has_tfd || !t->has_events || !t->has_data)
		return false;
	g = index_find(r, ix, t->tfd);
	/* EPOLLEXCLUSIVE comes with few events, never EPOLLONESHOT (Linux 4.5). */
	if (!g || g == f ||
	    ((t->events & EPOLLEXCLUSIVE) && (t->events & ~(uint32_t)EP_EXCLUSIVE_OK)))
		return false;
	/* Other epolls are opened from here: they must be complete too. */
	return g->kind != FILE_KIND__FILE_EPOLL || g->epoll;
}

/* Every watch names a distinct fd of the owner's table @ix. */
static int check_tfds(struct rst_ctx *r, const FileEntry *f, const struct fd_index *ix)
{
	_cleanup_free_ uint32_t *nums = xcalloc(f->epoll->n_tfds + 1, sizeof(*nums));

	for (size_t i = 0; i < f->epoll->n_tfds; i++) {
		if (!tfd_valid(r, ix, f, f->epoll->tfds[i]))
			return pr_err_ret(-EINVAL, "image 'files.img': epoll file %lu: watch %zu is corrupt",
					  (unsigned long)f->id, i + 1);
		nums[i] = f->epoll->tfds[i]->tfd;
	}
	qsort(nums, f->epoll->n_tfds, sizeof(*nums), cmp_u32);
	for (size_t i = 1; i < f->epoll->n_tfds; i++)
		if (nums[i] == nums[i - 1])
			return pr_err_ret(-EINVAL, "image 'files.img': epoll file %lu watches fd %u twice",
					  (unsigned long)f->id, nums[i]);
	return 0;
}

/* The process that owns the epoll, whose fd numbers its watches name. */
static const struct rst_ctx *owner_of(struct rst_ctx *r, const FileEntry *f)
{
	const struct rst_tree *t = r->tree;

	for (size_t i = 0; i < t->nr_procs; i++)
		if (!t->procs[i]->task->zombie && t->procs[i]->task->pid == f->epoll->pid)
			return t->procs[i];
	return NULL;
}

static int epoll_prepare(struct rst_ctx *r, const FileEntry *f)
{
	const struct rst_ctx *owner;
	struct fd_index ix;
	int rr;

	if (!f->epoll || !f->epoll->has_pid || f->epoll->n_tfds > EPOLL_TFDS_MAX)
		return pr_err_ret(-EINVAL, "image 'files.img': epoll file %lu is corrupt",
				  (unsigned long)f->id);
	owner = owner_of(r, f);
	if (!owner)
		return pr_err_ret(-EINVAL, "image 'files.img': epoll file %lu belongs to task %u, not in the tree",
				  (unsigned long)f->id, f->epoll->pid);
	index_build(owner->fds, owner->nr_fds, &ix);
	rr = check_tfds(r, f, &ix);
	free(ix.fds);
	return rr;
}

static int ctl(struct rst_ctx *r, int epfd, int op, const EpollTfdEntry *t, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.u64 = t->data };
	uint64_t addr;
	long a;
	int rr;

	rr = puppet_put(&r->pup, 0, &ev, sizeof(ev), &addr);
	if (rr < 0)
		return rr;
	a = puppet_sys(&r->pup, SYS_epoll_ctl, (uint64_t)epfd, (uint64_t)op, t->tfd, addr);
	if (a < 0)
		return pr_err_errno((int)a, "task %d: epoll: can't watch fd %u (events %#x)",
				    r->pup.pid, t->tfd, events);
	return 0;
}

/* Put the epoll @g that @f watches at its fd numbers, opening it first if it isn't yet. */
static int place_inner(struct rst_ctx *r, const FileEntry *g)
{
	int *parked = &r->file_fds[g->id - 1], fd, rr;

	if (*parked < 0) {
		/* Like files.c's open_parked: handed over if another process opened it already. */
		int copy = r->tree->copies[g->id - 1];

		if (copy >= 0)
			rr = files_install(r, copy, &fd);
		else
			rr = files_open_remote(r, g->id, (int)g->flags, &fd);
		if (rr == 0)
			rr = files_park(r, fd, parked);
		if (rr < 0)
			return rr;
	}
	for (size_t i = 0; i < r->nr_fds; i++) {
		const FdEntry *e = r->fds[i];
		long a;

		if (e->file_id != g->id)
			continue;
		a = puppet_sys(&r->pup, SYS_dup3, (uint64_t)*parked, e->fd,
			       e->cloexec ? O_CLOEXEC : 0);
		if (a < 0)
			return pr_err_errno((int)a, "task %d: can't set up fd %u", r->pup.pid, e->fd);
	}
	return 0;
}

/*
 * The epolls @f watches must be at their fd numbers before it can watch them, but files.c
 * puts late files there only after opening them all: do it for these here. Opening one
 * recurses through its own inner epolls; prepare() has ruled out loops.
 */
static int place_inner_epolls(struct rst_ctx *r, const FileEntry *f)
{
	struct fd_index ix;
	int rr = 0;

	index_build(r->fds, r->nr_fds, &ix);
	for (size_t i = 0; rr == 0 && i < f->epoll->n_tfds; i++) {
		const FileEntry *g = index_find(r, &ix, f->epoll->tfds[i]->tfd);

		if (g->kind == FILE_KIND__FILE_EPOLL)
			rr = place_inner(r, g);
	}
	free(ix.fds);
	return rr;
}

/*
 * A fired EPOLLONESHOT watch keeps only its flag bits, and EPOLL_CTL_ADD can't make one: it
 * always arms EPOLLERR | EPOLLHUP. Arm it for every event and let it fire with a remote
 * epoll_wait, before any other watch is added whose readiness that wait would take.
 */
#define EVENT_OFF 64 /* scratch offset of the event epoll_wait reports, unread */

static int add_disarmed(struct rst_ctx *r, const FileEntry *f, int epfd)
{
	for (size_t i = 0; i < f->epoll->n_tfds; i++) {
		const EpollTfdEntry *t = f->epoll->tfds[i];
		uint64_t addr = r->pup.scratch + EVENT_OFF;
		long a;
		int rr;

		if (!is_disarmed(t))
			continue;
		rr = ctl(r, epfd, EPOLL_CTL_ADD, t, t->events | EP_ALL_EVENTS);
		if (rr < 0)
			return rr;
		a = puppet_sys(&r->pup, SYS_epoll_wait, (uint64_t)epfd, addr, 1, 0);
		if (a < 0)
			return pr_err_errno((int)a, "task %d: epoll: can't wait", r->pup.pid);
		if (a == 1)
			continue;
		pr_warn("task %d: epoll: fd %u is not ready, so its fired EPOLLONESHOT watch can't be disarmed: it is armed for EPOLLERR and EPOLLHUP",
			r->pup.pid, t->tfd);
		rr = ctl(r, epfd, EPOLL_CTL_MOD, t, t->events);
		if (rr < 0)
			return rr;
	}
	return 0;
}

static int add_watches(struct rst_ctx *r, const FileEntry *f, int epfd)
{
	int rr = add_disarmed(r, f, epfd);

	for (size_t i = 0; rr == 0 && i < f->epoll->n_tfds; i++) {
		const EpollTfdEntry *t = f->epoll->tfds[i];

		if (!is_disarmed(t))
			rr = ctl(r, epfd, EPOLL_CTL_ADD, t, t->events);
	}
	return rr;
}

static int create_epoll(struct rst_ctx *r, const FileEntry *f, int flags, int *ret_fd)
{
	long a = puppet_sys(&r->pup, SYS_epoll_create1, EPOLL_CLOEXEC);
	int fd, rr;

	if (a < 0)
		return pr_err_errno((int)a, "task %d: can't create an epoll", r->pup.pid);
	/* Parked at once: placing inner epolls may dup3 over the number it got. */
	rr = files_park(r, (int)a, &fd);
	if (rr < 0)
		return rr;
	if (flags & O_NONBLOCK) {
		a = puppet_sys(&r->pup, SYS_fcntl, (uint64_t)fd, F_SETFL, O_NONBLOCK);
		if (a < 0)
			rr = pr_err_errno((int)a, "task %d: epoll: can't set O_NONBLOCK", r->pup.pid);
	}
	if (rr == 0)
		rr = place_inner_epolls(r, f);
	if (rr == 0)
		rr = add_watches(r, f, fd);
	if (rr < 0) {
		puppet_sys(&r->pup, SYS_close, (uint64_t)fd);
		return rr;
	}
	*ret_fd = fd;
	return 0;
}

static int epoll_open(struct rst_ctx *r, const FileEntry *f, int flags, int *ret_fd)
{
	/* Inner epolls are opened from the open() of the outer one: a corrupt image may loop. */
	static int nesting;
	int rr;

	/*
	 * The watches name fds of the process that held the epoll first at dump; it must be the
	 * one that opens it here, the others get it handed over.
	 */
	if (r->task->pid != f->epoll->pid)
		return pr_err_ret(-EINVAL,
				  "task %d: epoll file %lu watches fds of task %u, which must open it first",
				  r->pup.pid, (unsigned long)f->id, f->epoll->pid);
	if (nesting >= EPOLL_NEST_MAX)
		return pr_err_ret(-ELOOP,
				  "image 'files.img': epoll file %lu: epolls watch each other in a loop or over %d deep",
				  (unsigned long)f->id, EPOLL_NEST_MAX);
	nesting++;
	rr = create_epoll(r, f, flags, ret_fd);
	nesting--;
	return rr;
}

const struct file_ops epoll_file_ops = {
	.kind = FILE_KIND__FILE_EPOLL,
	.anon_inode = "eventpoll",
	/* Its watches name the task's fd numbers: opened once every other fd is in place. */
	.late = true,
	.dump = epoll_dump,
	.prepare = epoll_prepare,
	.open = epoll_open,
};
