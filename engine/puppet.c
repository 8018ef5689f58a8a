/* SPDX-License-Identifier: MIT */
/* The remote-syscall primitive: a stopped thread runs syscalls for cryo. */
#include <errno.h>
#include <linux/sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/internal.h"

int mem_write(pid_t pid, uint64_t addr, const void *buf, size_t len)
{
	struct iovec l = { .iov_base = (void *)buf, .iov_len = len };
	struct iovec rv = { .iov_base = (void *)addr, .iov_len = len };
	ssize_t n = process_vm_writev(pid, &l, 1, &rv, 1, 0);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EFAULT;
}

int mem_read(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec l = { .iov_base = buf, .iov_len = len };
	struct iovec rv = { .iov_base = (void *)addr, .iov_len = len };
	ssize_t n = process_vm_readv(pid, &l, 1, &rv, 1, 0);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EFAULT;
}

int puppet_init(struct puppet *p, pid_t pid, uint64_t vdso_start, uint64_t vdso_len)
{
	_cleanup_free_ uint8_t *code = NULL;
	long off;
	int r;

	p->pid = pid;
	p->scratch = 0;
	r = arch_get_regs(pid, &p->base);
	if (r < 0)
		return pr_err_errno(r, "task %d: can't get registers", pid);
	/*
	 * Remote syscalls run through a syscall instruction the task already has in its
	 * vdso, so none of its code is ever patched.
	 */
	if (vdso_len > (1UL << 20))
		return pr_err_ret(-EINVAL, "task %d: vdso of %lu bytes is implausible", pid,
				  (unsigned long)vdso_len);
	code = xmalloc(vdso_len);
	r = mem_read(pid, vdso_start, code, vdso_len);
	if (r < 0)
		return pr_err_errno(r, "task %d: can't read its vdso", pid);
	off = arch_find_syscall_insn(code, vdso_len);
	if (off < 0)
		return pr_err_ret(-ENOENT, "task %d: no syscall instruction in its vdso", pid);
	p->sys_ip = vdso_start + (uint64_t)off;
	return 0;
}

int puppet_init_thread(struct puppet *p, pid_t tid, const struct puppet *leader)
{
	int r = arch_get_regs(tid, &p->base);

	if (r < 0)
		return pr_err_errno(r, "thread %d: can't get registers", tid);
	p->pid = tid;
	p->sys_ip = leader->sys_ip;
	p->scratch = leader->scratch;
	return 0;
}

long puppet_syscall(struct puppet *p, long nr, const uint64_t args[6])
{
	long ret;
	int r = arch_remote_syscall(p->pid, &p->base, p->sys_ip, nr, args, &ret);

	if (r < 0) {
		pr_err("task %d: remote syscall %ld failed in ptrace: %s", p->pid, nr, strerror(-r));
		return r;
	}
	pr_debug("task %d: remote syscall %ld = %ld", p->pid, nr, ret);
	return ret;
}

int puppet_clone(struct puppet *via, pid_t want, uint64_t flags, int exit_signal, bool new_pidns,
		 struct puppet *ret)
{
	struct clone_args ca = { .flags = flags | CLONE_PTRACE, .set_tid_size = 1 };
	const char *what = (flags & CLONE_THREAD) ? "thread" : "child";
	uint64_t tid_addr, ca_addr;
	pid_t here = want;
	int status, rr;
	long got;

	ca.exit_signal = (uint64_t)exit_signal;
	rr = puppet_put(via, 256, &want, sizeof(want), &tid_addr);
	ca.set_tid = tid_addr;
	if (rr == 0)
		rr = puppet_put(via, 0, &ca, sizeof(ca), &ca_addr);
	if (rr < 0)
		return rr;
	got = puppet_sys(via, SYS_clone3, ca_addr, sizeof(ca));
	if (got == -EEXIST)
		return pr_err_ret(-EEXIST, "task %d: can't make %s %d, its id is in use: " PIDNS_HINT,
				  via->pid, what, want);
	if (got < 0)
		return pr_err_errno((int)got, "task %d: can't make %s %d", via->pid, what, want);
	if (new_pidns) {
		rr = pidns_host_pid(via->pid, want, flags & CLONE_THREAD, &here);
		if (rr < 0)
			return rr;
	}
	if (waitpid(here, &status, __WALL) < 0 || !WIFSTOPPED(status) || WSTOPSIG(status) != SIGSTOP)
		return pr_err_ret(-ECHILD, "task %d: %s %d did not stop (status 0x%x)", via->pid, what,
				  want, status);
	return puppet_init_thread(ret, here, via);
}

int puppet_map_scratch(struct puppet *p, uint64_t addr)
{
	long a = puppet_sys(p, SYS_mmap, addr, PUPPET_SCRATCH_LEN, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | (addr ? MAP_FIXED_NOREPLACE : 0),
			    (uint64_t)-1, 0);

	if (a < 0 && a > -4096)
		return pr_err_errno((int)a, "task %d: can't map a scratch area", p->pid);
	if (addr && (uint64_t)a != addr)
		return pr_err_ret(-EEXIST, "task %d: scratch area landed at 0x%lx", p->pid, a);
	p->scratch = (uint64_t)a;
	return 0;
}

int puppet_unmap_scratch(struct puppet *p)
{
	long r;

	if (!p->scratch)
		return 0;
	r = puppet_sys(p, SYS_munmap, p->scratch, PUPPET_SCRATCH_LEN);
	if (r < 0)
		return pr_err_errno((int)r, "task %d: can't unmap the scratch area", p->pid);
	p->scratch = 0;
	return 0;
}

int puppet_put(struct puppet *p, size_t off, const void *buf, size_t len, uint64_t *ret_addr)
{
	int r;

	if (off > PUPPET_SCRATCH_LEN || len > PUPPET_SCRATCH_LEN - off)
		return -E2BIG;
	r = mem_write(p->pid, p->scratch + off, buf, len);
	if (r < 0)
		return pr_err_errno(r, "task %d: can't write its scratch area", p->pid);
	if (ret_addr)
		*ret_addr = p->scratch + off;
	return 0;
}

int puppet_get(struct puppet *p, size_t off, void *buf, size_t len)
{
	int r;

	if (off > PUPPET_SCRATCH_LEN || len > PUPPET_SCRATCH_LEN - off)
		return -E2BIG;
	r = mem_read(p->pid, p->scratch + off, buf, len);
	if (r < 0)
		return pr_err_errno(r, "task %d: can't read its scratch area", p->pid);
	return 0;
}
