/* SPDX-License-Identifier: MIT */
/* Address space: mappings and mm fields, dumped from /proc and rebuilt by remote mmap. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/internal.h"

#define MM_MAX_VMAS 65536
#define MM_MAX_AUXV 512

/* madvise() bits kept in vma_entry.madv, each the VmFlags bit it comes from. */
static const struct {
	uint32_t vmf;
	int advice;
} madv_map[] = {
	{ VMF_DONTDUMP, MADV_DONTDUMP },   { VMF_DONTFORK, MADV_DONTFORK },
	{ VMF_WIPEONFORK, MADV_WIPEONFORK }, { VMF_HUGEPAGE, MADV_HUGEPAGE },
	{ VMF_NOHUGEPAGE, MADV_NOHUGEPAGE }, { VMF_MERGEABLE, MADV_MERGEABLE },
};

static VmaKind special_kind(const char *path)
{
	if (!path)
		return VMA_KIND__VMA_UNKNOWN;
	if (!strcmp(path, "[vvar]"))
		return VMA_KIND__VMA_VVAR;
	if (!strcmp(path, "[vvar_vclock]"))
		return VMA_KIND__VMA_VVAR_VCLOCK;
	if (!strcmp(path, "[vdso]"))
		return VMA_KIND__VMA_VDSO;
	if (!strcmp(path, "[vsyscall]"))
		return VMA_KIND__VMA_VSYSCALL;
	return VMA_KIND__VMA_UNKNOWN;
}

static bool is_vdso_kind(VmaKind k)
{
	return k == VMA_KIND__VMA_VVAR || k == VMA_KIND__VMA_VVAR_VCLOCK || k == VMA_KIND__VMA_VDSO;
}

int mm_vdso_unit(const struct proc_vma *vmas, size_t n, uint64_t *ret_start, uint64_t *ret_len,
		 uint64_t *ret_vdso)
{
	uint64_t start = 0, end = 0, vdso = 0;

	for (size_t i = 0; i < n; i++) {
		VmaKind k = special_kind(vmas[i].path);

		if (!is_vdso_kind(k))
			continue;
		if (!start)
			start = vmas[i].start;
		else if (vmas[i].start != end)
			return -EINVAL; /* the unit must be contiguous */
		end = vmas[i].end;
		if (k == VMA_KIND__VMA_VDSO)
			vdso = vmas[i].start;
	}
	if (!vdso)
		return -ENOENT;
	*ret_start = start;
	*ret_len = end - start;
	if (ret_vdso)
		*ret_vdso = vdso;
	return 0;
}

/* Classify one mapping; a refusal names it. */
static int dump_vma_kind(struct dump_ctx *d, const struct proc_vma *v, VmaEntry *e)
{
	VmaKind k = special_kind(v->path);
	char link[96];
	int r;

	if (k != VMA_KIND__VMA_UNKNOWN) {
		e->kind = k;
		return 0;
	}
	if (v->vmflags & (VMF_IO | VMF_PFNMAP))
		return pr_err_ret(-EOPNOTSUPP, "task %d: mapping %lx-%lx '%s': device memory can't be dumped",
				  d->pid, (unsigned long)v->start, (unsigned long)v->end,
				  v->path ? v->path : "");
	if (!v->ino && !v->shared) {
		/* [heap], [stack], [anon:name] and nameless mappings are anonymous memory. */
		e->kind = VMA_KIND__VMA_ANON_PRIVATE;
		return 0;
	}
	if (v->shared && v->path && !strcmp(v->path, "/dev/zero (deleted)")) {
		e->kind = VMA_KIND__VMA_ANON_SHARED;
		e->has_shmid = true;
		e->shmid = v->ino;
		return 0;
	}
	/* A deleted file is fine (its contents go into the image); memfd and SysV shm are not. */
	if (!v->path || v->path[0] != '/' || !strncmp(v->path, "/memfd:", 7) ||
	    !strncmp(v->path, "/SYSV", 5))
		return pr_err_ret(-EOPNOTSUPP,
				  "task %d: mapping %lx-%lx of '%s': memfd, SysV shared memory and unnamed files are not supported yet",
				  d->pid, (unsigned long)v->start, (unsigned long)v->end,
				  v->path ? v->path : "?");
	e->kind = v->shared ? VMA_KIND__VMA_FILE_SHARED : VMA_KIND__VMA_FILE_PRIVATE;
	e->has_pgoff = e->has_file_id = true;
	e->pgoff = v->pgoff;
	snprintf(link, sizeof(link), "/proc/%d/map_files/%lx-%lx", d->pid, (unsigned long)v->start,
		 (unsigned long)v->end);
	r = files_dump_path(d, link, &e->file_id);
	return r < 0 ? r : 0;
}

static int dump_vmas(struct dump_ctx *d)
{
	_cleanup_img_ struct img *img = NULL;
	char name[64];
	int r;

	r = img_create(d->dirfd, IMG_NAME(name, "vmas", d->pid), IMG_KIND__IMG_VMAS, &img);
	if (r < 0)
		return r;
	d->ventries = xcalloc(d->nr_vmas, sizeof(*d->ventries));
	for (size_t i = 0; i < d->nr_vmas; i++) {
		struct proc_vma *v = &d->vmas[i];
		VmaEntry e = VMA_ENTRY__INIT;

		r = dump_vma_kind(d, v, &e);
		if (r < 0)
			return r;
		v->kind = e.kind;
		if (e.kind == VMA_KIND__VMA_VSYSCALL)
			continue;
		e.has_start = e.has_end = e.has_kind = e.has_prot = e.has_flags = e.has_madv = true;
		e.start = v->start;
		e.end = v->end;
		e.prot = v->prot;
		e.flags = (v->vmflags & VMF_GROWSDOWN ? MAP_GROWSDOWN : 0) |
			  (v->vmflags & VMF_NORESERVE ? MAP_NORESERVE : 0);
		for (size_t j = 0; j < ARRAY_SIZE(madv_map); j++)
			if (v->vmflags & madv_map[j].vmf)
				e.madv |= madv_map[j].vmf;
		e.name = v->path && v->path[0] == '[' ? v->path : NULL;
		e.has_account = true;
		e.account = !!(v->vmflags & VMF_ACCOUNT);
		d->ventries[i] = e;
		r = img_write(img, &e.base);
		if (r < 0)
			return r;
	}
	return img_close(TAKE_PTR(img));
}

static int dump_auxv(struct dump_ctx *d, MmEntry *mm)
{
	_cleanup_free_ char *buf = NULL;
	char path[64];
	size_t len;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/auxv", d->pid);
	r = read_file_at(AT_FDCWD, path, MM_MAX_AUXV * sizeof(uint64_t), &buf, &len);
	if (r < 0)
		return pr_err_errno(r, "task %d: can't read '%s'", d->pid, path);
	mm->n_auxv = len / sizeof(uint64_t);
	mm->auxv = xmalloc(len + 1);
	memcpy(mm->auxv, buf, mm->n_auxv * sizeof(uint64_t));
	return 0;
}

int mm_dump(struct dump_ctx *d)
{
	MmEntry *mm = d->mm = xzalloc(sizeof(*mm));
	struct proc_stat st;
	char name[64], exe[64];
	long brk;
	int r;

	mm_entry__init(mm);
	/* d->vmas was read before the scratch area went in. */
	if (d->nr_vmas > MM_MAX_VMAS)
		return pr_err_ret(-E2BIG, "task %d: %zu mappings is over the %d limit", d->pid,
				  d->nr_vmas, MM_MAX_VMAS);
	r = proc_parse_stat(d->pid, &st);
	if (r < 0)
		return pr_err_errno(r, "task %d: can't parse its stat", d->pid);
	/* The current break is in no /proc file: ask the task, brk(0) returns it. */
	brk = puppet_sys(&d->pup, SYS_brk, 0);
	if (brk < 0)
		return pr_err_errno((int)brk, "task %d: can't read its brk", d->pid);
#define SET(f, v) (mm->has_##f = true, mm->f = (v))
	SET(start_code, st.start_code);
	SET(end_code, st.end_code);
	SET(start_data, st.start_data);
	SET(end_data, st.end_data);
	SET(start_brk, st.start_brk);
	SET(brk, (uint64_t)brk);
	SET(start_stack, st.start_stack);
	SET(arg_start, st.arg_start);
	SET(arg_end, st.arg_end);
	SET(env_start, st.env_start);
	SET(env_end, st.env_end);
#undef SET
	r = dump_auxv(d, mm);
	if (r < 0)
		return r;
	snprintf(exe, sizeof(exe), "/proc/%d/exe", d->pid);
	r = files_dump_path(d, exe, &mm->exe_file_id);
	if (r < 0)
		return r;
	mm->has_exe_file_id = true;
	r = dump_vmas(d);
	if (r < 0)
		return r;
	return img_write_one(d->dirfd, IMG_NAME(name, "mm", d->pid), IMG_KIND__IMG_MM, &mm->base);
}

/* ---- restore ---- */

static int check_vma(const struct rst_ctx *r, const VmaEntry *v, uint64_t prev_end)
{
	if (v->start % PAGE_SIZE || v->end % PAGE_SIZE || v->start >= v->end ||
	    v->end > ARCH_TASK_SIZE || v->start < prev_end)
		return pr_err_ret(-EINVAL, "image 'vmas-%d.img': mapping %lx-%lx is corrupt",
				  r->task->pid, (unsigned long)v->start, (unsigned long)v->end);
	if (v->kind < VMA_KIND__VMA_ANON_PRIVATE || v->kind > VMA_KIND__VMA_VDSO ||
	    (v->kind == VMA_KIND__VMA_ANON_SHARED && !v->has_shmid))
		return pr_err_ret(-EINVAL, "image 'vmas-%d.img': mapping %lx-%lx has unknown kind %d",
				  r->task->pid, (unsigned long)v->start, (unsigned long)v->end, v->kind);
	if ((v->kind == VMA_KIND__VMA_FILE_PRIVATE || v->kind == VMA_KIND__VMA_FILE_SHARED) &&
	    !files_find((struct rst_ctx *)r, v->file_id))
		return pr_err_ret(-EINVAL, "image 'vmas-%d.img': mapping %lx-%lx names missing file %lu",
				  r->task->pid, (unsigned long)v->start, (unsigned long)v->end,
				  (unsigned long)v->file_id);
	return 0;
}

int mm_prepare(struct rst_ctx *r)
{
	ProtobufCMessage *m;
	uint64_t prev_end = 0;
	char name[64];
	int rr;

	rr = img_read_one(r->dirfd, IMG_NAME(name, "mm", r->task->pid), IMG_KIND__IMG_MM,
			  &mm_entry__descriptor, &m);
	if (rr < 0)
		return rr;
	r->mm = (MmEntry *)m;
	if (r->mm->n_auxv > MM_MAX_AUXV || r->mm->n_auxv % 2)
		return pr_err_ret(-EINVAL, "image '%s': auxv of %zu words is corrupt", name,
				  r->mm->n_auxv);
	if (!files_find(r, r->mm->exe_file_id))
		return pr_err_ret(-EINVAL, "image '%s': names missing exe file %lu", name,
				  (unsigned long)r->mm->exe_file_id);
	rr = img_read_all(r->dirfd, IMG_NAME(name, "vmas", r->task->pid), IMG_KIND__IMG_VMAS,
			  &vma_entry__descriptor, MM_MAX_VMAS, (ProtobufCMessage ***)&r->vmas,
			  &r->nr_vmas);
	for (size_t i = 0; rr == 0 && i < r->nr_vmas; i++) {
		rr = check_vma(r, r->vmas[i], prev_end);
		prev_end = r->vmas[i]->end;
	}
	if (rr == 0 && r->parent) {
		size_t cursor = 0;

		/* Private mappings alike in parent and child come from the fork, pages shared. */
		r->inherited = xcalloc(r->nr_vmas, sizeof(*r->inherited));
		for (size_t i = 0; i < r->nr_vmas; i++)
			r->inherited[i] = (r->vmas[i]->kind == VMA_KIND__VMA_ANON_PRIVATE ||
					   r->vmas[i]->kind == VMA_KIND__VMA_FILE_PRIVATE) &&
					  mm_inherited(r->parent->vmas, r->parent->nr_vmas, r->vmas[i],
						       &cursor);
	}
	return rr;
}

/* A child keeps what it inherited: unmap the parent's mappings it does not share. */
static int unmap_not_inherited(struct rst_ctx *r)
{
	const struct rst_ctx *p = r->parent;
	size_t c = 0;

	for (size_t i = 0; i < p->nr_vmas; i++) {
		const VmaEntry *pv = p->vmas[i];
		long a;

		while (c < r->nr_vmas && r->vmas[c]->end <= pv->start)
			c++;
		if (is_vdso_kind(pv->kind) ||
		    (c < r->nr_vmas && r->inherited[c] && mm_vma_same(pv, r->vmas[c])))
			continue;
		a = puppet_sys(&r->pup, SYS_munmap, pv->start, pv->end - pv->start);
		if (a < 0)
			return pr_err_errno((int)a, "task %d: can't unmap %lx-%lx", r->pid,
					    (unsigned long)pv->start, (unsigned long)pv->end);
	}
	return 0;
}

/* The vdso unit the image has: start and length. */
static int image_vdso_unit(const struct rst_ctx *r, uint64_t *start, uint64_t *len, uint64_t *vdso)
{
	uint64_t s = 0, e = 0;

	*vdso = 0;
	for (size_t i = 0; i < r->nr_vmas; i++) {
		if (!is_vdso_kind(r->vmas[i]->kind))
			continue;
		if (s && r->vmas[i]->start != e)
			return pr_err_ret(-EINVAL, "image: vdso unit is not contiguous");
		if (!s)
			s = r->vmas[i]->start;
		e = r->vmas[i]->end;
		if (r->vmas[i]->kind == VMA_KIND__VMA_VDSO)
			*vdso = r->vmas[i]->start;
	}
	if (!*vdso)
		return pr_err_ret(-EINVAL, "image: the task had no vdso");
	*start = s;
	*len = e - s;
	return 0;
}

static int remote_mremap(struct rst_ctx *r, uint64_t from, uint64_t len, uint64_t to)
{
	long a = puppet_sys(&r->pup, SYS_mremap, from, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, to);

	if (a < 0 && a > -4096)
		return pr_err_errno((int)a, "task %d: can't move the vdso from %lx to %lx",
				    r->pup.pid, (unsigned long)from, (unsigned long)to);
	r->pup.sys_ip = r->pup.sys_ip - from + to;
	return 0;
}

/*
 * Move the puppet's [vvar]..[vdso] unit where the dumped task had it, in one mremap, then unmap
 * everything else of cryo's that the puppet inherited.
 */
int mm_restore_vdso(struct rst_ctx *r)
{
	struct proc_vma *mine = NULL;
	uint64_t cur, len, tgt, tlen, tvdso, cvdso;
	size_t n;
	long rr;
	int e;

	e = image_vdso_unit(r, &tgt, &tlen, &tvdso);
	if (e < 0)
		return e;
	if (r->parent) {
		/* Forked from its rebuilt parent: the vdso is where the parent's image put it. */
		e = image_vdso_unit(r->parent, &cur, &len, &cvdso);
	} else {
		e = proc_parse_smaps(r->pup.pid, &mine, &n);
		if (e < 0)
			return pr_err_errno(e, "task %d: can't read its mappings", r->pup.pid);
		e = mm_vdso_unit(mine, n, &cur, &len, &cvdso);
		proc_vmas_free(mine, n);
	}
	if (e < 0)
		return pr_err_errno(e, "task %d: can't find its vdso", r->pup.pid);
	if (len != tlen || tvdso - tgt != cvdso - cur)
		return pr_err_ret(-EOPNOTSUPP,
				  "vdso layout differs from the dumping kernel's (%lu bytes here, %lu in the image): restoring across kernels is not supported yet",
				  (unsigned long)len, (unsigned long)tlen);
	if (cur != tgt) {
		/* mremap refuses overlapping ranges: go through a spot clear of both. */
		if (cur < tgt + len && tgt < cur + len) {
			uint64_t tmp = MAX(cur, tgt) + 2 * len;

			e = remote_mremap(r, cur, len, tmp);
			if (e < 0)
				return e;
			cur = tmp;
		}
		e = remote_mremap(r, cur, len, tgt);
		if (e < 0)
			return e;
	}
	if (r->parent)
		return unmap_not_inherited(r);
	rr = puppet_sys(&r->pup, SYS_munmap, 0, tgt);
	if (rr == 0)
		rr = puppet_sys(&r->pup, SYS_munmap, tgt + len, ARCH_TASK_SIZE - tgt - len);
	if (rr < 0)
		return pr_err_errno((int)rr, "task %d: can't clear its address space", r->pup.pid);
	/* The first scratch area went with the rest; mm_restore_vmas maps the real one. */
	r->pup.scratch = 0;
	return 0;
}

/* Lowest gap of the scratch area's size that no target mapping uses. */
static uint64_t find_scratch_hole(const struct rst_ctx *r)
{
	uint64_t cand = 1UL << 20;

	for (size_t i = 0; i < r->nr_vmas; i++) {
		if (r->vmas[i]->start >= cand + PUPPET_SCRATCH_LEN)
			break;
		if (r->vmas[i]->end > cand)
			cand = r->vmas[i]->end;
	}
	return cand;
}

bool mm_vma_same(const VmaEntry *a, const VmaEntry *b)
{
	return a->start == b->start && a->end == b->end && a->kind == b->kind &&
	       a->prot == b->prot && a->flags == b->flags && a->pgoff == b->pgoff &&
	       a->file_id == b->file_id && a->shmid == b->shmid && a->madv == b->madv &&
	       a->account == b->account && a->kind != VMA_KIND__VMA_UNKNOWN &&
	       a->kind != VMA_KIND__VMA_VSYSCALL;
}

const VmaEntry *mm_inherited(VmaEntry *const *parent, size_t n, const VmaEntry *v, size_t *cursor)
{
	/* Both lists are sorted: one forward cursor walks the parent's. */
	while (*cursor < n && parent[*cursor]->end <= v->start)
		(*cursor)++;
	if (*cursor < n && mm_vma_same(parent[*cursor], v))
		return parent[*cursor];
	return NULL;
}

uint32_t mm_fill_prot(const VmaEntry *v)
{
	/*
	 * Contents are written while a mapping is writable, then it gets its final protection.
	 * A private mapping made writable gains VM_ACCOUNT for good, and neighbours that differ
	 * in it never merge: one that never was writable is mapped as it is (and filled through
	 * /proc/PID/mem), or the restored layout would differ.
	 */
	if (v->kind == VMA_KIND__VMA_FILE_SHARED)
		return v->prot;
	if (v->kind == VMA_KIND__VMA_ANON_SHARED || v->account)
		return v->prot | PROT_READ | PROT_WRITE;
	return v->prot;
}

static int map_one(struct rst_ctx *r, const VmaEntry *v, uint64_t *cached_id, int *cached_fd)
{
	uint32_t flags = MAP_FIXED | (v->flags & (MAP_GROWSDOWN | MAP_NORESERVE));
	int fd = -1, rr;
	long a;

	switch (v->kind) {
	case VMA_KIND__VMA_ANON_PRIVATE:
		flags |= MAP_PRIVATE | MAP_ANONYMOUS;
		break;
	case VMA_KIND__VMA_ANON_SHARED:
		flags |= MAP_SHARED;
		rr = shmem_remote_fd(r, v, &fd);
		if (rr < 0)
			return rr;
		break;
	default:
		flags |= v->kind == VMA_KIND__VMA_FILE_SHARED ? MAP_SHARED : MAP_PRIVATE;
		if (*cached_id != v->file_id) {
			if (*cached_fd >= 0)
				puppet_sys(&r->pup, SYS_close, (uint64_t)*cached_fd);
			*cached_fd = -1;
			rr = files_open_remote(r, v->file_id,
					       v->kind == VMA_KIND__VMA_FILE_SHARED &&
							       (v->prot & PROT_WRITE) ?
						       O_RDWR :
						       O_RDONLY,
					       cached_fd);
			if (rr < 0)
				return rr;
			*cached_id = v->file_id;
		}
		fd = *cached_fd;
	}
	a = puppet_sys(&r->pup, SYS_mmap, v->start, v->end - v->start, mm_fill_prot(v), flags,
		       (uint64_t)(long)fd, v->pgoff);
	if (v->kind == VMA_KIND__VMA_ANON_SHARED)
		puppet_sys(&r->pup, SYS_close, (uint64_t)fd);
	if (a < 0 && a > -4096)
		return pr_err_errno((int)a, "task %d: can't map %lx-%lx", r->pup.pid,
				    (unsigned long)v->start, (unsigned long)v->end);
	for (size_t j = 0; j < ARRAY_SIZE(madv_map); j++) {
		if (!(v->madv & madv_map[j].vmf))
			continue;
		a = puppet_sys(&r->pup, SYS_madvise, v->start, v->end - v->start,
			       (uint64_t)madv_map[j].advice);
		if (a < 0)
			pr_warn("task %d: %lx-%lx: madvise %d failed: %s", r->pup.pid,
				(unsigned long)v->start, (unsigned long)v->end, madv_map[j].advice,
				strerror((int)-a));
	}
	return 0;
}

/* Does no mapping of the image overlap [addr, addr + len)? */
static bool range_free(const struct rst_ctx *r, uint64_t addr, uint64_t len)
{
	for (size_t i = 0; i < r->nr_vmas; i++)
		if (r->vmas[i]->start < addr + len && addr < r->vmas[i]->end)
			return false;
	return true;
}

int mm_restore_vmas(struct rst_ctx *r)
{
	uint64_t cached_id = 0;
	int cached_fd = -1, rr = 0;

	/* A child may keep the scratch area inherited from its parent if it is in nobody's way. */
	if (r->pup.scratch && !range_free(r, r->pup.scratch, PUPPET_SCRATCH_LEN))
		rr = puppet_unmap_scratch(&r->pup);
	if (rr == 0 && !r->pup.scratch)
		rr = puppet_map_scratch(&r->pup, find_scratch_hole(r));
	if (rr < 0)
		return rr;
	for (size_t i = 0; i < r->nr_vmas && rr == 0; i++)
		if (!is_vdso_kind(r->vmas[i]->kind) && !(r->inherited && r->inherited[i]))
			rr = map_one(r, r->vmas[i], &cached_id, &cached_fd);
	if (cached_fd >= 0)
		puppet_sys(&r->pup, SYS_close, (uint64_t)cached_fd);
	return rr;
}

static int restore_mm_fields(struct rst_ctx *r)
{
	const MmEntry *mm = r->mm;
	struct prctl_mm_map map = {
		.start_code = mm->start_code,
		.end_code = mm->end_code,
		.start_data = mm->start_data,
		.end_data = mm->end_data,
		.start_brk = mm->start_brk,
		.brk = mm->brk,
		.start_stack = mm->start_stack,
		.arg_start = mm->arg_start,
		.arg_end = mm->arg_end,
		.env_start = mm->env_start,
		.env_end = mm->env_end,
		.auxv_size = (uint32_t)(mm->n_auxv * sizeof(uint64_t)),
	};
	uint64_t auxv_addr, map_addr;
	int fd = -1, rr = 0;
	long a = 0;

	/*
	 * A forked child has its parent's exe, which the kernel won't replace while it is
	 * mapped (EBUSY): -1 leaves it alone.
	 */
	if (!r->parent || r->parent->mm->exe_file_id != mm->exe_file_id)
		rr = files_open_remote(r, mm->exe_file_id, O_RDONLY, &fd);
	if (rr < 0)
		return rr;
	map.exe_fd = (uint32_t)fd;
	rr = puppet_put(&r->pup, 0, mm->auxv, map.auxv_size, &auxv_addr);
	map.auxv = (__u64 *)auxv_addr;
	if (rr == 0)
		rr = puppet_put(&r->pup, 4096, &map, sizeof(map), &map_addr);
	if (rr == 0)
		a = puppet_sys(&r->pup, SYS_prctl, PR_SET_MM, PR_SET_MM_MAP, map_addr, sizeof(map), 0);
	if (fd >= 0)
		puppet_sys(&r->pup, SYS_close, (uint64_t)fd);
	if (rr < 0)
		return rr;
	if (a < 0)
		return pr_err_errno((int)a, "task %d: can't set its mm fields (PR_SET_MM_MAP)",
				    r->pup.pid);
	return 0;
}

int mm_restore_finish(struct rst_ctx *r)
{
	for (size_t i = 0; i < r->nr_vmas; i++) {
		const VmaEntry *v = r->vmas[i];
		long a;

		if (is_vdso_kind(v->kind) || mm_fill_prot(v) == v->prot ||
		    (r->inherited && r->inherited[i]))
			continue;
		a = puppet_sys(&r->pup, SYS_mprotect, v->start, v->end - v->start, v->prot);
		if (a < 0)
			return pr_err_errno((int)a, "task %d: can't mprotect %lx-%lx", r->pup.pid,
					    (unsigned long)v->start, (unsigned long)v->end);
	}
	return restore_mm_fields(r);
}
