/* SPDX-License-Identifier: MIT */
/* `cryo check`: probe every kernel feature the engine relies on, once, by trying it. */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <linux/userfaultfd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "common/missing.h"
#include "common/util.h"
#include "engine/internal.h"

struct probe {
	const char *name;
	bool required;
	int (*fn)(pid_t child);
};

static int probe_ptrace(pid_t c)
{
	struct cr_rseq_config rc;
	uint64_t mask;
	siginfo_t si;
	struct {
		uint64_t off;
		uint32_t flags;
		int32_t nr;
	} pa = { 0, 0, 1 };

	if (ptrace(PTRACE_GETSIGMASK, c, sizeof(mask), &mask) < 0 ||
	    ptrace(PTRACE_PEEKSIGINFO, c, &pa, &si) < 0 ||
	    ptrace(PTRACE_GET_RSEQ_CONFIGURATION, c, sizeof(rc), &rc) < 0)
		return -errno;
	return 0;
}

static int probe_clone3_set_tid(pid_t c)
{
	pid_t want = c;
	struct clone_args ca = { .exit_signal = SIGCHLD, .set_tid = (uint64_t)(uintptr_t)&want,
				 .set_tid_size = 1 };

	/* Asking for a pid in use answers EEXIST only where set_tid works. */
	if (syscall(SYS_clone3, &ca, sizeof(ca)) >= 0)
		return -EINVAL;
	return errno == EEXIST ? 0 : -errno;
}

static int probe_pidfd(pid_t c)
{
	_cleanup_close_ int pfd = (int)syscall(SYS_pidfd_open, c, 0);
	_cleanup_close_ int fd = -1;

	if (pfd < 0)
		return -errno;
	fd = (int)syscall(SYS_pidfd_getfd, pfd, 0, 0);
	return fd < 0 ? -errno : 0;
}

static int probe_pagemap_scan(pid_t c)
{
	struct page_region vec[4];
	struct pm_scan_arg a = { .size = sizeof(a), .vec = (uint64_t)(uintptr_t)vec, .vec_len = 4,
				 .category_anyof_mask = PAGE_IS_PRESENT,
				 .return_mask = PAGE_IS_PRESENT };
	_cleanup_close_ int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	(void)c;
	a.start = (uint64_t)(uintptr_t)vec & ~(PAGE_SIZE - 1);
	a.end = a.start + PAGE_SIZE;
	if (fd < 0 || ioctl(fd, PAGEMAP_SCAN, &a) < 0)
		return -errno;
	return 0;
}

static int probe_vm_readv(pid_t c)
{
	uint64_t mask;

	return mem_read(c, (uint64_t)(uintptr_t)&mask, &mask, sizeof(mask));
}

static int probe_mm_map(pid_t c)
{
	unsigned int size = 0;

	(void)c;
	return prctl(PR_SET_MM, PR_SET_MM_MAP_SIZE, &size, 0, 0) < 0 ? -errno : 0;
}

static int probe_kcmp(pid_t c)
{
	(void)c;
	return syscall(SYS_kcmp, getpid(), getpid(), KCMP_FILE, 0, 0) < 0 ? -errno : 0;
}

static int probe_uffd_wp_async(pid_t c)
{
	_cleanup_close_ int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_WP_ASYNC };

	(void)c;
	if (fd < 0 || ioctl(fd, UFFDIO_API, &api) < 0)
		return -errno;
	return 0;
}

static int probe_vdso(pid_t c)
{
	struct proc_vma *v = NULL;
	uint64_t s, l, vdso;
	size_t n = 0;
	int r = proc_parse_smaps(c, &v, &n);

	if (r == 0)
		r = mm_vdso_unit(v, n, &s, &l, &vdso);
	proc_vmas_free(v, n);
	return r;
}

static const struct probe probes[] = {
	{ "ptrace (seize, sigmask, peeksiginfo, rseq)", true, probe_ptrace },
	{ "clone3 with set_tid", true, probe_clone3_set_tid },
	{ "pidfd_open and pidfd_getfd", true, probe_pidfd },
	{ "PAGEMAP_SCAN ioctl", true, probe_pagemap_scan },
	{ "process_vm_readv", true, probe_vm_readv },
	{ "prctl PR_SET_MM_MAP", true, probe_mm_map },
	{ "kcmp", true, probe_kcmp },
	{ "vdso unit ([vvar]..[vdso]) found", true, probe_vdso },
	{ "userfaultfd WP_ASYNC (incremental dumps, later)", false, probe_uffd_wp_async },
};

static pid_t start_subject(void)
{
	pid_t c = fork();
	int status;

	if (c == 0) {
		for (;;)
			pause();
	}
	if (c < 0)
		return -errno;
	if (ptrace(PTRACE_SEIZE, c, NULL, (void *)PTRACE_O_EXITKILL) < 0 ||
	    ptrace(PTRACE_INTERRUPT, c, NULL, NULL) < 0 || waitpid(c, &status, __WALL) < 0) {
		int e = -errno;

		kill(c, SIGKILL);
		waitpid(c, NULL, 0);
		return e;
	}
	return c;
}

int cr_check(void)
{
	pid_t c = start_subject();
	int missing = 0;

	if (c < 0) {
		printf("MISSING ptrace seize/interrupt: %s\n", strerror((int)-c));
		return -EOPNOTSUPP;
	}
	for (size_t i = 0; i < ARRAY_SIZE(probes); i++) {
		int r = probes[i].fn(c);

		if (r == 0)
			printf("ok      %s\n", probes[i].name);
		else
			printf("%s %s: %s\n", probes[i].required ? "MISSING" : "absent ",
			       probes[i].name, strerror(-r));
		if (r < 0 && probes[i].required)
			missing++;
	}
	kill(c, SIGKILL);
	waitpid(c, NULL, __WALL);
	printf(missing ? "%d required feature(s) missing\n" : "looks good\n", missing);
	return missing ? -EOPNOTSUPP : 0;
}
