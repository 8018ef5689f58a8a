/* SPDX-License-Identifier: MIT */
/*
 * A child V made by clone(CLONE_VM) without CLONE_THREAD: a process of its own that shares
 * the root's address space. Two processes on one mm can't be rebuilt, so the dump must fail
 * with an error and leave both running as they were. After SIGUSR2, V must still be counting
 * in the memory it shares with the root, and it must still be the root's address space
 * (kcmp(KCMP_VM)); the root's memory map, signal masks and dispositions and open fds must be
 * those from before the dump.
 * CRYO-TEST: expect=dump-fail
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib.h"

#define KCMP_VM 1
#define STACK_SIZE (64 * 1024)

static unsigned long counter;

/* V: bump the counter every millisecond; only raw syscalls, the root's errno is V's too. */
static int count(void *arg)
{
	struct timespec ms = { 0, 1000000 };

	(void)arg;
	for (;;) {
		__atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
		syscall(SYS_nanosleep, &ms, NULL);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static char stack[STACK_SIZE] __attribute__((aligned(16)));
	const struct test_snapshot *before;
	unsigned long seen;
	int status;
	pid_t v;

	test_init(argc, argv);
	v = clone(count, stack + sizeof(stack), CLONE_VM | SIGCHLD, NULL);
	if (v < 0)
		test_fail("clone(CLONE_VM): %s", strerror(errno));
	seen = test_counting(&counter, 0, "V");
	before = test_snapshot_take();

	test_ready();
	test_wait();

	test_snapshot_check(before);
	if (syscall(SYS_kcmp, getpid(), v, KCMP_VM, 0, 0) != 0)
		test_fail_killing(&v, 1, "V no longer shares the root's address space");
	test_counting(&counter, seen, "V");
	kill(v, SIGKILL);
	if (waitpid(v, &status, 0) != v || !WIFSIGNALED(status))
		test_fail("V: waitpid: %s, status %#x", strerror(errno), status);
	test_pass();
}
