/* SPDX-License-Identifier: MIT */
/*
 * A forked child, which the engine does not dump: the dump must fail with an error and leave
 * both processes running as they were. After SIGUSR2 the child must still be alive and counting
 * in a shared page (it counted on while the test waited), the parent's memory must hold the
 * same data, its memory map, signal masks and dispositions and open fds must be those from
 * before the dump; then the test kills the child and reaps it.
 * CRYO-TEST: expect=dump-fail
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib.h"

#define MEM_SIZE (1024 * 1024)
#define WHO "the child"

static unsigned long *counter;

static __attribute__((noreturn)) void count(pid_t parent)
{
	const struct timespec tick = { 0, 1000000 };

	/* Do not outlive the test if it dies. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
		_exit(1);
	for (;;) {
		__atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
		nanosleep(&tick, NULL);
	}
}

int main(int argc, char **argv)
{
	static unsigned char mem[MEM_SIZE];
	const struct test_snapshot *before;
	unsigned long at_ready;
	pid_t child, parent;
	uint64_t hash;
	int status;

	test_init(argc, argv);
	test_fill(mem, MEM_SIZE, 1);
	hash = test_hash(mem, MEM_SIZE);
	counter = mmap(NULL, sizeof(*counter), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		       -1, 0);
	if (counter == MAP_FAILED)
		test_fail("mmap: %s", strerror(errno));
	parent = getpid();
	child = fork();
	if (child < 0)
		test_fail("fork: %s", strerror(errno));
	if (child == 0)
		count(parent);
	at_ready = test_counting(counter, 0, WHO);
	before = test_snapshot_take();

	test_ready();
	test_wait();

	test_snapshot_check(before);
	if (waitpid(child, &status, WNOHANG) != 0)
		test_fail("the child %d is gone", child);
	test_counting(counter, test_counting(counter, at_ready, WHO), WHO);
	if (test_hash(mem, MEM_SIZE) != hash)
		test_fail("memory contents changed");
	if (kill(child, SIGKILL) || waitpid(child, &status, 0) != child)
		test_fail("kill/reap child %d: %s", child, strerror(errno));
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
		test_fail("child %d ended with status %#x, not by SIGKILL", child, status);
	test_pass();
}
