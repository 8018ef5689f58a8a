/* SPDX-License-Identifier: MIT */
/* Threads of a restored process: made by the leader itself, each with its dumped tid. */
#include <errno.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/internal.h"

/*
 * CLONE_PTRACE makes the new thread cryo's tracee from birth, with SIGSTOP pending: it stops
 * before it runs a single instruction of its own, and its registers are set before it does.
 */
#define THREAD_FLAGS                                                                               \
	(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |        \
	 CLONE_PTRACE)

static int create_thread(struct rst_ctx *r, pid_t tid, struct puppet *ret)
{
	struct clone_args ca = { .flags = THREAD_FLAGS, .set_tid_size = 1 };
	uint64_t tid_addr, ca_addr;
	int status, rr;
	long got;

	rr = puppet_put(&r->pup, 256, &tid, sizeof(tid), &tid_addr);
	if (rr < 0)
		return rr;
	ca.set_tid = tid_addr;
	rr = puppet_put(&r->pup, 0, &ca, sizeof(ca), &ca_addr);
	if (rr < 0)
		return rr;
	got = puppet_sys(&r->pup, SYS_clone3, ca_addr, sizeof(ca));
	if (got == -EEXIST)
		return pr_err_ret(-EEXIST, "task %d: tid %d is in use: can't restore the thread",
				  r->pup.pid, tid);
	if (got < 0)
		return pr_err_errno((int)got, "task %d: can't create thread %d", r->pup.pid, tid);
	if (waitpid(tid, &status, __WALL) < 0 || !WIFSTOPPED(status) || WSTOPSIG(status) != SIGSTOP)
		return pr_err_ret(-ECHILD, "task %d: thread %d did not stop (status 0x%x)", r->pup.pid,
				  tid, status);
	if (r->task->stop_signal) {
		rr = jobctl_settle_thread(tid);
		if (rr < 0)
			return rr;
	}
	return puppet_init_thread(ret, tid, &r->pup);
}

int threads_restore_create(struct rst_ctx *r)
{
	size_t n = r->task->n_threads;

	r->others = xcalloc(n, sizeof(*r->others));
	for (size_t i = 1; i < n; i++) {
		int rr = create_thread(r, (pid_t)r->task->threads[i]->tid, &r->others[i - 1]);

		if (rr < 0)
			return rr;
		r->nr_others = i;
	}
	return 0;
}
