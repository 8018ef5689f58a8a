/* SPDX-License-Identifier: MIT */
/*
 * Per-process attributes: cwd (a subdirectory of the state dir), umask 027, rlimits (lowered
 * RLIMIT_NOFILE soft, RLIMIT_CORE 0/0, RLIMIT_STACK soft 4 MiB; all limits compared),
 * personality with ADDR_NO_RANDOMIZE, comm, no_new_privs, dumpable, parent-death signal,
 * SCHED_BATCH with nice 7, the CPU affinity (the last CPU alone), the child-subreaper flag,
 * THP disable, and glibc's per-thread registrations: rseq (still registered with the same
 * area, length and signature, and the kernel still updating its cpu_id), the robust futex
 * list and clear_child_tid.
 * CRYO-TEST: cycles=2 leave-running=1
 */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/rseq.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "lib.h"

#define COMM "cryo-attrs"
/* glibc registers at least the original 32-byte struct rseq, even when __rseq_size is less. */
#define RSEQ_MIN_LEN 32

struct attrs {
	struct test_values v;
	char cwd[PATH_MAX];
	char comm[32];
	char proc_comm[32];
};

static long long prctl_get(int option)
{
	int r = prctl(option, 0, 0, 0, 0);

	if (r < 0)
		test_fail("prctl(%d): %m", option);
	return r;
}

static long long prctl_get_int(int option)
{
	int v;

	if (prctl(option, &v, 0, 0, 0))
		test_fail("prctl(%d): %m", option);
	return v;
}

/* The CPU affinity of the calling thread as values: its CPUs, one by one. */
static void read_affinity(struct test_values *v)
{
	cpu_set_t cpus;

	if (sched_getaffinity(0, sizeof(cpus), &cpus))
		test_fail("sched_getaffinity: %m");
	test_values_add(v, CPU_COUNT(&cpus), "number of CPUs in the affinity");
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &cpus))
			test_values_add(v, c, "CPU in the affinity");
}

static void read_limits(struct test_values *v)
{
	struct rlimit rl;

	for (int r = 0; r < RLIM_NLIMITS; r++) {
		if (getrlimit(r, &rl))
			test_fail("getrlimit(%d): %m", r);
		test_values_add(v, rl.rlim_cur, "rlimit %d soft", r);
		test_values_add(v, rl.rlim_max, "rlimit %d hard", r);
	}
}

static void read_thread_regs(struct test_values *v)
{
	void *head, *tid_addr;
	size_t len;

	if (syscall(SYS_get_robust_list, 0, &head, &len))
		test_fail("get_robust_list: %m");
	test_values_add(v, (intptr_t)head, "robust list head");
	test_values_add(v, len, "robust list len");
	if (prctl(PR_GET_TID_ADDRESS, &tid_addr, 0, 0, 0))
		test_fail("PR_GET_TID_ADDRESS: %m");
	test_values_add(v, (intptr_t)tid_addr, "clear_child_tid");
}

static void read_attrs(struct attrs *s)
{
	struct test_values *v = &s->v;
	mode_t mask = umask(0);
	int prio;

	umask(mask);
	v->n = 0;
	test_values_add(v, mask, "umask");
	read_limits(v);
	test_values_add(v, personality(0xffffffff), "personality");
	test_values_add(v, prctl_get(PR_GET_NO_NEW_PRIVS), "no_new_privs");
	test_values_add(v, prctl_get(PR_GET_DUMPABLE), "dumpable");
	test_values_add(v, prctl_get_int(PR_GET_PDEATHSIG), "pdeath signal");
	test_values_add(v, prctl_get_int(PR_GET_CHILD_SUBREAPER), "child subreaper");
	test_values_add(v, prctl_get(PR_GET_THP_DISABLE), "THP disable");
	test_values_add(v, sched_getscheduler(0), "scheduler policy");
	errno = 0;
	prio = getpriority(PRIO_PROCESS, 0);
	if (errno)
		test_fail("getpriority: %m");
	test_values_add(v, prio, "nice");
	read_affinity(v);
	read_thread_regs(v);
	if (!getcwd(s->cwd, sizeof(s->cwd)))
		test_fail("getcwd: %m");
	if (prctl(PR_GET_NAME, s->comm, 0, 0, 0))
		test_fail("PR_GET_NAME: %m");
	test_read_file("/proc/self/comm", s->proc_comm, sizeof(s->proc_comm));
	s->proc_comm[strcspn(s->proc_comm, "\n")] = '\0';
}

/* Bound to one CPU, the last it may use: cryo's restore must not leave it where cryo ran. */
static void set_affinity(void)
{
	cpu_set_t cpus;

	if (sched_getaffinity(0, sizeof(cpus), &cpus))
		test_fail("sched_getaffinity: %m");
	for (int c = CPU_SETSIZE - 1; c >= 0; c--) {
		if (!CPU_ISSET(c, &cpus))
			continue;
		CPU_ZERO(&cpus);
		CPU_SET(c, &cpus);
		break;
	}
	if (sched_setaffinity(0, sizeof(cpus), &cpus))
		test_fail("sched_setaffinity: %m");
}

static void set_limit(int resource, rlim_t soft, rlim_t hard)
{
	if (setrlimit(resource, &(struct rlimit){ soft, hard }))
		test_fail("setrlimit(%d): %m", resource);
}

static void set_attrs(void)
{
	struct rlimit rl;
	char sub[PATH_MAX];

	test_path(sub, sizeof(sub), "sub");
	if (mkdir(sub, 0755) || chdir(sub))
		test_fail("mkdir/chdir '%s': %m", sub);
	umask(027);
	if (getrlimit(RLIMIT_NOFILE, &rl))
		test_fail("getrlimit: %m");
	set_limit(RLIMIT_NOFILE, 500, rl.rlim_max);
	set_limit(RLIMIT_CORE, 0, 0);
	if (getrlimit(RLIMIT_STACK, &rl))
		test_fail("getrlimit: %m");
	set_limit(RLIMIT_STACK, 4 << 20, rl.rlim_max);
	if (personality(PER_LINUX | ADDR_NO_RANDOMIZE) < 0)
		test_fail("personality: %m");
	if (prctl(PR_SET_NAME, COMM, 0, 0, 0) || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_PDEATHSIG, SIGWINCH, 0, 0, 0) ||
	    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) || prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0))
		test_fail("prctl: %m");
	if (sched_setscheduler(0, SCHED_BATCH, &(struct sched_param){ 0 }))
		test_fail("sched_setscheduler: %m");
	if (setpriority(PRIO_PROCESS, 0, 7))
		test_fail("setpriority: %m");
	set_affinity();
}

static void compare_attrs(const struct attrs *old, const struct attrs *cur)
{
	test_values_check(&old->v, &cur->v);
	if (strcmp(old->cwd, cur->cwd))
		test_fail("cwd '%s', was '%s'", cur->cwd, old->cwd);
}

static void check_comm(const struct attrs *s)
{
	if (strcmp(s->comm, COMM) || strcmp(s->proc_comm, COMM))
		test_fail("comm '%s', /proc/self/comm '%s'", s->comm, s->proc_comm);
}

/*
 * The rseq area glibc registered must still be registered: registering it again with the
 * same length and signature fails with EBUSY only then (kernel/rseq.c). And the kernel must
 * keep it current: a sleep always switches tasks, after which the kernel rewrites cpu_id
 * (a bare sched_yield() does not switch on an idle CPU).
 */
static void check_rseq(void)
{
	struct rseq *rs = (struct rseq *)((char *)__builtin_thread_pointer() + __rseq_offset);
	unsigned int len = __rseq_size < RSEQ_MIN_LEN ? RSEQ_MIN_LEN : __rseq_size;
	long r;

	if (__rseq_size == 0) {
		test_msg("glibc did not register rseq, rseq not checked");
		return;
	}
	r = syscall(SYS_rseq, rs, len, 0, RSEQ_SIG);
	if (r != -1 || errno != EBUSY)
		test_fail("rseq area %p not registered as glibc did: re-registering gave %s, "
			  "not EBUSY",
			  (void *)rs, r ? strerror(errno) : "success");
	rs->cpu_id = RSEQ_CPU_ID_REGISTRATION_FAILED;
	nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	if (rs->cpu_id >= CPU_SETSIZE)
		test_fail("rseq cpu_id %u not updated by the kernel", rs->cpu_id);
}

int main(int argc, char **argv)
{
	static struct attrs before, after;

	test_init(argc, argv);
	set_attrs();
	read_attrs(&before);
	check_comm(&before);
	check_rseq();

	test_ready();
	test_wait();

	read_attrs(&after);
	compare_attrs(&before, &after);
	check_comm(&after);
	check_rseq();
	test_pass();
}
