/* SPDX-License-Identifier: MIT */
/*
 * Siblings on one fd table that their parent has left: the root R clones A and B with
 * CLONE_FILES, then unshare(CLONE_FILES) gives R a copy of its own. A clone can share only
 * its parent's table, so the restore could not rebuild this: the dump must fail with an
 * error and leave the three running as they were. After SIGUSR2, kcmp(KCMP_FILES) must still
 * say A and B share one table and R has another, and R's memory map, signal masks and
 * dispositions and open fds must be those from before the dump.
 * CRYO-TEST: expect=dump-fail
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib.h"

#define KCMP_FILES 2

static pid_t kids[2];

static pid_t clone_files(void)
{
	/* The raw syscall goes on like fork(); glibc's clone() would want a stack. */
	pid_t pid = (pid_t)syscall(SYS_clone, CLONE_FILES | SIGCHLD, NULL, NULL, NULL, 0);

	if (pid < 0)
		test_fail_killing(kids, 2, "clone(CLONE_FILES): %s", strerror(errno));
	if (pid == 0)
		for (;;)
			pause();
	return pid;
}

static int same_table(pid_t a, pid_t b)
{
	long r = syscall(SYS_kcmp, a, b, KCMP_FILES, 0, 0);

	if (r < 0)
		test_fail_killing(kids, 2, "kcmp: %s", strerror(errno));
	return r == 0;
}

static void check_tables(const char *when)
{
	if (!same_table(kids[0], kids[1]) || same_table(getpid(), kids[0]))
		test_fail_killing(kids, 2, "%s: A and B are not on one fd table without R", when);
}

int main(int argc, char **argv)
{
	const struct test_snapshot *before;

	test_init(argc, argv);
	kids[0] = clone_files();
	kids[1] = clone_files();
	if (unshare(CLONE_FILES))
		test_fail_killing(kids, 2, "unshare(CLONE_FILES): %s", strerror(errno));
	check_tables("before the dump");
	before = test_snapshot_take();

	test_ready();
	test_wait();

	test_snapshot_check(before);
	check_tables("after the failed dump");
	for (int i = 0; i < 2; i++) {
		int status;

		kill(kids[i], SIGKILL);
		if (waitpid(kids[i], &status, 0) != kids[i] || !WIFSIGNALED(status))
			test_fail("child %d: waitpid: %s, status %#x", kids[i], strerror(errno),
				  status);
	}
	test_pass();
}
