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
 * puppet_clone adds CLONE_PTRACE: the new thread stops before it runs a single instruction of
 * its own, and its registers are set before it does.
 */
#define THREAD_FLAGS                                                                               \
	(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM)

int threads_restore_create(struct rst_ctx *r)
{
	size_t n = r->task->n_threads;

	r->others = xcalloc(n, sizeof(*r->others));
	for (size_t i = 1; i < n; i++) {
		int rr = puppet_clone(&r->pup, (pid_t)r->task->threads[i]->tid, THREAD_FLAGS, 0,
				      r->tree->opts->new_pidns, &r->others[i - 1]);

		if (rr < 0)
			return rr;
		r->nr_others = i;
		if (r->task->stop_signal) {
			rr = jobctl_settle_thread(r->others[i - 1].pid);
			if (rr < 0)
				return rr;
		}
	}
	return 0;
}
