/* SPDX-License-Identifier: MIT */
/* Restore by the puppet model: only the sequencing of stages lives here. */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common/log.h"
#include "common/missing.h"
#include "common/util.h"
#include "engine/internal.h"

static void rst_ctx_free(struct rst_ctx *r)
{
#define FREE_ALL(arr, n)                                                                           \
	do {                                                                                       \
		for (size_t _i = 0; _i < (n); _i++)                                                \
			img_free(&(arr)[_i]->base);                                                \
		free(arr);                                                                         \
	} while (0)
	FREE_ALL(r->vmas, r->nr_vmas);
	FREE_ALL(r->pagemap, r->nr_pagemap);
	FREE_ALL(r->files, r->nr_files);
	FREE_ALL(r->fds, r->nr_fds);
	FREE_ALL(r->pipe_data, r->nr_pipe_data);
#undef FREE_ALL
	img_free(r->inv ? &r->inv->base : NULL);
	img_free(r->task ? &r->task->base : NULL);
	img_free(r->mm ? &r->mm->base : NULL);
	free(r->file_fds);
	free(r->others);
	if (r->pidfd >= 0)
		close(r->pidfd);
	if (r->dirfd >= 0)
		close(r->dirfd);
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

/* Read and check every image before any process exists. */
static int read_images(struct rst_ctx *r)
{
	ProtobufCMessage *m;
	char name[64];
	int rr;

	rr = inventory_check(r);
	if (rr < 0)
		return rr;
	rr = img_read_one(r->dirfd, IMG_NAME(name, "task", (int)r->inv->root_pid), IMG_KIND__IMG_TASK,
			  &task_entry__descriptor, &m);
	if (rr < 0)
		return rr;
	r->task = (TaskEntry *)m;
	if (r->task->pid != r->inv->root_pid || !check_threads(r->task) ||
	    signals_check_image(r->task) < 0)
		return pr_err_ret(-EINVAL, "image '%s': is corrupt", name);
	rr = files_prepare(r);
	if (rr == 0)
		rr = mm_prepare(r);
	return rr;
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

static int create_puppet(struct rst_ctx *r)
{
	pid_t want = (pid_t)r->task->pid, pid;
	struct clone_args ca = {
		.exit_signal = SIGCHLD,
		.set_tid = (uint64_t)(uintptr_t)&want,
		.set_tid_size = 1,
	};
	int status;

	/* clone3 with set_tid (Linux 5.5) gives the puppet its dumped pid. */
	pid = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid < 0) {
		if (errno == EEXIST)
			return pr_err_ret(-EEXIST, "pid %d is in use: can't restore the task with its pid",
					  want);
		return pr_err_errno(-errno, "task %d: can't create", want);
	}
	if (pid == 0)
		puppet_child();
	r->pup.pid = pid;
	if (waitpid(pid, &status, __WALL) < 0 || !WIFSTOPPED(status) || WSTOPSIG(status) != SIGSTOP)
		return pr_err_ret(-ECHILD, "task %d: puppet did not stop (status 0x%x)", pid, status);
	/* If cryo dies, the half-built task dies with it. */
	if (ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)PTRACE_O_EXITKILL) < 0)
		return pr_err_errno(-errno, "task %d: can't set ptrace options", pid);
	r->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (r->pidfd < 0)
		return pr_err_errno(-errno, "task %d: can't open a pidfd", pid);
	return 0;
}

/* Drop what the puppet inherited from cryo: rseq registration and fds. */
static int clean_puppet(struct rst_ctx *r)
{
	struct proc_vma *vmas = NULL;
	struct cr_rseq_config rc;
	uint64_t vstart, vlen, vdso;
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
	a = puppet_sys(&r->pup, SYS_close_range, 0, ~0U, 0);
	if (a < 0)
		return pr_err_errno((int)a, "task %d: can't close inherited fds", r->pup.pid);
	return 0;
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

/* Final masks and registers of every thread, then let them all go. */
static int finish(struct rst_ctx *r)
{
	int rr;

	rr = puppet_unmap_scratch(&r->pup);
	for (size_t i = 0; rr == 0 && i < r->task->n_threads; i++) {
		const ThreadEntry *th = r->task->threads[i];
		pid_t tid = THREAD_PUP(r, i)->pid;
		uint64_t blocked = th->blocked;

		if (ptrace(PTRACE_SETSIGMASK, tid, sizeof(blocked), &blocked) < 0)
			return pr_err_errno(-errno, "thread %d: can't set its signal mask", tid);
		rr = arch_restore_thread_regs(tid, th);
	}
	/* No thread runs before every one has its registers: signals between them stay queued. */
	for (size_t i = 0; rr == 0 && i < r->task->n_threads; i++)
		if (ptrace(PTRACE_DETACH, THREAD_PUP(r, i)->pid, NULL, NULL) < 0)
			return pr_err_errno(-errno, "thread %d: can't detach", THREAD_PUP(r, i)->pid);
	return rr;
}

static int rebuild(struct rst_ctx *r)
{
	int rr;

	rr = STAGE("clean puppet", clean_puppet(r));
	if (rr == 0)
		rr = STAGE("vdso", mm_restore_vdso(r));
	if (rr == 0)
		rr = STAGE("mappings", mm_restore_vmas(r));
	if (rr == 0)
		rr = STAGE("pages", pages_restore(r));
	if (rr == 0)
		rr = STAGE("mm", mm_restore_finish(r));
	if (rr == 0)
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
		rr = STAGE("pending signals", signals_restore_pending(r));
	if (rr == 0)
		rr = STAGE("creds", restore_creds(r));
	if (rr == 0)
		rr = STAGE("finish", finish(r));
	return rr;
}

int cr_restore(const struct cr_restore_opts *opts, pid_t *ret_pid, struct cr_stats *stats)
{
	struct rst_ctx r = { .opts = opts, .pidfd = -1 };
	int rr;

	r.dirfd = open(opts->images_dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (r.dirfd < 0)
		return pr_err_errno(-errno, "images dir '%s': can't open", opts->images_dir);
	rr = STAGE("read images", read_images(&r));
	if (rr == 0)
		rr = STAGE("create", create_puppet(&r));
	if (rr == 0)
		rr = rebuild(&r);
	if (rr < 0 && r.pup.pid > 0) {
		/* Nothing half-restored stays behind: each thread is our tracee, reap them all. */
		kill(r.pup.pid, SIGKILL);
		for (size_t i = 0; i < r.nr_others; i++)
			waitpid(r.others[i].pid, NULL, __WALL);
		waitpid(r.pup.pid, NULL, __WALL);
	}
	if (rr == 0) {
		*ret_pid = r.pup.pid;
		stats->pages_restored = r.pages_restored;
	}
	rst_ctx_free(&r);
	return rr;
}
