/* SPDX-License-Identifier: MIT */
/*
 * Job-control stops: a process in a group stop (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU) at dump
 * is in one again after restore, having run no instruction, until a SIGCONT.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/internal.h"

/* waitid(P_PID, @pid, WSTOPPED | WNOHANG | @flags) in @p: whether a stop of @pid was reported. */
static int wait_stop(struct puppet *p, pid_t pid, int flags, bool *ret_reported)
{
	siginfo_t si;
	uint64_t info_addr;
	long a;
	int r;

	memset(&si, 0, sizeof(si));
	r = puppet_put(p, 0, &si, sizeof(si), &info_addr);
	if (r < 0)
		return r;
	a = puppet_sys(p, SYS_waitid, P_PID, (uint64_t)pid, info_addr,
		       (uint64_t)(WSTOPPED | WNOHANG | flags), 0);
	if (a < 0)
		return pr_err_errno((int)a, "task %d: can't look for the stop of child %d", p->pid,
				    pid);
	r = puppet_get(p, 0, &si, sizeof(si));
	if (r < 0)
		return r;
	*ret_reported = si.si_pid == pid && si.si_code == CLD_STOPPED;
	return 0;
}

int jobctl_dump(struct dump_ctx *d)
{
	struct dump_tree *t = d->tree;

	/*
	 * The wait report of a group stop is there for the real parent until it takes it, even
	 * while cryo traces the child: WNOWAIT looks without taking it.
	 */
	for (size_t i = 0; i < t->nr_procs; i++) {
		struct dump_ctx *c = t->procs[i];
		bool reported;
		int r;

		if (c->parent != d || !c->stop_sig)
			continue;
		r = wait_stop(&d->pup, c->pid, WNOWAIT, &reported);
		if (r < 0)
			return r;
		c->stop_waited = !reported;
	}
	return 0;
}

/* Put the puppet of @r, single-threaded still and in a signal-delivery stop, in a group stop. */
static int restore_stop(struct rst_ctx *r)
{
	int status;

	pr_info("task %d: was stopped by signal %u: stopping it", r->pid, r->task->stop_signal);
	/*
	 * SIGSTOP whatever the signal was: SIGTSTP and the others are dropped in an orphaned
	 * process group, and then the puppet would run. Injected as the signal delivered now, it
	 * starts the group stop at once; as cryo traces the puppet, the stop is a ptrace stop in
	 * which remote syscalls still work, and detaching leaves the process stopped.
	 */
	if (ptrace(PTRACE_CONT, r->pup.pid, NULL, (void *)(long)SIGSTOP) < 0)
		return pr_err_errno(-errno, "task %d: can't stop it", r->pid);
	if (waitpid(r->pup.pid, &status, __WALL) < 0 || !WIFSTOPPED(status) ||
	    WSTOPSIG(status) != SIGSTOP)
		return pr_err_ret(-ECHILD, "task %d: did not stop (status 0x%x)", r->pid, status);
	return 0;
}

int jobctl_restore(struct rst_tree *t)
{
	int rr = 0;

	for (size_t i = 0; rr == 0 && i < t->nr_procs; i++)
		if (!t->procs[i]->task->zombie && t->procs[i]->task->stop_signal)
			rr = restore_stop(t->procs[i]);
	return rr;
}

int jobctl_restore_reports(struct rst_ctx *r)
{
	/* Stopping a child again made a new wait report: take it where the parent had. */
	for (size_t i = 0; i < r->tree->nr_procs; i++) {
		const struct rst_ctx *c = r->tree->procs[i];
		bool reported;
		int rr;

		if (c->parent != r || !c->task->stop_signal || !c->task->stop_waited)
			continue;
		rr = wait_stop(&r->pup, c->pid, 0, &reported);
		if (rr < 0)
			return rr;
		if (!reported)
			return pr_err_ret(-ECHILD, "task %d: no stop of child %d to take", r->pid,
					  c->pid);
	}
	return 0;
}

int jobctl_settle_thread(pid_t tid)
{
	siginfo_t si;
	int status;

	/*
	 * A thread made in a stopped process joins the group stop (task_join_group_stop) and
	 * reports that first; the SIGSTOP that CLONE_PTRACE queued for it comes next. Take that
	 * one too, or the first remote syscall would meet it. PTRACE_GETSIGINFO fails with
	 * EINVAL in a group stop only.
	 */
	if (ptrace(PTRACE_GETSIGINFO, tid, NULL, &si) == 0)
		return 0;
	if (errno != EINVAL)
		return pr_err_errno(-errno, "thread %d: can't read its stop", tid);
	if (ptrace(PTRACE_CONT, tid, NULL, NULL) < 0)
		return pr_err_errno(-errno, "thread %d: can't resume it from the group stop", tid);
	if (waitpid(tid, &status, __WALL) < 0 || !WIFSTOPPED(status) || WSTOPSIG(status) != SIGSTOP)
		return pr_err_ret(-ECHILD, "thread %d: did not stop (status 0x%x)", tid, status);
	return 0;
}
