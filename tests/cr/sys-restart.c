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
#include <time.h>
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

static long long mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void check_read(long long start)
{
	long long elapsed;
	char c = 0;
	ssize_t n;

	n = read(pipe_fds[0], &c, 1);
	elapsed = mono_ns() - start;
	if (n != 1)
		test_fail("read on the pipe returned %zd (%s)", n, n < 0 ? strerror(errno) : "");
	if (c != 'A')
		test_fail("read on the pipe gave %#x, expected 'A'", c);
	if (alarms != 1)
		test_fail("SIGALRM handler ran %d times, expected once", (int)alarms);
	if (elapsed < 2000000000LL)
		test_fail("read returned after %lld ms, before the 2 s alarm", elapsed / 1000000);
}

static void check_nanosleep(void)
{
	struct timespec req = {1, 500000000}, rem = {0, 0};
	long long start = mono_ns(), elapsed;
	int r;

	r = nanosleep(&req, &rem);
	elapsed = mono_ns() - start;
	if (r)
		test_fail("nanosleep returned %d (%s), %ld.%09ld s left", r, strerror(errno),
			  (long)rem.tv_sec, rem.tv_nsec);
	if (elapsed < 1500000000LL)
		test_fail("nanosleep of 1.5 s returned after %lld ms", elapsed / 1000000);
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	sigset_t usr2;
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
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	if (sigprocmask(SIG_BLOCK, &usr2, NULL))
		test_fail("sigprocmask failed: %s", strerror(errno));

	start = mono_ns();
	alarm(2);
	test_ready();
	check_read(start);
	check_nanosleep();

	if (sigprocmask(SIG_UNBLOCK, &usr2, NULL))
		test_fail("sigprocmask failed: %s", strerror(errno));
	test_wait();
	test_pass();
}
