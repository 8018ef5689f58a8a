/* SPDX-License-Identifier: MIT */
/*
 * Pid namespaces at restore: the check that the image's pids are free here, and the new pid
 * namespace of --new-pidns, where they are, with an init of cryo's.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/internal.h"

/* Bound of a /proc/PID/task/TID/children text read whole. */
#define CHILDREN_MAX (1u << 20)

/* Pid or tid @id of task @r must be free here: if not, say who holds it. */
static int check_free(const struct rst_ctx *r, pid_t id)
{
	_cleanup_free_ char *comm = NULL;
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/comm", id);
	if (read_file_at(AT_FDCWD, path, 64, &comm, NULL) < 0)
		return 0;
	comm[strcspn(comm, "\n")] = '\0';
	return pr_err_ret(-EEXIST, "task %d: %s %d is in use by '%s': " PIDNS_HINT, r->pid,
			  id == r->pid ? "pid" : "tid", id, comm);
}

/* In a new namespace every pid is free, but for 1, its init's. */
static int check_not_init(const struct rst_ctx *r, pid_t id)
{
	if (id != 1)
		return 0;
	return pr_err_ret(-EEXIST, "task %d: has pid 1, the init's in a new pid namespace: restore it without --new-pidns",
			  r->pid);
}

int pidns_check(const struct rst_tree *t)
{
	for (size_t p = 0; p < t->nr_procs; p++) {
		const struct rst_ctx *r = t->procs[p];
		size_t n = MAX(r->task->n_threads, 1);

		for (size_t i = 0; i < n; i++) {
			pid_t id = i ? (pid_t)r->task->threads[i]->tid : r->pid;
			int rr = t->opts->new_pidns ? check_not_init(r, id) : check_free(r, id);

			if (rr < 0)
				return rr;
		}
	}
	return 0;
}

/* A wait status as the exit status a shell gives it. */
static int exit_status(int ws)
{
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

/*
 * The init at work, every signal blocked: it reaps whatever becomes its child (the kernel
 * gives it the tree's orphans), hands every other signal it gets on to the root, as a
 * container's init does, and leaves with the root's exit status when the root ends. Its
 * exit kills what is left in the namespace.
 */
static __attribute__((noreturn)) void init_loop(pid_t root)
{
	sigset_t all;
	int ws;

	sigfillset(&all);
	for (;;) {
		int sig = sigwaitinfo(&all, NULL);
		pid_t w;

		if (sig > 0 && sig != SIGCHLD)
			kill(root, sig);
		while ((w = waitpid(-1, &ws, WNOHANG)) > 0)
			if (w == root)
				_exit(exit_status(ws));
	}
}

/*
 * The init, pid 1 of the new namespace, a copy of cryo traced by it: it makes the root with
 * its pid there, then keeps none of cryo's fds. Errors leave as its exit status.
 */
static __attribute__((noreturn)) void init_main(pid_t root, int keep)
{
	struct clone_args ca = {
		.exit_signal = SIGCHLD,
		.set_tid = (uint64_t)(uintptr_t)&root,
		.set_tid_size = 1,
	};
	uint64_t all = ~0ULL;
	long pid;

	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, NULL, sizeof(all));
	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0)
		_exit(errno);
	/* An init ignores the signals it has no handler for, but not as a tracee. */
	syscall(SYS_kill, 1, SIGSTOP);
	/* The root inherits the fd-passing socket and nothing else of cryo's. */
	syscall(SYS_close_range, 0, keep - 1, 0);
	syscall(SYS_close_range, keep + 1, ~0U, 0);
	/* set_tid of one entry sets the pid in the innermost namespace, the new one. */
	pid = syscall(SYS_clone3, &ca, sizeof(ca));
	/* Traced from birth (PTRACE_O_TRACEFORK), the root stops before it runs a thing. */
	if (pid == 0)
		_exit(127);
	if (pid < 0)
		_exit(errno);
	close(keep);
	if (chdir("/") < 0)
		_exit(errno);
	init_loop(root);
}

/* The init ended or stopped other than at the fork of the root; -1 if it was not seen. */
static int init_failed(struct rst_ctx *root, int ws)
{
	struct rst_tree *t = root->tree;

	/* Reaped already: nothing for pidns_kill() to kill. */
	if (WIFEXITED(ws) || WIFSIGNALED(ws))
		t->init_pid = 0;
	if (WIFEXITED(ws) && WEXITSTATUS(ws))
		return pr_err_errno(-WEXITSTATUS(ws),
				    "task %d: the init of its pid namespace can't create it", root->pid);
	return pr_err_ret(-ECHILD, "task %d: the init of its pid namespace did not make it (status 0x%x)",
			  root->pid, ws);
}

/* The init, stopped by itself and then run on with the fork of the root reported to cryo. */
static int start_init(struct rst_ctx *root)
{
	struct clone_args ca = { .flags = CLONE_NEWPID, .exit_signal = SIGCHLD };
	struct rst_tree *t = root->tree;
	long opts = PTRACE_O_TRACEFORK | PTRACE_O_EXITKILL;
	int ws = -1;
	pid_t pid;

	/* CLONE_NEWPID: the child is pid 1 of a new namespace (Linux 2.6.24). */
	pid = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid < 0)
		return pr_err_errno(-errno, "task %d: can't create a pid namespace for it",
				    root->pid);
	if (pid == 0)
		init_main(root->pid, t->xfer_fd);
	t->init_pid = pid;
	if (waitpid(pid, &ws, __WALL) < 0 || !WIFSTOPPED(ws))
		return init_failed(root, ws);
	/* EXITKILL: if cryo dies now, the init does, and the whole namespace with it. */
	if (ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)opts) < 0 ||
	    ptrace(PTRACE_CONT, pid, NULL, NULL) < 0)
		return pr_err_errno(-errno, "task %d: can't trace init %d of its pid namespace",
				    root->pid, pid);
	return 0;
}

int pidns_create_root(struct rst_ctx *root, pid_t *ret_pid)
{
	pid_t init;
	unsigned long msg;
	int ws = -1, rr;

	rr = start_init(root);
	if (rr < 0)
		return rr;
	init = root->tree->init_pid;
	if (waitpid(init, &ws, __WALL) < 0 || ws >> 8 != (SIGTRAP | PTRACE_EVENT_FORK << 8))
		return init_failed(root, ws);
	/* The fork event's message is the child's pid in the tracer's namespace (Linux 2.6.24). */
	if (ptrace(PTRACE_GETEVENTMSG, init, NULL, &msg) < 0)
		return pr_err_errno(-errno, "task %d: can't learn its pid from init %d", root->pid,
				    init);
	/* The root is cryo's tracee now; the init goes on by itself. */
	if (ptrace(PTRACE_DETACH, init, NULL, NULL) < 0)
		return pr_err_errno(-errno, "task %d: can't let init %d go", root->pid, init);
	pr_info("task %d: in a new pid namespace as pid %lu here, its init %d", root->pid, msg,
		init);
	*ret_pid = (pid_t)msg;
	return 0;
}

void pidns_kill(struct rst_tree *t)
{
	/* The kernel kills every task of the namespace when its init dies (Linux 2.6.24). */
	kill(t->init_pid, SIGKILL);
	/*
	 * The init's end waits for every task there to be reaped, cryo's tracees among them,
	 * which only cryo can release, known to it or not: reap everything until none is left.
	 */
	while (waitpid(-1, NULL, __WALL) > 0 || errno == EINTR)
		;
}

/* Is task @pid here task @id in the new namespace? The last field of NSpid says. */
static bool is_nspid(pid_t pid, pid_t id)
{
	struct proc_status st;
	bool yes;

	if (proc_parse_status(pid, &st) < 0)
		return false;
	yes = st.nspid == id;
	proc_status_free(&st);
	return yes;
}

static int find_child(pid_t maker, pid_t id, pid_t *ret_pid)
{
	_cleanup_free_ char *buf = NULL;
	char path[64], *save = NULL;
	int rr;

	/* The leader made the child: it is in its thread's list (Linux 3.5). */
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", maker, maker);
	rr = read_file_at(AT_FDCWD, path, CHILDREN_MAX, &buf, NULL);
	if (rr < 0)
		return pr_err_errno(rr, "task %d: can't list its children", maker);
	for (char *tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
		uint64_t pid;

		if (parse_u64(tok, 10, &pid) == 0 && pid <= INT32_MAX && is_nspid((pid_t)pid, id)) {
			*ret_pid = (pid_t)pid;
			return 0;
		}
	}
	return pr_err_ret(-ESRCH, "task %d: its new child %d is not among its children", maker, id);
}

static int find_thread(pid_t maker, pid_t id, pid_t *ret_pid)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/task", maker);
	d = opendir(path);
	if (!d)
		return pr_err_errno(-errno, "task %d: can't list '%s'", maker, path);
	while ((de = readdir(d))) {
		uint64_t tid;

		if (parse_u64(de->d_name, 10, &tid) == 0 && tid <= INT32_MAX &&
		    is_nspid((pid_t)tid, id)) {
			*ret_pid = (pid_t)tid;
			return 0;
		}
	}
	return pr_err_ret(-ESRCH, "task %d: its new thread %d is not among its threads", maker, id);
}

int pidns_host_pid(pid_t maker, pid_t id, bool thread, pid_t *ret_pid)
{
	int rr = thread ? find_thread(maker, id, ret_pid) : find_child(maker, id, ret_pid);

	if (rr == 0)
		pr_info("task %d: %s %d is %d here", maker, thread ? "thread" : "child", id, *ret_pid);
	return rr;
}
