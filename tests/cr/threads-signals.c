/* SPDX-License-Identifier: MIT */
/*
 * Signals of a threaded process: thread-directed pending signals, the process-wide queue and
 * a sigaltstack per thread. Thread A has SIGUSR1 (tgkill) and SIGRTMIN+3 (rt_tgsigqueueinfo,
 * value 42) pending, thread B SIGRTMIN+3 with value 43, and SIGRTMIN+4 (sigqueue, value 44)
 * is pending for the process while every thread blocks it. Each thread, the main one
 * included, has its own alternate stack of its own size, and the handlers run on it
 * (SA_ONSTACK). After restore each thread's SigPnd, SigBlk and the ShdPnd in
 * /proc/self/task/TID/status are unchanged and sigaltstack() gives each thread its old
 * stack. When A and B unblock their signals, each gets its own, once, in order, with its
 * si_code, si_pid and value, on its own alternate stack; the process-wide signal stays
 * pending until the main thread, the only one to unblock it, gets it the same way.
 * CRYO-TEST: cycles=2
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib.h"

#define DELIVERIES_MAX 8
#define ERR_MAX 256
#define STATUS_MAX 256
/* How long a thread may take to set up, or to exit once woken. */
#define SETTLE_S 10

#define SIG_A_RT (SIGRTMIN + 3)
#define SIG_SHARED (SIGRTMIN + 4)

struct delivery {
	int signo, code, value;
	pid_t pid;
	int on_own_stack;
};

struct thread {
	const char *name;
	/* SIGUSR1 from tgkill() pending; the value of the pending SIG_A_RT, 0 for none. */
	int usr1, rt_value;
	size_t stack_size;
	pthread_t handle;
	pid_t tid;
	char *stack;
	stack_t ss_before;
	int set_up;
	struct delivery deliveries[DELIVERIES_MAX];
	volatile sig_atomic_t nr_deliveries;
	/* SigPnd, ShdPnd and SigBlk as the main thread saw them before the dump. */
	char status[STATUS_MAX];
	char err[ERR_MAX];
};

enum { MAIN, A, B, NTHREADS };

static struct thread threads[NTHREADS] = {
	[MAIN] = { .name = "main", .stack_size = 64 * 1024 },
	[A] = { .name = "A", .usr1 = 1, .rt_value = 42, .stack_size = 96 * 1024 },
	[B] = { .name = "B", .rt_value = 43, .stack_size = 160 * 1024 },
};
static __thread struct thread *self;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int go;

/* Keep the first failure of a thread for the main thread to report. */
#define thread_fail(t, ...) test_note((t)->err, sizeof((t)->err), __VA_ARGS__)

static void on_signal(int sig, siginfo_t *info, void *uc)
{
	struct thread *t = self;
	char local;

	(void)uc;
	if (t->nr_deliveries >= DELIVERIES_MAX)
		return;
	t->deliveries[t->nr_deliveries] = (struct delivery){
		sig, info->si_code, info->si_value.sival_int, info->si_pid,
		&local >= t->stack && &local < t->stack + t->stack_size
	};
	t->nr_deliveries++;
}

static void catch_signals(void)
{
	const int sigs[] = { SIGUSR1, SIG_A_RT, SIG_SHARED };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	/* Each handler blocks the other test signals, so deliveries do not nest. */
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&sa.sa_mask, sigs[i]);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL))
			test_fail("sigaction(%d): %m", sigs[i]);
}

/* Install the calling thread's alternate stack and note what sigaltstack() reports. */
static void set_altstack(struct thread *t)
{
	self = t;
	t->stack = malloc(t->stack_size);
	if (!t->stack)
		test_fail("malloc: %m");
	if (sigaltstack(&(stack_t){ .ss_sp = t->stack, .ss_size = t->stack_size }, NULL) ||
	    sigaltstack(NULL, &t->ss_before))
		test_fail("sigaltstack: %m");
}

static void check_altstack(struct thread *t)
{
	const stack_t *was = &t->ss_before;
	stack_t ss;

	if (sigaltstack(NULL, &ss))
		thread_fail(t, "sigaltstack: %s", strerror(errno));
	else if (ss.ss_sp != was->ss_sp || ss.ss_size != was->ss_size ||
		 ss.ss_flags != was->ss_flags)
		thread_fail(t, "sigaltstack %p size %zu flags %d, was %p size %zu flags %d",
			    ss.ss_sp, ss.ss_size, ss.ss_flags, was->ss_sp, was->ss_size,
			    was->ss_flags);
}

static void check_delivery(struct thread *t, int i, int signo, int code, int value)
{
	const struct delivery *d = &t->deliveries[i];

	if (d->signo != signo || d->code != code || d->pid != getpid() ||
	    (code == SI_QUEUE && d->value != value))
		thread_fail(t,
			    "delivery %d: signal %d code %d pid %d value %d, expected signal %d "
			    "code %d pid %d value %d",
			    i, d->signo, d->code, d->pid, d->value, signo, code, getpid(), value);
	else if (!d->on_own_stack)
		thread_fail(t, "delivery %d: signal %d not handled on the thread's alternate stack",
			    i, signo);
}

/* Each thread gets only what was sent to it: SIGUSR1 first, then the lowest number first. */
static void check_deliveries(struct thread *t, int expected)
{
	int i = 0;

	if (t->nr_deliveries != expected) {
		thread_fail(t, "%d signals delivered, expected %d", (int)t->nr_deliveries,
			    expected);
		return;
	}
	if (t->usr1)
		check_delivery(t, i++, SIGUSR1, SI_TKILL, 0);
	if (t->rt_value)
		check_delivery(t, i++, SIG_A_RT, SI_QUEUE, t->rt_value);
}

/* Unblock the thread's own signals: they must come at once. */
static void take_own_signals(struct thread *t)
{
	sigset_t own, pending;

	sigemptyset(&own);
	sigaddset(&own, SIGUSR1);
	sigaddset(&own, SIG_A_RT);
	pthread_sigmask(SIG_UNBLOCK, &own, NULL);
	check_deliveries(t, !!t->usr1 + !!t->rt_value);
	sigemptyset(&pending);
	sigpending(&pending);
	if (sigismember(&pending, SIGUSR1) || sigismember(&pending, SIG_A_RT))
		thread_fail(t, "signals still pending after delivery");
}

static void *thread_main(void *arg)
{
	struct thread *t = arg;

	t->tid = gettid();
	set_altstack(t);
	pthread_mutex_lock(&lock);
	__atomic_store_n(&t->set_up, 1, __ATOMIC_RELEASE);
	while (!go)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	check_altstack(t);
	take_own_signals(t);
	return NULL;
}

static void start_threads(void)
{
	long long deadline;
	int r;

	for (int i = A; i < NTHREADS; i++) {
		r = pthread_create(&threads[i].handle, NULL, thread_main, &threads[i]);
		if (r)
			test_fail("pthread_create: %s", strerror(r));
	}
	deadline = test_mono_ns() + SETTLE_S * 1000000000LL;
	for (int i = A; i < NTHREADS; i++)
		while (!__atomic_load_n(&threads[i].set_up, __ATOMIC_ACQUIRE)) {
			if (test_mono_ns() > deadline)
				test_fail("thread %s not set up after %d s", threads[i].name,
					  SETTLE_S);
			nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
		}
}

static void send_signals(void)
{
	siginfo_t si;

	for (int i = A; i < NTHREADS; i++) {
		struct thread *t = &threads[i];

		if (t->usr1 && syscall(SYS_tgkill, getpid(), t->tid, SIGUSR1))
			test_fail("tgkill: %m");
		memset(&si, 0, sizeof(si));
		si.si_signo = SIG_A_RT;
		si.si_code = SI_QUEUE;
		si.si_pid = getpid();
		si.si_uid = getuid();
		si.si_value.sival_int = t->rt_value;
		if (syscall(SYS_rt_tgsigqueueinfo, getpid(), t->tid, SIG_A_RT, &si))
			test_fail("rt_tgsigqueueinfo: %m");
	}
	if (sigqueue(getpid(), SIG_SHARED, (union sigval){ .sival_int = 44 }))
		test_fail("sigqueue: %m");
}

/* The signal lines of a thread's /proc/self/task/TID/status. */
static void read_status(pid_t tid, char *buf, size_t len)
{
	static const char *const keys[] = { "\nSigPnd:", "\nShdPnd:", "\nSigBlk:" };
	char path[64], status[4096];
	size_t used = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		test_fail("open '%s': %m", path);
	n = read(fd, status, sizeof(status) - 1);
	if (n < 0)
		test_fail("read '%s': %m", path);
	close(fd);
	status[n] = '\0';
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *line = strstr(status, keys[i]);

		if (!line)
			test_fail("no '%s' in '%s'", keys[i] + 1, path);
		used += snprintf(buf + used, len - used, "%s%.*s", i ? ", " : "",
				 (int)strcspn(line + 1, "\n"), line + 1);
		if (used >= len)
			test_fail("signal lines of '%s' too long", path);
	}
}

static void join(struct thread *t)
{
	int r = test_timedjoin(t->handle, SETTLE_S);

	if (r)
		test_fail("joining thread %s: %s", t->name, strerror(r));
	if (t->err[0])
		test_fail("thread %s (tid %d): %s", t->name, t->tid, t->err);
}

int main(int argc, char **argv)
{
	struct thread *m = &threads[MAIN];
	char status[STATUS_MAX];
	sigset_t blocked, shared;

	test_init(argc, argv);
	m->tid = gettid();
	set_altstack(m);
	catch_signals();
	/* The threads inherit this mask, and block SIGUSR2 too so that the main thread gets it. */
	sigemptyset(&blocked);
	sigaddset(&blocked, SIGUSR1);
	sigaddset(&blocked, SIG_A_RT);
	sigaddset(&blocked, SIG_SHARED);
	sigaddset(&blocked, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &blocked, NULL);
	start_threads();
	sigemptyset(&blocked);
	sigaddset(&blocked, SIGUSR2);
	pthread_sigmask(SIG_UNBLOCK, &blocked, NULL);
	send_signals();
	for (int i = 0; i < NTHREADS; i++) {
		read_status(threads[i].tid, threads[i].status, sizeof(threads[i].status));
		test_msg("%s before: %s", threads[i].name, threads[i].status);
	}

	test_ready();
	test_wait();

	for (int i = 0; i < NTHREADS; i++) {
		read_status(threads[i].tid, status, sizeof(status));
		if (strcmp(status, threads[i].status))
			test_fail("thread %s: %s, was %s", threads[i].name, status,
				  threads[i].status);
	}
	check_altstack(m);
	pthread_mutex_lock(&lock);
	go = 1;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	for (int i = A; i < NTHREADS; i++)
		join(&threads[i]);

	/* Nobody took the process-wide signal, which only the main thread now unblocks. */
	if (m->nr_deliveries)
		test_fail("main thread got signal %d early", m->deliveries[0].signo);
	sigemptyset(&shared);
	sigaddset(&shared, SIG_SHARED);
	pthread_sigmask(SIG_UNBLOCK, &shared, NULL);
	if (m->nr_deliveries != 1)
		test_fail("main thread: %d signals delivered, expected 1", (int)m->nr_deliveries);
	check_delivery(m, 0, SIG_SHARED, SI_QUEUE, 44);
	if (m->err[0])
		test_fail("main thread: %s", m->err);
	test_none_pending();
	test_pass();
}
