/* SPDX-License-Identifier: MIT */
/* Restore by the puppet model: only the sequencing of stages lives here. */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common/log.h"
#include "common/missing.h"
#include "common/util.h"
#include "engine/internal.h"

#define FREE_ALL(arr, n)                                                                           \
	do {                                                                                       \
		for (size_t _i = 0; _i < (n); _i++)                                                \
			img_free(&(arr)[_i]->base);                                                \
		free(arr);                                                                         \
	} while (0)

static void rst_ctx_free(struct rst_ctx *r)
{
	FREE_ALL(r->vmas, r->nr_vmas);
	free(r->inherited);
	FREE_ALL(r->pagemap, r->nr_pagemap);
	FREE_ALL(r->fds, r->nr_fds);
	img_free(r->task ? &r->task->base : NULL);
	img_free(r->mm ? &r->mm->base : NULL);
	free(r->file_fds);
	free(r->others);
	if (r->pidfd >= 0)
		close(r->pidfd);
	free(r);
}

static void rst_tree_free(struct rst_tree *t)
{
	for (size_t i = 0; i < t->nr_procs; i++)
		rst_ctx_free(t->procs[i]);
	free(t->procs);
	FREE_ALL(t->files, t->nr_files);
	FREE_ALL(t->pipe_data, t->nr_pipe_data);
	for (size_t i = 0; t->copies && i < t->nr_files; i++)
		if (t->copies[i] >= 0)
			close(t->copies[i]);
	free(t->copies);
	for (size_t i = 0; t->ghosts && i < t->nr_files; i++)
		if (t->ghosts[i] >= 0)
			close(t->ghosts[i]);
	free(t->ghosts);
	for (size_t i = 0; i < t->nr_shmem; i++)
		close(t->shmem[i].fd);
	free(t->shmem);
	img_free(t->inv ? &t->inv->base : NULL);
	if (t->xfer_local >= 0)
		close(t->xfer_local);
	if (t->dirfd >= 0)
		close(t->dirfd);
}

/* The leader first, every tid distinct and plausible, registers present and bounded. */
static bool check_threads(const TaskEntry *t)
{
	if (t->n_threads < 1 || t->n_threads > MAX_THREADS || t->threads[0]->tid != t->pid)
		return false;
	for (size_t i = 0; i < t->n_threads; i++) {
		const ThreadEntry *th = t->threads[i];

		if (!th->regs || th->tid < 1 || th->tid > (1u << 22) ||
		    arch_check_xsave_len(th->xsave.len) < 0)
			return false;
		for (size_t j = 0; j < i; j++)
			if (t->threads[j]->tid == th->tid)
				return false;
	}
	return true;
}

static int read_task(struct rst_ctx *r)
{
	ProtobufCMessage *m;
	char name[64];
	int rr;

	rr = img_read_one(r->dirfd, IMG_NAME(name, "task", r->pid), IMG_KIND__IMG_TASK,
			  &task_entry__descriptor, &m);
	if (rr < 0)
		return rr;
	r->task = (TaskEntry *)m;
	if (r->task->zombie && r->parent && r->task->n_threads <= 1 && r->task->pid == (uint32_t)r->pid)
		return 0;
	if (r->task->pid != (uint32_t)r->pid || !check_threads(r->task) ||
	    signals_check_image(r->task) < 0)
		return pr_err_ret(-EINVAL, "image '%s': is corrupt", name);
	return 0;
}

/* Read and check every image before any process exists. */
static int read_images(struct rst_tree *t)
{
	int rr;

	rr = inventory_check(t);
	if (rr == 0)
		rr = pstree_read(t);
	for (size_t i = 0; rr == 0 && i < t->nr_procs; i++)
		rr = read_task(t->procs[i]);
	if (rr == 0)
		rr = pidns_check(t);
	if (rr == 0)
		rr = shares_check(t);
	if (rr == 0)
		rr = files_prepare_tree(t);
	for (size_t i = 0; rr == 0 && i < t->nr_procs; i++) {
		if (t->procs[i]->task->zombie)
			continue;
		rr = files_prepare(t->procs[i]);
		if (rr == 0)
			rr = mm_prepare(t->procs[i]);
	}
	return rr ? rr : files_prepare_kinds(t);
}

/*
 * The socket that hands fds to puppets: every puppet inherits its other end at xfer_fd, a
 * number above all the fds the tree will have.
 */
static int make_xfer(struct rst_tree *t)
{
	int sv[2], maxfd = 2;
	struct rlimit rl;

	for (size_t i = 0; i < t->nr_procs; i++)
		for (size_t j = 0; j < t->procs[i]->nr_fds; j++)
			maxfd = MAX(maxfd, (int)t->procs[i]->fds[j]->fd);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)maxfd + 64 &&
	    rl.rlim_max >= (rlim_t)maxfd + 64) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0)
		return pr_err_errno(-errno, "can't create the fd-passing socket");
	t->xfer_local = sv[0];
	t->xfer_fd = fcntl(sv[1], F_DUPFD_CLOEXEC, maxfd + 1);
	close(sv[1]);
	if (t->xfer_fd < 0)
		return pr_err_errno(-errno, "can't place the fd-passing socket above fd %d", maxfd);
	return 0;
}

/* The puppet's first moments, in a fresh child of cryo: block everything and stop. */
static __attribute__((noreturn)) void puppet_child(void)
{
	uint64_t all = ~0ULL;

	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, NULL, sizeof(all));
	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) == 0)
		syscall(SYS_kill, syscall(SYS_getpid), SIGSTOP);
	_exit(127);
}

/* The root puppet as cryo's own child: clone3 with set_tid (Linux 5.5) gives it its pid. */
static int clone_root(struct rst_ctx *r, pid_t *ret_pid)
{
	pid_t want = r->pid, pid;
	struct clone_args ca = {
		.exit_signal = SIGCHLD,
		.set_tid = (uint64_t)(uintptr_t)&want,
		.set_tid_size = 1,
	};

	pid = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid < 0) {
		if (errno == EEXIST)
			return pr_err_ret(-EEXIST,
					  "pid %d is in use: can't restore the task with its pid: " PIDNS_HINT,
					  want);
		return pr_err_errno(-errno, "task %d: can't create", want);
	}
	if (pid == 0)
		puppet_child();
	*ret_pid = pid;
	return 0;
}

static int create_root(struct rst_ctx *r)
{
	pid_t pid;
	int status, rr;

	rr = r->tree->opts->new_pidns ? pidns_create_root(r, &pid) : clone_root(r, &pid);
	if (rr < 0)
		return rr;
	r->pup.pid = pid;
	if (waitpid(pid, &status, __WALL) < 0 || !WIFSTOPPED(status) || WSTOPSIG(status) != SIGSTOP)
		return pr_err_ret(-ECHILD, "task %d: puppet did not stop (status 0x%x)", pid, status);
	/*
	 * If cryo dies, the half-built tree dies with it. Only that: a root made by the init of
	 * a new pid namespace came with the init's PTRACE_O_TRACEFORK, which would stop its forks.
	 */
	if (ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)PTRACE_O_EXITKILL) < 0)
		return pr_err_errno(-errno, "task %d: can't set ptrace options", pid);
	r->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (r->pidfd < 0)
		return pr_err_errno(-errno, "task %d: can't open a pidfd", pid);
	return 0;
}

/*
 * Drop what the root puppet inherited from cryo (rseq registration, fds but the fd-passing
 * socket) and map a first scratch area: children are cloned from this clean state.
 */
static int clean_root(struct rst_ctx *r)
{
	struct proc_vma *vmas = NULL;
	struct cr_rseq_config rc;
	uint64_t vstart, vlen, vdso, keep = (uint64_t)r->tree->xfer_fd;
	size_t n = 0;
	long a;
	int rr;

	rr = proc_parse_smaps(r->pup.pid, &vmas, &n);
	if (rr == 0)
		rr = mm_vdso_unit(vmas, n, &vstart, &vlen, &vdso);
	proc_vmas_free(vmas, n);
	if (rr < 0)
		return pr_err_errno(rr, "task %d: can't find its vdso", r->pup.pid);
	rr = puppet_init(&r->pup, r->pup.pid, vdso, vstart + vlen - vdso);
	if (rr < 0)
		return rr;
	if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, r->pup.pid, sizeof(rc), &rc) < 0)
		return pr_err_errno(-errno, "task %d: can't read its rseq registration", r->pup.pid);
	/* glibc's rseq area is in cryo's memory, about to be unmapped. */
	if (rc.rseq_abi_pointer) {
		a = puppet_sys(&r->pup, SYS_rseq, rc.rseq_abi_pointer, rc.rseq_abi_size,
			       RSEQ_FLAG_UNREGISTER, rc.signature);
		if (a < 0)
			return pr_err_errno((int)a, "task %d: can't unregister rseq", r->pup.pid);
	}
	a = puppet_sys(&r->pup, SYS_close_range, 0, keep - 1, 0);
	if (a == 0)
		a = puppet_sys(&r->pup, SYS_close_range, keep + 1, ~0U, 0);
	if (a < 0)
		return pr_err_errno((int)a, "task %d: can't close inherited fds", r->pup.pid);
	return puppet_map_scratch(&r->pup, 0);
}

/* A process's memory: what its children inherit, when they are forked from it. */
static int rebuild_memory(struct rst_ctx *r)
{
	int rr;

	pr_info("task %d: rebuilding its memory", r->pid);
	rr = STAGE("vdso", mm_restore_vdso(r));
	if (rr == 0)
		rr = STAGE("mappings", mm_restore_vmas(r));
	if (rr == 0)
		rr = STAGE("pages", pages_restore(r));
	if (rr == 0)
		rr = STAGE("mm", mm_restore_finish(r));
	return rr;
}

/*
 * Every process of the tree, each made by its parent once the parent's memory is in place:
 * what the child inherited stays shared copy-on-write. Then sessions, groups, stops, zombies.
 */
static int create_tree(struct rst_tree *t)
{
	int rr;

	rr = create_root(t->procs[0]);
	if (rr == 0)
		rr = clean_root(t->procs[0]);
	if (rr == 0)
		rr = pstree_root_session(t->procs[0]);
	for (size_t i = 0; rr == 0 && i < t->nr_procs; i++) {
		struct rst_ctx *r = t->procs[i];

		if (r->task->zombie)
			continue;
		rr = rebuild_memory(r);
		if (rr == 0)
			rr = pstree_create_children(r);
	}
	if (rr == 0)
		rr = pstree_restore_groups(t);
	if (rr == 0)
		rr = jobctl_restore(t);
	return rr ? rr : pstree_restore_zombies(t);
}

/* Per-thread state, each thread doing its own remote syscalls. */
static int restore_threads(struct rst_ctx *r)
{
	int rr = 0;

	for (size_t i = 0; rr == 0 && i < r->task->n_threads; i++) {
		rr = task_restore_thread(THREAD_PUP(r, i), r->task->threads[i]);
		if (rr == 0)
			rr = signals_restore_thread(r, THREAD_PUP(r, i), r->task->threads[i]);
	}
	return rr;
}

static int restore_creds(struct rst_ctx *r)
{
	int rr = 0;

	for (size_t i = 0; rr == 0 && i < r->task->n_threads; i++)
		rr = task_restore_creds(r, THREAD_PUP(r, i));
	return rr == 0 ? task_restore_dumpable(r) : rr;
}

/* Final masks and registers of every thread; they run only when the whole tree is done. */
static int finish(struct rst_ctx *r)
{
	/* A shared fd table's owner, earlier in the tree, closed it there. */
	long a = r->task->files_owner ? 0
				      : puppet_sys(&r->pup, SYS_close, (uint64_t)r->tree->xfer_fd);
	int rr;

	if (a < 0)
		return pr_err_errno((int)a, "task %d: can't close the fd-passing socket", r->pid);
	rr = puppet_unmap_scratch(&r->pup);
	for (size_t i = 0; rr == 0 && i < r->task->n_threads; i++) {
		const ThreadEntry *th = r->task->threads[i];
		pid_t tid = THREAD_PUP(r, i)->pid;
		uint64_t blocked = th->blocked;

		if (ptrace(PTRACE_SETSIGMASK, tid, sizeof(blocked), &blocked) < 0)
			return pr_err_errno(-errno, "thread %d: can't set its signal mask", tid);
		rr = task_restore_affinity(tid, th, &r->tree->cpus);
		if (rr == 0)
			rr = arch_restore_thread_regs(tid, th);
	}
	return rr;
}

static int rebuild(struct rst_ctx *r)
{
	int rr;

	pr_info("task %d: rebuilding the rest", r->pid);
	rr = STAGE("fds", files_restore(r));
	if (rr == 0)
		rr = STAGE("task", task_restore_misc(r));
	if (rr == 0)
		rr = STAGE("create threads", threads_restore_create(r));
	if (rr == 0)
		rr = STAGE("timers", timers_restore(r));
	if (rr == 0)
		rr = STAGE("signals", signals_restore(r));
	if (rr == 0)
		rr = STAGE("threads", restore_threads(r));
	if (rr == 0)
		rr = pstree_drain_sigchld(r);
	if (rr == 0)
		rr = jobctl_restore_reports(r);
	if (rr == 0)
		rr = STAGE("pending signals", signals_restore_pending(r));
	if (rr == 0)
		rr = STAGE("creds", restore_creds(r));
	if (rr == 0)
		rr = STAGE("finish", finish(r));
	return rr;
}

/* Let every thread of every process go: no thread ran before all had their registers. */
static int detach_all(struct rst_tree *t)
{
	for (size_t p = 0; p < t->nr_procs; p++) {
		struct rst_ctx *r = t->procs[p];

		for (size_t i = 0; !r->task->zombie && i < r->task->n_threads; i++)
			if (ptrace(PTRACE_DETACH, THREAD_PUP(r, i)->pid, NULL, NULL) < 0)
				return pr_err_errno(-errno, "thread %d: can't detach",
						    THREAD_PUP(r, i)->pid);
	}
	return 0;
}

/* Nothing half-restored stays behind: kill every puppet, reap every traced thread. */
static void kill_tree(struct rst_tree *t)
{
	for (size_t p = 0; p < t->nr_procs; p++)
		if (t->procs[p]->pup.pid > 0)
			kill(t->procs[p]->pup.pid, SIGKILL);
	for (size_t p = t->nr_procs; p-- > 0;) {
		struct rst_ctx *r = t->procs[p];

		for (size_t i = 0; i < r->nr_others; i++)
			waitpid(r->others[i].pid, NULL, __WALL);
		if (r->pup.pid > 0)
			waitpid(r->pup.pid, NULL, __WALL);
	}
}

/*
 * A remote syscall is a ptrace round trip between cryo and the puppet, four times cheaper
 * when both are on one CPU (12 against 51 us measured on a 2-CPU VM, where waking a task on
 * another CPU is an interprocessor interrupt). cryo keeps to the CPU it is on while it
 * builds the tree; the puppets inherit that, and each thread gets its own affinity back in
 * finish(). 0, or -errno when cryo's affinity can't be read (nothing is pinned then).
 */
static int pin_cpu(struct rst_tree *t)
{
	cpu_set_t one;
	int cpu = sched_getcpu();

	if (sched_getaffinity(0, sizeof(t->cpus), &t->cpus) < 0)
		return pr_err_errno(-errno, "can't read cryo's CPU affinity");
	CPU_ZERO(&one);
	if (cpu >= 0 && cpu < CPU_SETSIZE) {
		CPU_SET(cpu, &one);
		if (sched_setaffinity(0, sizeof(one), &one) < 0)
			pr_debug("can't keep to CPU %d: %s", cpu, strerror(errno));
	}
	return 0;
}

int cr_restore(const struct cr_restore_opts *opts, pid_t *ret_pid, pid_t *ret_child,
	       struct cr_stats *stats)
{
	struct rst_tree t = { .opts = opts, .xfer_local = -1, .xfer_fd = -1 };
	int rr;

	t.dirfd = open(opts->images_dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (t.dirfd < 0)
		return pr_err_errno(-errno, "images dir '%s': can't open", opts->images_dir);
	rr = STAGE("read images", read_images(&t));
	if (rr == 0)
		rr = pin_cpu(&t);
	if (rr == 0)
		rr = make_xfer(&t);
	if (rr == 0)
		rr = STAGE("create", create_tree(&t));
	for (size_t i = 0; rr == 0 && i < t.nr_procs; i++)
		rr = t.procs[i]->task->zombie ? 0 : rebuild(t.procs[i]);
	if (rr == 0)
		rr = detach_all(&t);
	if (t.xfer_fd >= 0)
		close(t.xfer_fd);
	if (CPU_COUNT(&t.cpus))
		sched_setaffinity(0, sizeof(t.cpus), &t.cpus);
	/* The init, made while cryo kept to one CPU, may run where cryo may. */
	if (rr == 0 && t.init_pid > 0 && CPU_COUNT(&t.cpus))
		sched_setaffinity(t.init_pid, sizeof(t.cpus), &t.cpus);
	if (rr < 0 && t.init_pid > 0)
		pidns_kill(&t);
	else if (rr < 0)
		kill_tree(&t);
	if (rr == 0) {
		*ret_pid = t.procs[0]->pup.pid;
		*ret_child = t.init_pid ? t.init_pid : *ret_pid;
		stats->pages_restored = t.pages_restored;
	}
	rst_tree_free(&t);
	return rr;
}
