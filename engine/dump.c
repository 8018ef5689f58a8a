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
	for (size_t i = 0; i < d->ft.n; i++)
		file_entry__free_unpacked(d->ft.files[i], NULL);
	free(d->ft.files);
	free(d->ft.keys);
	for (size_t i = 0; i < d->nr_pipe_data; i++)
		pipe_data_entry__free_unpacked(d->pipe_data[i], NULL);
	free(d->pipe_data);
	if (d->task)
		task_entry__free_unpacked(d->task, NULL);
	if (d->mm)
		mm_entry__free_unpacked(d->mm, NULL);
	proc_vmas_free(d->vmas, d->nr_vmas);
	if (d->dirfd >= 0)
		close(d->dirfd);
}

static void new_task(struct dump_ctx *d)
{
	ThreadEntry *th = xzalloc(sizeof(*th));

	d->task = xzalloc(sizeof(*d->task));
	task_entry__init(d->task);
	thread_entry__init(th);
	d->task->has_pid = true;
	d->task->pid = (uint32_t)d->pid;
	d->task->n_threads = 1;
	d->task->threads = xmalloc(sizeof(th));
	d->task->threads[0] = th;
	th->has_tid = true;
	th->tid = (uint32_t)d->pid;
}

/* Everything collected while the task is frozen, scratch area mapped and signals blocked. */
static int collect(struct dump_ctx *d)
{
	ThreadEntry *th = d->task->threads[0];
	char name[64];
	int r;

	r = STAGE("regs", arch_dump_thread_regs(d->pid, &d->pup.base, th));
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
		r = STAGE("files", files_write_images(d));
	if (r == 0)
		r = STAGE("pages", pages_dump(d));
	if (r == 0)
		r = STAGE("pending signals", signals_dump_pending(d));
	if (r == 0)
		r = img_write_one(d->dirfd, IMG_NAME(name, "task", d->pid), IMG_KIND__IMG_TASK,
				  &d->task->base);
	return r;
}

/* Undo what serving as a puppet changed: scratch area, signal mask, registers. */
static int release_task(struct dump_ctx *d, uint64_t blocked)
{
	int r = puppet_unmap_scratch(&d->pup);

	if (ptrace(PTRACE_SETSIGMASK, d->pid, sizeof(blocked), &blocked) < 0 && !r)
		r = pr_err_errno(-errno, "task %d: can't restore its signal mask", d->pid);
	if (arch_set_regs(d->pid, &d->pup.base) < 0 && !r)
		r = pr_err_errno(-errno, "task %d: can't restore its registers", d->pid);
	return r;
}

static int kill_dumped(pid_t pid)
{
	int status;

	kill(pid, SIGKILL);
	/* As its tracer we see it die; its parent reaps it. */
	while (waitpid(pid, &status, __WALL) == pid && !WIFEXITED(status) && !WIFSIGNALED(status))
		;
	return 0;
}

static int dump_frozen(struct dump_ctx *d)
{
	uint64_t blocked, all = ~0ULL, vstart, vlen, vdso;
	ThreadEntry *th = d->task->threads[0];
	int r, r2;

	r = task_check_supported(d->pid);
	if (r < 0)
		return r;
	r = proc_parse_smaps(d->pid, &d->vmas, &d->nr_vmas);
	if (r < 0)
		return pr_err_errno(r, "task %d: can't parse its smaps", d->pid);
	r = mm_vdso_unit(d->vmas, d->nr_vmas, &vstart, &vlen, &vdso);
	if (r < 0)
		return pr_err_ret(-EOPNOTSUPP, "task %d: has no vdso: not supported yet", d->pid);
	if (ptrace(PTRACE_GETSIGMASK, d->pid, sizeof(blocked), &blocked) < 0)
		return pr_err_errno(-errno, "task %d: can't read its signal mask", d->pid);
	th->has_blocked = true;
	th->blocked = blocked;
	/* Remote syscalls must not be cut short by the task's own signals. */
	if (ptrace(PTRACE_SETSIGMASK, d->pid, sizeof(all), &all) < 0)
		return pr_err_errno(-errno, "task %d: can't block its signals", d->pid);
	r = puppet_init(&d->pup, d->pid, vdso, vstart + vlen - vdso);
	if (r == 0)
		r = puppet_map_scratch(&d->pup, 0);
	if (r == 0)
		r = collect(d);
	r2 = release_task(d, blocked);
	return r < 0 ? r : r2;
}

int cr_dump(const struct cr_dump_opts *opts, struct cr_stats *stats)
{
	struct dump_ctx d = { .opts = opts, .pid = opts->pid, .dirfd = -1 };
	unsigned long long t0;
	int r;

	if (opts->pid <= 0 || opts->pid == getpid())
		return pr_err_ret(-EINVAL, "task %d: can't be dumped", opts->pid);
	if (kill(opts->pid, 0) < 0 && errno == ESRCH)
		return pr_err_ret(-ESRCH, "task %d: no such process", opts->pid);
	d.dirfd = open_images_dir(opts->images_dir);
	if (d.dirfd < 0)
		return d.dirfd;
	unlinkat(d.dirfd, INVENTORY_IMG, 0);
	new_task(&d);
	t0 = log_now_us();
	r = STAGE("freeze", task_seize(d.pid));
	if (r < 0)
		goto out;
	r = dump_frozen(&d);
	if (r == 0)
		r = STAGE("inventory", inventory_dump(&d));
	if (r < 0 || opts->leave_running)
		task_unseize(d.pid);
	else
		kill_dumped(d.pid);
	stats->frozen_us = log_now_us() - t0;
	stats->pages_written = d.pages_written;
	if (r == 0)
		pr_info("task %d: dumped, %llu pages, frozen for %llu us", d.pid,
			(unsigned long long)d.pages_written, stats->frozen_us);
out:
	dump_ctx_free(&d);
	return r;
}
