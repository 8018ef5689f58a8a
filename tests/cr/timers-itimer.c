/* SPDX-License-Identifier: MIT */
/*
 * Interval timers: ITIMER_REAL (100 ms, SIGALRM), ITIMER_VIRTUAL (50 ms, SIGVTALRM) and
 * ITIMER_PROF (50 ms, SIGPROF), all periodic, with counting handlers; the process burns CPU
 * so that the CPU-time timers tick. After restore getitimer() must report the same intervals
 * and a current value in (0, interval] (a tick more for the CPU-time ones), and every timer
 * must keep firing.
 */
#include <signal.h>
#include <string.h>
#include <sys/time.h>

#include "lib.h"

#define NR_TIMERS 3
#define WAIT_SEC 5
/*
 * set_cpu_itimer() adds one jiffy to a freshly set ITIMER_VIRTUAL/ITIMER_PROF value, so a
 * restored CPU-time timer may read up to a tick (at most 10 ms, HZ >= 100) above its interval.
 */
#define CPU_TICK_SLACK_US 10000

static const struct {
	int which;
	int sig;
	long interval_us;
	const char *name;
} timers[NR_TIMERS] = {
	{ ITIMER_REAL, SIGALRM, 100000, "ITIMER_REAL" },
	{ ITIMER_VIRTUAL, SIGVTALRM, 50000, "ITIMER_VIRTUAL" },
	{ ITIMER_PROF, SIGPROF, 50000, "ITIMER_PROF" },
};

static volatile sig_atomic_t ticks[NR_TIMERS];
static volatile unsigned long spin;

static void on_timer(int sig)
{
	for (int i = 0; i < NR_TIMERS; i++)
		if (timers[i].sig == sig)
			ticks[i]++;
}

static void busy(void)
{
	for (int i = 0; i < 100000; i++)
		spin++;
}

/* Burn CPU until every timer has fired once more, or fail after WAIT_SEC. */
static void wait_all_fire(const char *when)
{
	sig_atomic_t base[NR_TIMERS];
	long long deadline = test_mono_ns() + WAIT_SEC * 1000000000LL;
	int i;

	for (i = 0; i < NR_TIMERS; i++)
		base[i] = ticks[i];
	for (i = 0; i < NR_TIMERS; i++) {
		while (ticks[i] == base[i]) {
			if (test_mono_ns() > deadline)
				test_fail("%s: %s did not fire within %d s", when, timers[i].name,
					  WAIT_SEC);
			busy();
		}
	}
}

static void start_timer(int i)
{
	struct sigaction sa;
	struct itimerval it;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_timer;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(timers[i].sig, &sa, NULL))
		test_fail("sigaction(%d): %m", timers[i].sig);
	it.it_interval = (struct timeval){ 0, timers[i].interval_us };
	it.it_value = it.it_interval;
	if (setitimer(timers[i].which, &it, NULL))
		test_fail("setitimer %s: %m", timers[i].name);
}

static void check_timer(int i, const struct itimerval *old)
{
	struct itimerval cur;
	struct timeval limit;

	if (getitimer(timers[i].which, &cur))
		test_fail("getitimer %s: %m", timers[i].name);
	if (cur.it_interval.tv_sec != old->it_interval.tv_sec ||
	    cur.it_interval.tv_usec != old->it_interval.tv_usec)
		test_fail("%s: interval %ld.%06ld, was %ld.%06ld", timers[i].name,
			  (long)cur.it_interval.tv_sec, (long)cur.it_interval.tv_usec,
			  (long)old->it_interval.tv_sec, (long)old->it_interval.tv_usec);
	limit = cur.it_interval;
	if (timers[i].which != ITIMER_REAL)
		timeradd(&limit, &((struct timeval){ 0, CPU_TICK_SLACK_US }), &limit);
	if (!timerisset(&cur.it_value) || timercmp(&cur.it_value, &limit, >))
		test_fail("%s: value %ld.%06ld not in (0, %ld.%06ld]", timers[i].name,
			  (long)cur.it_value.tv_sec, (long)cur.it_value.tv_usec, (long)limit.tv_sec,
			  (long)limit.tv_usec);
}

int main(int argc, char **argv)
{
	struct itimerval old[NR_TIMERS];
	int i;

	test_init(argc, argv);
	for (i = 0; i < NR_TIMERS; i++)
		start_timer(i);
	wait_all_fire("before checkpoint");
	for (i = 0; i < NR_TIMERS; i++)
		if (getitimer(timers[i].which, &old[i]))
			test_fail("getitimer %s: %m", timers[i].name);

	test_ready();
	while (!test_signalled())
		busy();

	for (i = 0; i < NR_TIMERS; i++)
		check_timer(i, &old[i]);
	wait_all_fire("after restore");
	test_pass();
}
