/* SPDX-License-Identifier: MIT */
/*
 * What processes of the tree share without being threads of one process: an fd table
 * (CLONE_FILES), an fs_struct (CLONE_FS: cwd, root, umask), an address space (CLONE_VM).
 * kcmp (Linux 3.5) tells which at dump; at restore a child gets the table or fs_struct of its
 * parent by being cloned with the same flag, and only one process of each restores it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/internal.h"

struct share_kind {
	int type; /* KCMP_* */
	const char *what; /* the object, and the clone flag that shares it */
	bool rebuilt; /* a child can be cloned onto its parent's; else sharing it is refused */
};

/* The address space comes first: two processes on one mm are refused before anything else. */
static const struct share_kind share_kinds[] = {
	{ KCMP_VM, "address space (CLONE_VM without CLONE_THREAD)", false },
	{ KCMP_FILES, "fd table (CLONE_FILES)", true },
	{ KCMP_FS, "cwd, root and umask (CLONE_FS)", true },
};

/* Where a process keeps the pid of the one whose object of @type it shares; NULL: none. */
static pid_t *owner_field(struct dump_ctx *d, int type)
{
	return type == KCMP_FILES ? &d->files_owner : type == KCMP_FS ? &d->fs_owner : NULL;
}

static int same(pid_t a, pid_t b, int type)
{
	long r = syscall(SYS_kcmp, a, b, type, 0, 0);

	return r < 0 ? -errno : r == 0;
}

/* cmp_object's context: the tree, the kind, the first kcmp failure. */
struct sort_ctx {
	struct dump_tree *t;
	int type;
	int err;
};

/* kcmp orders the kernel objects (by obfuscated address), so equal ones sort together. */
static int cmp_object(const void *a, const void *b, void *arg)
{
	struct sort_ctx *c = arg;
	pid_t pa = c->t->procs[*(const size_t *)a]->pid, pb = c->t->procs[*(const size_t *)b]->pid;
	long r = syscall(SYS_kcmp, pa, pb, c->type, 0, 0);

	if (r < 0 && !c->err)
		c->err = pr_err_errno(-errno, "tasks %d and %d: can't compare them with kcmp", pa,
				      pb);
	return r == 1 ? -1 : r == 2 ? 1 : 0;
}

/* The members of one group, idx[0..n) sorted, share an object: each but the first records it. */
static int record_group(struct dump_tree *t, const struct share_kind *k, const size_t *idx,
			size_t n)
{
	size_t first = idx[0];

	for (size_t i = 1; i < n; i++)
		first = MIN(first, idx[i]);
	for (size_t i = 0; i < n; i++) {
		struct dump_ctx *d = t->procs[idx[i]];

		if (idx[i] == first)
			continue;
		if (!k->rebuilt)
			return pr_err_ret(-EOPNOTSUPP,
					  "task %d: shares its %s with task %d: not supported",
					  d->pid, k->what, t->procs[first]->pid);
		*owner_field(d, k->type) = t->procs[first]->pid;
	}
	return 0;
}

/*
 * A clone shares only its parent's object: a sharer whose parent is not on the same one was
 * left it by a parent that has let go of it since (unshare, exec), which can't be rebuilt.
 */
static int check_parents(struct dump_tree *t, const struct share_kind *k)
{
	for (size_t i = 0; i < t->nr_procs; i++) {
		struct dump_ctx *d = t->procs[i];
		pid_t owner = *owner_field(d, k->type);

		if (owner && d->parent->pid != owner && *owner_field(d->parent, k->type) != owner)
			return pr_err_ret(-EOPNOTSUPP,
					  "task %d: shares its %s with task %d but not with its parent %d: not supported",
					  d->pid, k->what, owner, d->parent->pid);
	}
	return 0;
}

/* Group the live processes of the tree by the object of kind @k they are on. */
static int collect_kind(struct dump_tree *t, const struct share_kind *k)
{
	_cleanup_free_ size_t *idx = xcalloc(t->nr_procs, sizeof(*idx));
	struct sort_ctx c = { .t = t, .type = k->type };
	size_t n = 0;
	int r = 0;

	for (size_t i = 0; i < t->nr_procs; i++)
		if (!t->procs[i]->zombie)
			idx[n++] = i;
	qsort_r(idx, n, sizeof(*idx), cmp_object, &c);
	for (size_t i = 0, end; r == 0 && !c.err && i < n; i = end) {
		for (end = i + 1; end < n && cmp_object(&idx[i], &idx[end], &c) == 0; end++)
			;
		r = c.err ? 0 : record_group(t, k, idx + i, end - i);
	}
	return c.err ? c.err : r;
}

/* The root's parent is not dumped: what the root shares with it would be lost. */
static int check_root_parent(struct dump_tree *t, const struct share_kind *k)
{
	pid_t root = t->procs[0]->pid;
	struct proc_stat st;
	int r = proc_parse_stat(root, &st);

	if (r < 0)
		return pr_err_errno(r, "task %d: can't read its stat", root);
	/* A parent that is gone or out of reach shares nothing that is still checkable. */
	if (st.ppid > 0 && same(root, st.ppid, k->type) == 1)
		return pr_err_ret(-EOPNOTSUPP,
				  "task %d: shares its %s with its parent %d, outside the tree: not supported",
				  root, k->what, st.ppid);
	return 0;
}

/* Threads made without CLONE_FILES or CLONE_FS, or that unshared since, are not rebuilt. */
static int check_threads(struct dump_tree *t, const struct share_kind *k)
{
	for (size_t i = 0; i < t->nr_procs; i++) {
		const struct dump_ctx *d = t->procs[i];

		for (size_t j = 1; j < d->nr_tids; j++) {
			int eq = same(d->pid, d->tids[j], k->type);

			if (eq < 0)
				return pr_err_errno(eq, "thread %d of task %d: can't compare it with kcmp",
						    d->tids[j], d->pid);
			if (!eq)
				return pr_err_ret(-EOPNOTSUPP,
						  "thread %d of task %d: has its own %s, not its leader's: not supported",
						  d->tids[j], d->pid, k->what);
		}
	}
	return 0;
}

/* Is any child of thread @tid of @pid on its address space? The child's pid, or 0. */
static pid_t child_on_mm(pid_t pid, uint64_t tid)
{
	_cleanup_free_ char *buf = NULL;
	char path[64], *save = NULL;

	snprintf(path, sizeof(path), "/proc/%d/task/%lu/children", pid, (unsigned long)tid);
	/* A thread that is gone has no children to wait for. */
	if (read_file_at(AT_FDCWD, path, 1 << 20, &buf, NULL) < 0)
		return 0;
	for (char *tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
		uint64_t c;

		if (parse_u64(tok, 10, &c) == 0 && same(pid, (pid_t)c, KCMP_VM) == 1)
			return (pid_t)c;
	}
	return 0;
}

int shares_refuse_vfork(pid_t pid)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	/* A process that is gone is the seize's to report. */
	while (d && (de = readdir(d))) {
		uint64_t tid;
		pid_t c = parse_u64(de->d_name, 10, &tid) < 0 ? 0 : child_on_mm(pid, tid);

		if (c)
			return pr_err_ret(-EOPNOTSUPP,
					  "task %d: shares its address space with its child %d (vfork, or CLONE_VM without CLONE_THREAD): not supported",
					  pid, c);
	}
	return 0;
}

int shares_collect(struct dump_tree *t)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < ARRAY_SIZE(share_kinds); i++) {
		const struct share_kind *k = &share_kinds[i];

		r = check_root_parent(t, k);
		if (r == 0)
			r = collect_kind(t, k);
		if (r == 0 && k->rebuilt)
			r = check_parents(t, k);
		if (r == 0 && k->rebuilt)
			r = check_threads(t, k);
	}
	return r;
}

/* ---- restore ---- */

/* A clone gets the object of its parent: the parent's own, or the one the parent shares. */
static bool owner_ok(const struct rst_ctx *r, uint32_t owner, uint32_t parent_owner)
{
	return !r->task->zombie && r->parent && !r->parent->task->zombie &&
	       (r->parent->pid == (pid_t)owner ? parent_owner == 0 : parent_owner == owner);
}

int shares_check(struct rst_tree *t)
{
	for (size_t i = 1; i < t->nr_procs; i++) {
		const struct rst_ctx *r = t->procs[i];
		const TaskEntry *p = r->parent->task;

		if ((r->task->files_owner && !owner_ok(r, r->task->files_owner, p->files_owner)) ||
		    (r->task->fs_owner && !owner_ok(r, r->task->fs_owner, p->fs_owner)))
			return pr_err_ret(-EINVAL,
					  "image 'task-%d.img': shares an fd table or fs_struct its parent can't give it",
					  r->pid);
	}
	if (t->procs[0]->task->files_owner || t->procs[0]->task->fs_owner)
		return pr_err_ret(-EINVAL, "image 'task-%d.img': the root shares what it can't",
				  t->procs[0]->pid);
	return 0;
}

bool shares_sets_fs(const struct rst_ctx *r)
{
	const struct rst_tree *t = r->tree;
	uint32_t fs = r->task->fs_owner ? r->task->fs_owner : (uint32_t)r->pid;
	size_t i = 0;

	while (t->procs[i] != r)
		i++;
	for (i++; i < t->nr_procs; i++)
		if (t->procs[i]->task->fs_owner == fs)
			return false;
	return true;
}
