/* SPDX-License-Identifier: MIT */
/*
 * State: a task dumped inside nanosleep(), which the kernel restarts through
 * restart_syscall with its deadline kept in the kernel, not in the image. After restore the
 * 3 s nanosleep (with a remaining-time pointer) must return 0, and at least 3 s of
 * CLOCK_MONOTONIC must have passed since it began, the time spent dumped included.
 * SIGUSR2 stays blocked during the sleep so it interrupts nothing.
 */
#include <signal.h>

#include "lib.h"

int main(int argc, char **argv)
{
	test_init(argc, argv);
	test_mask_usr2(SIG_BLOCK);
	test_ready();
	test_nanosleep(3000000000LL);
	test_mask_usr2(SIG_UNBLOCK);
	test_wait();
	test_pass();
}
