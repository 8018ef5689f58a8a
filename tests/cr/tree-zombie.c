/* SPDX-License-Identifier: MIT */
/*
 * Zombies in the tree. The root R leads a process group of its own; its child Z1 named
 * itself "zombie-exit" and exited with status 42, its child Z2 was killed by SIGTERM, and
 * neither was reaped. Its live child L made a group of its own and has a zombie child Z3
 * (status 43) in that group. R and L count the SIGCHLDs they get.
 * After restore each zombie is still a zombie, with its pid, parent, process group and
 * name; R and L have had no more SIGCHLDs than before and none is pending; waitid(WNOWAIT)
 * and then waitpid() give each zombie's wait status as it was (exit 42, SIGTERM, exit 43).
 * CRYO-TEST: cycles=2
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib.h"

#define WHY_MAX 256
#define REPORT_TIMEOUT_MS 10000
#define Z1_NAME "zombie-exit"
#define Z1_STATUS 42
#define Z3_STATUS 43
#define SIGCHLD_BIT (1ULL << (SIGCHLD - 1))

static pid_t root_pid, l_pid, z1_pid, z2_pid, z3_pid;
static volatile sig_atomic_t nr_sigchld;
static int cmd[2]; /* R -> L */
static int rep[2]; /* L -> R */
static char why[WHY_MAX]; /* the first problem found */

#define note(...) test_note(why, sizeof(why), __VA_ARGS__)

static void on_sigchld(int sig)
{
	(void)sig;
	nr_sigchld++;
}

static void count_sigchld(void)
{
	struct sigaction sa = { .sa_handler = on_sigchld, .sa_flags = SA_RESTART };

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGCHLD, &sa, NULL))
		test_fail("sigaction: %s", strerror(errno));
}

/* From /proc/PID/stat: the state, ppid and pgrp after the comm in parentheses, and comm. */
static int read_stat(pid_t pid, char *state, pid_t *ppid, pid_t *pgrp, char *comm, size_t len)
{
	char path[64], buf[1024];
	const char *open_p, *close_p;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	test_read_file(path, buf, sizeof(buf));
	open_p = strchr(buf, '(');
	close_p = strrchr(buf, ')');
	if (!open_p || !close_p || sscanf(close_p + 1, " %c %d %d", state, ppid, pgrp) != 3)
		return -1;
	snprintf(comm, len, "%.*s", (int)(close_p - open_p - 1), open_p + 1);
	return 0;
}

/* @pid must be a zombie child of this process in group @pgrp, named @name if not NULL. */
static void check_zombie(const char *who, pid_t pid, pid_t pgrp, const char *name)
{
	pid_t ppid, g;
	char state, comm[64];

	if (read_stat(pid, &state, &ppid, &g, comm, sizeof(comm)))
		note("%s (%d): bad /proc stat", who, pid);
	else if (state != 'Z')
		note("%s (%d): state %c, not a zombie", who, pid, state);
	else if (ppid != getpid())
		note("%s (%d): ppid %d, want %d", who, pid, ppid, getpid());
	else if (g != pgrp)
		note("%s (%d): process group %d, want %d", who, pid, g, pgrp);
	else if (name && strcmp(comm, name))
		note("%s (%d): named '%s', want '%s'", who, pid, comm, name);
}

/* waitid(WNOWAIT) and then waitpid() of zombie @pid: it exited with @code or by signal @sig. */
static void reap_zombie(const char *who, pid_t pid, int code, int sig)
{
	siginfo_t si = { 0 };
	int status;

	if (waitid(P_PID, pid, &si, WEXITED | WNOHANG | WNOWAIT) || si.si_pid != pid)
		return note("%s (%d): waitid finds no exited child (%s)", who, pid, strerror(errno));
	if (si.si_code != (sig ? CLD_KILLED : CLD_EXITED) || si.si_status != (sig ? sig : code))
		return note("%s (%d): waitid gives code %d status %d", who, pid, si.si_code,
			    si.si_status);
	if (waitpid(pid, &status, WNOHANG) != pid)
		return note("waitpid(%s %d): %s", who, pid, strerror(errno));
	if (sig ? !WIFSIGNALED(status) || WTERMSIG(status) != sig :
		  !WIFEXITED(status) || WEXITSTATUS(status) != code)
		note("%s (%d): wait status %#x, want %s %d", who, pid, status,
		     sig ? "killed by signal" : "exit status", sig ? sig : code);
}

/* No SIGCHLD beyond @want arrived and none is pending. */
static void check_sigchld(const char *who, int want)
{
	static const char *const keys[] = { "SigPnd:", "ShdPnd:" };
	unsigned long long pnd, shd;
	char lines[256];

	if (nr_sigchld != want)
		return note("%s: %d SIGCHLDs, want %d", who, (int)nr_sigchld, want);
	test_status_lines("/proc/self/status", "", keys, 2, lines, sizeof(lines));
	if (sscanf(lines, "SigPnd: %llx ShdPnd: %llx", &pnd, &shd) != 2)
		return note("%s: bad SigPnd/ShdPnd lines", who);
	if ((pnd | shd) & SIGCHLD_BIT)
		note("%s: a SIGCHLD is pending", who);
}

static pid_t fork_zombie(int code, int sig, const char *name)
{
	pid_t pid = fork();

	if (pid < 0)
		test_fail("fork: %s", strerror(errno));
	if (pid > 0)
		return pid;
	if (name)
		prctl(PR_SET_NAME, name, 0, 0, 0);
	if (sig) {
		signal(sig, SIG_DFL);
		raise(sig);
	}
	_exit(code);
}

/* Wait until @pid has exited, leaving it a zombie, and its SIGCHLD has been handled. */
static void wait_exited(pid_t pid, int nr)
{
	siginfo_t si;

	if (waitid(P_PID, pid, &si, WEXITED | WNOWAIT))
		test_fail("waitid: %s", strerror(errno));
	for (int i = 0; nr_sigchld < nr && i < 10000; i++)
		usleep(1000);
}

static void send_report(void)
{
	char buf[WHY_MAX];

	snprintf(buf, sizeof(buf), "%s", why);
	if (write(rep[1], buf, sizeof(buf)) != sizeof(buf))
		_exit(3);
}

static __attribute__((noreturn)) void live_child(void)
{
	ssize_t n;
	char c;

	close(cmd[1]);
	close(rep[0]);
	count_sigchld();
	if (setpgid(0, 0))
		note("setpgid: %s", strerror(errno));
	z3_pid = fork_zombie(Z3_STATUS, 0, NULL);
	wait_exited(z3_pid, 1);
	send_report();
	do
		n = read(cmd[0], &c, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		_exit(3);
	check_sigchld("L", 1);
	check_zombie("Z3", z3_pid, getpid(), NULL);
	if (!why[0])
		reap_zombie("Z3", z3_pid, Z3_STATUS, 0);
	send_report();
	_exit(0);
}

static void read_report(void)
{
	char buf[WHY_MAX];
	const char *err = test_read_msg(rep[0], buf, sizeof(buf), REPORT_TIMEOUT_MS);

	if (err)
		test_fail("no report from L (%d): %s", l_pid, err);
	if (buf[0])
		test_fail("L: %s", buf);
}

/* At R's exit, on a failure too: L must not stay. */
static void kill_l(void)
{
	if (getpid() == root_pid && l_pid > 0)
		kill(l_pid, SIGKILL);
}

static void setup(void)
{
	root_pid = getpid();
	if (atexit(kill_l))
		test_fail("atexit failed");
	if (setpgid(0, 0))
		test_fail("setpgid: %s", strerror(errno));
	if (pipe2(cmd, 0) || pipe2(rep, 0))
		test_fail("pipe2: %s", strerror(errno));
	l_pid = fork();
	if (l_pid < 0)
		test_fail("fork: %s", strerror(errno));
	if (l_pid == 0)
		live_child();
	close(cmd[0]);
	close(rep[1]);
	count_sigchld();
	z1_pid = fork_zombie(Z1_STATUS, 0, Z1_NAME);
	wait_exited(z1_pid, 1);
	z2_pid = fork_zombie(0, SIGTERM, NULL);
	wait_exited(z2_pid, 2);
	read_report();
	check_sigchld("R", 2);
	check_zombie("Z1", z1_pid, root_pid, Z1_NAME);
	check_zombie("Z2", z2_pid, root_pid, NULL);
	if (why[0])
		test_fail("%s", why);
}

int main(int argc, char **argv)
{
	char go = 'v';
	int status;

	test_init(argc, argv);
	setup();

	test_ready();
	test_wait();

	check_sigchld("R", 2);
	check_zombie("Z1", z1_pid, root_pid, Z1_NAME);
	check_zombie("Z2", z2_pid, root_pid, NULL);
	if (why[0])
		test_fail("%s", why);
	if (write(cmd[1], &go, 1) != 1)
		test_fail("write to L: %s", strerror(errno));
	read_report();
	if (waitpid(l_pid, &status, 0) != l_pid)
		test_fail("waitpid(L %d): %s", l_pid, strerror(errno));
	l_pid = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		test_fail("L ended with status %#x", status);
	reap_zombie("Z1", z1_pid, Z1_STATUS, 0);
	reap_zombie("Z2", z2_pid, 0, SIGTERM);
	if (why[0])
		test_fail("%s", why);
	test_pass();
}
