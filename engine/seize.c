/* SPDX-License-Identifier: MIT */
/* Freezing a task for dump and letting it go again. */
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

int task_seize(pid_t pid)
{
	int status;

	if (ptrace(PTRACE_SEIZE, pid, NULL, (void *)PTRACE_O_EXITKILL) < 0) {
		if (errno == ESRCH)
			return pr_err_ret(-ESRCH, "task %d: no such process", pid);
		return pr_err_errno(-errno, "task %d: can't seize", pid);
	}
	if (ptrace(PTRACE_INTERRUPT, pid, NULL, NULL) < 0)
		goto fail;
	for (int i = 0; i < SEIZE_MAX_SIGNALS; i++) {
		if (waitpid(pid, &status, __WALL) < 0)
			goto fail;
		if (!WIFSTOPPED(status)) {
			errno = ESRCH;
			goto fail;
		}
		/* The interrupt (or a group stop) reports PTRACE_EVENT_STOP. */
		if ((status >> 16) == PTRACE_EVENT_STOP) {
			if (WSTOPSIG(status) != SIGTRAP) {
				ptrace(PTRACE_DETACH, pid, NULL, NULL);
				return pr_err_ret(-EOPNOTSUPP,
						  "task %d: is stopped by signal %d: dumping a stopped task is not supported yet",
						  pid, WSTOPSIG(status));
			}
			return 0;
		}
		/* A signal caught on the way: deliver it and wait for the interrupt again. */
		if (ptrace(PTRACE_CONT, pid, NULL, (void *)(long)WSTOPSIG(status)) < 0)
			goto fail;
	}
	errno = EBUSY;
fail:
	status = -errno;
	ptrace(PTRACE_DETACH, pid, NULL, NULL);
	return pr_err_errno(status, "task %d: can't freeze", pid);
}

int task_unseize(pid_t pid)
{
	if (ptrace(PTRACE_DETACH, pid, NULL, NULL) < 0)
		return pr_err_errno(-errno, "task %d: can't detach", pid);
	return 0;
}

static int count_dir(const char *path, int *ret_first_other, pid_t self)
{
	_cleanup_closedir_ DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		n++;
		if (atoi(de->d_name) != self)
			*ret_first_other = atoi(de->d_name);
	}
	return n;
}

int task_check_supported(pid_t pid)
{
	_cleanup_free_ char *children = NULL;
	char path[64];
	int other = 0, n;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	n = count_dir(path, &other, pid);
	if (n < 0)
		return pr_err_errno(n, "task %d: can't list threads", pid);
	if (n > 1)
		return pr_err_ret(-EOPNOTSUPP,
				  "task %d: has %d threads (thread %d): multi-threaded processes are not supported yet",
				  pid, n, other);
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", pid, pid);
	n = read_file_at(AT_FDCWD, path, 1 << 20, &children, NULL);
	if (n < 0)
		return pr_err_errno(n, "task %d: can't list children", pid);
	if (children[0])
		return pr_err_ret(-EOPNOTSUPP,
				  "task %d: has child process %d: process trees are not supported yet",
				  pid, atoi(children));
	return 0;
}
