/* SPDX-License-Identifier: MIT */
/*
 * POSIX timers: a periodic 200 ms CLOCK_MONOTONIC timer signalling SIGRTMIN+1 with value 77,
 * a disarmed CLOCK_REALTIME timer (SIGUSR1, value 88) and a one-shot 1 hour CLOCK_MONOTONIC
 * timer with SIGEV_NONE. After restore the same timer ids must work: intervals equal, the
 * disarmed one still disarmed, the 1 hour one neither reset nor run down, the periodic one
 * still delivering its signal with the right si_value and si_timerid. /proc/self/timers (ids,
 * signals and values, notification, clocks) must read the same.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib.h"

#define NR_TIMERS 3
#define MAX_LINE 128
#define MAX_RECORD (4 * MAX_LINE)
#define WAIT_SEC 3
#define HOUR_SEC 3600

enum { T_PERIODIC, T_DISARMED, T_HOUR };

static timer_t timers[NR_TIMERS];
static volatile sig_atomic_t fired;
static volatile sig_atomic_t bad_info;

static void on_timer(int sig, siginfo_t *info, void *uc)
{
	(void)sig;
	(void)uc;
	if (info->si_code != SI_TIMER || info->si_value.sival_int != 77 ||
	    info->si_timerid != (int)(intptr_t)timers[T_PERIODIC])
		bad_info = 1;
	fired++;
}

static void create_timer(int i, clockid_t clock, int notify, int sig, int value)
{
	struct sigevent se;

	memset(&se, 0, sizeof(se));
	se.sigev_notify = notify;
	se.sigev_signo = sig;
	se.sigev_value.sival_int = value;
	if (timer_create(clock, &se, &timers[i]))
		test_fail("timer_create %d: %m", i);
}

static void arm_timer(int i, time_t sec, long nsec, time_t isec, long insec)
{
	struct itimerspec its = { .it_value = { sec, nsec }, .it_interval = { isec, insec } };

	if (timer_settime(timers[i], 0, &its, NULL))
		test_fail("timer_settime %d: %m", i);
}

static int cmp_record(const void *a, const void *b)
{
	return strcmp(a, b);
}

/*
 * /proc/self/timers as one line, records (each starting with "ID:") sorted, so the order
 * in which timers were created does not matter.
 */
static void read_proc_timers(char *out, size_t size)
{
	static char records[NR_TIMERS][MAX_RECORD];
	char line[MAX_LINE];
	int n = -1;
	size_t len = 0;
	FILE *f = fopen("/proc/self/timers", "re");

	if (!f)
		test_fail("open /proc/self/timers: %m");
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "ID:", 3) && ++n >= NR_TIMERS)
			test_fail("/proc/self/timers: more than %d timers", NR_TIMERS);
		line[strcspn(line, "\n")] = ' ';
		if (n < 0 || strlen(records[n]) + strlen(line) >= MAX_RECORD)
			test_fail("/proc/self/timers: unexpected line '%s'", line);
		strcat(records[n], line);
	}
	fclose(f);
	qsort(records, n + 1, MAX_RECORD, cmp_record);
	out[0] = '\0';
	for (int i = 0; i <= n; i++) {
		if (len + strlen(records[i]) >= size)
			test_fail("/proc/self/timers: too long");
		strcpy(out + len, records[i]);
		len += strlen(records[i]);
		records[i][0] = '\0';
	}
}

static void wait_fire(const char *when)
{
	sig_atomic_t base = fired;
	long long deadline = test_mono_ns() + WAIT_SEC * 1000000000LL;

	while (fired == base) {
		if (test_mono_ns() > deadline)
			test_fail("%s: periodic timer did not fire within %d s", when, WAIT_SEC);
		nanosleep(&(struct timespec){ 0, 10000000 }, NULL);
	}
	if (bad_info)
		test_fail("%s: timer signal with wrong si_code, si_value or si_timerid", when);
}

static int ts_equal(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

static void check_timers(const struct itimerspec *old)
{
	struct itimerspec cur[NR_TIMERS];
	const struct timespec *v;

	for (int i = 0; i < NR_TIMERS; i++) {
		if (timer_gettime(timers[i], &cur[i]))
			test_fail("timer_gettime %d: %m", i);
		if (!ts_equal(&cur[i].it_interval, &old[i].it_interval))
			test_fail("timer %d: interval %ld.%09ld, was %ld.%09ld", i,
				  (long)cur[i].it_interval.tv_sec, cur[i].it_interval.tv_nsec,
				  (long)old[i].it_interval.tv_sec, old[i].it_interval.tv_nsec);
	}
	v = &cur[T_PERIODIC].it_value;
	if ((!v->tv_sec && !v->tv_nsec) || v->tv_sec > 0 || v->tv_nsec > 200000000)
		test_fail("periodic timer: value %ld.%09ld not in (0, 0.2]", (long)v->tv_sec,
			  v->tv_nsec);
	v = &cur[T_DISARMED].it_value;
	if (v->tv_sec || v->tv_nsec)
		test_fail("disarmed timer is armed: %ld.%09ld", (long)v->tv_sec, v->tv_nsec);
	v = &cur[T_HOUR].it_value;
	if (v->tv_sec < HOUR_SEC - 60 || v->tv_sec > old[T_HOUR].it_value.tv_sec ||
	    (v->tv_sec == old[T_HOUR].it_value.tv_sec &&
	     v->tv_nsec > old[T_HOUR].it_value.tv_nsec))
		test_fail("1 hour timer: %ld.%09ld left, had %ld.%09ld", (long)v->tv_sec,
			  v->tv_nsec, (long)old[T_HOUR].it_value.tv_sec,
			  old[T_HOUR].it_value.tv_nsec);
}

int main(int argc, char **argv)
{
	static char proc[NR_TIMERS * MAX_RECORD], old_proc[NR_TIMERS * MAX_RECORD];
	struct itimerspec old[NR_TIMERS];
	struct sigaction sa;

	test_init(argc, argv);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_timer;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGRTMIN + 1, &sa, NULL))
		test_fail("sigaction: %m");

	create_timer(T_PERIODIC, CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGRTMIN + 1, 77);
	create_timer(T_DISARMED, CLOCK_REALTIME, SIGEV_SIGNAL, SIGUSR1, 88);
	create_timer(T_HOUR, CLOCK_MONOTONIC, SIGEV_NONE, 0, 0);
	arm_timer(T_PERIODIC, 0, 200000000, 0, 200000000);
	arm_timer(T_HOUR, HOUR_SEC, 0, 0, 0);
	wait_fire("before checkpoint");

	read_proc_timers(old_proc, sizeof(old_proc));
	for (int i = 0; i < NR_TIMERS; i++)
		if (timer_gettime(timers[i], &old[i]))
			test_fail("timer_gettime %d: %m", i);

	test_ready();
	test_wait();

	read_proc_timers(proc, sizeof(proc));
	if (strcmp(proc, old_proc))
		test_fail("/proc/self/timers now '%s', was '%s'", proc, old_proc);
	check_timers(old);
	wait_fire("after restore");
	test_pass();
}
