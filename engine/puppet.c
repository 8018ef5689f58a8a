/* SPDX-License-Identifier: MIT */
/* The remote-syscall primitive: a stopped thread runs syscalls for cryo. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>

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
