/* SPDX-License-Identifier: MIT */
/* The process tree: who is whose child, sessions and process groups. */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <time.h>
#include <sys/wait.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/internal.h"

static struct dump_ctx *dump_proc_new(struct dump_tree *t, struct dump_ctx *parent, pid_t pid)
{
	struct dump_ctx *d = xzalloc(sizeof(*d));

	d->tree = t;
	d->parent = parent;
	d->pid = pid;
	d->dirfd = t->dirfd;
	t->procs = xrealloc_array(t->procs, t->nr_procs + 1, sizeof(*t->procs));
	t->procs[t->nr_procs++] = d;
	return d;
}

/* Seize child @pid of @parent; a zombie can't be seized and is refused for now. */
static int seize_child(struct dump_tree *t, struct dump_ctx *parent, pid_t pid)
{
	struct proc_stat st;
	struct dump_ctx *c;
	int r;

	if (t->nr_procs >= MAX_PROCS)
		return pr_err_ret(-E2BIG, "task %d: the tree has more than %d processes", parent->pid,
				  MAX_PROCS);
	r = proc_parse_stat(pid, &st);
	if (r < 0)
		return pr_err_errno(r, "task %d: can't read the stat of child %d", parent->pid, pid);
	c = dump_proc_new(t, parent, pid);
	/* A zombie can't be seized: all there is to it is its ids and its wait status. */
	if (st.state == 'Z') {
		c->zombie = true;
		c->exit_code = st.exit_code;
		return 0;
	}
	r = shares_refuse_vfork(pid);
	return r < 0 ? r : task_seize(pid, &c->tids, &c->nr_tids, &c->stop_sig);
}

/* Children of every thread of @d: /proc/PID/task/TID/children (Linux 3.5). */
static int seize_children(struct dump_tree *t, struct dump_ctx *d)
{
	for (size_t i = 0; i < d->nr_tids; i++) {
		_cleanup_free_ char *buf = NULL;
		char path[64], *save = NULL;
		int r;

		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", d->pid, d->tids[i]);
		r = read_file_at(AT_FDCWD, path, 1 << 20, &buf, NULL);
		if (r < 0)
			return pr_err_errno(r, "task %d: can't list its children", d->pid);
		for (char *tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
			uint64_t pid;

			if (parse_u64(tok, 10, &pid) < 0)
				return pr_err_ret(-EINVAL, "task %d: bad children list", d->pid);
			r = seize_child(t, d, (pid_t)pid);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int pstree_seize(struct dump_tree *t, pid_t root)
{
	struct dump_ctx *d = dump_proc_new(t, NULL, root);
	int r;

	r = shares_refuse_vfork(root);
	if (r == 0)
		r = task_seize(root, &d->tids, &d->nr_tids, &d->stop_sig);
	/* Top down: a seized process can't fork, so its children list is final when read. */
	for (size_t i = 0; r == 0 && i < t->nr_procs; i++)
		r = seize_children(t, t->procs[i]);
	return r;
}

void pstree_unseize(struct dump_tree *t)
{
	for (size_t i = t->nr_procs; i-- > 0;)
		task_unseize(t->procs[i]->tids, t->procs[i]->nr_tids);
}

int pstree_dump_zombie(struct dump_ctx *d)
{
	TaskEntry task = TASK_ENTRY__INIT;
	ThreadEntry th = THREAD_ENTRY__INIT, *thp = &th;
	_cleanup_free_ char *comm = NULL;
	struct proc_stat st;
	char name[64];
	int r;

	/* Its name is all that is left of its one thread. */
	snprintf(name, sizeof(name), "/proc/%d/comm", d->pid);
	if (read_file_at(AT_FDCWD, name, 64, &comm, NULL) == 0) {
		comm[strcspn(comm, "\n")] = '\0';
		th.has_tid = true;
		th.tid = (uint32_t)d->pid;
		th.comm = comm;
		task.n_threads = 1;
		task.threads = &thp;
	}
	r = proc_parse_stat(d->pid, &st);
	if (r < 0)
		return pr_err_errno(r, "task %d: can't read its stat", d->pid);
	task.has_pid = task.has_ppid = task.has_pgid = task.has_sid = task.has_exit_signal = true;
	task.has_zombie = task.has_exit_code = true;
	task.pid = (uint32_t)d->pid;
	task.ppid = (uint32_t)st.ppid;
	task.pgid = (uint32_t)st.pgid;
	task.sid = (uint32_t)st.sid;
	task.exit_signal = st.exit_signal;
	task.zombie = true;
	task.exit_code = (uint32_t)d->exit_code;
	return img_write_one(d->dirfd, IMG_NAME(name, "task", d->pid), IMG_KIND__IMG_TASK, &task.base);
}

int pstree_dump(struct dump_tree *t)
{
	_cleanup_img_ struct img *img = NULL;
	int r;

	r = img_create(t->dirfd, "pstree.img", IMG_KIND__IMG_PSTREE, &img);
	for (size_t i = 0; r == 0 && i < t->nr_procs; i++) {
		PstreeEntry e = PSTREE_ENTRY__INIT;

		e.has_pid = e.has_ppid = true;
		e.pid = (uint32_t)t->procs[i]->pid;
		e.ppid = t->procs[i]->parent ? (uint32_t)t->procs[i]->parent->pid : 0;
		r = img_write(img, &e.base);
	}
	return r ? r : img_close(TAKE_PTR(img));
}

/* ---- restore ---- */

/* The signal a process sends its parent when it dies; 0 is none. */
static int exit_sig(const TaskEntry *t)
{
	return t->exit_signal >= 0 && t->exit_signal <= 64 ? t->exit_signal : SIGCHLD;
}

static struct rst_ctx *find_proc(struct rst_tree *t, size_t before, uint32_t pid)
{
	for (size_t i = 0; i < before; i++)
		if (t->procs[i]->pid == (pid_t)pid)
			return t->procs[i];
	return NULL;
}

int pstree_read(struct rst_tree *t)
{
	PstreeEntry **e = NULL;
	size_t n = 0;
	int rr;

	rr = img_read_all(t->dirfd, "pstree.img", IMG_KIND__IMG_PSTREE, &pstree_entry__descriptor,
			  MAX_PROCS, (ProtobufCMessage ***)&e, &n);
	if (rr < 0)
		return rr;
	t->procs = xcalloc(n ? n : 1, sizeof(*t->procs));
	for (size_t i = 0; i < n; i++) {
		struct rst_ctx *r = xzalloc(sizeof(*r));

		r->tree = t;
		r->dirfd = t->dirfd;
		r->pidfd = -1;
		r->pid = (pid_t)e[i]->pid;
		t->procs[t->nr_procs++] = r;
		/* The root first, every other one after its parent, no pid twice. */
		r->parent = i ? find_proc(t, i, e[i]->ppid) : NULL;
		if (e[i]->pid < 1 || e[i]->pid > (1u << 22) || find_proc(t, i, e[i]->pid) ||
		    (i == 0 && (e[i]->pid != t->inv->root_pid || e[i]->ppid)) || (i && !r->parent))
			rr = pr_err_ret(-EINVAL, "image 'pstree.img': entry %zu is corrupt", i + 1);
	}
	if (rr == 0 && n == 0)
		rr = pr_err_ret(-EINVAL, "image 'pstree.img': is empty");
	for (size_t i = 0; i < n; i++)
		img_free(&e[i]->base);
	free(e);
	return rr;
}

/* As the tracer of dying @pid, let it through its last stops until it is dead. */
static void wait_dead(pid_t pid)
{
	int ws;

	while (waitpid(pid, &ws, __WALL) == pid && !WIFEXITED(ws) && !WIFSIGNALED(ws))
		ptrace(PTRACE_CONT, pid, NULL, (void *)(long)(WIFSTOPPED(ws) ? WSTOPSIG(ws) : 0));
}

/* Make puppet @p exit with @code and wait until it is dead. */
static void exit_puppet(struct puppet *p, int code)
{
	uint64_t args[6] = { (uint64_t)code };
	arch_regs_t regs = p->base;
	long ret;

	/* exit_group never returns: the remote syscall ends with the task gone. */
	arch_remote_syscall(p->pid, &regs, p->sys_ip, SYS_exit_group, args, &ret);
	wait_dead(p->pid);
}

/*
 * A stand-in holds the pid of a session or group leader that had exited before the dump:
 * made in @from, it makes the session or group, the members join it or are forked from it,
 * then it exits and @from reaps it. Its exit signal is 0: @from gets no SIGCHLD.
 */
struct standin {
	struct rst_ctx *from;
	pid_t pid; /* the leader's, as the tree sees it */
	struct puppet pup;
};

static int standin_new(struct rst_ctx *from, pid_t pid, bool session, struct standin *ret)
{
	long a;
	int rr;

	ret->from = from;
	ret->pid = pid;
	rr = puppet_clone(&from->pup, pid, 0, 0, from->tree->opts->new_pidns, &ret->pup);
	if (rr < 0)
		return pr_err_errno(rr, "task %d: can't make a stand-in for the %s leader %d",
				    from->pid, session ? "session" : "group", pid);
	a = session ? puppet_sys(&ret->pup, SYS_setsid) : puppet_sys(&ret->pup, SYS_setpgid, 0, 0);
	if (a < 0)
		return pr_err_errno((int)a, "stand-in %d: can't make its %s", pid,
				    session ? "session" : "group");
	pr_info("task %d: stand-in %d makes the %s of a leader gone before the dump", from->pid,
		pid, session ? "session" : "group");
	return 0;
}

/* End every stand-in of @s: each exits, and the process that made it reaps it. */
static int standins_end(struct standin *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		long a;

		exit_puppet(&s[i].pup, 0);
		a = puppet_sys(&s[i].from->pup, SYS_wait4, (uint64_t)s[i].pid, 0, __WALL, 0);
		if (a != s[i].pid)
			return pr_err_errno(a < 0 ? (int)a : -ECHILD, "task %d: can't reap stand-in %d",
					    s[i].from->pid, s[i].pid);
	}
	return 0;
}

static struct standin *standin_find(struct standin *s, size_t n, pid_t pid)
{
	for (size_t i = 0; i < n; i++)
		if (s[i].pid == pid)
			return &s[i];
	return NULL;
}

/* The session the root was in when it did not lead one: outside the tree, cryo's at restore. */
static uint32_t outside_sid(const struct rst_tree *t)
{
	const TaskEntry *root = t->procs[0]->task;

	return root->sid != root->pid ? root->sid : 0;
}

/*
 * The puppet that forks child @c of @parent: the parent itself, or, for a child in a session
 * whose leader is gone (forked by that leader, then reparented to @parent, a subreaper), a
 * stand-in leader of that session made by @parent.
 */
static int forker_of(struct rst_ctx *parent, struct rst_ctx *c, struct standin *s, size_t *n,
		     struct puppet **ret)
{
	uint32_t sid = c->task->sid;
	struct standin *found;
	int rr;

	*ret = &parent->pup;
	if (sid == (uint32_t)c->pid || sid == parent->task->sid)
		return 0;
	if (find_proc(parent->tree, parent->tree->nr_procs, sid) || sid == outside_sid(parent->tree))
		return pr_err_ret(-EOPNOTSUPP,
				  "task %d: is in session %u, neither its own nor its parent's, whose leader is alive: not supported yet",
				  c->pid, sid);
	/* A stand-in's clone shares nothing of the parent's. */
	if (c->task->files_owner || c->task->fs_owner)
		return pr_err_ret(-EOPNOTSUPP,
				  "task %d: shares its parent's fd table or fs_struct from another session: not supported",
				  c->pid);
	found = standin_find(s, *n, (pid_t)sid);
	if (!found) {
		found = &s[*n];
		rr = standin_new(parent, (pid_t)sid, true, found);
		if (rr < 0)
			return rr;
		(*n)++;
	}
	*ret = &found->pup;
	return 0;
}

/* A session leader makes its session before it has children, who inherit it. */
static int restore_session(struct rst_ctx *c)
{
	long a;

	if (c->task->sid != (uint32_t)c->pid)
		return 0;
	a = puppet_sys(&c->pup, SYS_setsid);
	if (a < 0)
		return pr_err_errno((int)a, "task %d: can't make its session", c->pid);
	return 0;
}

static int create_child(struct puppet *via, struct rst_ctx *c)
{
	/* Its parent's fd table or fs_struct is the one it shares: shares_check made sure. */
	uint64_t flags = (c->task->files_owner ? CLONE_FILES : 0) | (c->task->fs_owner ? CLONE_FS : 0);
	int rr = puppet_clone(via, c->pid, flags, exit_sig(c->task), c->tree->opts->new_pidns,
			      &c->pup);

	if (rr < 0)
		return rr;
	c->pidfd = (int)syscall(SYS_pidfd_open, c->pup.pid, 0);
	if (c->pidfd < 0)
		return pr_err_errno(-errno, "task %d: can't open a pidfd", c->pid);
	return restore_session(c);
}

/* Orphans of ended stand-ins go to the nearest subreaper: @r must be one meanwhile. */
static int set_subreaper(struct rst_ctx *r, bool on)
{
	long a = puppet_sys(&r->pup, SYS_prctl, PR_SET_CHILD_SUBREAPER, on, 0, 0, 0);

	return a < 0 ? pr_err_errno((int)a, "task %d: can't set its child subreaper flag", r->pid) : 0;
}

int pstree_create_children(struct rst_ctx *parent)
{
	struct rst_tree *t = parent->tree;
	_cleanup_free_ struct standin *s = xcalloc(t->nr_procs, sizeof(*s));
	size_t n = 0;
	int rr = 0;

	for (size_t i = 0; rr == 0 && i < t->nr_procs; i++) {
		struct puppet *via;

		if (t->procs[i]->parent != parent)
			continue;
		rr = forker_of(parent, t->procs[i], s, &n, &via);
		if (rr == 0)
			rr = create_child(via, t->procs[i]);
	}
	if (n == 0 || rr < 0) {
		standins_end(s, n);
		return rr;
	}
	rr = set_subreaper(parent, true);
	if (rr == 0)
		rr = standins_end(s, n);
	if (rr == 0 && !parent->task->child_subreaper)
		rr = set_subreaper(parent, false);
	return rr;
}

/* A zombie comes back as a child that exits the way it had: by exit_group or by a signal. */
static int make_zombie(struct rst_ctx *z)
{
	int status = (int)z->task->exit_code, sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;

	if (z->task->n_threads == 1 && z->task->threads[0]->comm) {
		char comm[16] = { 0 };

		strncpy(comm, z->task->threads[0]->comm, sizeof(comm) - 1);
		if (puppet_put(&z->pup, 0, comm, sizeof(comm), NULL) == 0)
			puppet_sys(&z->pup, SYS_prctl, PR_SET_NAME, z->pup.scratch, 0, 0, 0);
	}
	if (sig) {
		uint64_t none = 0;

		if (ptrace(PTRACE_SETSIGMASK, z->pup.pid, sizeof(none), &none) < 0 ||
		    ptrace(PTRACE_CONT, z->pup.pid, NULL, (void *)(long)sig) < 0)
			return pr_err_errno(-errno, "task %d: can't make it a zombie", z->pid);
		/* Once it is dead, its parent sees the zombie. */
		wait_dead(z->pup.pid);
	} else {
		exit_puppet(&z->pup, WEXITSTATUS(status));
	}
	if (kill(z->pup.pid, 0) < 0)
		return pr_err_ret(-ESRCH, "task %d: zombie got reaped", z->pid);
	return 0;
}

int pstree_restore_zombies(struct rst_tree *t)
{
	int rr = 0;

	for (size_t i = 0; rr == 0 && i < t->nr_procs; i++)
		if (t->procs[i]->task->zombie)
			rr = make_zombie(t->procs[i]);
	return rr;
}

int pstree_drain_sigchld(struct rst_ctx *r)
{
	struct timespec zero = { 0, 0 };
	uint64_t set = 0, set_addr, ts_addr;
	int rr;

	for (size_t i = 0; i < r->tree->nr_procs; i++) {
		const struct rst_ctx *c = r->tree->procs[i];

		if (c->parent == r && c->task->zombie && exit_sig(c->task))
			set |= 1ULL << (exit_sig(c->task) - 1);
		/* A group stop notifies the parent with SIGCHLD, whatever the exit signal. */
		if (c->parent == r && !c->task->zombie && c->task->stop_signal)
			set |= 1ULL << (SIGCHLD - 1);
	}
	if (!set)
		return 0;
	rr = puppet_put(&r->pup, 0, &set, sizeof(set), &set_addr);
	if (rr == 0)
		rr = puppet_put(&r->pup, 64, &zero, sizeof(zero), &ts_addr);
	/* rt_sigtimedwait with a zero timeout takes queued signals until none is left. */
	while (rr == 0 && puppet_sys(&r->pup, SYS_rt_sigtimedwait, set_addr, 0, ts_addr, 8) > 0)
		;
	return rr;
}

/*
 * A group whose leader had exited before the dump, in a session of the tree (the group of
 * a session leader gone too is inherited from its stand-in): a stand-in makes it again.
 */
static bool group_needs_standin(struct rst_tree *t, const TaskEntry *task)
{
	return task->sid != task->pid && task->pgid != task->sid &&
	       task->sid != outside_sid(t) && !find_proc(t, t->nr_procs, task->pgid);
}

/* Join process group @pgid when it is the tree's; groups from outside stay cryo's. */
static int restore_pgid(struct rst_tree *t, struct rst_ctx *r)
{
	long a;

	if (r->task->sid == r->task->pid ||
	    (!find_proc(t, t->nr_procs, r->task->pgid) && !group_needs_standin(t, r->task)))
		return 0;
	a = puppet_sys(&r->pup, SYS_setpgid, 0, r->task->pgid);
	if (a < 0)
		return pr_err_errno((int)a, "task %d: can't join process group %u", r->pid,
				    r->task->pgid);
	return 0;
}

int pstree_restore_groups(struct rst_tree *t)
{
	_cleanup_free_ struct standin *s = xcalloc(t->nr_procs, sizeof(*s));
	size_t n = 0;
	int rr = 0;

	/* The first member of a group whose leader is gone makes its stand-in. */
	for (size_t i = 0; rr == 0 && i < t->nr_procs; i++) {
		const TaskEntry *task = t->procs[i]->task;

		if (group_needs_standin(t, task) && !standin_find(s, n, (pid_t)task->pgid))
			rr = standin_new(t->procs[i], (pid_t)task->pgid, false, &s[n++]);
	}
	/* Group leaders first: the others join groups that must exist. */
	for (int leaders = 1; leaders >= 0; leaders--)
		for (size_t i = 0; rr == 0 && i < t->nr_procs; i++)
			if ((t->procs[i]->task->pgid == (uint32_t)t->procs[i]->pid) == leaders)
				rr = restore_pgid(t, t->procs[i]);
	if (rr < 0) {
		standins_end(s, n);
		return rr;
	}
	return standins_end(s, n);
}

int pstree_root_session(struct rst_ctx *root)
{
	return restore_session(root);
}
