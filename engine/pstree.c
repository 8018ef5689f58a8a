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
	return task_seize(pid, &c->tids, &c->nr_tids, &c->stop_sig);
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

/* A session leader makes its session before it has children, who inherit it. */
static int restore_session(struct rst_ctx *c)
{
	long a;

	/* Any other session is the parent's, inherited; a session from nowhere is refused. */
	if (c->parent && c->task->sid != (uint32_t)c->pid && c->task->sid != c->parent->task->sid)
		return pr_err_ret(-EOPNOTSUPP,
				  "task %d: is in session %u, neither its own nor its parent's: not supported yet",
				  c->pid, c->task->sid);
	if (c->task->sid != (uint32_t)c->pid)
		return 0;
	a = puppet_sys(&c->pup, SYS_setsid);
	if (a < 0)
		return pr_err_errno((int)a, "task %d: can't make its session", c->pid);
	return 0;
}

int pstree_create_child(struct rst_ctx *parent, struct rst_ctx *c)
{
	pid_t want = c->pid;
	struct clone_args ca = { .flags = CLONE_PTRACE, .set_tid_size = 1 };
	uint64_t tid_addr, ca_addr;
	int status, rr;
	long got;

	/* CLONE_PTRACE: cryo traces the child from birth, stopped before its first instruction. */
	ca.exit_signal = exit_sig(c->task);
	rr = puppet_put(&parent->pup, 256, &want, sizeof(want), &tid_addr);
	ca.set_tid = tid_addr;
	if (rr == 0)
		rr = puppet_put(&parent->pup, 0, &ca, sizeof(ca), &ca_addr);
	if (rr < 0)
		return rr;
	got = puppet_sys(&parent->pup, SYS_clone3, ca_addr, sizeof(ca));
	if (got == -EEXIST)
		return pr_err_ret(-EEXIST, "pid %d is in use: can't restore the task with its pid", want);
	if (got < 0)
		return pr_err_errno((int)got, "task %d: can't create child %d", parent->pid, want);
	c->pup.pid = want;
	if (waitpid(want, &status, __WALL) < 0 || !WIFSTOPPED(status) || WSTOPSIG(status) != SIGSTOP)
		return pr_err_ret(-ECHILD, "task %d: did not stop (status 0x%x)", want, status);
	rr = puppet_init_thread(&c->pup, want, &parent->pup);
	if (rr == 0) {
		c->pidfd = (int)syscall(SYS_pidfd_open, want, 0);
		if (c->pidfd < 0)
			return pr_err_errno(-errno, "task %d: can't open a pidfd", want);
	}
	return rr == 0 ? restore_session(c) : rr;
}

/* A zombie comes back as a child that exits the way it had: by exit_group or by a signal. */
static int make_zombie(struct rst_ctx *z)
{
	int status = (int)z->task->exit_code, sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	arch_regs_t regs = z->pup.base;
	int ws;

	if (z->task->n_threads == 1 && z->task->threads[0]->comm) {
		char comm[16] = { 0 };

		strncpy(comm, z->task->threads[0]->comm, sizeof(comm) - 1);
		if (puppet_put(&z->pup, 0, comm, sizeof(comm), NULL) == 0)
			puppet_sys(&z->pup, SYS_prctl, PR_SET_NAME, z->pup.scratch, 0, 0, 0);
	}
	if (sig) {
		uint64_t none = 0;

		if (ptrace(PTRACE_SETSIGMASK, z->pid, sizeof(none), &none) < 0 ||
		    ptrace(PTRACE_CONT, z->pid, NULL, (void *)(long)sig) < 0)
			return pr_err_errno(-errno, "task %d: can't make it a zombie", z->pid);
	} else {
		uint64_t args[6] = { (uint64_t)WEXITSTATUS(status) };
		long ret;

		/* exit_group never returns: the remote syscall ends with the task gone. */
		arch_remote_syscall(z->pid, &regs, z->pup.sys_ip, SYS_exit_group, args, &ret);
	}
	/* As its tracer, wait for its death: then its parent sees the zombie. */
	while (waitpid(z->pid, &ws, __WALL) == z->pid && !WIFEXITED(ws) && !WIFSIGNALED(ws))
		ptrace(PTRACE_CONT, z->pid, NULL, (void *)(long)(WIFSTOPPED(ws) ? WSTOPSIG(ws) : 0));
	return kill(z->pid, 0) == 0 ? 0 : pr_err_ret(-ESRCH, "task %d: zombie got reaped", z->pid);
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

/* Join process group @pgid when it belongs to the tree; groups from outside stay cryo's. */
static int restore_pgid(struct rst_tree *t, struct rst_ctx *r)
{
	long a;

	if (!find_proc(t, t->nr_procs, r->task->pgid) || r->task->sid == r->task->pid)
		return 0;
	a = puppet_sys(&r->pup, SYS_setpgid, 0, r->task->pgid);
	if (a < 0)
		return pr_err_errno((int)a, "task %d: can't join process group %u", r->pid,
				    r->task->pgid);
	return 0;
}

int pstree_restore_groups(struct rst_tree *t)
{
	int rr = 0;

	/* Group leaders first: the others join groups that must exist. */
	for (int leaders = 1; leaders >= 0; leaders--)
		for (size_t i = 0; rr == 0 && i < t->nr_procs; i++)
			if ((t->procs[i]->task->pgid == (uint32_t)t->procs[i]->pid) == leaders)
				rr = restore_pgid(t, t->procs[i]);
	return rr;
}

int pstree_root_session(struct rst_ctx *root)
{
	return restore_session(root);
}
