/* SPDX-License-Identifier: MIT */
/* Interval timers and POSIX timers, with their remaining time. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/internal.h"

/* prctl to create POSIX timers with chosen ids: Linux 6.17 (include/uapi/linux/prctl.h). */
#ifndef PR_TIMER_CREATE_RESTORE_IDS
#define PR_TIMER_CREATE_RESTORE_IDS 77
#define PR_TIMER_CREATE_RESTORE_IDS_OFF 0
#define PR_TIMER_CREATE_RESTORE_IDS_ON 1
#endif

#define NS 1000000000ULL

/* The kernel's struct sigevent (64 bytes on x86-64). */
struct ksigevent {
	uint64_t value;
	int32_t signo;
	int32_t notify;
	int32_t tid;
	int32_t pad[11];
};

static int dump_itimers(struct dump_ctx *d)
{
	TaskEntry *t = d->task;

	for (int which = ITIMER_REAL; which <= ITIMER_PROF; which++) {
		struct itimerval it;
		ItimerEntry *e;
		long a = puppet_sys(&d->pup, SYS_getitimer, (uint64_t)which, d->pup.scratch);
		int r;

		if (a < 0)
			return pr_err_errno((int)a, "task %d: can't get itimer %d", d->pid, which);
		r = puppet_get(&d->pup, 0, &it, sizeof(it));
		if (r < 0)
			return r;
		if (!timerisset(&it.it_value) && !timerisset(&it.it_interval))
			continue;
		e = xzalloc(sizeof(*e));
		itimer_entry__init(e);
		e->has_which = e->has_interval_us = e->has_value_us = true;
		e->which = (uint32_t)which;
		e->interval_us = (uint64_t)it.it_interval.tv_sec * 1000000 + it.it_interval.tv_usec;
		e->value_us = (uint64_t)it.it_value.tv_sec * 1000000 + it.it_value.tv_usec;
		t->itimers = xrealloc_array(t->itimers, t->n_itimers + 1, sizeof(e));
		t->itimers[t->n_itimers++] = e;
	}
	return 0;
}

static int dump_posix_timer(struct dump_ctx *d, const struct proc_timer *pt)
{
	TaskEntry *t = d->task;
	struct itimerspec its;
	PosixTimerEntry *e;
	long a, overrun;
	int r;

	a = puppet_sys(&d->pup, SYS_timer_gettime, (uint64_t)pt->id, d->pup.scratch);
	if (a < 0)
		return pr_err_errno((int)a, "task %d: can't get POSIX timer %d", d->pid, pt->id);
	r = puppet_get(&d->pup, 0, &its, sizeof(its));
	if (r < 0)
		return r;
	overrun = puppet_sys(&d->pup, SYS_timer_getoverrun, (uint64_t)pt->id);
	e = xzalloc(sizeof(*e));
	posix_timer_entry__init(e);
	e->has_id = e->has_clock = e->has_notify = e->has_signo = e->has_sigval = true;
	e->has_notify_tid = e->has_interval_ns = e->has_value_ns = e->has_overrun = true;
	e->id = pt->id;
	e->clock = pt->clock;
	e->notify = pt->notify;
	e->signo = pt->signo;
	e->sigval = pt->sigval;
	e->notify_tid = pt->notify_tid;
	e->interval_ns = (uint64_t)its.it_interval.tv_sec * NS + (uint64_t)its.it_interval.tv_nsec;
	e->value_ns = (uint64_t)its.it_value.tv_sec * NS + (uint64_t)its.it_value.tv_nsec;
	e->overrun = overrun > 0 ? (int32_t)overrun : 0;
	t->posix_timers = xrealloc_array(t->posix_timers, t->n_posix_timers + 1, sizeof(e));
	t->posix_timers[t->n_posix_timers++] = e;
	return 0;
}

static bool is_thread_of(const TaskEntry *t, int tid)
{
	for (size_t i = 0; i < t->n_threads; i++)
		if ((int)t->threads[i]->tid == tid)
			return true;
	return false;
}

static int cmp_timer_id(const void *a, const void *b)
{
	const struct proc_timer *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

int timers_dump(struct dump_ctx *d)
{
	_cleanup_free_ struct proc_timer *pts = NULL;
	size_t n = 0;
	int r;

	r = dump_itimers(d);
	if (r < 0)
		return r;
	r = proc_parse_timers(d->pid, &pts, &n);
	if (r < 0)
		return pr_err_errno(r, "task %d: can't parse its POSIX timers", d->pid);
	/* Restore may have to create timers in id order: keep them sorted in the image. */
	qsort(pts, n, sizeof(*pts), cmp_timer_id);
	for (size_t i = 0; i < n; i++) {
		if ((pts[i].notify & SIGEV_THREAD_ID) && !is_thread_of(d->task, pts[i].notify_tid))
			return pr_err_ret(-EOPNOTSUPP,
					  "task %d: POSIX timer %d targets thread %d of another process",
					  d->pid, pts[i].id, pts[i].notify_tid);
		r = dump_posix_timer(d, &pts[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

static int restore_itimers(struct rst_ctx *r)
{
	for (size_t i = 0; i < r->task->n_itimers; i++) {
		const ItimerEntry *e = r->task->itimers[i];
		/* Caught as it expired, a periodic timer reads 0 left; 0 would disarm it. */
		uint64_t value = e->value_us ? e->value_us : MIN(e->interval_us, 1);
		struct itimerval it = {
			.it_interval = { (time_t)(e->interval_us / 1000000),
					 (suseconds_t)(e->interval_us % 1000000) },
			.it_value = { (time_t)(value / 1000000), (suseconds_t)(value % 1000000) },
		};
		uint64_t addr;
		long a;
		int rr;

		if (e->which > ITIMER_PROF)
			return pr_err_ret(-EINVAL, "image: itimer %u is corrupt", e->which);
		rr = puppet_put(&r->pup, 0, &it, sizeof(it), &addr);
		if (rr < 0)
			return rr;
		a = puppet_sys(&r->pup, SYS_setitimer, e->which, addr, 0);
		if (a < 0)
			return pr_err_errno((int)a, "task %d: can't set itimer %u", r->pup.pid,
					    e->which);
	}
	return 0;
}

/*
 * Create timer @e with its dumped id: either the kernel takes the id we ask for
 * (PR_TIMER_CREATE_RESTORE_IDS), or ids come in sequence and we create and delete up to it.
 */
static int create_posix_timer(struct rst_ctx *r, const PosixTimerEntry *e, bool chosen_ids)
{
	/* SIGEV_THREAD_ID timers go to their thread: threads exist before timers are made. */
	struct ksigevent sev = { .value = e->sigval, .signo = e->signo, .notify = e->notify,
				 .tid = e->notify & SIGEV_THREAD_ID ? e->notify_tid :
								     (int32_t)r->task->pid };
	uint64_t sev_addr, id_addr;
	int32_t id = e->id;
	long a;
	int rr;

	rr = puppet_put(&r->pup, 0, &sev, sizeof(sev), &sev_addr);
	if (rr < 0)
		return rr;
	for (int tries = 0; tries <= 65536; tries++) {
		rr = puppet_put(&r->pup, 128, &id, sizeof(id), &id_addr);
		if (rr < 0)
			return rr;
		a = puppet_sys(&r->pup, SYS_timer_create, (uint64_t)e->clock, sev_addr, id_addr);
		if (a < 0)
			return pr_err_errno((int)a, "task %d: can't create POSIX timer %d",
					    r->pup.pid, e->id);
		rr = puppet_get(&r->pup, 128, &id, sizeof(id));
		if (rr < 0 || id == e->id)
			return rr;
		if (chosen_ids || id > e->id)
			return pr_err_ret(-EEXIST, "task %d: POSIX timer %d came out as %d",
					  r->pup.pid, e->id, id);
		puppet_sys(&r->pup, SYS_timer_delete, (uint64_t)id);
		id = e->id;
	}
	return pr_err_ret(-EEXIST, "task %d: can't get POSIX timer id %d", r->pup.pid, e->id);
}

static int arm_posix_timer(struct rst_ctx *r, const PosixTimerEntry *e)
{
	/* Caught as it expired, a periodic timer reads 0 left; 0 would disarm it. */
	uint64_t value = e->value_ns ? e->value_ns : MIN(e->interval_ns, 1);
	struct itimerspec its = {
		.it_interval = { (time_t)(e->interval_ns / NS), (long)(e->interval_ns % NS) },
		.it_value = { (time_t)(value / NS), (long)(value % NS) },
	};
	uint64_t addr;
	long a;
	int rr;

	if (!value)
		return 0;
	rr = puppet_put(&r->pup, 0, &its, sizeof(its), &addr);
	if (rr < 0)
		return rr;
	a = puppet_sys(&r->pup, SYS_timer_settime, (uint64_t)e->id, 0, addr, 0);
	if (a < 0)
		return pr_err_errno((int)a, "task %d: can't arm POSIX timer %d", r->pup.pid, e->id);
	return 0;
}

int timers_restore(struct rst_ctx *r)
{
	bool chosen = false;
	int rr;

	rr = restore_itimers(r);
	if (rr < 0 || !r->task->n_posix_timers)
		return rr;
	chosen = puppet_sys(&r->pup, SYS_prctl, PR_TIMER_CREATE_RESTORE_IDS,
			    PR_TIMER_CREATE_RESTORE_IDS_ON, 0, 0, 0) == 0;
	/* Sequential ids need creation in id order: the image has them sorted. */
	for (size_t i = 0; rr == 0 && i < r->task->n_posix_timers; i++)
		rr = create_posix_timer(r, r->task->posix_timers[i], chosen);
	if (chosen)
		puppet_sys(&r->pup, SYS_prctl, PR_TIMER_CREATE_RESTORE_IDS,
			   PR_TIMER_CREATE_RESTORE_IDS_OFF, 0, 0, 0);
	for (size_t i = 0; rr == 0 && i < r->task->n_posix_timers; i++)
		rr = arm_posix_timer(r, r->task->posix_timers[i]);
	return rr;
}
