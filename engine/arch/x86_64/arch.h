/* SPDX-License-Identifier: MIT */
/* The only place that knows x86-64 registers, xsave and syscall-restart rules. */
#ifndef CRYO_ENGINE_ARCH_H
#define CRYO_ENGINE_ARCH_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

#include "img-task.pb-c.h"

typedef struct user_regs_struct arch_regs_t;

/* Highest user address plus one (47-bit address space). */
#define ARCH_TASK_SIZE 0x7ffffffff000ULL
#define ARCH_SYSCALL_INSN_LEN 2

int arch_get_regs(pid_t tid, arch_regs_t *ret);
int arch_set_regs(pid_t tid, const arch_regs_t *regs);
/*
 * Execute syscall @nr in stopped thread @tid by pointing it at the syscall instruction at @ip
 * with registers @base otherwise; the thread must have every signal blocked. The raw result
 * (value or -errno) goes to *ret; the return value reports ptrace failures.
 */
int arch_remote_syscall(pid_t tid, const arch_regs_t *base, uint64_t ip, long nr,
			const uint64_t args[6], long *ret);
/* Offset of a "syscall" instruction in the code @buf of @len bytes, or -ENOENT. */
long arch_find_syscall_insn(const uint8_t *buf, size_t len);

/* Put registers @regs (as the thread had them when frozen) and its xsave state into @t. */
int arch_dump_thread_regs(pid_t tid, const arch_regs_t *regs, ThreadEntry *t);
/* Set the final registers of @tid from @t, applying the syscall-restart rules. */
int arch_restore_thread_regs(pid_t tid, const ThreadEntry *t);
/* XCR0 and NT_X86_XSTATE size of this CPU. */
void arch_xsave_info(uint64_t *features, uint32_t *size);
/* True when an image dumped with @features can be restored on this CPU. */
int arch_check_xsave(uint64_t features);
/* 0 when an xsave blob of @len bytes from an image is within bounds. */
int arch_check_xsave_len(size_t len);

#endif
