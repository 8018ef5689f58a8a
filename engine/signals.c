/* SPDX-License-Identifier: MIT */
/* Signal dispositions, the alternate stack and pending signals. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/internal.h"

#define NSIG_KERNEL 64
#define SIGINFO_SIZE 128
#define PENDING_MAX 65536

/* The kernel's struct sigaction on x86-64 (arch/x86/include/uapi/asm/signal.h). */
struct ksigaction {
	uint64_t handler;
	uint64_t flags;
	uint64_t restorer;
	uint64_t mask;
};

struct kstack {
	uint64_t sp;
	int32_t flags;
	int32_t pad;
	uint64_t size;
};

static int dump_sigactions(struct dump_ctx *d)
{
	TaskEntry *t = d->task;

	for (int sig = 1; sig <= NSIG_KERNEL; sig++) {
		struct ksigaction ka;
		SigactionEntry *e;
		long a;
		int r;

		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		a = puppet_sys(&d->pup, SYS_rt_sigaction, (uint64_t)sig, 0, d->pup.scratch, 8);
		if (a < 0)
			return pr_err_errno((int)a, "task %d: can't get the action of signal %d",
					    d->pid, sig);
		r = puppet_get(&d->pup, 0, &ka, sizeof(ka));
		if (r < 0)
			return r;
		if (!ka.handler && !ka.flags && !ka.mask)
			continue;
		e = xzalloc(sizeof(*e));
		sigaction_entry__init(e);
		e->has_sig = e->has_handler = e->has_flags = e->has_restorer = e->has_mask = true;
		e->sig = (uint32_t)sig;
		e->handler = ka.handler;
		e->flags = ka.flags;
		e->restorer = ka.restorer;
		e->mask = ka.mask;
		t->sigactions = xrealloc_array(t->sigactions, t->n_sigactions + 1, sizeof(e));
		t->sigactions[t->n_sigactions++] = e;
	}
	return 0;
}

int signals_dump(struct dump_ctx *d)
{
	return dump_sigactions(d);
}

int signals_dump_thread(struct puppet *p, ThreadEntry *th)
{
	struct kstack ks;
	long a;
	int r;

	a = puppet_sys(p, SYS_sigaltstack, 0, p->scratch);
	if (a < 0)
		return pr_err_errno((int)a, "thread %d: can't get its sigaltstack", p->pid);
	r = puppet_get(p, 0, &ks, sizeof(ks));
	if (r < 0)
		return r;
	th->altstack = xzalloc(sizeof(*th->altstack));
	sigaltstack_entry__init(th->altstack);
	th->altstack->has_sp = th->altstack->has_flags = th->altstack->has_size = true;
	th->altstack->sp = ks.sp;
	th->altstack->flags = ks.flags;
	th->altstack->size = ks.size;
	return 0;
}

static int peek_pending(pid_t tid, uint32_t flags, ProtobufCBinaryData **ret, size_t *ret_n)
{
	uint8_t buf[32 * SIGINFO_SIZE];

	for (uint64_t off = 0;;) {
		struct {
			uint64_t off;
			uint32_t flags;
			int32_t nr;
		} args = { off, flags, 32 };
		long n = ptrace(PTRACE_PEEKSIGINFO, tid, &args, buf);

		if (n < 0)
			return pr_err_errno(-errno, "thread %d: can't peek pending signals", tid);
		if (n == 0)
			return 0;
		if (*ret_n + (size_t)n > PENDING_MAX)
			return pr_err_ret(-E2BIG, "thread %d: too many pending signals", tid);
		*ret = xrealloc_array(*ret, *ret_n + (size_t)n, sizeof(**ret));
		for (long i = 0; i < n; i++) {
			ProtobufCBinaryData *b = &(*ret)[(*ret_n)++];

			b->len = SIGINFO_SIZE;
			b->data = xmalloc(SIGINFO_SIZE);
			memcpy(b->data, buf + i * SIGINFO_SIZE, SIGINFO_SIZE);
		}
		off += (uint64_t)n;
	}
}

/* Last of the dump: signals that arrived while it ran are in the image too. */
int signals_dump_pending(struct dump_ctx *d)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < d->task->n_threads; i++) {
		ThreadEntry *th = d->task->threads[i];

		r = peek_pending((pid_t)th->tid, 0, &th->pending, &th->n_pending);
	}
	if (r == 0)
		r = peek_pending(d->pid, PTRACE_PEEKSIGINFO_SHARED, &d->task->shared_pending,
				 &d->task->n_shared_pending);
	return r;
}

int signals_restore(struct rst_ctx *r)
{
	const TaskEntry *t = r->task;

	for (size_t i = 0; i < t->n_sigactions; i++) {
		const SigactionEntry *e = t->sigactions[i];
		struct ksigaction ka = { e->handler, e->flags, e->restorer, e->mask };
		uint64_t addr;
		long a;
		int rr;

		rr = puppet_put(&r->pup, 0, &ka, sizeof(ka), &addr);
		if (rr < 0)
			return rr;
		a = puppet_sys(&r->pup, SYS_rt_sigaction, e->sig, addr, 0, 8);
		if (a < 0)
			return pr_err_errno((int)a, "task %d: can't set the action of signal %u",
					    r->pup.pid, e->sig);
	}
	return 0;
}

/*
 * Queue a pending signal from the image: sent by the thread to itself, any si_code goes.
 * @tid is the thread's image tid, its tid where it runs; 0 for a signal of the process.
 */
static int queue_one(struct rst_ctx *r, struct puppet *p, const ProtobufCBinaryData *b,
		     uint32_t tid)
{
	int32_t signo;
	uint64_t addr;
	long a;
	int rr;

	memcpy(&signo, b->data, sizeof(signo));
	rr = puppet_put(p, 0, b->data, SIGINFO_SIZE, &addr);
	if (rr < 0)
		return rr;
	if (!tid)
		a = puppet_sys(p, SYS_rt_sigqueueinfo, (uint64_t)r->task->pid, (uint64_t)signo, addr);
	else
		a = puppet_sys(p, SYS_rt_tgsigqueueinfo, (uint64_t)r->task->pid, (uint64_t)tid,
			       (uint64_t)signo, addr);
	if (a < 0)
		return pr_err_errno((int)a, "thread %d: can't queue signal %d", p->pid, signo);
	return 0;
}

int signals_restore_thread(struct rst_ctx *r, struct puppet *p, const ThreadEntry *th)
{
	const SigaltstackEntry *as = th->altstack;
	int rr = 0;

	if (as && as->sp) {
		/* SS_ONSTACK only says the thread was on it; the stack itself is what we set. */
		struct kstack ks = { as->sp, as->flags & ~SS_ONSTACK, 0, as->size };
		uint64_t addr;
		long a;

		rr = puppet_put(p, 0, &ks, sizeof(ks), &addr);
		if (rr < 0)
			return rr;
		a = puppet_sys(p, SYS_sigaltstack, addr, 0);
		if (a < 0)
			return pr_err_errno((int)a, "thread %d: can't set its sigaltstack", p->pid);
	}
	for (size_t i = 0; rr == 0 && i < th->n_pending; i++)
		rr = queue_one(r, p, &th->pending[i], th->tid);
	return rr;
}

int signals_restore_pending(struct rst_ctx *r)
{
	int rr = 0;

	for (size_t i = 0; rr == 0 && i < r->task->n_shared_pending; i++)
		rr = queue_one(r, &r->pup, &r->task->shared_pending[i], 0);
	return rr;
}

int signals_check_image(const TaskEntry *t)
{
	for (size_t i = 0; i < t->n_sigactions; i++)
		if (t->sigactions[i]->sig < 1 || t->sigactions[i]->sig > NSIG_KERNEL ||
		    t->sigactions[i]->sig == SIGKILL || t->sigactions[i]->sig == SIGSTOP)
			return -EINVAL;
	for (size_t i = 0; i < t->n_shared_pending; i++)
		if (t->shared_pending[i].len != SIGINFO_SIZE)
			return -EINVAL;
	for (size_t j = 0; j < t->n_threads; j++) {
		if (t->threads[j]->n_pending > PENDING_MAX)
			return -EINVAL;
		for (size_t i = 0; i < t->threads[j]->n_pending; i++)
			if (t->threads[j]->pending[i].len != SIGINFO_SIZE)
				return -EINVAL;
	}
	if (t->n_shared_pending > PENDING_MAX)
		return -EINVAL;
	return 0;
}
