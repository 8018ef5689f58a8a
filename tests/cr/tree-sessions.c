/* SPDX-License-Identifier: MIT */
/*
 * Sessions and process groups whose leaders exited before the dump. The root R is a child
 * subreaper. Its child L made a session (setsid), forked C in it, and GL, which made a
 * process group of its own in L's session, forked M in it and exited; then L exited: C and M
 * were reparented to R, C in L's session and group, M in L's session and GL's group. R's
 * child B made a session of its own and is a subreaper too; its child GL2 made a group,
 * forked N and K in it and exited: N and K are B's children, in B's session, in GL2's group.
 * R counts the SIGCHLDs it gets.
 * After restore each of C, M, B, N and K has its pid, parent, session and group (getsid,
 * getpgid, /proc/PID/stat) as before, the groups of GL and GL2 still exist (kill(-pgid, 0))
 * while no process has the pid of L, GL or GL2, and R has had no more SIGCHLDs. Then each
 * process exits when R closes the pipe they all wait on; R and B reap their children with
 * status 0, and R has no other child left.
 * CRYO-TEST: cycles=2
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib.h"

enum { C, M, B, N, K, NR_LIVE };
static const char *const names[NR_LIVE] = { "C", "M", "B", "N", "K" };

/* Shared with the children: pids as they are known, and B's word that its part is set up. */
struct ids {
	pid_t live[NR_LIVE];
	pid_t l, gl, gl2;
	volatile int b_ready;
};

static struct ids *ids;
static int hold[2]; /* every process but R waits for the end of this pipe */
static volatile sig_atomic_t sigchld_count;

static void on_sigchld(int sig)
{
	(void)sig;
	sigchld_count++;
}

/* Wait for R's word to end: the end of the hold pipe. */
static void wait_hold(void)
{
	char c;

	close(hold[1]);
	while (read(hold[0], &c, 1) < 0 && errno == EINTR)
		;
}

static __attribute__((noreturn)) void wait_end(void)
{
	wait_hold();
	_exit(0);
}

static pid_t fork_or_die(void)
{
	pid_t pid = fork();

	if (pid < 0)
		_exit(3);
	return pid;
}

/* The first argument must exit with status 0: children of a process that then exits 0. */
static int reaped_ok(pid_t pid)
{
	int status;

	return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && !WEXITSTATUS(status);
}

/* GL: a group of its own, with @n members forked in it whose pids go to @slots; then exit. */
static __attribute__((noreturn)) void group_leader(pid_t *gl, const int *slots, int n)
{
	*gl = getpid();
	if (setpgid(0, 0))
		_exit(3);
	for (int i = 0; i < n; i++) {
		pid_t pid = fork_or_die();

		if (pid == 0)
			wait_end();
		ids->live[slots[i]] = pid;
	}
	_exit(0);
}

/* L: a session with C in it, and GL's group with M; then L exits. */
static __attribute__((noreturn)) void session_leader(void)
{
	pid_t pid;

	ids->l = getpid();
	if (setsid() < 0)
		_exit(3);
	pid = fork_or_die();
	if (pid == 0)
		wait_end();
	ids->live[C] = pid;
	pid = fork_or_die();
	if (pid == 0)
		group_leader(&ids->gl, (const int[]){ M }, 1);
	_exit(reaped_ok(pid) ? 0 : 3);
}

/* B: a session and a subreaper; GL2's group with N and K, B's children once GL2 exits. */
static __attribute__((noreturn)) void b_main(void)
{
	pid_t pid;

	if (setsid() < 0 || prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))
		_exit(3);
	pid = fork_or_die();
	if (pid == 0)
		group_leader(&ids->gl2, (const int[]){ N, K }, 2);
	if (!reaped_ok(pid))
		_exit(3);
	ids->b_ready = 1;
	wait_hold();
	_exit(reaped_ok(ids->live[N]) && reaped_ok(ids->live[K]) ? 0 : 4);
}

/* Parent, session and group of every live process as set up. */
static void check_ids(const char *when)
{
	const pid_t r = getpid();
	const pid_t want[NR_LIVE][3] = {
		[C] = { r, ids->l, ids->l },
		[M] = { r, ids->l, ids->gl },
		[B] = { r, ids->live[B], ids->live[B] },
		[N] = { ids->live[B], ids->live[B], ids->gl2 },
		[K] = { ids->live[B], ids->live[B], ids->gl2 },
	};

	for (int i = 0; i < NR_LIVE; i++) {
		pid_t pid = ids->live[i];
		pid_t got[3] = { test_stat_ppid(pid), getsid(pid), getpgid(pid) };

		if (memcmp(got, want[i], sizeof(got)))
			test_fail_killing(ids->live, NR_LIVE,
					  "%s: %s %d: ppid %d sid %d pgid %d, want %d %d %d", when,
					  names[i], pid, got[0], got[1], got[2], want[i][0],
					  want[i][1], want[i][2]);
	}
	/* The groups live on in their members; their leaders' pids belong to nobody. */
	if (kill(-ids->gl, 0) || kill(-ids->gl2, 0))
		test_fail_killing(ids->live, NR_LIVE, "%s: group %d or %d is gone: %s", when, ids->gl,
				  ids->gl2, strerror(errno));
	for (int i = 0; i < 3; i++) {
		pid_t gone = (pid_t[]){ ids->l, ids->gl, ids->gl2 }[i];

		if (kill(gone, 0) == 0 || errno != ESRCH)
			test_fail_killing(ids->live, NR_LIVE, "%s: pid %d of an exited leader is a process",
					  when, gone);
	}
}

static void setup(void)
{
	struct sigaction sa = { .sa_handler = on_sigchld, .sa_flags = SA_RESTART };
	pid_t l, b;

	ids = mmap(NULL, sizeof(*ids), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ids == MAP_FAILED)
		test_fail("mmap: %s", strerror(errno));
	if (sigaction(SIGCHLD, &sa, NULL) || prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) ||
	    pipe2(hold, 0))
		test_fail("setup: %s", strerror(errno));
	l = fork();
	if (l == 0)
		session_leader();
	if (l < 0 || !reaped_ok(l))
		test_fail("L failed");
	/* The child must not write its fork() result into the shared ids. */
	b = fork();
	if (b == 0)
		b_main();
	if (b < 0)
		test_fail("fork: %s", strerror(errno));
	ids->live[B] = b;
	for (int i = 0; !ids->b_ready; i++)
		if (i > 10000)
			test_fail_killing(ids->live, NR_LIVE, "B not set up after 10 s");
		else
			usleep(1000);
	close(hold[0]);
}

int main(int argc, char **argv)
{
	sig_atomic_t sigchlds;
	int status;

	test_init(argc, argv);
	setup();
	check_ids("before the dump");
	sigchlds = sigchld_count;
	test_ready();
	test_wait();
	check_ids("after restore");
	if (sigchld_count != sigchlds)
		test_fail_killing(ids->live, NR_LIVE, "%d SIGCHLDs before the dump, %d now",
				  (int)sigchlds, (int)sigchld_count);
	close(hold[1]);
	for (int i = C; i <= B; i++)
		if (!reaped_ok(ids->live[i]))
			test_fail_killing(ids->live, NR_LIVE, "%s did not exit with status 0", names[i]);
	if (waitpid(-1, &status, WNOHANG) != -1 || errno != ECHILD)
		test_fail("R has a child left it did not make");
	test_pass();
}
