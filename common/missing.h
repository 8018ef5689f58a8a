/* SPDX-License-Identifier: MIT */
/* Kernel interfaces newer than Debian 12's headers (linux-libc-dev 6.1). */
#ifndef CRYO_COMMON_MISSING_H
#define CRYO_COMMON_MISSING_H

#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

/* PAGEMAP_SCAN ioctl on /proc/PID/pagemap: Linux 6.7. */
#ifndef PAGEMAP_SCAN
#define PAGE_IS_WPALLOWED (1 << 0)
#define PAGE_IS_WRITTEN (1 << 1)
#define PAGE_IS_FILE (1 << 2)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_SWAPPED (1 << 4)
#define PAGE_IS_PFNZERO (1 << 5)
#define PAGE_IS_HUGE (1 << 6)

struct page_region {
	uint64_t start;
	uint64_t end;
	uint64_t categories;
};

struct pm_scan_arg {
	uint64_t size;
	uint64_t flags;
	uint64_t start;
	uint64_t end;
	uint64_t walk_end;
	uint64_t vec;
	uint64_t vec_len;
	uint64_t max_pages;
	uint64_t category_inverted;
	uint64_t category_mask;
	uint64_t category_anyof_mask;
	uint64_t return_mask;
};

#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#endif

/* userfaultfd asynchronous write-protect: Linux 6.7. */
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif

/* rseq(2) flag: Linux 4.18; glibc 2.35 has no wrapper. */
#ifndef RSEQ_FLAG_UNREGISTER
#define RSEQ_FLAG_UNREGISTER (1 << 0)
#endif

/* PTRACE_GET_RSEQ_CONFIGURATION result layout: Linux 5.13. */
struct cr_rseq_config {
	uint64_t rseq_abi_pointer;
	uint32_t rseq_abi_size;
	uint32_t signature;
	uint32_t flags;
	uint32_t pad;
};

/* kcmp(2) types: Linux 3.5, not in glibc. */
#ifndef KCMP_FILE
#define KCMP_FILE 0
#endif

#endif
