/* SPDX-License-Identifier: MIT */
/*
 * State: a task dumped inside nanosleep(), which the kernel restarts through
 * restart_syscall with its deadline kept in the kernel, not in the image. After restore the
 * 3 s nanosleep (with a remaining-time pointer) must return 0, and at least 3 s of
 * CLOCK_MONOTONIC must have passed since it began, the time spent dumped included.
 * SIGUSR2 stays blocked during the sleep so it interrupts nothing.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "lib.h"

static long long mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	struct timespec req = {3, 0}, rem = {0, 0};
	long long start, elapsed;
	sigset_t usr2;
	int r;

	test_init(argc, argv);
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	if (sigprocmask(SIG_BLOCK, &usr2, NULL))
		test_fail("sigprocmask failed: %s", strerror(errno));

	start = mono_ns();
	test_ready();
	r = nanosleep(&req, &rem);
	elapsed = mono_ns() - start;
	if (r)
		test_fail("nanosleep returned %d (%s), %ld.%09ld s left", r, strerror(errno),
			  (long)rem.tv_sec, rem.tv_nsec);
	if (elapsed < 3000000000LL)
		test_fail("nanosleep of 3 s returned after %lld ms", elapsed / 1000000);

	if (sigprocmask(SIG_UNBLOCK, &usr2, NULL))
		test_fail("sigprocmask failed: %s", strerror(errno));
	test_wait();
	test_pass();
}
