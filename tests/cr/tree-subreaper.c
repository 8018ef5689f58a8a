/* SPDX-License-Identifier: MIT */
/*
 * A child subreaper: the root R sets PR_SET_CHILD_SUBREAPER (Linux 3.4) and forks a child C,
 * which forks a grandchild G and exits; R reaps C, and G, orphaned, is reparented to R.
 * After restore R is still a subreaper, G's parent is R (as G and /proc/G/stat see it) and
 * waitpid(G, WNOHANG) in R finds G running. Then G forks GG and exits with status 5, which
 * R reaps; GG, orphaned in turn, must be reparented to R, not to a reaper further up, and R
 * reaps it too with its status 6.
 * CRYO-TEST: cycles=2
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib.h"

#define WHY_MAX 256
#define REPORT_TIMEOUT_MS 10000
#define G_STATUS 5
#define GG_STATUS 6

/* What G, then GG, tells R: a pid and anything wrong; under PIPE_BUF. */
struct report {
	pid_t pid, ppid;
	char why[WHY_MAX];
};

static pid_t root_pid, g_pid, gg_pid;
static int cmd[2]; /* R -> G, and GG once G has gone */
static int rep[2]; /* G and GG -> R */

static void send_report(pid_t ppid, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void send_report(pid_t ppid, const char *fmt, ...)
{
	struct report r = { .pid = getpid(), .ppid = ppid };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r.why, sizeof(r.why), fmt, ap);
	va_end(ap);
	if (write(rep[1], &r, sizeof(r)) != sizeof(r))
		_exit(3);
}

static char next_command(void)
{
	ssize_t n;
	char c;

	do
		n = read(cmd[0], &c, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		_exit(3); /* R is gone */
	return c;
}

/* GG: wait until G has gone and GG has a new parent, report it, exit when told. */
static __attribute__((noreturn)) void grandgrandchild(pid_t parent)
{
	pid_t ppid;

	for (int i = 0; (ppid = getppid()) == parent && i < 5000; i++)
		usleep(1000);
	send_report(ppid, "%s", ppid == parent ? "still G's child after 5 s" : "");
	if (next_command() != 'x')
		_exit(3);
	_exit(GG_STATUS);
}

static __attribute__((noreturn)) void grandchild(void)
{
	pid_t pid;

	send_report(getppid(), "%s", "");
	for (;;) {
		switch (next_command()) {
		case 'v':
			send_report(getppid(), "%s", getpid() != g_pid ? "G has another pid" : "");
			break;
		case 'f':
			pid = fork();
			if (pid == 0)
				grandgrandchild(g_pid);
			/* This report gives GG's pid in place of a ppid. */
			send_report(pid, "%s", pid < 0 ? strerror(errno) : "");
			_exit(G_STATUS);
		default:
			_exit(3);
		}
	}
}

/* Fail, killing G and GG first. */
#define fail_tree(...) test_fail_killing((const pid_t[]){ g_pid, gg_pid }, 2, __VA_ARGS__)

static void read_report(struct report *r, const char *who)
{
	const char *err = test_read_msg(rep[0], r, sizeof(*r), REPORT_TIMEOUT_MS);

	if (err)
		fail_tree("report pipe from %s: %s", who, err);
	if (r->why[0])
		fail_tree("%s: %s", who, r->why);
}

static void tell(char c)
{
	if (write(cmd[1], &c, 1) != 1)
		fail_tree("command '%c': %s", c, strerror(errno));
}

static void reap(pid_t pid, const char *who, int want)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		fail_tree("waitpid(%s %d): %s", who, pid, strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != want)
		fail_tree("%s ended with status %#x, want exit status %d", who, status, want);
}

static void check_subreaper(void)
{
	int on = -1;

	if (prctl(PR_GET_CHILD_SUBREAPER, &on, 0, 0, 0))
		fail_tree("PR_GET_CHILD_SUBREAPER: %s", strerror(errno));
	if (on != 1)
		fail_tree("PR_GET_CHILD_SUBREAPER gives %d, want 1", on);
}

/* G must be R's child: in its own eyes, in /proc, and to waitpid(). */
static void check_g(void)
{
	struct report r;
	int status;
	pid_t w;

	tell('v');
	read_report(&r, "G");
	if (r.pid != g_pid || r.ppid != root_pid)
		fail_tree("G: pid %d ppid %d, want %d %d", r.pid, r.ppid, g_pid, root_pid);
	if (test_stat_ppid(g_pid) != root_pid)
		fail_tree("G (%d): ppid %d in /proc, want %d", g_pid, test_stat_ppid(g_pid), root_pid);
	w = waitpid(g_pid, &status, WNOHANG);
	if (w != 0)
		fail_tree("waitpid(G %d, WNOHANG) gives %d (%s), want 0", g_pid, w,
			  w < 0 ? strerror(errno) : "ended");
}

static void setup(void)
{
	struct report r;
	pid_t c;

	root_pid = getpid();
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))
		test_fail("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
	if (pipe2(cmd, 0) || pipe2(rep, 0))
		test_fail("pipe2: %s", strerror(errno));
	c = fork();
	if (c < 0)
		test_fail("fork: %s", strerror(errno));
	if (c == 0) {
		close(cmd[1]);
		close(rep[0]);
		g_pid = fork();
		if (g_pid == 0) {
			g_pid = getpid();
			grandchild();
		}
		_exit(g_pid < 0 ? 3 : 0);
	}
	close(cmd[0]);
	close(rep[1]);
	reap(c, "C", 0);
	read_report(&r, "G");
	g_pid = r.pid;
	/* G may have reported before C exited: wait for the reparenting. */
	for (int i = 0; test_stat_ppid(g_pid) != root_pid && i < 5000; i++)
		usleep(1000);
	check_subreaper();
	check_g();
}

int main(int argc, char **argv)
{
	struct report r;

	test_init(argc, argv);
	setup();

	test_ready();
	test_wait();

	check_subreaper();
	check_g();
	tell('f');
	read_report(&r, "G");
	gg_pid = r.ppid;
	reap(g_pid, "G", G_STATUS);
	g_pid = 0;
	read_report(&r, "GG");
	if (r.pid != gg_pid || r.ppid != root_pid)
		fail_tree("GG (%d): reparented to %d after G exited, want %d (R)", gg_pid, r.ppid,
			  root_pid);
	tell('x');
	reap(gg_pid, "GG", GG_STATUS);
	test_pass();
}
