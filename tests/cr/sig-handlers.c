/* SPDX-License-Identifier: MIT */
/*
 * Signal dispositions: handlers installed with SA_SIGINFO, SA_RESTART, SA_NODEFER, SA_ONSTACK
 * (with an alternate stack), SA_RESETHAND and SA_NOCLDSTOP, per-handler sa_masks reaching into
 * the real-time range, SIG_IGN, and SIG_DFL set explicitly. After restore the kernel's view of
 * every signal 1..64 (handler, flags, restorer, mask; read with raw rt_sigaction so that glibc's
 * internal signals 32 and 33 are covered too) must be unchanged. Then each handled or ignored
 * signal is raised: the right kind of handler must run with the right signals blocked, on the
 * alternate stack only for SA_ONSTACK, and the SA_RESETHAND one must have reset to SIG_DFL.
 */
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib.h"

#define MAX_SIG 64
#define ALTSTACK_SIZE (256 * 1024)
#define MAX_MASK 3

/* The kernel's struct sigaction on x86_64, as rt_sigaction(2) reads it. */
struct ksigaction {
	uintptr_t handler;
	unsigned long flags;
	uintptr_t restorer;
	uint64_t mask;
};

enum kind { KIND_PLAIN, KIND_INFO, KIND_IGN, KIND_DFL };

struct spec {
	int sig;
	enum kind kind;
	int flags;
	int mask[MAX_MASK]; /* signals in sa_mask, 0-terminated */
	int raise;	    /* raise after restore and check the delivery */
};

/* What a handler saw, per signal. */
struct delivery {
	int count;
	uint64_t blocked;
	int on_altstack;
	int has_info;
	int code;
	pid_t pid;
};

static struct spec specs[8];
static int nr_specs;
static struct delivery seen[MAX_SIG + 1];
static char *altstack;

static uint64_t set_bits(const sigset_t *set)
{
	uint64_t bits = 0;

	for (int sig = 1; sig <= MAX_SIG; sig++)
		if (sigismember(set, sig) == 1)
			bits |= 1ULL << (sig - 1);
	return bits;
}

static void record(int sig, const siginfo_t *info)
{
	char local;
	sigset_t blocked;

	if (sig < 1 || sig > MAX_SIG)
		return;
	pthread_sigmask(SIG_BLOCK, NULL, &blocked);
	seen[sig].count++;
	seen[sig].blocked = set_bits(&blocked);
	seen[sig].on_altstack = &local >= altstack && &local < altstack + ALTSTACK_SIZE;
	seen[sig].has_info = info != NULL;
	if (info) {
		seen[sig].code = info->si_code;
		seen[sig].pid = info->si_pid;
	}
}

static void on_plain(int sig)
{
	record(sig, NULL);
}

static void on_info(int sig, siginfo_t *info, void *uc)
{
	(void)uc;
	record(sig, info);
}

static void add(int sig, enum kind kind, int flags, int m0, int m1, int m2, int raise_it)
{
	specs[nr_specs++] = (struct spec){ sig, kind, flags, { m0, m1, m2 }, raise_it };
}

static void build_specs(void)
{
	add(SIGHUP, KIND_PLAIN, SA_RESTART, SIGINT, SIGQUIT, 0, 1);
	add(SIGINT, KIND_INFO, SA_SIGINFO, SIGTERM, SIGRTMAX, 0, 1);
	add(SIGUSR1, KIND_PLAIN, SA_NODEFER | SA_RESETHAND, SIGWINCH, 0, 0, 1);
	add(SIGWINCH, KIND_INFO, SA_SIGINFO | SA_ONSTACK, 0, 0, 0, 1);
	add(SIGRTMIN + 3, KIND_PLAIN, SA_RESTART | SA_NODEFER, SIGHUP, SIGRTMIN + 7, 0, 1);
	add(SIGCHLD, KIND_PLAIN, SA_NOCLDSTOP | SA_RESTART, SIGALRM, 0, 0, 1);
	add(SIGQUIT, KIND_IGN, 0, 0, 0, 0, 1);
	/* Not raised: the default action would end the test. */
	add(SIGTERM, KIND_DFL, 0, 0, 0, 0, 0);
}

static void install(const struct spec *s)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	for (int i = 0; i < MAX_MASK && s->mask[i]; i++)
		sigaddset(&sa.sa_mask, s->mask[i]);
	sa.sa_flags = s->flags;
	switch (s->kind) {
	case KIND_PLAIN:
		sa.sa_handler = on_plain;
		break;
	case KIND_INFO:
		sa.sa_sigaction = on_info;
		break;
	case KIND_IGN:
		sa.sa_handler = SIG_IGN;
		break;
	case KIND_DFL:
		sa.sa_handler = SIG_DFL;
		break;
	}
	if (sigaction(s->sig, &sa, NULL))
		test_fail("sigaction(%d): %m", s->sig);
}

static void read_all(struct ksigaction *acts)
{
	for (int sig = 1; sig <= MAX_SIG; sig++)
		if (syscall(SYS_rt_sigaction, sig, NULL, &acts[sig], sizeof(uint64_t)))
			test_fail("rt_sigaction(%d) read: %m", sig);
}

static void compare_all(const struct ksigaction *old, const struct ksigaction *cur)
{
	for (int sig = 1; sig <= MAX_SIG; sig++) {
		const struct ksigaction *o = &old[sig], *c = &cur[sig];

		if (o->handler != c->handler || o->flags != c->flags ||
		    o->restorer != c->restorer || o->mask != c->mask)
			test_fail("signal %d: handler %#lx flags %#lx restorer %#lx mask %#lx, was "
				  "%#lx %#lx %#lx %#lx",
				  sig, (unsigned long)c->handler, c->flags,
				  (unsigned long)c->restorer, (unsigned long)c->mask,
				  (unsigned long)o->handler, o->flags, (unsigned long)o->restorer,
				  (unsigned long)o->mask);
	}
}

static uint64_t expected_blocked(const struct spec *s)
{
	uint64_t bits = 0;

	for (int i = 0; i < MAX_MASK && s->mask[i]; i++)
		bits |= 1ULL << (s->mask[i] - 1);
	if (!(s->flags & SA_NODEFER))
		bits |= 1ULL << (s->sig - 1);
	return bits;
}

static void check_delivery(const struct spec *s)
{
	const struct delivery *d = &seen[s->sig];

	if (raise(s->sig))
		test_fail("raise(%d): %m", s->sig);
	if (s->kind == KIND_IGN) {
		if (d->count)
			test_fail("signal %d: ignored signal ran a handler", s->sig);
		return;
	}
	if (d->count != 1)
		test_fail("signal %d: handler ran %d times, expected once", s->sig, d->count);
	if (d->has_info != (s->kind == KIND_INFO))
		test_fail("signal %d: wrong handler kind ran", s->sig);
	if (d->blocked != expected_blocked(s))
		test_fail("signal %d: blocked in handler %#llx, expected %#llx", s->sig,
			  (unsigned long long)d->blocked, (unsigned long long)expected_blocked(s));
	if (d->on_altstack != !!(s->flags & SA_ONSTACK))
		test_fail("signal %d: handler %s the alternate stack", s->sig,
			  d->on_altstack ? "ran on" : "did not run on");
	if (d->has_info && (d->code != SI_TKILL || d->pid != getpid()))
		test_fail("signal %d: si_code %d si_pid %d, expected %d %d", s->sig, d->code,
			  d->pid, SI_TKILL, getpid());
}

static void check_resethand(void)
{
	struct ksigaction act;

	for (int i = 0; i < nr_specs; i++) {
		if (!(specs[i].flags & SA_RESETHAND))
			continue;
		if (syscall(SYS_rt_sigaction, specs[i].sig, NULL, &act, sizeof(uint64_t)))
			test_fail("rt_sigaction(%d) read: %m", specs[i].sig);
		if (act.handler != (uintptr_t)SIG_DFL)
			test_fail("signal %d: SA_RESETHAND did not reset the handler",
				  specs[i].sig);
	}
}

int main(int argc, char **argv)
{
	static struct ksigaction before[MAX_SIG + 1], after[MAX_SIG + 1];
	sigset_t none;

	test_init(argc, argv);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	altstack = test_altstack(ALTSTACK_SIZE);

	build_specs();
	for (int i = 0; i < nr_specs; i++)
		install(&specs[i]);
	read_all(before);

	test_ready();
	test_wait();

	read_all(after);
	compare_all(before, after);
	for (int i = 0; i < nr_specs; i++)
		if (specs[i].raise)
			check_delivery(&specs[i]);
	check_resethand();
	test_pass();
}
