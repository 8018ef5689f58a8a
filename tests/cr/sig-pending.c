/* SPDX-License-Identifier: MIT */
/*
 * Blocked mask and pending signals with their siginfo. SIGHUP, SIGUSR1, SIGRTMIN+2 and
 * SIGRTMIN+5 are blocked; pending are SIGUSR1 from kill() (process-wide, SI_USER), three
 * sigqueue()d SIGRTMIN+2 with values 11, 22, 33 (process-wide, queued in order) and one
 * SIGRTMIN+5 sent to this thread with rt_tgsigqueueinfo (thread-private queue, value 55).
 * After restore the blocked and pending sets (and /proc's split between the thread's SigPnd
 * and the process's ShdPnd) must be unchanged; unblocking must deliver every queued signal once,
 * with its siginfo, in queue order, and leave nothing pending.
 * CRYO-TEST: cycles=2
 */
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib.h"

#define MAX_DELIVERIES 16
#define MAX_LINE 256

struct delivery {
	int signo;
	int code;
	pid_t pid;
	uid_t uid;
	int value;
};

static struct delivery deliveries[MAX_DELIVERIES];
static volatile sig_atomic_t nr_deliveries;

static void on_signal(int sig, siginfo_t *info, void *uc)
{
	(void)uc;
	if (nr_deliveries >= MAX_DELIVERIES)
		return;
	deliveries[nr_deliveries] = (struct delivery){ sig, info->si_code, info->si_pid,
						       info->si_uid, info->si_value.sival_int };
	nr_deliveries++;
}

static void catch_signal(int sig, const sigset_t *test_set)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO;
	/* Block the other test signals in each handler so deliveries do not nest. */
	sa.sa_mask = *test_set;
	if (sigaction(sig, &sa, NULL))
		test_fail("sigaction(%d): %m", sig);
}

/* The blocked and pending sets, from the calls and as /proc/self/status shows them. */
struct sig_state {
	sigset_t blocked, pending;
	char status[4 * MAX_LINE];
};

static void read_sig_state(struct sig_state *st)
{
	static const char *const keys[] = { "SigPnd:", "ShdPnd:", "SigBlk:" };

	sigemptyset(&st->blocked);
	sigemptyset(&st->pending);
	sigprocmask(SIG_BLOCK, NULL, &st->blocked);
	sigpending(&st->pending);
	test_status_lines("/proc/self/status", "", keys, sizeof(keys) / sizeof(keys[0]),
			  st->status, sizeof(st->status));
}

static void queue_signals(void)
{
	siginfo_t si;

	if (kill(getpid(), SIGUSR1))
		test_fail("kill: %m");
	for (int v = 11; v <= 33; v += 11)
		if (sigqueue(getpid(), SIGRTMIN + 2, (union sigval){ .sival_int = v }))
			test_fail("sigqueue: %m");
	memset(&si, 0, sizeof(si));
	si.si_signo = SIGRTMIN + 5;
	si.si_code = SI_QUEUE;
	si.si_pid = getpid();
	si.si_uid = getuid();
	si.si_value.sival_int = 55;
	if (syscall(SYS_rt_tgsigqueueinfo, getpid(), gettid(), SIGRTMIN + 5, &si))
		test_fail("rt_tgsigqueueinfo: %m");
}

static void check_one(int i, int signo, int code, int value)
{
	const struct delivery *d = &deliveries[i];

	if (d->signo != signo || d->code != code || d->pid != getpid() || d->uid != getuid() ||
	    (code == SI_QUEUE && d->value != value))
		test_fail("delivery %d: signal %d code %d pid %d uid %d value %d, "
			  "expected signal %d code %d pid %d uid %d value %d",
			  i, d->signo, d->code, d->pid, d->uid, d->value, signo, code, getpid(),
			  getuid(), value);
}

/*
 * Signals are taken thread-private queue first, then lowest number first, and each handler
 * blocks the rest, so the order is SIGRTMIN+5, SIGUSR1, then SIGRTMIN+2 in queue order.
 */
static void check_deliveries(void)
{
	if (nr_deliveries != 5)
		test_fail("%d signals delivered, expected 5", (int)nr_deliveries);
	check_one(0, SIGRTMIN + 5, SI_QUEUE, 55);
	check_one(1, SIGUSR1, SI_USER, 0);
	check_one(2, SIGRTMIN + 2, SI_QUEUE, 11);
	check_one(3, SIGRTMIN + 2, SI_QUEUE, 22);
	check_one(4, SIGRTMIN + 2, SI_QUEUE, 33);
}

static void same_set(const char *what, const sigset_t *old, const sigset_t *cur)
{
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(old, sig) != sigismember(cur, sig))
			test_fail("%s: signal %d %s", what, sig,
				  sigismember(cur, sig) ? "appeared" : "is gone");
}

int main(int argc, char **argv)
{
	struct sig_state was, now;
	sigset_t test_set, blocked;

	test_init(argc, argv);
	sigemptyset(&test_set);
	sigaddset(&test_set, SIGUSR1);
	sigaddset(&test_set, SIGRTMIN + 2);
	sigaddset(&test_set, SIGRTMIN + 5);
	blocked = test_set;
	sigaddset(&blocked, SIGHUP);
	if (sigprocmask(SIG_SETMASK, &blocked, NULL))
		test_fail("sigprocmask: %m");
	queue_signals();
	read_sig_state(&was);
	test_msg("before:\n%.*s", (int)strlen(was.status) - 1, was.status);

	test_ready();
	test_wait();

	read_sig_state(&now);
	same_set("blocked", &was.blocked, &now.blocked);
	same_set("pending", &was.pending, &now.pending);
	test_same_lines("/proc/self/status", was.status, now.status);

	catch_signal(SIGUSR1, &test_set);
	catch_signal(SIGRTMIN + 2, &test_set);
	catch_signal(SIGRTMIN + 5, &test_set);
	sigprocmask(SIG_UNBLOCK, &test_set, NULL);
	check_deliveries();

	test_none_pending();
	test_pass();
}
