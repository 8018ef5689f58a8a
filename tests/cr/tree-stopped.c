/* SPDX-License-Identifier: MIT */
/*
 * Stopped children. The root R has three children, each with 64 KiB of its own memory
 * filled with a pattern: S1 spins counting in memory shared with R and was stopped with
 * SIGSTOP; S2, in a process group of its own, blocks in read() of a pipe from R and was
 * stopped with SIGTSTP; S3 spins with a second thread, each counting, and was stopped with
 * SIGSTOP. R took the wait reports of S1 and S2 (waitpid WUNTRACED) but not that of S3, and
 * counts the CLD_STOPPED SIGCHLDs it gets. R sent S1 a SIGUSR1, which S1 handles, once S1 was
 * stopped: it is pending in S1 through the dumps.
 * After restore (and after the runner's dump -R) every thread of the three is stopped
 * (state T) and stays so, and none has run since it stopped: the counters are as they were
 * when R saw the stops. R has had no more CLD_STOPPED than the three, no SIGCHLD pending,
 * no new report of S1 or S2 to wait for, and S3's report still there. After SIGCONT each
 * child runs on (the counters move, S2's read() returns what R writes) and finds its memory
 * intact, and S1 has handled its SIGUSR1 once.
 * CRYO-TEST: cycles=2 leave-running=1
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib.h"

#define NCHILD 3
#define NTICKS 4 /* S1, S2 (unused), S3 and S3's second thread */
#define PRIVATE_LEN (64 * 1024)
#define WHY_MAX 256
#define REPORT_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS 10000
#define QUIET_US 300000

struct shared {
	volatile uint64_t ticks[NTICKS];
	volatile int ask[NCHILD]; /* R asks a spinning child for its report */
};

/* A child's word to R: ready, then whether its memory is intact, and its SIGUSR1s. */
struct report {
	int idx;
	int ok;
	int usr1;
};

static struct shared *sh;
static int rep[2]; /* children -> R */
static int cmd[2]; /* R -> S2 */
static pid_t kids[NCHILD];
static const char *const names[NCHILD] = {"S1", "S2", "S3"};
static volatile sig_atomic_t nr_stopped; /* CLD_STOPPED SIGCHLDs R got */
static volatile sig_atomic_t nr_usr1;	 /* SIGUSR1s a child handled */
static uint8_t mem[PRIVATE_LEN];
static uint64_t mem_hash;
static char why[WHY_MAX];

#define note(...) test_note(why, sizeof(why), __VA_ARGS__)

static void on_sigchld(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	if (si->si_code == CLD_STOPPED)
		nr_stopped++;
}

static void on_sigusr1(int sig)
{
	(void)sig;
	nr_usr1++;
}

static void send_report(int idx)
{
	struct report r = {idx, test_hash(mem, sizeof(mem)) == mem_hash, nr_usr1};

	if (write(rep[1], &r, sizeof(r)) != sizeof(r))
		_exit(3);
}

static void *spin_thread(void *arg)
{
	(void)arg;
	for (;;)
		sh->ticks[3]++;
	return NULL;
}

static __attribute__((noreturn)) void child(int idx)
{
	struct sigaction sa = {.sa_handler = on_sigusr1, .sa_flags = SA_RESTART};
	pthread_t t;
	char c;

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL))
		_exit(4);
	test_fill(mem, sizeof(mem), 1000 + (uint64_t)idx);
	mem_hash = test_hash(mem, sizeof(mem));
	if (idx == 2 && pthread_create(&t, NULL, spin_thread, NULL))
		_exit(4);
	/* Its own group, so that SIGTSTP is not dropped as sent to an orphaned group. */
	if (idx == 1 && setpgid(0, 0))
		_exit(4);
	send_report(idx);
	if (idx == 1) {
		while (read(cmd[0], &c, 1) != 1)
			;
		send_report(idx);
		pause();
	}
	for (;;) {
		sh->ticks[idx]++;
		if (sh->ask[idx]) {
			sh->ask[idx] = 0;
			send_report(idx);
		}
	}
}

/* The state letter of every thread of @pid into @buf; their number. */
static int thread_states(pid_t pid, char *buf, size_t len)
{
	char path[320], stat[512];
	struct dirent *de;
	DIR *d;
	size_t n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		test_fail("can't list '%s': %s", path, strerror(errno));
	while ((de = readdir(d)) && n + 1 < len) {
		const char *p;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/stat", pid, de->d_name);
		test_read_file(path, stat, sizeof(stat));
		p = strrchr(stat, ')');
		buf[n++] = p && p[1] ? p[2] : '?';
	}
	closedir(d);
	buf[n] = '\0';
	return (int)n;
}

/* Every thread of child @i stopped (T); its thread count is checked too. */
static int all_stopped(int i)
{
	char st[16];
	int n = thread_states(kids[i], st, sizeof(st));

	return n == (i == 2 ? 2 : 1) && strspn(st, "T") == (size_t)n;
}

static void kill_all_fail(const char *msg)
{
	test_fail_killing(kids, NCHILD, "%s", msg);
}

static void stop_children(void)
{
	int sigs[NCHILD] = {SIGSTOP, SIGTSTP, SIGSTOP}, st;

	for (int i = 0; i < NCHILD; i++) {
		if (kill(kids[i], sigs[i]))
			kill_all_fail("kill");
		/* R takes the reports of S1 and S2 only. */
		if (i < 2 && (waitpid(kids[i], &st, WUNTRACED) != kids[i] || !WIFSTOPPED(st) ||
			      WSTOPSIG(st) != sigs[i]))
			kill_all_fail("a child did not report its stop");
		for (int ms = 0; !all_stopped(i); ms++) {
			if (ms > STOP_TIMEOUT_MS)
				kill_all_fail("a child's threads did not all stop");
			usleep(1000);
		}
	}
	for (int ms = 0; nr_stopped < NCHILD && ms < STOP_TIMEOUT_MS; ms++)
		usleep(1000);
	if (nr_stopped != NCHILD)
		kill_all_fail("not one CLD_STOPPED SIGCHLD per child");
	/* Pending in S1 until its SIGCONT. */
	if (kill(kids[0], SIGUSR1))
		kill_all_fail("kill");
}

static void start_children(void)
{
	struct sigaction sa = {.sa_sigaction = on_sigchld, .sa_flags = SA_SIGINFO | SA_RESTART};
	struct report r;
	const char *err;

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGCHLD, &sa, NULL))
		test_fail("sigaction: %s", strerror(errno));
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED || pipe(rep) || pipe(cmd))
		test_fail("mmap or pipe: %s", strerror(errno));
	for (int i = 0; i < NCHILD; i++) {
		kids[i] = fork();
		if (kids[i] < 0)
			kill_all_fail("fork");
		if (kids[i] == 0)
			child(i);
		err = test_read_msg(rep[0], &r, sizeof(r), REPORT_TIMEOUT_MS);
		if (err || r.idx != i)
			kill_all_fail("a child did not get ready");
	}
	stop_children();
}

/* After restore: stopped, not run, no new notification of R; then SIGCONT. */
static void check_stopped(const uint64_t *ticks)
{
	siginfo_t si;
	sigset_t pending;
	int st;

	usleep(QUIET_US);
	for (int i = 0; i < NCHILD; i++)
		if (!all_stopped(i))
			note("%s: not every thread is stopped (state T)", names[i]);
	for (int i = 0; i < NTICKS; i++)
		if (sh->ticks[i] != ticks[i])
			note("counter %d moved while stopped: %llu, was %llu", i,
			     (unsigned long long)sh->ticks[i], (unsigned long long)ticks[i]);
	if (nr_stopped != NCHILD)
		note("%d CLD_STOPPED SIGCHLDs, want %d", (int)nr_stopped, NCHILD);
	if (sigpending(&pending) == 0 && sigismember(&pending, SIGCHLD))
		note("a SIGCHLD is pending");
	for (int i = 0; i < 2; i++)
		if (waitpid(kids[i], &st, WUNTRACED | WNOHANG) != 0)
			note("%s: a new stop report to wait for", names[i]);
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)kids[2], &si, WSTOPPED | WNOHANG) || si.si_pid != kids[2] ||
	    si.si_status != SIGSTOP)
		note("S3: its stop report is gone");
}

static void check_resumed(const uint64_t *ticks)
{
	struct report r;
	const char *err;
	char c = 'x';

	for (int i = 0; i < NCHILD; i++)
		kill(kids[i], SIGCONT);
	sh->ask[0] = sh->ask[2] = 1;
	if (write(cmd[1], &c, 1) != 1)
		note("can't write to S2");
	for (int n = 0; n < NCHILD; n++) {
		err = test_read_msg(rep[0], &r, sizeof(r), REPORT_TIMEOUT_MS);
		if (err) {
			note("a child did not report after SIGCONT: %s", err);
			break;
		}
		if (r.idx < 0 || r.idx >= NCHILD || !r.ok)
			note("child %d: its memory changed", r.idx);
		else if (r.usr1 != (r.idx == 0))
			note("%s: handled %d SIGUSR1s, want %d", names[r.idx], r.usr1, r.idx == 0);
	}
	usleep(10000);
	for (int i = 0; i < NTICKS; i++)
		if (i != 1 && sh->ticks[i] == ticks[i])
			note("counter %d did not move after SIGCONT", i);
}

int main(int argc, char **argv)
{
	uint64_t ticks[NTICKS];

	test_init(argc, argv);
	start_children();
	for (int i = 0; i < NTICKS; i++)
		ticks[i] = sh->ticks[i];
	test_ready();
	test_wait();
	check_stopped(ticks);
	if (!why[0])
		check_resumed(ticks);
	if (why[0])
		kill_all_fail(why);
	for (int i = 0; i < NCHILD; i++)
		kill(kids[i], SIGKILL);
	for (int i = 0; i < NCHILD; i++)
		waitpid(kids[i], NULL, 0);
	test_pass();
}
