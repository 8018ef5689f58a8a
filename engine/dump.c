/* SPDX-License-Identifier: MIT */
/* Dump: freeze, collect, write images, then kill or resume. Only sequencing lives here. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/internal.h"

static int open_images_dir(const char *dir)
{
	int fd;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return pr_err_errno(-errno, "images dir '%s': can't create", dir);
	fd = open(dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pr_err_errno(-errno, "images dir '%s': can't open", dir);
	return fd;
}

static void dump_ctx_free(struct dump_ctx *d)
{
	if (d->task)
		task_entry__free_unpacked(d->task, NULL);
	if (d->mm)
		mm_entry__free_unpacked(d->mm, NULL);
	proc_vmas_free(d->vmas, d->nr_vmas);
	free(d->ventries);
	free(d->others);
	free(d->tids);
	free(d);
}

static void dump_tree_free(struct dump_tree *t)
{
	for (size_t i = 0; i < t->ft.n; i++)
		file_entry__free_unpacked(t->ft.files[i], NULL);
	free(t->ft.files);
	free(t->ft.keys);
	for (size_t i = 0; i < t->nr_pipe_data; i++)
		pipe_data_entry__free_unpacked(t->pipe_data[i], NULL);
	free(t->pipe_data);
	free(t->shmem);
	for (size_t i = 0; i < t->nr_procs; i++)
		dump_ctx_free(t->procs[i]);
	free(t->procs);
	if (t->dirfd >= 0)
		close(t->dirfd);
}

static void new_task(struct dump_ctx *d)
{
	const pid_t *tids = d->tids;
	size_t n = d->nr_tids;

	d->task = xzalloc(sizeof(*d->task));
	task_entry__init(d->task);
	d->task->has_pid = true;
	d->task->pid = (uint32_t)d->pid;
	d->task->has_stop_signal = d->task->has_stop_waited = d->stop_sig != 0;
	d->task->stop_signal = (uint32_t)d->stop_sig;
	d->task->stop_waited = d->stop_waited;
	d->task->n_threads = n;
	d->task->threads = xcalloc(n, sizeof(*d->task->threads));
	for (size_t i = 0; i < n; i++) {
		ThreadEntry *th = xzalloc(sizeof(*th));

		thread_entry__init(th);
		th->has_tid = true;
		th->tid = (uint32_t)tids[i];
		d->task->threads[i] = th;
	}
	d->others = xcalloc(n, sizeof(*d->others));
}

/* Per-thread state: registers, attributes, the alternate stack. */
static int dump_threads(struct dump_ctx *d)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < d->task->n_threads; i++) {
		ThreadEntry *th = d->task->threads[i];
		struct puppet *p = THREAD_PUP(d, i);

		r = arch_dump_thread_regs(p->pid, &p->base, th);
		if (r == 0)
			r = task_dump_thread(p, th);
		if (r == 0)
			r = signals_dump_thread(p, th);
	}
	return r;
}

/* Everything collected while the task is frozen, scratch area mapped and signals blocked. */
static int collect(struct dump_ctx *d)
{
	char name[64];
	int r;

	r = STAGE("threads", dump_threads(d));
	if (r == 0)
		r = STAGE("task", task_dump_misc(d));
	if (r == 0)
		r = STAGE("signals", signals_dump(d));
	if (r == 0)
		r = STAGE("timers", timers_dump(d));
	if (r == 0)
		r = STAGE("mm", mm_dump(d));
	if (r == 0)
		r = STAGE("fds", files_dump(d));
	if (r == 0)
		r = STAGE("pages", pages_dump(d));
	if (r == 0)
		r = STAGE("pending signals", signals_dump_pending(d));
	if (r == 0)
		r = jobctl_dump(d);
	if (r == 0)
		r = img_write_one(d->dirfd, IMG_NAME(name, "task", d->pid), IMG_KIND__IMG_TASK,
				  &d->task->base);
	return r;
}

/* Undo what serving as puppets changed: scratch area, signal masks, registers. */
static int release_threads(struct dump_ctx *d, size_t n)
{
	int r = puppet_unmap_scratch(&d->pup);

	for (size_t i = 0; i < n; i++) {
		struct puppet *p = THREAD_PUP(d, i);
		uint64_t blocked = d->task->threads[i]->blocked;

		if (ptrace(PTRACE_SETSIGMASK, p->pid, sizeof(blocked), &blocked) < 0 && !r)
			r = pr_err_errno(-errno, "thread %d: can't restore its signal mask", p->pid);
		if (arch_set_regs(p->pid, &p->base) < 0 && !r)
			r = pr_err_errno(-errno, "thread %d: can't restore its registers", p->pid);
	}
	return r;
}

static void kill_dumped(struct dump_tree *t)
{
	int status;

	for (size_t p = 0; p < t->nr_procs; p++)
		kill(t->procs[p]->pid, SIGKILL);
	/*
	 * As their tracer we see every thread die; parents reap the processes. A leader's death
	 * is reported only once its other threads are reaped: those go first.
	 */
	for (size_t p = 0; p < t->nr_procs; p++)
		for (size_t i = t->procs[p]->nr_tids; i-- > 0;) {
			pid_t tid = t->procs[p]->tids[i];

			while (waitpid(tid, &status, __WALL) == tid && !WIFEXITED(status) &&
			       !WIFSIGNALED(status))
				;
		}
}

/* Block the thread's signals, so remote syscalls are not cut short, and make it a puppet. */
static int enlist_thread(struct dump_ctx *d, size_t i, uint64_t vdso, uint64_t vdso_len)
{
	ThreadEntry *th = d->task->threads[i];
	uint64_t all = ~0ULL;
	pid_t tid = (pid_t)th->tid;

	if (ptrace(PTRACE_GETSIGMASK, tid, sizeof(th->blocked), &th->blocked) < 0)
		return pr_err_errno(-errno, "thread %d: can't read its signal mask", tid);
	th->has_blocked = true;
	if (ptrace(PTRACE_SETSIGMASK, tid, sizeof(all), &all) < 0)
		return pr_err_errno(-errno, "thread %d: can't block its signals", tid);
	return puppet_init(THREAD_PUP(d, i), tid, vdso, vdso_len);
}

static int dump_frozen(struct dump_ctx *d)
{
	uint64_t vstart, vlen, vdso;
	size_t enlisted = 0;
	int r, r2;

	new_task(d);
	r = proc_parse_smaps(d->pid, &d->vmas, &d->nr_vmas);
	if (r < 0)
		return pr_err_errno(r, "task %d: can't parse its smaps", d->pid);
	r = mm_vdso_unit(d->vmas, d->nr_vmas, &vstart, &vlen, &vdso);
	if (r < 0)
		return pr_err_ret(-EOPNOTSUPP, "task %d: has no vdso: not supported yet", d->pid);
	for (; r == 0 && enlisted < d->task->n_threads; enlisted++)
		r = enlist_thread(d, enlisted, vdso, vstart + vlen - vdso);
	if (r == 0)
		r = puppet_map_scratch(&d->pup, 0);
	/* The threads share the leader's address space, and so its scratch area. */
	for (size_t i = 1; i < d->task->n_threads; i++)
		d->others[i - 1].scratch = d->pup.scratch;
	if (r == 0)
		r = collect(d);
	r2 = release_threads(d, enlisted);
	return r < 0 ? r : r2;
}

/* The images the tree shares, once every process is dumped. */
static int dump_tree_images(struct dump_tree *t)
{
	int r = files_check_tree(t);

	if (r == 0)
		r = STAGE("files", files_write_images(t));
	if (r == 0)
		r = pstree_dump(t);
	if (r == 0)
		r = STAGE("inventory", inventory_dump(t));
	return r;
}

int cr_dump(const struct cr_dump_opts *opts, struct cr_stats *stats)
{
	struct dump_tree t = { .opts = opts, .dirfd = -1 };
	unsigned long long t0;
	int r;

	if (opts->pid <= 0 || opts->pid == getpid())
		return pr_err_ret(-EINVAL, "task %d: can't be dumped", opts->pid);
	if (kill(opts->pid, 0) < 0 && errno == ESRCH)
		return pr_err_ret(-ESRCH, "task %d: no such process", opts->pid);
	t.dirfd = open_images_dir(opts->images_dir);
	if (t.dirfd < 0)
		return t.dirfd;
	unlinkat(t.dirfd, INVENTORY_IMG, 0);
	t0 = log_now_us();
	r = STAGE("freeze", pstree_seize(&t, opts->pid));
	if (r == 0)
		r = STAGE("shares", shares_collect(&t));
	for (size_t i = 0; r == 0 && i < t.nr_procs; i++)
		r = t.procs[i]->zombie ? pstree_dump_zombie(t.procs[i]) : dump_frozen(t.procs[i]);
	if (r == 0)
		r = dump_tree_images(&t);
	if (r < 0 || opts->leave_running)
		pstree_unseize(&t);
	else
		kill_dumped(&t);
	stats->frozen_us = log_now_us() - t0;
	stats->pages_written = t.pages_written;
	if (r == 0)
		pr_info("task %d: dumped %zu processes, %llu pages, frozen for %llu us", opts->pid,
			t.nr_procs, (unsigned long long)t.pages_written, stats->frozen_us);
	dump_tree_free(&t);
	return r;
}
