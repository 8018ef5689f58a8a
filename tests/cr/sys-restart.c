/* SPDX-License-Identifier: MIT */
/*
 * State: a task dumped inside a blocking system call, which must be restarted on restore.
 * The task blocks in read() on an empty pipe of its own; an alarm armed 2 s earlier runs a
 * SA_RESTART handler that writes one byte into the pipe, so the read must return that byte
 * (not EINTR, not the kernel's internal -ERESTARTSYS) once the alarm, restored with the
 * task, fires. Then a 1.5 s nanosleep must sleep in full and return 0, and the task waits
 * for SIGUSR2 in pause(). SIGUSR2 stays blocked until then so it interrupts nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "lib.h"

static int pipe_fds[2];
static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	char c = 'A';
	ssize_t n;

	(void)sig;
	alarms++;
	n = write(pipe_fds[1], &c, 1);
	(void)n;
}

static void check_read(long long start)
{
	long long elapsed;
	char c = 0;
	ssize_t n;

	n = read(pipe_fds[0], &c, 1);
	elapsed = test_mono_ns() - start;
	if (n != 1)
		test_fail("read on the pipe returned %zd (%s)", n, n < 0 ? strerror(errno) : "");
	if (c != 'A')
		test_fail("read on the pipe gave %#x, expected 'A'", c);
	if (alarms != 1)
		test_fail("SIGALRM handler ran %d times, expected once", (int)alarms);
	if (elapsed < 2000000000LL)
		test_fail("read returned after %lld ms, before the 2 s alarm", elapsed / 1000000);
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	long long start;

	test_init(argc, argv);
	if (pipe2(pipe_fds, O_CLOEXEC))
		test_fail("pipe2 failed: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, NULL))
		test_fail("sigaction failed: %s", strerror(errno));
	test_mask_usr2(SIG_BLOCK);

	start = test_mono_ns();
	alarm(2);
	test_ready();
	check_read(start);
	test_nanosleep(1500000000LL);
	test_mask_usr2(SIG_UNBLOCK);
	test_wait();
	test_pass();
}
