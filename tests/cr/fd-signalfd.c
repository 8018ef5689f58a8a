/* SPDX-License-Identifier: MIT */
/*
 * Two signalfds. One, non-blocking, reads SIGUSR1 and SIGRTMIN+1, which are blocked and pending
 * (SIGUSR1 from kill(), SIGRTMIN+1 sigqueue()d with value 42); the other, blocking with
 * FD_CLOEXEC, reads SIGHUP (blocked, nothing pending). After restore both have the same fd and
 * status flags and link, and fdinfo shows the same flags and mask; the first reads SIGUSR1
 * (SI_USER, from this pid) then SIGRTMIN+1 (SI_QUEUE, value 42), then EAGAIN, and nothing is
 * left pending; the second is not readable until a SIGHUP is raised, which it then reads.
 * CRYO-TEST: cycles=2
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "lib.h"

struct sfd {
	int fd;
	struct test_fd_state st;
	char info[512];
};

static void read_info(int fd, char *buf, size_t len)
{
	static const char *const keys[] = { "flags:", "sigmask:" };
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	test_status_lines(path, "", keys, sizeof(keys) / sizeof(keys[0]), buf, len);
}

static void capture(struct sfd *s)
{
	test_fd_state(s->fd, &s->st);
	read_info(s->fd, s->info, sizeof(s->info));
}

static void check(const struct sfd *s)
{
	char now[512], what[64];

	test_fd_check(s->fd, &s->st);
	read_info(s->fd, now, sizeof(now));
	snprintf(what, sizeof(what), "fdinfo of signalfd %d", s->fd);
	test_same_lines(what, s->info, now);
}

static void read_one(int fd, int signo, int code, int value)
{
	struct signalfd_siginfo si;

	if (read(fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		test_fail("read signalfd %d: %s", fd, strerror(errno));
	if ((int)si.ssi_signo != signo || si.ssi_code != code || (pid_t)si.ssi_pid != getpid() ||
	    (code == SI_QUEUE && si.ssi_int != value))
		test_fail("signalfd %d gave signal %u code %d pid %u value %d, want %d %d %d %d", fd,
			  si.ssi_signo, si.ssi_code, si.ssi_pid, si.ssi_int, signo, code, getpid(),
			  value);
}

static void check_not_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (poll(&p, 1, 0) != 0)
		test_fail("signalfd %d is readable (revents %#x)", fd, p.revents);
}

/* The non-blocking signalfd says EAGAIN and no signal is pending any more. */
static void check_drained(int fd)
{
	struct signalfd_siginfo si;
	sigset_t pending;

	if (read(fd, &si, sizeof(si)) >= 0)
		test_fail("signalfd %d gave a third signal, %u", fd, si.ssi_signo);
	if (errno != EAGAIN)
		test_fail("read signalfd %d: %s", fd, strerror(errno));
	sigemptyset(&pending);
	sigpending(&pending);
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(&pending, sig))
			test_fail("signal %d still pending after reading the signalfd", sig);
}

int main(int argc, char **argv)
{
	sigset_t blocked, mask, hup;
	struct sfd pend, idle;

	test_init(argc, argv);
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGRTMIN + 1);
	sigemptyset(&hup);
	sigaddset(&hup, SIGHUP);
	blocked = mask;
	sigaddset(&blocked, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &blocked, NULL))
		test_fail("sigprocmask: %s", strerror(errno));
	pend.fd = signalfd(-1, &mask, SFD_NONBLOCK);
	idle.fd = signalfd(-1, &hup, SFD_CLOEXEC);
	if (pend.fd < 0 || idle.fd < 0)
		test_fail("signalfd: %s", strerror(errno));
	if (kill(getpid(), SIGUSR1) ||
	    sigqueue(getpid(), SIGRTMIN + 1, (union sigval){ .sival_int = 42 }))
		test_fail("sending signals: %s", strerror(errno));
	capture(&pend);
	capture(&idle);

	test_ready();
	test_wait();

	check(&pend);
	check(&idle);
	read_one(pend.fd, SIGUSR1, SI_USER, 0);
	read_one(pend.fd, SIGRTMIN + 1, SI_QUEUE, 42);
	check_drained(pend.fd);
	check_not_readable(idle.fd);
	if (kill(getpid(), SIGHUP))
		test_fail("kill: %s", strerror(errno));
	read_one(idle.fd, SIGHUP, SI_USER, 0);
	test_pass();
}
