/* SPDX-License-Identifier: MIT */
/* Per-process and per-thread attributes: ids, creds, limits, scheduling, prctl state. */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "common/log.h"
#include "common/missing.h"
#include "common/util.h"
#include "engine/internal.h"

#define SECBIT_KEEP_CAPS_BIT (1u << 4) /* include/uapi/linux/securebits.h */

static int read_personality(pid_t pid, uint32_t *ret)
{
	_cleanup_free_ char *buf = NULL;
	char path[64];
	uint64_t v;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/personality", pid);
	r = read_file_at(AT_FDCWD, path, 64, &buf, NULL);
	if (r == 0)
		r = parse_u64(buf, 16, &v);
	if (r == 0)
		*ret = (uint32_t)v;
	return r;
}

static int dump_creds(struct dump_ctx *d, const struct proc_status *st)
{
	CredsEntry *c = d->task->creds = xzalloc(sizeof(*c));
	long sb, kc;

	creds_entry__init(c);
	c->n_uids = c->n_gids = 4;
	c->uids = xmalloc(4 * sizeof(uint32_t));
	c->gids = xmalloc(4 * sizeof(uint32_t));
	memcpy(c->uids, st->uids, sizeof(st->uids));
	memcpy(c->gids, st->gids, sizeof(st->gids));
	c->n_groups = st->ngroups;
	c->groups = xcalloc(st->ngroups, sizeof(uint32_t));
	memcpy(c->groups, st->groups, st->ngroups * sizeof(uint32_t));
	c->has_cap_inh = c->has_cap_prm = c->has_cap_eff = c->has_cap_bnd = c->has_cap_amb = true;
	c->cap_inh = st->cap_inh;
	c->cap_prm = st->cap_prm;
	c->cap_eff = st->cap_eff;
	c->cap_bnd = st->cap_bnd;
	c->cap_amb = st->cap_amb;
	sb = puppet_sys(&d->pup, SYS_prctl, PR_GET_SECUREBITS, 0, 0, 0, 0);
	kc = puppet_sys(&d->pup, SYS_prctl, PR_GET_KEEPCAPS, 0, 0, 0, 0);
	if (sb < 0 || kc < 0)
		return pr_err_errno((int)(sb < 0 ? sb : kc), "task %d: can't read its securebits",
				    d->pid);
	c->has_securebits = c->has_keep_caps = true;
	c->securebits = (uint32_t)sb;
	c->keep_caps = kc != 0;
	return 0;
}

/* A prctl(PR_GET_*) that stores an int or a pointer through its second argument. */
static int prctl_get_ptr(struct puppet *p, int opt, uint64_t *ret, size_t size)
{
	long a = puppet_sys(p, SYS_prctl, (uint64_t)opt, p->scratch, 0, 0, 0);

	*ret = 0;
	if (a < 0)
		return pr_err_errno((int)a, "thread %d: prctl %d failed", p->pid, opt);
	return puppet_get(p, 0, ret, size);
}

static int dump_prctls(struct dump_ctx *d)
{
	TaskEntry *t = d->task;
	uint64_t v;
	long a;
	int r;

	a = puppet_sys(&d->pup, SYS_prctl, PR_GET_DUMPABLE, 0, 0, 0, 0);
	if (a < 0)
		return pr_err_errno((int)a, "task %d: can't read dumpable", d->pid);
	t->has_dumpable = true;
	t->dumpable = (uint32_t)a;
	a = puppet_sys(&d->pup, SYS_prctl, PR_GET_THP_DISABLE, 0, 0, 0, 0);
	t->has_thp_disable = a >= 0;
	t->thp_disable = a > 0 ? (uint32_t)a : 0;
	r = prctl_get_ptr(&d->pup, PR_GET_PDEATHSIG, &v, sizeof(int));
	t->has_pdeath_sig = true;
	t->pdeath_sig = (uint32_t)v;
	if (r == 0)
		r = prctl_get_ptr(&d->pup, PR_GET_CHILD_SUBREAPER, &v, sizeof(int));
	t->has_child_subreaper = true;
	t->child_subreaper = v != 0;
	return r;
}

/* A CPU mask in an image: at most CPU_SETSIZE CPUs, in 64-bit words. */
#define CPU_MASK_WORDS (CPU_SETSIZE / 64)

static int dump_affinity(ThreadEntry *th)
{
	uint64_t mask[CPU_MASK_WORDS] = { 0 };
	size_t n = CPU_MASK_WORDS;

	/* cpu_set_t is an array of longs, CPU n at bit n % 64 of long n / 64 on x86-64. */
	if (sched_getaffinity((pid_t)th->tid, sizeof(mask), (cpu_set_t *)mask) < 0)
		return pr_err_errno(-errno, "thread %u: can't read its CPU affinity", th->tid);
	while (n > 1 && !mask[n - 1])
		n--;
	th->cpu_affinity = xcalloc(n, sizeof(*mask));
	memcpy(th->cpu_affinity, mask, n * sizeof(*mask));
	th->n_cpu_affinity = n;
	return 0;
}

int task_restore_affinity(pid_t tid, const ThreadEntry *th, const cpu_set_t *fallback)
{
	cpu_set_t set;

	if (th->n_cpu_affinity > CPU_MASK_WORDS)
		return pr_err_ret(-EINVAL, "thread %d: image: CPU mask of %zu words is corrupt", tid,
				  th->n_cpu_affinity);
	/* An image without a mask: the thread may run where cryo may. */
	set = *fallback;
	if (th->n_cpu_affinity) {
		CPU_ZERO(&set);
		memcpy(&set, th->cpu_affinity, th->n_cpu_affinity * sizeof(uint64_t));
	}
	if (sched_setaffinity(tid, sizeof(set), &set) == 0)
		return 0;
	if (errno != EINVAL)
		return pr_err_errno(-errno, "thread %d: can't set its CPU affinity", tid);
	/* EINVAL: none of its CPUs is online here (another machine) or allowed by its cpuset. */
	pr_warn("thread %d: none of the CPUs it was bound to is usable here: it runs on cryo's",
		tid);
	if (sched_setaffinity(tid, sizeof(*fallback), fallback) < 0)
		return pr_err_errno(-errno, "thread %d: can't set its CPU affinity", tid);
	return 0;
}

int task_dump_thread(struct puppet *p, ThreadEntry *th)
{
	_cleanup_free_ char *comm = NULL;
	struct cr_rseq_config rc;
	struct sched_param sp;
	uint64_t head = 0;
	size_t len = 0;
	char path[64];
	int pol, r;

	snprintf(path, sizeof(path), "/proc/%d/comm", th->tid);
	if (read_file_at(AT_FDCWD, path, 64, &comm, NULL) == 0) {
		comm[strcspn(comm, "\n")] = '\0';
		th->comm = TAKE_PTR(comm);
	}
	r = dump_affinity(th);
	if (r < 0)
		return r;
	pol = sched_getscheduler((pid_t)th->tid);
	if (pol < 0 || sched_getparam((pid_t)th->tid, &sp) < 0)
		return pr_err_errno(-errno, "thread %u: can't read its scheduling policy", th->tid);
	errno = 0;
	th->nice = getpriority(PRIO_PROCESS, th->tid);
	if (errno)
		return pr_err_errno(-errno, "thread %u: can't read its nice value", th->tid);
	th->has_sched_policy = th->has_sched_priority = th->has_nice = true;
	th->sched_policy = (uint32_t)pol;
	th->sched_priority = (uint32_t)sp.sched_priority;
	if (syscall(SYS_get_robust_list, th->tid, &head, &len) < 0)
		return pr_err_errno(-errno, "thread %u: can't read its robust list", th->tid);
	th->has_robust_list = th->has_robust_list_len = true;
	th->robust_list = head;
	th->robust_list_len = len;
	if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, th->tid, sizeof(rc), &rc) < 0)
		return pr_err_errno(-errno, "thread %u: can't read its rseq registration", th->tid);
	th->rseq = xzalloc(sizeof(*th->rseq));
	rseq_entry__init(th->rseq);
	th->rseq->has_ptr = th->rseq->has_len = th->rseq->has_sig = true;
	th->rseq->ptr = rc.rseq_abi_pointer;
	th->rseq->len = rc.rseq_abi_size;
	th->rseq->sig = rc.signature;
	/* clear_child_tid has no getter outside the thread: PR_GET_TID_ADDRESS (Linux 3.5). */
	th->has_clear_child_tid = true;
	return prctl_get_ptr(p, PR_GET_TID_ADDRESS, &th->clear_child_tid, sizeof(uint64_t));
}

int task_dump_misc(struct dump_ctx *d)
{
	TaskEntry *t = d->task;
	struct proc_status st;
	struct proc_stat ps;
	char link[64];
	long a;
	int r;

	r = proc_parse_stat(d->pid, &ps);
	if (r == 0)
		r = proc_parse_status(d->pid, &st);
	if (r < 0)
		return pr_err_errno(r, "task %d: can't parse its /proc files", d->pid);
	if (st.seccomp) {
		proc_status_free(&st);
		return pr_err_ret(-EOPNOTSUPP, "task %d: seccomp mode %d is not supported yet",
				  d->pid, st.seccomp);
	}
	/* The images hold the pids cryo sees: those of a task in a namespace below differ. */
	if (st.nspid != d->pid) {
		proc_status_free(&st);
		return pr_err_ret(-EOPNOTSUPP,
				  "task %d: is pid %d in a pid namespace below cryo's: not supported yet",
				  d->pid, st.nspid);
	}
	t->has_ppid = t->has_pgid = t->has_sid = t->has_umask = t->has_no_new_privs = true;
	t->has_exit_signal = t->has_personality = true;
	t->ppid = (uint32_t)ps.ppid;
	t->pgid = (uint32_t)ps.pgid;
	t->sid = (uint32_t)ps.sid;
	t->exit_signal = ps.exit_signal;
	t->umask = st.umask;
	t->no_new_privs = st.no_new_privs;
	r = read_personality(d->pid, &t->personality);
	if (r == 0)
		r = dump_creds(d, &st);
	proc_status_free(&st);
	for (int res = 0; r == 0 && res < RLIM_NLIMITS; res++) {
		RlimitEntry *e = xzalloc(sizeof(*e));
		struct rlimit rl;

		rlimit_entry__init(e);
		t->rlimits = xrealloc_array(t->rlimits, t->n_rlimits + 1, sizeof(e));
		t->rlimits[t->n_rlimits++] = e;
		/* Asked inside the task: prlimit() on another uid's task needs CAP_SYS_RESOURCE. */
		a = puppet_sys(&d->pup, SYS_prlimit64, 0, (uint64_t)res, 0, d->pup.scratch);
		if (a < 0 || puppet_get(&d->pup, 0, &rl, sizeof(rl)) < 0)
			return pr_err_errno(a < 0 ? (int)a : -EFAULT, "task %d: can't read rlimit %d",
					    d->pid, res);
		e->has_resource = e->has_cur = e->has_max = true;
		e->resource = (uint32_t)res;
		e->cur = rl.rlim_cur;
		e->max = rl.rlim_max;
	}
	if (r == 0)
		r = dump_prctls(d);
	snprintf(link, sizeof(link), "/proc/%d/cwd", d->pid);
	if (r == 0)
		r = files_dump_path(d, link, &t->cwd_file);
	snprintf(link, sizeof(link), "/proc/%d/root", d->pid);
	if (r == 0)
		r = files_dump_path(d, link, &t->root_file);
	t->has_cwd_file = t->has_root_file = true;
	t->has_fs_owner = d->fs_owner != 0;
	t->fs_owner = (uint32_t)d->fs_owner;
	return r;
}

/* ---- restore ---- */

static int remote_path_call(struct rst_ctx *r, long nr, uint64_t file_id, const char *what)
{
	const FileEntry *f = files_find(r, file_id);
	uint64_t addr;
	long a;
	int rr;

	if (!f || !f->reg || !f->reg->path)
		return pr_err_ret(-EINVAL, "image: task %u: %s names a missing file", r->task->pid,
				  what);
	rr = puppet_put(&r->pup, 8192, f->reg->path, strlen(f->reg->path) + 1, &addr);
	if (rr < 0)
		return rr;
	a = puppet_sys(&r->pup, nr, addr);
	if (a < 0)
		return pr_err_errno((int)a, "task %d: can't set its %s to '%s'", r->pup.pid, what,
				    f->reg->path);
	return 0;
}

int task_restore_thread(struct puppet *p, const ThreadEntry *th)
{
	struct sched_param sp = { .sched_priority = (int)th->sched_priority };
	long a = 0;
	int rr = 0;

	if (th->comm) {
		char comm[16] = { 0 };

		strncpy(comm, th->comm, sizeof(comm) - 1);
		rr = puppet_put(p, 0, comm, sizeof(comm), NULL);
		if (rr == 0)
			a = puppet_sys(p, SYS_prctl, PR_SET_NAME, p->scratch, 0, 0, 0);
	}
	if (rr == 0 && a == 0 && sched_setscheduler(p->pid, (int)th->sched_policy, &sp) < 0)
		return pr_err_errno(-errno, "thread %d: can't set scheduling policy %u", p->pid,
				    th->sched_policy);
	if (rr == 0 && a == 0 && setpriority(PRIO_PROCESS, (id_t)p->pid, th->nice) < 0)
		return pr_err_errno(-errno, "thread %d: can't set nice %d", p->pid, th->nice);
	if (rr == 0 && a == 0 && th->rseq && th->rseq->ptr)
		a = puppet_sys(p, SYS_rseq, th->rseq->ptr, th->rseq->len, 0, th->rseq->sig);
	if (rr == 0 && a == 0 && th->robust_list)
		a = puppet_sys(p, SYS_set_robust_list, th->robust_list, th->robust_list_len);
	/* set_tid_address can't fail: it returns the caller's tid. */
	if (rr == 0 && a == 0 && th->clear_child_tid)
		puppet_sys(p, SYS_set_tid_address, th->clear_child_tid);
	if (a < 0)
		return pr_err_errno((int)a, "thread %d: can't restore its attributes", p->pid);
	return rr;
}

/* The cwd, root and umask: one fs_struct, set by one of the processes on it. */
static int restore_fs(struct rst_ctx *r)
{
	const TaskEntry *t = r->task;
	const FileEntry *root = files_find(r, t->root_file);
	int rr;

	if (!shares_sets_fs(r))
		return 0;
	rr = remote_path_call(r, SYS_chdir, t->cwd_file, "working directory");
	if (rr == 0 && root && root->reg && root->reg->path && strcmp(root->reg->path, "/"))
		rr = remote_path_call(r, SYS_chroot, t->root_file, "root");
	if (rr == 0)
		puppet_sys(&r->pup, SYS_umask, t->umask);
	return rr;
}

int task_restore_misc(struct rst_ctx *r)
{
	const TaskEntry *t = r->task;
	long a;
	int rr;

	rr = restore_fs(r);
	if (rr < 0)
		return rr;
	a = puppet_sys(&r->pup, SYS_personality, t->personality);
	if (a < 0)
		return pr_err_errno((int)a, "task %d: can't set personality 0x%x", r->pup.pid,
				    t->personality);
	for (size_t i = 0; i < t->n_rlimits; i++) {
		struct rlimit rl = { t->rlimits[i]->cur, t->rlimits[i]->max };

		if (prlimit(r->pup.pid, (int)t->rlimits[i]->resource, &rl, NULL) < 0)
			return pr_err_errno(-errno, "task %d: can't set rlimit %u to %lu/%lu",
					    r->pup.pid, t->rlimits[i]->resource,
					    (unsigned long)rl.rlim_cur, (unsigned long)rl.rlim_max);
	}
	a = puppet_sys(&r->pup, SYS_prctl, PR_SET_PDEATHSIG, t->pdeath_sig, 0, 0, 0);
	if (a == 0 && t->child_subreaper)
		a = puppet_sys(&r->pup, SYS_prctl, PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	if (a == 0 && t->thp_disable)
		a = puppet_sys(&r->pup, SYS_prctl, PR_SET_THP_DISABLE, 1, 0, 0, 0);
	if (a == 0 && t->no_new_privs)
		a = puppet_sys(&r->pup, SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	if (a < 0)
		return pr_err_errno((int)a, "task %d: can't restore prctl state", r->pup.pid);
	return 0;
}

static int remote_capset(struct puppet *p, uint64_t eff, uint64_t prm, uint64_t inh)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2] = {
		{ (uint32_t)eff, (uint32_t)prm, (uint32_t)inh },
		{ (uint32_t)(eff >> 32), (uint32_t)(prm >> 32), (uint32_t)(inh >> 32) },
	};
	uint64_t ha, da;
	int rr;

	rr = puppet_put(p, 0, &hdr, sizeof(hdr), &ha);
	if (rr == 0)
		rr = puppet_put(p, 64, data, sizeof(data), &da);
	if (rr < 0)
		return rr;
	return (int)puppet_sys(p, SYS_capset, ha, da);
}

static int remote_capget_permitted(struct puppet *p, uint64_t *ret)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	uint64_t ha, da;
	int rr;

	rr = puppet_put(p, 0, &hdr, sizeof(hdr), &ha);
	if (rr < 0)
		return rr;
	da = p->scratch + 64;
	rr = (int)puppet_sys(p, SYS_capget, ha, da);
	if (rr == 0)
		rr = puppet_get(p, 64, data, sizeof(data));
	if (rr == 0)
		*ret = data[0].permitted | ((uint64_t)data[1].permitted << 32);
	return rr;
}

static int set_ids(struct puppet *p, const CredsEntry *c)
{
	uint64_t addr;
	long a;
	int rr;

	rr = puppet_put(p, 0, c->groups, c->n_groups * sizeof(uint32_t), &addr);
	if (rr < 0)
		return rr;
	a = puppet_sys(p, SYS_setgroups, c->n_groups, addr);
	if (a == 0)
		a = puppet_sys(p, SYS_setresgid, c->gids[0], c->gids[1], c->gids[2]);
	if (a == 0)
		puppet_sys(p, SYS_setfsgid, c->gids[3]);
	/* Drop what the thread's bounding set has and the image's lacks, read from its status. */
	if (a == 0) {
		struct proc_status st;

		rr = proc_parse_status(p->pid, &st);
		if (rr < 0)
			return rr;
		proc_status_free(&st);
		for (int cap = 0; a == 0 && cap < 64; cap++)
			if ((st.cap_bnd & ~c->cap_bnd) & (1ULL << cap))
				a = puppet_sys(p, SYS_prctl, PR_CAPBSET_DROP, (uint64_t)cap, 0, 0, 0);
	}
	/* Keep the capabilities across the uid change; they are set exactly below. */
	if (a == 0)
		a = puppet_sys(p, SYS_prctl, PR_SET_SECUREBITS,
			       c->securebits | SECBIT_KEEP_CAPS_BIT, 0, 0, 0);
	if (a == 0)
		a = puppet_sys(p, SYS_setresuid, c->uids[0], c->uids[1], c->uids[2]);
	if (a == 0)
		puppet_sys(p, SYS_setfsuid, c->uids[3]);
	return (int)a;
}

/*
 * Does thread @p have credentials @c already? Puppets start with cryo's, which a tree dumped
 * and restored by root mostly has: then the dozen remote syscalls of setting them are saved.
 */
static bool creds_match(struct puppet *p, const CredsEntry *c)
{
	struct proc_status st;
	bool same;

	/* The puppet's securebits are cryo's own, inherited and unchanged. */
	if (proc_parse_status(p->pid, &st) < 0 || prctl(PR_GET_SECUREBITS) != (int)c->securebits)
		return false;
	same = !memcmp(st.uids, c->uids, sizeof(st.uids)) &&
	       !memcmp(st.gids, c->gids, sizeof(st.gids)) && st.ngroups == c->n_groups &&
	       (!st.ngroups || !memcmp(st.groups, c->groups, st.ngroups * sizeof(uint32_t))) &&
	       st.cap_inh == c->cap_inh && st.cap_prm == c->cap_prm && st.cap_eff == c->cap_eff &&
	       st.cap_bnd == c->cap_bnd && st.cap_amb == c->cap_amb;
	proc_status_free(&st);
	return same;
}

int task_restore_creds(struct rst_ctx *r, struct puppet *p)
{
	const CredsEntry *c = r->task->creds;
	uint64_t prm;
	int rr;

	if (!c || c->n_uids != 4 || c->n_gids != 4 || c->n_groups > PROC_MAX_GROUPS)
		return pr_err_ret(-EINVAL, "image 'task-%u.img': credentials are corrupt",
				  r->task->pid);
	if (creds_match(p, c))
		return 0;
	rr = set_ids(p, c);
	if (rr < 0)
		return pr_err_errno(rr, "task %d: can't set uids/gids/groups", p->pid);
	/* Effective caps were cleared by setresuid: take the permitted ones back to finish. */
	rr = remote_capget_permitted(p, &prm);
	if (rr == 0)
		rr = remote_capset(p, prm, prm, c->cap_inh & prm);
	if (rr == 0)
		rr = (int)puppet_sys(p, SYS_prctl, PR_SET_SECUREBITS, c->securebits, 0, 0, 0);
	if (rr < 0)
		return pr_err_errno(rr, "task %d: can't set securebits 0x%x", p->pid,
				    c->securebits);
	rr = remote_capset(p, c->cap_eff, c->cap_prm, c->cap_inh);
	for (int cap = 0; rr == 0 && cap < 64; cap++)
		if (c->cap_amb & (1ULL << cap))
			rr = (int)puppet_sys(p, SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE,
					     (uint64_t)cap, 0, 0);
	if (rr < 0)
		return pr_err_errno(rr, "task %d: can't set capabilities", p->pid);
	return 0;
}

int task_restore_dumpable(struct rst_ctx *r)
{
	/* Process-wide, and reset by every thread's setresuid: set after all of them. */
	long a = puppet_sys(&r->pup, SYS_prctl, PR_SET_DUMPABLE, r->task->dumpable, 0, 0, 0);

	if (a < 0)
		return pr_err_errno((int)a, "task %d: can't set dumpable", r->pup.pid);
	return 0;
}
