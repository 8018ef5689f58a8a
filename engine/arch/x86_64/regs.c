/* SPDX-License-Identifier: MIT */
#include <cpuid.h>
#include <elf.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/arch/x86_64/arch.h"

/* Kernel-internal errnos a syscall interrupted by a stop leaves in rax (include/linux/errno.h). */
#define ERESTARTSYS 512
#define ERESTARTNOINTR 513
#define ERESTARTNOHAND 514
#define ERESTART_RESTARTBLOCK 516

/* Largest NT_X86_XSTATE area we accept from an image (AMX tiles need ~11 KiB). */
#define XSAVE_MAX (64u << 10)

int arch_get_regs(pid_t tid, arch_regs_t *ret)
{
	if (ptrace(PTRACE_GETREGS, tid, NULL, ret) < 0)
		return -errno;
	return 0;
}

int arch_set_regs(pid_t tid, const arch_regs_t *regs)
{
	if (ptrace(PTRACE_SETREGS, tid, NULL, regs) < 0)
		return -errno;
	return 0;
}

int arch_remote_syscall(pid_t tid, const arch_regs_t *base, uint64_t ip, long nr,
			const uint64_t args[6], long *ret)
{
	arch_regs_t r = *base;
	int status, rr;

	r.rax = (uint64_t)nr;
	r.rdi = args[0];
	r.rsi = args[1];
	r.rdx = args[2];
	r.r10 = args[3];
	r.r8 = args[4];
	r.r9 = args[5];
	r.rip = ip;
	/* orig_rax -1: the kernel must not apply syscall-restart rules to these registers. */
	r.orig_rax = (uint64_t)-1;
	rr = arch_set_regs(tid, &r);
	if (rr < 0)
		return rr;
	/* A single step over "syscall" stops with SIGTRAP once the syscall has returned. */
	if (ptrace(PTRACE_SINGLESTEP, tid, NULL, NULL) < 0)
		return -errno;
	if (waitpid(tid, &status, __WALL) < 0)
		return -errno;
	if (!WIFSTOPPED(status) || WSTOPSIG(status) != SIGTRAP)
		return WIFSTOPPED(status) ? -EINTR : -ESRCH;
	rr = arch_get_regs(tid, &r);
	if (rr < 0)
		return rr;
	if (r.rip != ip + ARCH_SYSCALL_INSN_LEN)
		return -EFAULT;
	*ret = (long)r.rax;
	return 0;
}

long arch_find_syscall_insn(const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++)
		if (buf[i] == 0x0f && buf[i + 1] == 0x05)
			return (long)i;
	return -ENOENT;
}

#define REGS_FIELDS(X)                                                                             \
	X(r15) X(r14) X(r13) X(r12) X(rbp) X(rbx) X(r11) X(r10) X(r9) X(r8) X(rax) X(rcx) X(rdx)  \
	X(rsi) X(rdi) X(orig_rax) X(rip) X(cs) X(eflags) X(rsp) X(ss) X(fs_base) X(gs_base)    \
	X(ds) X(es) X(fs) X(gs)

static void regs_to_image(const arch_regs_t *r, X86Regs *m)
{
#define X(f)                                                                                       \
	m->has_##f = true;                                                                         \
	m->f = r->f;
	REGS_FIELDS(X)
#undef X
}

static void regs_from_image(const X86Regs *m, arch_regs_t *r)
{
#define X(f) r->f = m->f;
	REGS_FIELDS(X)
#undef X
}

int arch_dump_thread_regs(pid_t tid, const arch_regs_t *regs, ThreadEntry *t)
{
	static uint8_t xbuf[XSAVE_MAX];
	struct iovec iov = { .iov_base = xbuf, .iov_len = sizeof(xbuf) };

	t->regs = xzalloc(sizeof(*t->regs));
	x86_regs__init(t->regs);
	regs_to_image(regs, t->regs);
	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_X86_XSTATE, &iov) < 0)
		return pr_err_errno(-errno, "thread %d: can't get xsave state", tid);
	t->has_xsave = true;
	t->xsave.len = iov.iov_len;
	t->xsave.data = xmalloc(iov.iov_len);
	memcpy(t->xsave.data, xbuf, iov.iov_len);
	return 0;
}

/*
 * A thread stopped inside a syscall has rax = -ERESTART* and orig_rax = the syscall. The kernel
 * would turn that into a restart on return to user space; we do it explicitly so the restored
 * thread needs none of its lost kernel state (restart_block).
 */
static void apply_restart_rules(arch_regs_t *r)
{
	long err = (long)r->rax;

	if ((long)r->orig_rax < 0)
		return;
	switch (-err) {
	case ERESTARTNOHAND:
	case ERESTARTSYS:
	case ERESTARTNOINTR:
		r->rax = r->orig_rax;
		r->rip -= ARCH_SYSCALL_INSN_LEN;
		break;
	case ERESTART_RESTARTBLOCK:
		/*
		 * A relative nanosleep left its remaining time in *rmtp when interrupted
		 * (kernel/time/hrtimer.c nanosleep_copyout): sleep for just that long.
		 */
		if (r->orig_rax == SYS_clock_nanosleep && r->rsi == 0 && r->r10) {
			r->rax = SYS_clock_nanosleep;
			r->rdx = r->r10;
			r->rip -= ARCH_SYSCALL_INSN_LEN;
		} else if (r->orig_rax == SYS_nanosleep && r->rsi) {
			r->rax = SYS_clock_nanosleep;
			r->rdx = r->rsi;
			r->r10 = r->rsi;
			r->rdi = CLOCK_REALTIME;
			r->rsi = 0;
			r->rip -= ARCH_SYSCALL_INSN_LEN;
		} else {
			/* No state to resume from: the syscall returns EINTR, as after a signal. */
			r->rax = (uint64_t)-EINTR;
		}
		break;
	}
	r->orig_rax = (uint64_t)-1;
}

int arch_restore_thread_regs(pid_t tid, const ThreadEntry *t)
{
	struct iovec iov;
	arch_regs_t r;
	int rr;

	rr = arch_get_regs(tid, &r);
	if (rr < 0)
		return pr_err_errno(rr, "thread %d: can't get registers", tid);
	regs_from_image(t->regs, &r);
	apply_restart_rules(&r);
	rr = arch_set_regs(tid, &r);
	if (rr < 0)
		return pr_err_errno(rr, "thread %d: can't set registers", tid);
	if (!t->has_xsave)
		return 0;
	iov.iov_base = t->xsave.data;
	iov.iov_len = t->xsave.len;
	if (ptrace(PTRACE_SETREGSET, tid, (void *)NT_X86_XSTATE, &iov) < 0)
		return pr_err_errno(-errno, "thread %d: can't set xsave state", tid);
	return 0;
}

static uint64_t xgetbv0(void)
{
	uint32_t lo, hi;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t)hi << 32) | lo;
}

void arch_xsave_info(uint64_t *features, uint32_t *size)
{
	unsigned int a, b, c, d;

	*features = xgetbv0();
	/* CPUID.(EAX=0DH,ECX=0):EBX is the xsave area size for the features enabled in XCR0. */
	__cpuid_count(0xd, 0, a, b, c, d);
	*size = b;
}

int arch_check_xsave(uint64_t features)
{
	uint64_t here;
	uint32_t size;

	arch_xsave_info(&here, &size);
	if (features & ~here)
		return pr_err_ret(-EOPNOTSUPP,
				  "image uses xsave features 0x%llx, this CPU has only 0x%llx",
				  (unsigned long long)features, (unsigned long long)here);
	return 0;
}

int arch_check_xsave_len(size_t len)
{
	return len <= XSAVE_MAX ? 0 : -EINVAL;
}
