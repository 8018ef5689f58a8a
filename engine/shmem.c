/* SPDX-License-Identifier: MIT */
/*
 * Shared anonymous memory (MAP_SHARED|MAP_ANONYMOUS): a shmem file the kernel names
 * "/dev/zero (deleted)". Restore makes each object once, at the size its mappings need, and
 * maps that same file into every process that shares it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/internal.h"

/* How far into object @shmid the tree's mappings reach. */
static uint64_t shmem_size(const struct rst_tree *t, uint64_t shmid)
{
	uint64_t size = 0;

	for (size_t p = 0; p < t->nr_procs; p++)
		for (size_t i = 0; i < t->procs[p]->nr_vmas; i++) {
			const VmaEntry *v = t->procs[p]->vmas[i];

			if (v->kind == VMA_KIND__VMA_ANON_SHARED && v->shmid == shmid)
				size = MAX(size, v->pgoff + (v->end - v->start));
		}
	return size;
}

/* Make object @shmid in the puppet, keep cryo's fd of it, unmap it again. */
static int shmem_create(struct rst_ctx *r, uint64_t shmid, int *ret_local)
{
	uint64_t size = shmem_size(r->tree, shmid);
	char path[96];
	long a;
	int fd;

	a = puppet_sys(&r->pup, SYS_mmap, 0, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, (uint64_t)-1, 0);
	if (a < 0 && a > -4096)
		return pr_err_errno((int)a, "task %d: can't create shared memory of %lu bytes",
				    r->pid, (unsigned long)size);
	/* /proc/PID/map_files (Linux 3.3) opens the very shmem file behind the mapping. */
	snprintf(path, sizeof(path), "/proc/%d/map_files/%lx-%lx", r->pup.pid, (unsigned long)a,
		 (unsigned long)(a + size));
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		fd = -errno;
	puppet_sys(&r->pup, SYS_munmap, (uint64_t)a, size);
	if (fd < 0)
		return pr_err_errno(fd, "task %d: can't open '%s'", r->pid, path);
	*ret_local = fd;
	return 0;
}

int shmem_remote_fd(struct rst_ctx *r, const VmaEntry *v, int *ret_fd)
{
	struct rst_tree *t = r->tree;
	int local = -1, rr;

	for (size_t i = 0; i < t->nr_shmem; i++)
		if (t->shmem[i].shmid == v->shmid)
			local = t->shmem[i].fd;
	if (local < 0) {
		rr = shmem_create(r, v->shmid, &local);
		if (rr < 0)
			return rr;
		t->shmem = xrealloc_array(t->shmem, t->nr_shmem + 1, sizeof(*t->shmem));
		t->shmem[t->nr_shmem++] = (struct rst_shmem){ v->shmid, local };
	}
	return files_install(r, local, ret_fd);
}
