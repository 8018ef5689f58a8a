/* SPDX-License-Identifier: MIT */
/* Freezing a process, every thread of it, for dump and letting it go again. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/internal.h"

/* Signal-delivery stops to pass through before the interrupt stop shows up. */
#define SEIZE_MAX_SIGNALS 64
/* Passes over /proc/PID/task before a process that keeps making threads is refused. */
#define SEIZE_MAX_PASSES 64

/*
 * A thread in a group stop (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU) reports PTRACE_EVENT_STOP with
 * the stop signal, not SIGTRAP, and the stop trap of the PTRACE_SEIZE that found it stopped
 * comes before the one of PTRACE_INTERRUPT, still pending: the first resume would only meet
 * it. Interrupt again (one pending trap at most) and resume, so that the thread takes that
 * trap and nothing is left pending for the remote syscalls. The thread runs no instruction:
 * the trap is taken in the kernel's signal loop, before any return to user space.
 */
static int settle_stopped(pid_t tid)
{
	int status;

	if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0 ||
	    ptrace(PTRACE_CONT, tid, NULL, NULL) < 0 || waitpid(tid, &status, __WALL) < 0)
		return -errno;
	if (!WIFSTOPPED(status))
		return -ESRCH;
	return (status >> 16) == PTRACE_EVENT_STOP ? 0 : -EPROTO;
}

/*
 * Seize one thread: 0, or -ESRCH if it is gone already (a thread that just exited). The signal
 * of the group stop it is in goes to *ret_stop_sig, 0 if it was not stopped.
 */
static int seize_thread(pid_t pid, pid_t tid, int *ret_stop_sig)
{
	int status;

	if (ptrace(PTRACE_SEIZE, tid, NULL, (void *)PTRACE_O_EXITKILL) < 0) {
		if (errno == ESRCH)
			return -ESRCH;
		return pr_err_errno(-errno, "task %d: thread %d: can't seize", pid, tid);
	}
	if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0)
		goto fail;
	for (int i = 0; i < SEIZE_MAX_SIGNALS; i++) {
		if (waitpid(tid, &status, __WALL) < 0)
			goto fail;
		if (!WIFSTOPPED(status))
			return -ESRCH;
		/* The interrupt, or a group stop, reports PTRACE_EVENT_STOP. */
		if ((status >> 16) == PTRACE_EVENT_STOP) {
			int r = 0;

			*ret_stop_sig = WSTOPSIG(status) == SIGTRAP ? 0 : WSTOPSIG(status);
			if (*ret_stop_sig) {
				pr_info("task %d: thread %d is stopped by signal %d", pid, tid,
					*ret_stop_sig);
				r = settle_stopped(tid);
			}
			if (r == 0)
				return 0;
			errno = -r;
			goto fail;
		}
		/* A signal caught on the way: deliver it and wait for the interrupt again. */
		if (ptrace(PTRACE_CONT, tid, NULL, (void *)(long)WSTOPSIG(status)) < 0)
			goto fail;
	}
	errno = EBUSY;
fail:
	status = -errno;
	ptrace(PTRACE_DETACH, tid, NULL, NULL);
	if (status == -ESRCH)
		return status;
	return pr_err_errno(status, "task %d: thread %d: can't freeze", pid, tid);
}

static bool listed(const pid_t *tids, size_t n, pid_t tid)
{
	for (size_t i = 0; i < n; i++)
		if (tids[i] == tid)
			return true;
	return false;
}

/* One pass over /proc/PID/task: seize the threads not seized yet; how many were new. */
static int seize_new_threads(pid_t pid, pid_t **tids, size_t *n)
{
	int stop_sig;
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	char path[64];
	int added = 0, r;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return errno == ENOENT ? pr_err_ret(-ESRCH, "task %d: no such process", pid) :
					 pr_err_errno(-errno, "task %d: can't list threads", pid);
	while ((de = readdir(d))) {
		uint64_t tid;

		if (parse_u64(de->d_name, 10, &tid) < 0 || listed(*tids, *n, (pid_t)tid))
			continue;
		if (*n >= MAX_THREADS)
			return pr_err_ret(-E2BIG, "task %d: more than %d threads", pid, MAX_THREADS);
		r = seize_thread(pid, (pid_t)tid, &stop_sig);
		if (r == -ESRCH && (pid_t)tid != pid)
			continue;
		if (r < 0)
			return r == -ESRCH ? pr_err_ret(r, "task %d: no such process", pid) : r;
		*tids = xrealloc_array(*tids, *n + 1, sizeof(**tids));
		(*tids)[(*n)++] = (pid_t)tid;
		added++;
	}
	return added;
}

int task_seize(pid_t pid, pid_t **ret_tids, size_t *ret_n, int *ret_stop_sig)
{
	pid_t *tids = NULL;
	size_t n = 0;
	int r, stop_sig;

	/* The leader first: it serves the process-wide remote syscalls. */
	r = seize_thread(pid, pid, &stop_sig);
	if (r < 0) {
		if (r == -ESRCH)
			pr_err("task %d: no such process", pid);
		return r;
	}
	tids = xmalloc(sizeof(*tids));
	tids[n++] = pid;
	/* Threads can start threads until every thread is stopped: list again until quiet. */
	for (int pass = 0; pass < SEIZE_MAX_PASSES; pass++) {
		r = seize_new_threads(pid, &tids, &n);
		if (r <= 0)
			break;
	}
	if (r > 0)
		r = pr_err_ret(-EBUSY, "task %d: keeps creating threads", pid);
	if (r < 0) {
		task_unseize(tids, n);
		free(tids);
		return r;
	}
	*ret_tids = tids;
	*ret_n = n;
	*ret_stop_sig = stop_sig;
	return 0;
}

/*
 * A thread of a stopped process needs nothing more: detaching puts it back in the group stop
 * (__ptrace_unlink sets JOBCTL_STOP_PENDING while SIGNAL_STOP_STOPPED holds), without a new
 * notification to its parent, and it stays stopped until a SIGCONT.
 */
void task_unseize(const pid_t *tids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ptrace(PTRACE_DETACH, tids[i], NULL, NULL) < 0 && errno != ESRCH)
			pr_warn("thread %d: can't detach: %s", tids[i], strerror(errno));
}
