/* SPDX-License-Identifier: MIT */
/* Memory contents: present pages found with PAGEMAP_SCAN, copied in large batches. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "common/awrite.h"
#include "common/log.h"
#include "common/missing.h"
#include "common/util.h"
#include "engine/internal.h"

#define SCAN_VEC 4096
/* Pages copied per batch at dump: big enough to amortise syscalls, small enough to stay hot. */
#define DUMP_BATCH (8UL << 20)
#define BATCH_IOV 1024

struct run {
	uint64_t vaddr, len;
	bool readable; /* else read through /proc/PID/mem */
	bool zero; /* no data: pages a child dropped that its parent still has */
};

struct runs {
	struct run *v;
	size_t n;
	bool via_mem; /* read every page through /proc/PID/mem */
	size_t floor; /* runs below this one belong to earlier mappings: never merged into */
};

static void runs_add(struct runs *rs, uint64_t start, uint64_t end, bool readable, bool zero)
{
	readable = readable && !rs->via_mem;
	if (rs->n > rs->floor && rs->v[rs->n - 1].vaddr + rs->v[rs->n - 1].len == start &&
	    rs->v[rs->n - 1].readable == readable && rs->v[rs->n - 1].zero == zero) {
		rs->v[rs->n - 1].len += end - start;
		return;
	}
	if ((rs->n & (rs->n - 1)) == 0)
		rs->v = xrealloc_array(rs->v, rs->n ? rs->n * 2 : 64, sizeof(*rs->v));
	rs->v[rs->n++] = (struct run){ start, end - start, readable, zero };
}

/* Which pages of a mapping hold state of their own: PAGEMAP_SCAN category filters. */
static bool scan_filter(const struct proc_vma *v, struct pm_scan_arg *a)
{
	a->category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED;
	/* A page mapped to the shared zero page was only read: it is zero after restore too. */
	a->category_inverted = PAGE_IS_PFNZERO;
	a->category_mask = PAGE_IS_PFNZERO;
	switch (v->kind) {
	case VMA_KIND__VMA_ANON_PRIVATE:
		return true;
	case VMA_KIND__VMA_FILE_PRIVATE:
		/* Clean file pages come back from the file; only copied-on-write ones are saved. */
		a->category_inverted |= PAGE_IS_FILE;
		a->category_mask |= PAGE_IS_FILE;
		return true;
	default:
		return false;
	}
}

static int scan_vma(int pm_fd, const struct proc_vma *v, struct runs *rs, struct page_region *vec)
{
	struct pm_scan_arg a = { .size = sizeof(a), .vec = (uint64_t)(uintptr_t)vec,
				 .vec_len = SCAN_VEC };
	uint64_t pos = v->start, done = v->start;

	if (!scan_filter(v, &a))
		return 0;
	/* A run never spans two mappings: restore checks each lies inside one. */
	rs->floor = rs->n;
	while (pos < v->end) {
		long n;

		a.start = pos;
		a.end = v->end;
		n = ioctl(pm_fd, PAGEMAP_SCAN, &a);
		if (n < 0)
			return -errno;
		/*
		 * When the vector fills up, walk_end may lie before the end of the last region
		 * reported: resume after everything reported, and never report a page twice.
		 */
		for (long i = 0; i < n; i++) {
			uint64_t start = MAX(vec[i].start, done);

			if (start < vec[i].end)
				runs_add(rs, start, vec[i].end, v->prot & PROT_READ, false);
			done = MAX(done, vec[i].end);
		}
		if (MAX(a.walk_end, done) <= pos)
			return -EIO;
		pos = MAX(a.walk_end, done);
	}
	return 0;
}

/* Was this range of shared memory object @shmid dumped by a process before? Else note it. */
static bool shmem_seen(struct dump_tree *t, uint64_t shmid, uint64_t pgoff, uint64_t len)
{
	for (size_t i = 0; i < t->nr_shmem; i++)
		if (t->shmem[i].shmid == shmid && t->shmem[i].pgoff == pgoff && t->shmem[i].len == len)
			return true;
	t->shmem = xrealloc_array(t->shmem, t->nr_shmem + 1, sizeof(*t->shmem));
	t->shmem[t->nr_shmem++] = (struct dump_shmem){ shmid, pgoff, len };
	return false;
}

/*
 * Shared anonymous memory is a shmem file: its data is what the file holds (SEEK_DATA, Linux
 * 3.1 for tmpfs), whichever process touched it, dumped once for all the processes sharing it.
 */
static int scan_shmem(struct dump_ctx *d, const struct proc_vma *v, struct runs *rs)
{
	_cleanup_close_ int fd = -1;
	uint64_t pos = v->pgoff, end = v->pgoff + (v->end - v->start);
	char path[96];

	if (shmem_seen(d->tree, v->ino, v->pgoff, v->end - v->start))
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/map_files/%lx-%lx", d->pid, (unsigned long)v->start,
		 (unsigned long)v->end);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rs->floor = rs->n;
	while (pos < end) {
		off_t data = lseek(fd, (off_t)pos, SEEK_DATA), hole;

		if (data < 0 && errno == ENXIO)
			break;
		if (data < 0)
			return -errno;
		if ((uint64_t)data >= end)
			break;
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0)
			return -errno;
		hole = (off_t)MIN((uint64_t)hole, end);
		runs_add(rs, v->start + ((uint64_t)data - v->pgoff), v->start + ((uint64_t)hole - v->pgoff),
			 v->prot & PROT_READ, false);
		pos = (uint64_t)hole;
	}
	return 0;
}

#define PM_PRESENT (1ULL << 63)
#define PM_SWAPPED (1ULL << 62)
#define PM_PFN(e) ((e) & ((1ULL << 55) - 1))
#define PM_CHUNK 512

/*
 * A mapping the child inherited from its parent: pages still shared copy-on-write (one page
 * frame in both, read from /proc/PID/pagemap) stay out of the child's image, restore gets
 * them by the fork; pages the child dropped but the parent has become zero runs.
 */
static int scan_inherited(const struct proc_vma *v, int pm_fd, int ppm_fd, struct runs *rs)
{
	uint64_t c[PM_CHUNK], p[PM_CHUNK];

	rs->floor = rs->n;
	for (uint64_t addr = v->start; addr < v->end;) {
		size_t n = MIN(PM_CHUNK, (v->end - addr) / PAGE_SIZE);
		off_t off = (off_t)(addr / PAGE_SIZE * sizeof(uint64_t));
		int r = pread_full(pm_fd, c, n * sizeof(uint64_t), off);

		if (r == 0)
			r = pread_full(ppm_fd, p, n * sizeof(uint64_t), off);
		if (r < 0)
			return r;
		for (size_t j = 0; j < n; j++, addr += PAGE_SIZE) {
			bool mine = c[j] & (PM_PRESENT | PM_SWAPPED), theirs = p[j] & (PM_PRESENT | PM_SWAPPED);
			bool shared = (c[j] & PM_PRESENT) && (p[j] & PM_PRESENT) && PM_PFN(c[j]) == PM_PFN(p[j]);

			if (mine && !shared)
				runs_add(rs, addr, addr + PAGE_SIZE, v->prot & PROT_READ, false);
			else if (!mine && theirs)
				runs_add(rs, addr, addr + PAGE_SIZE, false, true);
		}
	}
	return 0;
}

/* For each of @d's mappings: is it inherited from the parent, whose pagemap is then open? */
static bool *find_inherited(struct dump_ctx *d, int *ret_ppm_fd)
{
	const struct dump_ctx *p = d->parent;
	_cleanup_free_ VmaEntry **pv = NULL;
	bool *inh = xcalloc(d->nr_vmas, sizeof(*inh));
	size_t cursor = 0;
	char path[64];

	*ret_ppm_fd = -1;
	if (!p)
		return inh;
	pv = xcalloc(p->nr_vmas, sizeof(*pv));
	for (size_t i = 0; i < p->nr_vmas; i++)
		pv[i] = &p->ventries[i];
	for (size_t i = 0; i < d->nr_vmas; i++)
		inh[i] = (d->vmas[i].kind == VMA_KIND__VMA_ANON_PRIVATE ||
			  d->vmas[i].kind == VMA_KIND__VMA_FILE_PRIVATE) &&
			 mm_inherited(pv, p->nr_vmas, &d->ventries[i], &cursor);
	snprintf(path, sizeof(path), "/proc/%d/pagemap", p->pid);
	*ret_ppm_fd = open(path, O_RDONLY | O_CLOEXEC);
	return inh;
}

static int scan_all(struct dump_ctx *d, struct runs *rs)
{
	_cleanup_free_ struct page_region *vec = xcalloc(SCAN_VEC, sizeof(*vec));
	_cleanup_close_ int pm_fd = -1, ppm_fd = -1;
	_cleanup_free_ bool *inherited = NULL;
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/pagemap", d->pid);
	pm_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (pm_fd < 0)
		return pr_err_errno(-errno, "task %d: can't open '%s'", d->pid, path);
	inherited = find_inherited(d, &ppm_fd);
	if (d->parent && ppm_fd < 0)
		return pr_err_errno(-errno, "task %d: can't open the pagemap of its parent", d->pid);
	for (size_t i = 0; i < d->nr_vmas; i++) {
		const struct proc_vma *v = &d->vmas[i];
		int r = inherited[i] ? scan_inherited(v, pm_fd, ppm_fd, rs) :
			v->kind == VMA_KIND__VMA_ANON_SHARED ? scan_shmem(d, v, rs) :
							      scan_vma(pm_fd, v, rs, vec);

		if (r < 0)
			return pr_err_errno(r, "task %d: can't scan pages of %lx-%lx", d->pid,
					    (unsigned long)d->vmas[i].start,
					    (unsigned long)d->vmas[i].end);
	}
	return 0;
}

/* Read @len bytes at @addr of a mapping the task can't read itself (PROT_NONE and such). */
static int read_via_mem(struct dump_ctx *d, int *mem_fd, uint64_t addr, void *buf, size_t len)
{
	if (*mem_fd < 0) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d/mem", d->pid);
		*mem_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (*mem_fd < 0)
			return -errno;
	}
	return pread_full(*mem_fd, buf, len, (off_t)addr);
}

/* Read the next batch of up to DUMP_BATCH bytes of the runs into @buf: its length or -errno. */
static ssize_t fill_batch(struct dump_ctx *d, const struct runs *rs, size_t *i, uint64_t *off,
			  uint8_t *buf, int *mem_fd)
{
	struct iovec liov[BATCH_IOV], riov[BATCH_IOV];
	size_t fill = 0, niov = 0;
	ssize_t got;
	int r;

	/* Zero runs have no data in the pages file. */
	while (*i < rs->n && rs->v[*i].zero)
		(*i)++;
	if (*i == rs->n)
		return 0;
	if (!rs->v[*i].readable) {
		size_t chunk = MIN(DUMP_BATCH, rs->v[*i].len - *off);

		r = read_via_mem(d, mem_fd, rs->v[*i].vaddr + *off, buf, chunk);
		if (r < 0)
			return pr_err_errno(r, "task %d: can't read memory at %lx", d->pid,
					    (unsigned long)(rs->v[*i].vaddr + *off));
		*off += chunk;
		if (*off == rs->v[*i].len)
			(*i)++, *off = 0;
		return (ssize_t)chunk;
	}
	while (*i < rs->n && rs->v[*i].readable && !rs->v[*i].zero && fill < DUMP_BATCH &&
	       niov < BATCH_IOV) {
		size_t chunk = MIN(DUMP_BATCH - fill, rs->v[*i].len - *off);

		riov[niov] = (struct iovec){ (void *)(rs->v[*i].vaddr + *off), chunk };
		liov[niov++] = (struct iovec){ buf + fill, chunk };
		fill += chunk;
		*off += chunk;
		if (*off == rs->v[*i].len)
			(*i)++, *off = 0;
	}
	got = process_vm_readv(d->pid, liov, niov, riov, niov, 0);
	if (got < 0 || (size_t)got != fill)
		return pr_err_errno(got < 0 ? -errno : -EFAULT,
				    "task %d: can't read %zu bytes of its memory", d->pid, fill);
	return (ssize_t)fill;
}

/* Copy the runs' pages into the pages file; reading the task and writing overlap. */
static int copy_runs(struct dump_ctx *d, const struct runs *rs, int out)
{
	_cleanup_close_ int mem_fd = -1;
	struct awrite *w;
	size_t i = 0;
	uint64_t off = 0; /* progress inside run i */
	ssize_t n = 0;
	int r;

	r = awrite_start(out, DUMP_BATCH, &w);
	if (r < 0)
		return pr_err_errno(r, "can't start the image writer");
	while (i < rs->n) {
		uint8_t *buf = awrite_buf(w);

		if (!buf)
			break;
		n = fill_batch(d, rs, &i, &off, buf, &mem_fd);
		if (n < 0)
			break;
		awrite_submit(w, (size_t)n);
		d->tree->pages_written += (size_t)n / PAGE_SIZE;
	}
	r = awrite_finish(w);
	if (r < 0)
		return pr_err_errno(r, "image 'pages-%d.img': can't write", d->pid);
	return n < 0 ? (int)n : 0;
}

/* Does @d share memory copy-on-write with another process of the tree? */
static bool shares_cow(const struct dump_ctx *d)
{
	if (d->parent)
		return true;
	for (size_t i = 0; i < d->tree->nr_procs; i++)
		if (d->tree->procs[i]->parent == d)
			return true;
	return false;
}

int pages_dump(struct dump_ctx *d)
{
	_cleanup_img_ struct img *pm = NULL;
	_cleanup_free_ struct run *v = NULL;
	_cleanup_close_ int out = -1;
	struct runs rs = { 0 };
	char name[64];
	int r;

	/*
	 * process_vm_readv pins pages, and pinning a page shared copy-on-write unshares it
	 * (Linux 5.19): the dumped tree would lose its sharing, and the child's pages would no
	 * longer match the parent's. /proc/PID/mem reads without pinning.
	 */
	rs.via_mem = shares_cow(d);
	r = scan_all(d, &rs);
	v = rs.v;
	if (r < 0)
		return r;
	r = img_create(d->dirfd, IMG_NAME(name, "pagemap", d->pid), IMG_KIND__IMG_PAGEMAP, &pm);
	if (r < 0)
		return r;
	for (size_t i = 0; i < rs.n; i++) {
		PagemapEntry e = PAGEMAP_ENTRY__INIT;

		e.has_vaddr = e.has_nr_pages = true;
		e.vaddr = rs.v[i].vaddr;
		e.nr_pages = rs.v[i].len / PAGE_SIZE;
		e.has_zero = rs.v[i].zero;
		e.zero = rs.v[i].zero;
		r = img_write(pm, &e.base);
		if (r < 0)
			return r;
	}
	r = img_close(TAKE_PTR(pm));
	if (r < 0)
		return r;
	/* Raw pages, page-aligned from offset 0, so restore can map the file directly. */
	out = openat(d->dirfd, IMG_NAME(name, "pages", d->pid),
		     O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0)
		return pr_err_errno(-errno, "image '%s': can't create", name);
	return copy_runs(d, &rs, out);
}

/* ---- restore ---- */

#define RST_MAX_RUNS (1UL << 24)
#define RST_BATCH (256UL << 20)

/* How each run of the pagemap gets into the task. */
enum run_mode {
	RUN_WRITE, /* process_vm_writev, the mapping is writable while filled */
	RUN_FORCED, /* through /proc/PID/mem: the mapping is not writable */
	RUN_ZERO, /* no data: madvise(MADV_DONTNEED) drops the page inherited from the parent */
};

static enum run_mode run_mode(const struct rst_ctx *r, size_t vi, const PagemapEntry *e)
{
	const VmaEntry *v = r->vmas[vi];
	bool inherited = r->inherited && r->inherited[vi];

	if (e->zero)
		return RUN_ZERO;
	/* An inherited mapping already has its final protection. */
	return ((inherited ? v->prot : mm_fill_prot(v)) & PROT_WRITE) ? RUN_WRITE : RUN_FORCED;
}

/* Check the runs against the mappings; *ret_modes[i] says how run i goes in. */
static int read_pagemap(struct rst_ctx *r, uint64_t *ret_pages, uint8_t **ret_modes)
{
	_cleanup_free_ uint8_t *modes = NULL;
	uint64_t pages = 0, prev_end = 0;
	size_t vi = 0; /* runs and mappings are both sorted: one cursor walks the mappings */
	char name[64];
	int rr;

	rr = img_read_all(r->dirfd, IMG_NAME(name, "pagemap", r->task->pid), IMG_KIND__IMG_PAGEMAP,
			  &pagemap_entry__descriptor, RST_MAX_RUNS,
			  (ProtobufCMessage ***)&r->pagemap, &r->nr_pagemap);
	if (rr < 0)
		return rr;
	modes = xcalloc(r->nr_pagemap, sizeof(*modes));
	for (size_t i = 0; i < r->nr_pagemap; i++) {
		const PagemapEntry *e = r->pagemap[i];
		const VmaEntry *v = NULL;
		uint64_t end = 0;

		if (e->vaddr % PAGE_SIZE == 0 && e->nr_pages && e->nr_pages < ARCH_TASK_SIZE / PAGE_SIZE &&
		    e->vaddr >= prev_end && !__builtin_add_overflow(e->vaddr, e->nr_pages * PAGE_SIZE, &end)) {
			while (vi < r->nr_vmas && r->vmas[vi]->end <= e->vaddr)
				vi++;
			if (vi < r->nr_vmas && r->vmas[vi]->start <= e->vaddr && end <= r->vmas[vi]->end)
				v = r->vmas[vi];
		}
		if (!v || v->kind == VMA_KIND__VMA_FILE_SHARED || v->kind >= VMA_KIND__VMA_VVAR)
			return pr_err_ret(-EINVAL, "image '%s': run at %lx of %lu pages is corrupt",
					  name, (unsigned long)e->vaddr, (unsigned long)e->nr_pages);
		modes[i] = (uint8_t)run_mode(r, vi, e);
		prev_end = end;
		if (modes[i] != RUN_ZERO)
			pages += e->nr_pages;
	}
	*ret_pages = pages;
	*ret_modes = TAKE_PTR(modes);
	return 0;
}

/* Pages of a mapping that is not writable even while being filled: through /proc/PID/mem. */
static int write_forced(struct rst_ctx *r, int *mem_fd, const PagemapEntry *e, const uint8_t *src)
{
	int rr;

	if (*mem_fd < 0) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d/mem", r->pup.pid);
		*mem_fd = open(path, O_WRONLY | O_CLOEXEC);
		if (*mem_fd < 0)
			return pr_err_errno(-errno, "task %d: can't open '%s'", r->pup.pid, path);
	}
	rr = pwrite_full(*mem_fd, src, e->nr_pages * PAGE_SIZE, (off_t)e->vaddr);
	if (rr < 0)
		return pr_err_errno(rr, "task %d: can't write memory at %lx", r->pup.pid,
				    (unsigned long)e->vaddr);
	return 0;
}

/* One process_vm_writev of consecutive ordinary runs from run *i on; advances *i and *off. */
static int write_batch(struct rst_ctx *r, const uint8_t *modes, const uint8_t *map, size_t *i,
		       uint64_t *in_run, uint64_t *off)
{
	struct iovec liov[BATCH_IOV], riov[BATCH_IOV];
	size_t n = 0, want = 0;
	ssize_t got;

	/* process_vm_writev moves at most MAX_RW_COUNT (~2 GiB) a call: batch below it. */
	while (*i < r->nr_pagemap && modes[*i] == RUN_WRITE && n < BATCH_IOV && want < RST_BATCH) {
		uint64_t run = r->pagemap[*i]->nr_pages * PAGE_SIZE;
		size_t len = MIN(run - *in_run, RST_BATCH - want);

		liov[n] = (struct iovec){ (void *)(map + *off), len };
		riov[n++] = (struct iovec){ (void *)(r->pagemap[*i]->vaddr + *in_run), len };
		*off += len;
		want += len;
		*in_run += len;
		if (*in_run == run)
			(*i)++, *in_run = 0;
	}
	got = process_vm_writev(r->pup.pid, liov, n, riov, n, 0);
	if (got < 0 || (size_t)got != want)
		return pr_err_errno(got < 0 ? -errno : -EFAULT, "task %d: can't write %zu bytes of memory",
				    r->pup.pid, want);
	return 0;
}

/* Pages the child dropped after the fork: drop them again from what it inherited. */
static int drop_zero_runs(struct rst_ctx *r, const uint8_t *modes)
{
	for (size_t i = 0; i < r->nr_pagemap; i++) {
		const PagemapEntry *e = r->pagemap[i];
		long a;

		if (modes[i] != RUN_ZERO)
			continue;
		a = puppet_sys(&r->pup, SYS_madvise, e->vaddr, e->nr_pages * PAGE_SIZE, MADV_DONTNEED);
		if (a < 0)
			return pr_err_errno((int)a, "task %d: can't drop pages at %lx", r->pid,
					    (unsigned long)e->vaddr);
	}
	return 0;
}

int pages_restore(struct rst_ctx *r)
{
	_cleanup_close_ int fd = -1, mem_fd = -1;
	_cleanup_free_ uint8_t *modes = NULL;
	uint64_t pages, off = 0, in_run = 0;
	struct stat st;
	uint8_t *map;
	char name[64];
	int rr = 0;

	rr = read_pagemap(r, &pages, &modes);
	if (rr < 0)
		return rr;
	fd = openat(r->dirfd, IMG_NAME(name, "pages", r->task->pid), O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return pr_err_errno(-errno, "image '%s': can't open", name);
	if ((uint64_t)st.st_size != pages * PAGE_SIZE)
		return pr_err_ret(-EINVAL, "image '%s': holds %llu bytes, pagemap says %llu", name,
				  (unsigned long long)st.st_size,
				  (unsigned long long)(pages * PAGE_SIZE));
	if (!pages)
		return drop_zero_runs(r, modes);
	map = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	if (map == MAP_FAILED)
		return pr_err_errno(-errno, "image '%s': can't map", name);
	for (size_t i = 0; i < r->nr_pagemap && rr == 0;) {
		if (modes[i] == RUN_FORCED) {
			rr = write_forced(r, &mem_fd, r->pagemap[i], map + off);
			off += r->pagemap[i++]->nr_pages * PAGE_SIZE;
		} else if (modes[i] == RUN_WRITE) {
			rr = write_batch(r, modes, map, &i, &in_run, &off);
		} else {
			i++;
		}
	}
	munmap(map, st.st_size);
	if (rr == 0)
		rr = drop_zero_runs(r, modes);
	r->tree->pages_restored += pages;
	return rr;
}
