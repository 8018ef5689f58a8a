/* SPDX-License-Identifier: MIT */
/*
 * Alternate signal stack: a malloc'ed stack installed with sigaltstack(). After restore
 * sigaltstack() must report the same base, size and flags, and a handler installed with
 * SA_ONSTACK must run on that stack (a local's address lies inside it) while a handler
 * without it keeps running on the normal stack.
 */
#include <signal.h>
#include <stdint.h>
#include <string.h>

#include "lib.h"

#define ALTSTACK_SIZE (128 * 1024)

static char *altstack;
static volatile sig_atomic_t runs;
static volatile sig_atomic_t on_altstack;
static volatile sig_atomic_t flags_in_handler;

static void on_signal(int sig)
{
	char local;
	stack_t ss;

	(void)sig;
	runs++;
	on_altstack = &local >= altstack && &local < altstack + ALTSTACK_SIZE;
	flags_in_handler = sigaltstack(NULL, &ss) ? -1 : ss.ss_flags;
}

static void catch_signal(int sig, int flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL))
		test_fail("sigaction(%d): %m", sig);
}

/* Raise sig and check where its handler ran. */
static void check_handler(int sig, int want_altstack)
{
	runs = 0;
	if (raise(sig))
		test_fail("raise(%d): %m", sig);
	if (runs != 1)
		test_fail("signal %d: handler ran %d times", sig, (int)runs);
	if (on_altstack != want_altstack)
		test_fail("signal %d: handler %s the alternate stack", sig,
			  on_altstack ? "ran on" : "did not run on");
	if (flags_in_handler != (want_altstack ? SS_ONSTACK : 0))
		test_fail("signal %d: ss_flags %d in handler", sig, (int)flags_in_handler);
}

int main(int argc, char **argv)
{
	stack_t ss, old;

	test_init(argc, argv);
	altstack = test_altstack(ALTSTACK_SIZE);
	catch_signal(SIGUSR1, SA_ONSTACK);
	catch_signal(SIGHUP, 0);
	if (sigaltstack(NULL, &old))
		test_fail("sigaltstack read: %m");
	/* Prove the setup before the checkpoint, so a failure after restore means the restore. */
	check_handler(SIGUSR1, 1);
	check_handler(SIGHUP, 0);

	test_ready();
	test_wait();

	if (sigaltstack(NULL, &ss))
		test_fail("sigaltstack read: %m");
	if (ss.ss_sp != old.ss_sp || ss.ss_size != old.ss_size || ss.ss_flags != old.ss_flags)
		test_fail("sigaltstack %p size %zu flags %d, was %p size %zu flags %d", ss.ss_sp,
			  ss.ss_size, ss.ss_flags, old.ss_sp, old.ss_size, old.ss_flags);
	check_handler(SIGUSR1, 1);
	check_handler(SIGHUP, 0);
	test_pass();
}
