/* SPDX-License-Identifier: MIT */
/*
 * A vfork child that has not exec'd or exited yet: it is on the address space of its parent,
 * the root R, which sleeps in vfork() until then where no ptrace stop reaches it. The dump
 * must fail with an error, at once rather than wait for the vfork to end, and leave both
 * running. The child tells the runner it is ready, waits for the SIGUSR2 meant for R to be
 * pending (which the runner sends only after the dump), writes a mark into the memory it
 * shares with R and exits 0. R then comes out of vfork(), takes SIGUSR2, and must find the
 * child's exit status 0 and the mark in its own memory.
 * CRYO-TEST: expect=dump-fail
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib.h"

#define MARK 0x5eed
/* Longer than the runner's dump timeout: the child gives up after this. */
#define WAIT_MAX_MS 200000

static volatile int mark;

/* Is SIGUSR2 pending for process @pid (ShdPnd of its status)? */
static int usr2_pending(pid_t pid)
{
	char path[64], buf[4096], *line;
	unsigned long long set = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	line = strstr(buf, "ShdPnd:");
	if (line)
		sscanf(line + 7, "%llx", &set);
	return !!(set & (1ULL << (SIGUSR2 - 1)));
}

/* The vfork child: runs on R's memory, so it only waits, writes the mark and leaves. */
static __attribute__((noreturn)) void child(pid_t parent)
{
	struct timespec ms = { 0, 1000000 };

	test_ready();
	for (int i = 0; i < WAIT_MAX_MS; i++) {
		if (usr2_pending(parent)) {
			mark = MARK;
			_exit(0);
		}
		nanosleep(&ms, NULL);
	}
	_exit(2);
}

int main(int argc, char **argv)
{
	pid_t self, pid;
	int status;

	test_init(argc, argv);
	self = getpid();
	pid = vfork();
	if (pid < 0)
		test_fail("vfork: %s", strerror(errno));
	if (pid == 0)
		child(self);

	test_wait();

	if (waitpid(pid, &status, 0) != pid)
		test_fail("waitpid: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		test_fail("the vfork child ended with status %#x", status);
	if (mark != MARK)
		test_fail("the mark the vfork child wrote is not in R's memory");
	test_pass();
}
