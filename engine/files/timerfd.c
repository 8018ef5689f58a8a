/* SPDX-License-Identifier: MIT */
/*
 * timerfd: clock, time left, interval and unread expirations.
 *
 * A relative timer comes back with the time it had left at dump: like the task, it does not
 * run while the task is in the images. A TFD_TIMER_ABSTIME timer on a realtime clock keeps its
 * wall-clock expiration (CLOCK_REALTIME is the same on every machine, and the task asked for a
 * moment of it); if that moment passed meanwhile, it expires at once, periodic ones counting the
 * periods missed. An absolute timer on a per-boot clock (monotonic, boottime) comes back with the
 * time it had left, re-expressed on the puppet's own clock (so also in a time namespace), and
 * keeps its flags. Not restored: that a TFD_TIMER_CANCEL_ON_SET timer was already cancelled by
 * a clock change (fdinfo shows no trace of it; its read() would have said ECANCELED).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/files.h"

/* ioctl to set a timerfd's unread expirations: Linux 3.17, with CONFIG_CHECKPOINT_RESTORE. */
#ifndef TFD_IOC_SET_TICKS
#define TFD_IOC_SET_TICKS _IOW('T', 0, uint64_t)
#endif
#ifndef CLOCK_BOOTTIME_ALARM
#define CLOCK_REALTIME_ALARM 8
#define CLOCK_BOOTTIME_ALARM 9
#endif

#define NS 1000000000ULL
/* Flags timerfd_settime knows (fs/timerfd.c TFD_SETTIME_FLAGS). */
#define SETTIME_FLAGS (TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET)
/* Scratch offsets in the puppet. */
#define SCRATCH_ITS 0
#define SCRATCH_NOW 64
#define SCRATCH_TICKS 128

/* What fdinfo shows of a timerfd. */
struct tfd_state {
	uint64_t clock, ticks, flags, value_ns, interval_ns;
};

static bool clock_is_realtime(uint64_t clock)
{
	return clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_ALARM;
}

static bool clock_is_known(uint64_t clock)
{
	return clock_is_realtime(clock) || clock == CLOCK_MONOTONIC || clock == CLOCK_BOOTTIME ||
	       clock == CLOCK_BOOTTIME_ALARM;
}

/* "(SEC, NSEC)" as fdinfo prints a time, in nanoseconds. */
static int parse_time(const char *s, uint64_t *ret)
{
	unsigned long long sec, nsec;
	int end = 0;

	if (!s || sscanf(s, "(%llu, %llu)%n", &sec, &nsec, &end) != 2 || !end || nsec >= NS ||
	    sec > (INT64_MAX - nsec) / NS)
		return -EINVAL;
	*ret = sec * NS + nsec;
	return 0;
}

/* fdinfo of a timerfd (Linux 3.17): clock, unread expirations, flags (octal), times left. */
static int parse_state(const char *buf, struct tfd_state *ret)
{
	struct tfd_state s = { 0 };

	if (proc_fdinfo_u64(buf, "clockid:", 10, &s.clock) < 0 ||
	    proc_fdinfo_u64(buf, "ticks:", 10, &s.ticks) < 0 ||
	    proc_fdinfo_u64(buf, "settime flags:", 8, &s.flags) < 0 ||
	    parse_time(proc_fdinfo_value(buf, "it_value:"), &s.value_ns) < 0 ||
	    parse_time(proc_fdinfo_value(buf, "it_interval:"), &s.interval_ns) < 0)
		return -EINVAL;
	*ret = s;
	return 0;
}

/*
 * An expired periodic timer is moved on to its next expiration only when someone looks:
 * timerfd_gettime on cryo's copy does that, folding the periods missed into the unread
 * expirations exactly as the task's next read would. fdinfo then shows expirations and time left
 * taken together under the timer's lock. If the timer expired again between the two, it shows 0
 * left with that expiration counted: the next one is one interval away.
 */
static int read_state(struct dump_ctx *d, int fd, int tfd, struct tfd_state *ret)
{
	_cleanup_free_ char *info = NULL;
	struct itimerspec its;
	int r;

	if (timerfd_gettime(fd, &its) < 0)
		return pr_err_errno(-errno, "task %d: fd %d: can't read the timerfd", d->pid, tfd);
	r = proc_read_fdinfo(d->pid, tfd, &info);
	if (r < 0)
		return pr_err_errno(r, "task %d: fd %d: can't read '/proc/%d/fdinfo/%d'",
				    d->pid, tfd, d->pid, tfd);
	if (parse_state(info, ret) < 0)
		return pr_err_ret(-EINVAL, "task %d: fd %d: can't parse '/proc/%d/fdinfo/%d'",
				  d->pid, tfd, d->pid, tfd);
	if (ret->interval_ns && !ret->value_ns)
		ret->value_ns = ret->interval_ns;
	return 0;
}

static int timerfd_dump(struct dump_ctx *d, FileEntry *f, int fd, int tfd, const struct stat *st,
			const char *link)
{
	TimerfdEntry *t = f->timerfd = xzalloc(sizeof(*t));
	struct tfd_state s = { 0 };
	struct timespec now;
	int r;

	(void)st;
	timerfd_entry__init(t);
	r = read_state(d, fd, tfd, &s);
	if (r < 0)
		return r;
	if (!clock_is_known(s.clock) || (s.flags & ~(uint64_t)SETTIME_FLAGS))
		return files_refuse(d, tfd, link, "timerfd clock or flags unknown to cryo");
	t->has_clock = t->has_ticks = t->has_settime_flags = t->has_value_ns = true;
	t->has_interval_ns = true;
	t->clock = (int32_t)s.clock;
	t->ticks = s.ticks;
	t->settime_flags = (uint32_t)s.flags;
	t->value_ns = s.value_ns;
	t->interval_ns = s.interval_ns;
	if ((s.flags & TFD_TIMER_ABSTIME) && clock_is_realtime(s.clock) && s.value_ns) {
		clock_gettime(CLOCK_REALTIME, &now);
		t->has_deadline_ns = true;
		t->deadline_ns = MIN((uint64_t)now.tv_sec * NS + (uint64_t)now.tv_nsec + s.value_ns,
				     (uint64_t)INT64_MAX);
	}
	pr_debug("task %d: fd %d: timerfd clock %lu flags %#lo left %lu ns every %lu ns, %lu unread",
		 d->pid, tfd, (unsigned long)s.clock, (unsigned long)s.flags,
		 (unsigned long)s.value_ns, (unsigned long)s.interval_ns, (unsigned long)s.ticks);
	return 0;
}

/* The clock must exist here (alarm clocks need an RTC), and the ticks ioctl if it is needed. */
static int probe_here(const FileEntry *f)
{
	_cleanup_close_ int fd = timerfd_create(f->timerfd->clock, TFD_CLOEXEC | TFD_NONBLOCK);
	uint64_t one = 1;

	if (fd < 0)
		return pr_err_errno(-errno, "timerfd file %lu: can't create a timerfd on clock %d here",
				    (unsigned long)f->id, f->timerfd->clock);
	if (f->timerfd->ticks && ioctl(fd, TFD_IOC_SET_TICKS, &one) < 0)
		return pr_err_errno(-errno, "timerfd file %lu: can't restore expirations here (%s)",
				    (unsigned long)f->id, "TFD_IOC_SET_TICKS, CONFIG_CHECKPOINT_RESTORE");
	return 0;
}

static int timerfd_prepare(struct rst_ctx *r, const FileEntry *f)
{
	const TimerfdEntry *t = f->timerfd;

	(void)r;
	if (!t || !t->has_clock || !clock_is_known((uint64_t)t->clock) ||
	    (t->settime_flags & ~(uint32_t)SETTIME_FLAGS) || t->value_ns > INT64_MAX ||
	    t->interval_ns > INT64_MAX || t->deadline_ns > INT64_MAX ||
	    ((t->settime_flags & TFD_TIMER_ABSTIME) && clock_is_realtime((uint64_t)t->clock) &&
	     t->value_ns && !t->has_deadline_ns))
		return pr_err_ret(-EINVAL, "image 'files.img': timerfd file %lu is corrupt",
				  (unsigned long)f->id);
	return probe_here(f);
}

static struct timespec ns_to_ts(uint64_t ns)
{
	return (struct timespec){ .tv_sec = (time_t)(ns / NS), .tv_nsec = (long)(ns % NS) };
}

/* The absolute expiration to arm an absolute timer with, on the puppet's clock. */
static int abs_value(struct rst_ctx *r, const FileEntry *f, uint64_t *ret_ns)
{
	const TimerfdEntry *t = f->timerfd;
	struct timespec now;
	uint64_t now_ns;
	long a;
	int rr;

	if (clock_is_realtime((uint64_t)t->clock)) {
		*ret_ns = t->deadline_ns;
		return 0;
	}
	/* Ask the puppet: in a time namespace its monotonic and boottime clocks are offset. */
	a = puppet_sys(&r->pup, SYS_clock_gettime, (uint64_t)t->clock,
		       r->pup.scratch + SCRATCH_NOW);
	if (a < 0)
		return pr_err_errno((int)a, "task %d: can't read clock %d", r->pup.pid, t->clock);
	rr = puppet_get(&r->pup, SCRATCH_NOW, &now, sizeof(now));
	if (rr < 0)
		return rr;
	now_ns = (uint64_t)now.tv_sec * NS + (uint64_t)now.tv_nsec;
	*ret_ns = MIN(now_ns + t->value_ns, (uint64_t)INT64_MAX);
	return 0;
}

/* timerfd_settime also resets the unread expirations, so it comes before TFD_IOC_SET_TICKS. */
static int arm(struct rst_ctx *r, const FileEntry *f, int fd)
{
	const TimerfdEntry *t = f->timerfd;
	uint64_t value = t->value_ns, addr;
	struct itimerspec its;
	long a;
	int rr = 0;

	/* A disarmed timer is set too: fdinfo shows the flags and interval of the last settime. */
	if (value && (t->settime_flags & TFD_TIMER_ABSTIME))
		rr = abs_value(r, f, &value);
	its.it_value = ns_to_ts(value);
	its.it_interval = ns_to_ts(t->interval_ns);
	if (rr == 0)
		rr = puppet_put(&r->pup, SCRATCH_ITS, &its, sizeof(its), &addr);
	if (rr < 0)
		return rr;
	a = puppet_sys(&r->pup, SYS_timerfd_settime, (uint64_t)fd, t->settime_flags, addr, 0);
	if (a < 0)
		return pr_err_errno((int)a, "task %d: timerfd file %lu: can't arm it", r->pup.pid,
				    (unsigned long)f->id);
	return 0;
}

static int set_ticks(struct rst_ctx *r, const FileEntry *f, int fd)
{
	uint64_t addr;
	long a;
	int rr;

	rr = puppet_put(&r->pup, SCRATCH_TICKS, &f->timerfd->ticks, sizeof(uint64_t), &addr);
	if (rr < 0)
		return rr;
	a = puppet_sys(&r->pup, SYS_ioctl, (uint64_t)fd, TFD_IOC_SET_TICKS, addr);
	if (a < 0)
		return pr_err_errno((int)a, "task %d: timerfd file %lu: can't set %lu expirations",
				    r->pup.pid, (unsigned long)f->id, (unsigned long)f->timerfd->ticks);
	return 0;
}

static int timerfd_open(struct rst_ctx *r, const FileEntry *f, int flags, int *ret_fd)
{
	uint64_t tfd_flags = TFD_CLOEXEC | ((flags & O_NONBLOCK) ? TFD_NONBLOCK : 0);
	long fd;
	int rr;

	fd = puppet_sys(&r->pup, SYS_timerfd_create, (uint64_t)f->timerfd->clock, tfd_flags);
	if (fd < 0)
		return pr_err_errno((int)fd, "task %d: timerfd file %lu: can't create it", r->pup.pid,
				    (unsigned long)f->id);
	rr = arm(r, f, (int)fd);
	if (rr == 0 && f->timerfd->ticks)
		rr = set_ticks(r, f, (int)fd);
	if (rr < 0) {
		puppet_sys(&r->pup, SYS_close, (uint64_t)fd);
		return rr;
	}
	*ret_fd = (int)fd;
	return 0;
}

const struct file_ops timerfd_file_ops = {
	.kind = FILE_KIND__FILE_TIMERFD,
	.anon_inode = "timerfd",
	.dump = timerfd_dump,
	.prepare = timerfd_prepare,
	.open = timerfd_open,
};
