/* SPDX-License-Identifier: MIT */
/*
 * Seven timerfds:
 *  periodic  CLOCK_MONOTONIC, blocking, every 100 ms;
 *  oneshot   CLOCK_MONOTONIC, non-blocking with FD_CLOEXEC, 600 s from setup;
 *  disarmed  CLOCK_MONOTONIC, armed for 5 s then disarmed;
 *  expired   CLOCK_BOOTTIME, non-blocking, a 1 ms one-shot that has expired, not read;
 *  ticks     CLOCK_REALTIME, non-blocking, disarmed, 7 unread expirations (TFD_IOC_SET_TICKS);
 *  wall      CLOCK_REALTIME, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, at setup + 3600 s;
 *  absmono   CLOCK_MONOTONIC, TFD_TIMER_ABSTIME, at setup + 600 s.
 * The process waits 350 ms before it is ready, so that expirations of the periodic one wait
 * unread in the images. After restore each has the same fd and status flags and link, and
 * fdinfo the same flags, clock and settime flags. The periodic one has the same interval and at
 * most 100 ms left, reads one expiration per 100 ms the process ran (not counting the time it
 * spent in the images, within one), and then one about every 100 ms. The one-shot and absmono
 * have no more time left than before the dump (and no less than that minus the time since), and
 * both stood still for the same time (within 50 ms) while the process was in the images. The
 * disarmed one has none and reads EAGAIN; the expired one reads 1 and the ticks one 7, then
 * EAGAIN, with no time left; the wall one still expires at its wall-clock time (within 10 ms).
 * CRYO-TEST: cycles=2
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "lib.h"

#ifndef TFD_IOC_SET_TICKS
#define TFD_IOC_SET_TICKS _IOW('T', 0, uint64_t)
#endif

#define MS 1000000LL
#define SEC 1000000000LL
#define PERIOD (100 * MS)
/* Timers that keep a deadline keep it to within this. */
#define TOLERANCE (10 * MS)
#define STOOD_TOLERANCE (50 * MS)

struct tfd {
	const char *name;
	int fd;
	struct test_fd_state st;
	char info[512];
	long long left_ns, when_ns; /* time left at setup, and CLOCK_MONOTONIC then */
};

static long long ts_ns(const struct timespec *ts)
{
	return ts->tv_sec * SEC + ts->tv_nsec;
}

static struct timespec ns_ts(long long ns)
{
	return (struct timespec){ .tv_sec = ns / SEC, .tv_nsec = ns % SEC };
}

static long long clock_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts_ns(&ts);
}

static void read_info(int fd, char *buf, size_t len)
{
	static const char *const keys[] = { "flags:", "clockid:", "settime flags:" };
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	test_status_lines(path, "", keys, sizeof(keys) / sizeof(keys[0]), buf, len);
}

static void get_time(const struct tfd *t, long long *ret_left, long long *ret_interval)
{
	struct itimerspec its;

	if (timerfd_gettime(t->fd, &its))
		test_fail("%s: timerfd_gettime: %s", t->name, strerror(errno));
	*ret_left = ts_ns(&its.it_value);
	*ret_interval = ts_ns(&its.it_interval);
}

static void make(struct tfd *t, const char *name, clockid_t clock, int flags)
{
	t->name = name;
	t->fd = timerfd_create(clock, flags);
	if (t->fd < 0)
		test_fail("%s: timerfd_create: %s", name, strerror(errno));
}

static void arm(const struct tfd *t, int flags, long long value, long long interval)
{
	struct itimerspec its = { .it_value = ns_ts(value), .it_interval = ns_ts(interval) };

	if (timerfd_settime(t->fd, flags, &its, NULL))
		test_fail("%s: timerfd_settime: %s", t->name, strerror(errno));
}

static void capture(struct tfd *t)
{
	long long interval;

	test_fd_state(t->fd, &t->st);
	read_info(t->fd, t->info, sizeof(t->info));
	/* The clock first: the time left is then taken no earlier than when_ns. */
	t->when_ns = clock_ns(CLOCK_MONOTONIC);
	get_time(t, &t->left_ns, &interval);
}

static void check_common(const struct tfd *t)
{
	char now[512], what[64];

	test_fd_check(t->fd, &t->st);
	read_info(t->fd, now, sizeof(now));
	snprintf(what, sizeof(what), "fdinfo of timerfd %s", t->name);
	test_same_lines(what, t->info, now);
}

static uint64_t read_ticks(const struct tfd *t)
{
	uint64_t n;

	if (read(t->fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
		test_fail("%s: read: %s", t->name, strerror(errno));
	return n;
}

static void check_no_ticks(const struct tfd *t)
{
	uint64_t n;

	if (read(t->fd, &n, sizeof(n)) >= 0)
		test_fail("%s: read %llu expirations, want none", t->name, (unsigned long long)n);
	if (errno != EAGAIN)
		test_fail("%s: read: %s", t->name, strerror(errno));
}

/*
 * Time left no more than at setup, and no less than that minus the time since. Returns how
 * long the timer stood still: the time the process spent in the images.
 */
static long long check_left(const struct tfd *t)
{
	long long left, interval, since;

	get_time(t, &left, &interval);
	since = clock_ns(CLOCK_MONOTONIC) - t->when_ns;
	if (left <= 0 || left > t->left_ns || left < t->left_ns - since || interval)
		test_fail("%s: %lld ns left every %lld ns; had %lld ns left %lld ns ago", t->name,
			  left, interval, t->left_ns, since);
	return left - (t->left_ns - since);
}

/*
 * Armed at @start: it has expired once a period for as long as the process ran, which is the
 * time since minus the time @stood in the images.
 */
static void check_periodic(const struct tfd *t, long long start, long long stood)
{
	long long left, interval, t0, gap, want;
	uint64_t n;

	get_time(t, &left, &interval);
	if (interval != PERIOD || left <= 0 || left > PERIOD)
		test_fail("%s: %lld ns left every %lld ns, want at most %lld every %lld", t->name,
			  left, interval, PERIOD, PERIOD);
	want = (clock_ns(CLOCK_MONOTONIC) - start - stood) / PERIOD;
	n = read_ticks(t);
	if ((long long)n < want - 1 || (long long)n > want + 1)
		test_fail("%s: read %llu expirations, want %lld", t->name, (unsigned long long)n,
			  want);
	/* From one expiration to the next: one period, give or take a slow machine. */
	read_ticks(t);
	t0 = clock_ns(CLOCK_MONOTONIC);
	read_ticks(t);
	gap = clock_ns(CLOCK_MONOTONIC) - t0;
	if (gap < PERIOD / 2 || gap > 3 * PERIOD)
		test_fail("%s: %lld ns between expirations, want about %lld", t->name, gap, PERIOD);
}

static void check_disarmed(const struct tfd *t)
{
	long long left, interval;

	get_time(t, &left, &interval);
	if (left || interval)
		test_fail("%s: %lld ns left every %lld ns, want disarmed", t->name, left, interval);
	check_no_ticks(t);
}

/* A stopped timer with @want expirations not yet read. */
static void check_unread(const struct tfd *t, uint64_t want)
{
	long long left, interval;
	uint64_t n;

	get_time(t, &left, &interval);
	if (left || interval)
		test_fail("%s: %lld ns left every %lld ns, want stopped", t->name, left, interval);
	n = read_ticks(t);
	if (n != want)
		test_fail("%s: read %llu expirations, want %llu", t->name, (unsigned long long)n,
			  (unsigned long long)want);
	check_no_ticks(t);
}

static void check_wall(const struct tfd *t, long long deadline)
{
	long long left, interval, off;

	get_time(t, &left, &interval);
	off = clock_ns(CLOCK_REALTIME) + left - deadline;
	if (left <= 0 || off < -TOLERANCE || off > TOLERANCE)
		test_fail("%s: expires %lld ns off its wall-clock time (%lld ns left)", t->name, off,
			  left);
}

static void wait_expired(const struct tfd *t)
{
	struct pollfd p = { .fd = t->fd, .events = POLLIN };

	if (poll(&p, 1, 5000) != 1)
		test_fail("%s: did not expire: %s", t->name, strerror(errno));
}

int main(int argc, char **argv)
{
	struct tfd periodic, oneshot, disarmed, expired, ticks, wall, absmono;
	uint64_t seven = 7;
	long long start, deadline, stood, stood_abs;

	test_init(argc, argv);
	make(&periodic, "periodic", CLOCK_MONOTONIC, 0);
	start = clock_ns(CLOCK_MONOTONIC);
	arm(&periodic, 0, PERIOD, PERIOD);
	/* Captured now: timerfd_gettime would fold the expirations to come into its count. */
	capture(&periodic);
	make(&oneshot, "oneshot", CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	arm(&oneshot, 0, 600 * SEC, 0);
	make(&disarmed, "disarmed", CLOCK_MONOTONIC, TFD_NONBLOCK);
	arm(&disarmed, 0, 5 * SEC, 0);
	arm(&disarmed, 0, 0, 0);
	make(&expired, "expired", CLOCK_BOOTTIME, TFD_NONBLOCK);
	arm(&expired, 0, MS, 0);
	wait_expired(&expired);
	make(&ticks, "ticks", CLOCK_REALTIME, TFD_NONBLOCK);
	if (ioctl(ticks.fd, TFD_IOC_SET_TICKS, &seven))
		test_fail("TFD_IOC_SET_TICKS: %s", strerror(errno));
	make(&wall, "wall", CLOCK_REALTIME, TFD_NONBLOCK);
	deadline = clock_ns(CLOCK_REALTIME) + 3600 * SEC;
	arm(&wall, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, deadline, 0);
	make(&absmono, "absmono", CLOCK_MONOTONIC, TFD_NONBLOCK);
	arm(&absmono, TFD_TIMER_ABSTIME, clock_ns(CLOCK_MONOTONIC) + 600 * SEC, 0);
	/* A few expirations of the periodic timer wait unread, not yet counted, in the images. */
	usleep(350 * 1000);
	capture(&oneshot);
	capture(&disarmed);
	capture(&expired);
	capture(&ticks);
	capture(&wall);
	capture(&absmono);

	test_ready();
	test_wait();

	check_common(&periodic);
	check_common(&oneshot);
	check_common(&disarmed);
	check_common(&expired);
	check_common(&ticks);
	check_common(&wall);
	check_common(&absmono);
	stood = check_left(&oneshot);
	stood_abs = check_left(&absmono);
	test_msg("timers stood still for %lld ms while in the images", stood / MS);
	/* The two are read and armed a few remote syscalls apart, more under load. */
	if (llabs(stood_abs - stood) > STOOD_TOLERANCE)
		test_fail("absmono stood still for %lld ms, oneshot for %lld ms", stood_abs / MS,
			  stood / MS);
	check_wall(&wall, deadline);
	check_disarmed(&disarmed);
	check_unread(&expired, 1);
	check_unread(&ticks, 7);
	check_periodic(&periodic, start, stood);
	test_pass();
}
