/* SPDX-License-Identifier: MIT */
/* Types shared by the engine's dump and restore stages. */
#ifndef CRYO_ENGINE_INTERNAL_H
#define CRYO_ENGINE_INTERNAL_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/arch/x86_64/arch.h"
#include "engine/cryo.h"
#include "engine/image.h"
#include "engine/proc.h"
#include "img-files.pb-c.h"
#include "img-inventory.pb-c.h"
#include "img-mm.pb-c.h"
#include "img-task.pb-c.h"

/*
 * A stopped thread that runs syscalls on cryo's behalf: at dump the seized task, at restore
 * the puppet being rebuilt. Every signal is blocked in it while it serves.
 */
struct puppet {
	pid_t pid;
	arch_regs_t base; /* registers the syscalls start from */
	uint64_t sys_ip; /* address of a syscall instruction in the task's vdso */
	uint64_t scratch; /* scratch mapping in the task, 0 if none */
};

#define PUPPET_SCRATCH_LEN (64UL * 1024)
/* Most threads a process may have in an image. */
#define MAX_THREADS 32768
/* Most processes a tree may have in an image. */
#define MAX_PROCS 4096

/* Find the syscall instruction in the task's vdso at @vdso_start and take its registers. */
int puppet_init(struct puppet *p, pid_t pid, uint64_t vdso_start, uint64_t vdso_len);
/* A puppet of thread @tid, which shares the address space (vdso, scratch) of @leader. */
int puppet_init_thread(struct puppet *p, pid_t tid, const struct puppet *leader);
/* Run syscall @nr in the puppet: the result, or -errno (also for a ptrace failure). */
long puppet_syscall(struct puppet *p, long nr, const uint64_t args[6]);
#define puppet_sys(p, nr, ...) puppet_syscall((p), (nr), (const uint64_t[6]){ __VA_ARGS__ })
/*
 * A new puppet made by a remote clone3 in @via with @flags and image pid (or tid) @want,
 * stopped before its first instruction: CLONE_PTRACE (added here) makes it cryo's tracee
 * from birth. With @new_pidns, @want is its pid in the namespace and ret->pid the one here.
 */
int puppet_clone(struct puppet *via, pid_t want, uint64_t flags, int exit_signal, bool new_pidns,
		 struct puppet *ret);
/* Map the scratch area, at @addr exactly if not 0. */
int puppet_map_scratch(struct puppet *p, uint64_t addr);
int puppet_unmap_scratch(struct puppet *p);
/* Copy @len bytes to scratch offset @off; returns the remote address through @ret_addr. */
int puppet_put(struct puppet *p, size_t off, const void *buf, size_t len, uint64_t *ret_addr);
int puppet_get(struct puppet *p, size_t off, void *buf, size_t len);
/* Write or read the task's memory at @addr. */
int mem_write(pid_t pid, uint64_t addr, const void *buf, size_t len);
int mem_read(pid_t pid, uint64_t addr, void *buf, size_t len);

/*
 * Freeze every thread of process @pid with PTRACE_SEIZE + PTRACE_INTERRUPT, listing its threads
 * again until no new one appears. The leader comes first in *ret_tids; the signal of the group
 * stop the process is in goes to *ret_stop_sig, 0 if none. Undone by task_unseize.
 */
int task_seize(pid_t pid, pid_t **ret_tids, size_t *ret_n, int *ret_stop_sig);
void task_unseize(const pid_t *tids, size_t n);
/* The puppet of thread @i (task->threads[i]): the leader for 0. */
#define THREAD_PUP(ctx, i) ((i) ? &(ctx)->others[(i) - 1] : &(ctx)->pup)

/* Files: one entry per open file description, shared by fds that point at it. */
struct file_table {
	FileEntry **files;
	size_t n;
	/* (dev, ino) of each entry, and a pid/fd holding it for kcmp; fd -1 if none. */
	struct file_key {
		uint64_t dev, ino;
		pid_t pid;
		int fd;
	} *keys;
};

/* A dump: what the processes of the tree share. */
struct dump_tree {
	const struct cr_dump_opts *opts;
	int dirfd;
	struct file_table ft; /* open file descriptions of every process */
	PipeDataEntry **pipe_data;
	size_t nr_pipe_data;
	uint64_t pages_written;
	/* Ranges of shared anonymous memory objects whose contents are in the images already. */
	struct dump_shmem {
		uint64_t shmid, pgoff, len;
	} *shmem;
	size_t nr_shmem;
	struct dump_ctx **procs; /* parents before their children; procs[0] is the root */
	size_t nr_procs;
};

/* One process being dumped. */
struct dump_ctx {
	struct dump_tree *tree;
	struct dump_ctx *parent; /* NULL for the root */
	pid_t pid;
	int dirfd;
	pid_t *tids; /* seized threads, the leader first; none for a zombie */
	size_t nr_tids;
	bool zombie;
	int exit_code; /* a zombie's wait status */
	int stop_sig; /* the signal of the group stop it is in, 0 if none */
	bool stop_waited; /* its parent in the tree has taken the wait report of that stop */
	struct puppet pup; /* the leader, which serves process-wide remote syscalls */
	struct puppet *others; /* the other threads, in task->threads[1..] order */
	TaskEntry *task;
	MmEntry *mm;
	struct proc_vma *vmas;
	size_t nr_vmas;
	VmaEntry *ventries; /* the vma entries written for vmas[], same index */
	/* The process whose fd table (fs_struct) this one shares, 0 when it is its own. */
	pid_t files_owner, fs_owner;
};

/* A restore: what the processes of the tree share. */
struct rst_tree {
	const struct cr_restore_opts *opts;
	int dirfd;
	InventoryEntry *inv;
	FileEntry **files;
	size_t nr_files;
	PipeDataEntry **pipe_data;
	size_t nr_pipe_data;
	int *copies; /* per file entry: cryo's copy of it, once some process has it open; or -1 */
	int *ghosts; /* per file entry: cryo's fd of a deleted file recreated for the restore */
	int xfer_local; /* cryo's end of the socket that hands fds to puppets */
	int xfer_fd; /* the fd number of the other end in every puppet */
	/* Shared anonymous memory objects made so far: cryo's fd of each. */
	struct rst_shmem {
		uint64_t shmid;
		int fd;
	} *shmem;
	size_t nr_shmem;
	uint64_t pages_restored;
	cpu_set_t cpus; /* cryo's CPU affinity, before the restore pinned it to one CPU */
	pid_t init_pid; /* with --new-pidns: the init of the tree's pid namespace, once made */
	struct rst_ctx **procs; /* parents before their children; procs[0] is the root */
	size_t nr_procs;
};

/* One process being restored. */
struct rst_ctx {
	struct rst_tree *tree;
	struct rst_ctx *parent; /* NULL for the root */
	pid_t pid;
	int dirfd;
	TaskEntry *task;
	MmEntry *mm;
	VmaEntry **vmas;
	size_t nr_vmas;
	bool *inherited; /* per mapping: kept from the fork, copy-on-write pages shared */
	PagemapEntry **pagemap;
	size_t nr_pagemap;
	FileEntry **files; /* the tree's, for the kinds' convenience */
	size_t nr_files;
	FdEntry **fds;
	size_t nr_fds;
	PipeDataEntry **pipe_data; /* the tree's */
	size_t nr_pipe_data;
	struct puppet pup; /* the leader, which serves process-wide remote syscalls */
	struct puppet *others; /* the other threads, in task->threads[1..] order, once created */
	size_t nr_others;
	int pidfd;
	int *file_fds; /* per file entry: its remote fd while fds are set up, or -1 */
	int park_base; /* remote fds above this one are cryo's temporaries */
};

/* Stage timing: logged at info level with its duration. */
#define STAGE(name, expr)                                                                          \
	({                                                                                         \
		unsigned long long _t0 = log_now_us();                                             \
		int _r = (expr);                                                                   \
		pr_info("stage %-18s %s in %llu us", name, _r < 0 ? "failed" : "done",             \
			log_now_us() - _t0);                                                       \
		_r;                                                                                \
	})

/* Image file names of one process. */
#define IMG_NAME(buf, what, pid) (snprintf(buf, sizeof(buf), "%s-%d.img", what, pid), buf)

/*
 * cryo's own inventory, written last: its presence marks a complete dump. The name
 * inventory.img belongs to the CRIU-format file that podman and CRI-O look for.
 */
#define INVENTORY_IMG "cryo-inventory.img"

int inventory_dump(struct dump_tree *t);
int inventory_check(struct rst_tree *t);

/* Seize the tree rooted at the root's pid, parents before children, into t->procs. */
int pstree_seize(struct dump_tree *t, pid_t root);
void pstree_unseize(struct dump_tree *t);
int pstree_dump(struct dump_tree *t);
/* A zombie's task image: ids and wait status, nothing else. */
int pstree_dump_zombie(struct dump_ctx *d);
/* Read pstree.img into t->procs (each with its task image), parents before children. */
int pstree_read(struct rst_tree *t);
/* Make the children of the already created puppet @parent, by remote clone3s. */
int pstree_create_children(struct rst_ctx *parent);
/* The root is made by cryo: its session, if it led one. */
int pstree_root_session(struct rst_ctx *root);
/* Sessions and process groups inside the tree, once every process exists. */
int pstree_restore_groups(struct rst_tree *t);
/* Make the zombies of the tree exit as they had, once groups are set. */
int pstree_restore_zombies(struct rst_tree *t);
/* Drop the SIGCHLD that making @r's zombie and stopped children queued for it. */
int pstree_drain_sigchld(struct rst_ctx *r);
/* What to do when the image's pids are taken here. */
#define PIDNS_HINT "restore with --new-pidns to give the tree a pid namespace of its own"
/*
 * Every pid and tid of the image must be free here; with --new-pidns, none may be 1, the
 * new namespace's init's. Checked before any process is made.
 */
int pidns_check(const struct rst_tree *t);
/*
 * With --new-pidns: make the init of a new pid namespace, which makes the root with its image
 * pid there, stopped and traced by cryo. Its pid here (pup.pid) through @ret_pid.
 */
int pidns_create_root(struct rst_ctx *root, pid_t *ret_pid);
/* Kill the init, and with it every task of its namespace; reap all of cryo's children. */
void pidns_kill(struct rst_tree *t);
/* With --new-pidns: the pid here of child or thread @id (its image pid) that @maker made. */
int pidns_host_pid(pid_t maker, pid_t id, bool thread, pid_t *ret_pid);
/* Which of @d's stopped children it has waited for (WUNTRACED) already. */
int jobctl_dump(struct dump_ctx *d);
/* Put the processes that were in a group stop in one again, once groups are set. */
int jobctl_restore(struct rst_tree *t);
/* Take, in @r, the wait reports of its stopped children that it had taken before the dump. */
int jobctl_restore_reports(struct rst_ctx *r);
/* A thread just made in a stopped process: into the stop of its CLONE_PTRACE SIGSTOP. */
int jobctl_settle_thread(pid_t tid);
/* Hand cryo's fd @local to the puppet of @r: the new remote fd. */
int files_install(struct rst_ctx *r, int local, int *ret_fd);

int mm_dump(struct dump_ctx *d);
int mm_prepare(struct rst_ctx *r);
int mm_restore_vdso(struct rst_ctx *r);
int mm_restore_vmas(struct rst_ctx *r);
int mm_restore_finish(struct rst_ctx *r);
/* Protection a mapping is created with, before its contents are written. */
uint32_t mm_fill_prot(const VmaEntry *v);
/*
 * A child's mapping is inherited from its parent when both images have it alike: restore
 * keeps it from the fork (copy-on-write pages shared) and dump skips the pages still shared.
 */
bool mm_vma_same(const VmaEntry *a, const VmaEntry *b);
/* The parent's mapping that @v inherits, or NULL; *cursor walks @parent forward. */
const VmaEntry *mm_inherited(VmaEntry *const *parent, size_t n, const VmaEntry *v, size_t *cursor);
/* The vdso unit [vvar]...[vdso] of @vmas: start and length; -ENOENT if absent. */
int mm_vdso_unit(const struct proc_vma *vmas, size_t n, uint64_t *ret_start, uint64_t *ret_len,
		 uint64_t *ret_vdso);

/* The fd, in the puppet, of shared anonymous memory object v->shmid, made on first use. */
int shmem_remote_fd(struct rst_ctx *r, const VmaEntry *v, int *ret_fd);

int pages_dump(struct dump_ctx *d);
int pages_restore(struct rst_ctx *r);

int task_dump_misc(struct dump_ctx *d);
int task_dump_thread(struct puppet *p, ThreadEntry *th);
int task_restore_misc(struct rst_ctx *r);
int task_restore_thread(struct puppet *p, const ThreadEntry *th);
/* The CPU affinity of thread @tid from the image; @fallback where the image has none. */
int task_restore_affinity(pid_t tid, const ThreadEntry *th, const cpu_set_t *fallback);
/* Credentials are per thread: each thread sets its own. */
int task_restore_creds(struct rst_ctx *r, struct puppet *p);
int task_restore_dumpable(struct rst_ctx *r);

int signals_dump(struct dump_ctx *d);
int signals_dump_thread(struct puppet *p, ThreadEntry *th);
int signals_dump_pending(struct dump_ctx *d);
int signals_restore(struct rst_ctx *r);
int signals_restore_thread(struct rst_ctx *r, struct puppet *p, const ThreadEntry *th);
int signals_restore_pending(struct rst_ctx *r);
/* 0 when the signal data of an image's task is within bounds. */
int signals_check_image(const TaskEntry *t);

/* Create the threads other than the leader, each stopped and ready to serve as a puppet. */
int threads_restore_create(struct rst_ctx *r);

int timers_dump(struct dump_ctx *d);
int timers_restore(struct rst_ctx *r);

/*
 * Processes on one fd table, fs_struct or address space (kcmp): each sharer records its
 * owner, the first in tree order; what a clone can't rebuild is refused.
 */
int shares_collect(struct dump_tree *t);
/*
 * Refuse @pid, before it is seized, if a child is on its address space: a vfork parent
 * sleeps until its child execs or exits, and no ptrace stop reaches it until then.
 */
int shares_refuse_vfork(pid_t pid);
/* Every sharer of the images can be cloned onto its owner's object from its parent. */
int shares_check(struct rst_tree *t);
/*
 * Does @r set the cwd, root and umask? Of processes on one fs_struct the last in tree order
 * does, once every one of them has opened its files by path: a chroot would move the paths.
 */
bool shares_sets_fs(const struct rst_ctx *r);

int files_dump(struct dump_ctx *d);
int files_write_images(struct dump_tree *t);
int files_check_tree(struct dump_tree *t);
int files_prepare_tree(struct rst_tree *t);
int files_prepare_kinds(struct rst_tree *t);
int files_prepare(struct rst_ctx *r);
int files_restore(struct rst_ctx *r);
/* Add (or find) the file that link @path of the task leads to (exe, cwd, a mapping): its id. */
int files_dump_path(struct dump_ctx *d, const char *path, uint64_t *ret_id);
/* Open file @id in the puppet with @flags: the remote fd. */
int files_open_remote(struct rst_ctx *r, uint64_t id, int flags, int *ret_fd);
const FileEntry *files_find(struct rst_ctx *r, uint64_t id);
/* Move remote fd @fd out of the way of the task's own fd numbers: the new fd. */
int files_park(struct rst_ctx *r, int fd, int *ret_fd);

#endif
