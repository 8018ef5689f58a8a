/* SPDX-License-Identifier: MIT */
/*
 * Threads: eight threads besides the main one, each with its own name, blocked mask (SIGUSR2
 * and a run of real-time signals of its own length), __thread value and tid. Two spin in asm
 * with distinct patterns in rax-rsi, rbp, r8-r15, xmm0-15 and MXCSR; the others block in
 * pthread_cond_wait(), in pthread_cond_timedwait() with a 1-hour timeout, in pthread_join()
 * of a thread blocked in FUTEX_WAIT, in read() of an empty pipe, and in a loop of 2 s
 * nanosleep()s. A ninth thread exited and was joined before the dump.
 * After restore the task list is the same (the exited thread's tid absent), and each thread
 * has its tid, comm and SigBlk in /proc/self/task/TID. Woken one by one, each thread checks
 * in itself its tid, name, blocked mask, fs base, __thread variable (address and value),
 * rseq registration (still registered, cpu_id still updated), robust list head and
 * clear_child_tid, and that its call came back as it should: the cond waits with 0 (never
 * ETIMEDOUT), the read with the bytes written after restore, every nanosleep with 0 after
 * 2 s or more, the spin with its registers intact. The joins end through the futex wake on
 * clear_child_tid at each thread's exit.
 * CRYO-TEST: cycles=2
 */
#include <asm/prctl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "lib.h"

#define NGPR 14
#define ERR_MAX 256
#define TASKS_MAX 16
/* glibc registers at least the original 32-byte struct rseq, even when __rseq_size is less. */
#define RSEQ_MIN_LEN 32
#define SLEEP_NS 2000000000LL
#define PIPE_MSG "after restore"
/* How long a thread may take to reach its blocking call, or to exit once woken. */
#define SETTLE_S 10

static const char *const gpr_names[NGPR] = { "rax", "rbx", "rcx", "rdx", "rsi", "rbp", "r8",
					     "r9",  "r10", "r11", "r12", "r13", "r14", "r15" };

struct spin_regs {
	uint64_t gpr_in[NGPR], gpr_out[NGPR];
	unsigned char xmm_in[16][16], xmm_out[16][16];
	uint32_t mxcsr_in, mxcsr_out, mxcsr_saved;
	uint64_t saved_rbp;
	int spinning; /* set by the asm once every register holds its pattern */
	int flag;     /* set by the main thread to end the spin */
};

/* What a thread reads about itself, before the dump and after restore. */
struct self {
	pid_t tid;
	char name[16];
	uint64_t blocked;
	unsigned long fs;
	uintptr_t tls_addr;
	uint64_t tls_value;
	uintptr_t robust_head;
	size_t robust_len;
	uintptr_t tid_addr;
};

struct thread;

struct kind {
	const char *name;
	/* The system call it blocks in; -1 for a spin. */
	long syscall;
	void (*block)(struct thread *t);
	void (*wake)(struct thread *t);
	/* Joined by another thread, not by main. */
	int joined_by_peer;
};

struct thread {
	const struct kind *kind;
	pthread_t handle;
	sigset_t mask;
	uint64_t tls_value;
	struct self before;
	struct spin_regs regs;
	int set_up;
	/* /proc/self/task/TID as the main thread saw it before the dump. */
	char comm[32], sigblk[64];
	char err[ERR_MAX];
};

enum { SPIN_A, SPIN_B, COND, TIMEDCOND, FUTEX, JOINER, READER, SLEEPER, NTHREADS };

static struct thread threads[NTHREADS];
static __thread uint64_t tls_word;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int go;
static uint32_t futex_word;
static int pipe_fds[2];
static int stop_sleeping;

/* Keep the first failure of a thread for the main thread to report. */
#define thread_fail(t, ...) test_note((t)->err, sizeof((t)->err), __VA_ARGS__)

/* ---- The spinning threads */


/*
 * rdi holds the thread's regs throughout. rbp may be the frame pointer, so it is not
 * declared as clobbered but saved and put back by hand.
 */
static void load_spin_store(struct spin_regs *r)
{
	/* clang-format off */
	asm volatile("mov %%rbp, %c[rbp](%%rdi)\n\t"
		     "stmxcsr %c[mxs](%%rdi)\n\t"
		     "ldmxcsr %c[mxi](%%rdi)\n\t"
		     TEST_IRP16 "movdqu %c[vi]+\\i*16(%%rdi), %%xmm\\i\n\t.endr\n\t"
		     TEST_GPRS(TEST_GPR_LOAD)
		     "movl $1, %c[spinning](%%rdi)\n"
		     /* Spin until the main thread sets the flag: the dump lands here. */
		     "1:\n\t"
		     "pause\n\t"
		     "cmpl $0, %c[flag](%%rdi)\n\t"
		     "je 1b\n\t"
		     TEST_GPRS(TEST_GPR_STORE)
		     TEST_IRP16 "movdqu %%xmm\\i, %c[vo]+\\i*16(%%rdi)\n\t.endr\n\t"
		     "stmxcsr %c[mxo](%%rdi)\n\t"
		     "ldmxcsr %c[mxs](%%rdi)\n\t"
		     "mov %c[rbp](%%rdi), %%rbp\n\t"
		     :
		     : "D"(r),
		       [gi] "i"(offsetof(struct spin_regs, gpr_in)),
		       [go] "i"(offsetof(struct spin_regs, gpr_out)),
		       [vi] "i"(offsetof(struct spin_regs, xmm_in)),
		       [vo] "i"(offsetof(struct spin_regs, xmm_out)),
		       [mxi] "i"(offsetof(struct spin_regs, mxcsr_in)),
		       [mxo] "i"(offsetof(struct spin_regs, mxcsr_out)),
		       [mxs] "i"(offsetof(struct spin_regs, mxcsr_saved)),
		       [rbp] "i"(offsetof(struct spin_regs, saved_rbp)),
		       [spinning] "i"(offsetof(struct spin_regs, spinning)),
		       [flag] "i"(offsetof(struct spin_regs, flag))
		     : "rax", "rbx", "rcx", "rdx", "rsi", "r8", "r9", "r10", "r11", "r12", "r13",
		       "r14", "r15", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
		       "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "cc",
		       "memory");
	/* clang-format on */
}

static void init_spin_regs(struct spin_regs *r, uint64_t seed)
{
	for (int i = 0; i < NGPR; i++)
		r->gpr_in[i] = test_splitmix(&seed);
	for (int x = 0; x < 16; x++)
		for (int q = 0; q < 2; q++) {
			uint64_t v = test_splitmix(&seed);

			memcpy(r->xmm_in[x] + q * 8, &v, 8);
		}
	/* Default 0x1f80 plus DAZ, flush-to-zero and a rounding mode per seed. */
	r->mxcsr_in = 0x1f80 | 0x0040 | 0x8000 | (seed & 3) << 13;
}

static void spin_block(struct thread *t)
{
	struct spin_regs *r = &t->regs;
	uint64_t got[2], want[2];

	load_spin_store(r);
	for (int i = 0; i < NGPR; i++)
		if (r->gpr_out[i] != r->gpr_in[i])
			thread_fail(t, "%s is %#" PRIx64 ", expected %#" PRIx64, gpr_names[i],
				    r->gpr_out[i], r->gpr_in[i]);
	for (int x = 0; x < 16; x++) {
		memcpy(got, r->xmm_out[x], 16);
		memcpy(want, r->xmm_in[x], 16);
		if (got[0] != want[0] || got[1] != want[1])
			thread_fail(t,
				    "xmm%d is %#" PRIx64 ":%#" PRIx64 ", expected %#" PRIx64
				    ":%#" PRIx64,
				    x, got[1], got[0], want[1], want[0]);
	}
	if (r->mxcsr_out != r->mxcsr_in)
		thread_fail(t, "mxcsr is %#x, expected %#x", r->mxcsr_out, r->mxcsr_in);
}

static void spin_wake(struct thread *t)
{
	__atomic_store_n(&t->regs.flag, 1, __ATOMIC_RELEASE);
}

/* ---- The blocked threads */

static void cond_block(struct thread *t)
{
	int r = 0;

	pthread_mutex_lock(&lock);
	while (!go && !r)
		r = pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	if (r)
		thread_fail(t, "pthread_cond_wait: %s", strerror(r));
}

/*
 * A restored FUTEX_WAIT with a timeout comes back with EINTR, which glibc takes for a spurious
 * wakeup; the wait goes on with the deadline in the thread's memory.
 */
static void timedcond_block(struct thread *t)
{
	struct timespec deadline;
	int r = 0;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 3600;
	pthread_mutex_lock(&lock);
	while (!go && !r)
		r = pthread_cond_timedwait(&cond, &lock, &deadline);
	pthread_mutex_unlock(&lock);
	if (r)
		thread_fail(t, "pthread_cond_timedwait: %s", strerror(r));
}

static void cond_wake(struct thread *t)
{
	(void)t;
	pthread_mutex_lock(&lock);
	go = 1;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

/* FUTEX_WAIT may return early (EAGAIN, EINTR); only the word tells it was woken. */
static void futex_block(struct thread *t)
{
	while (!__atomic_load_n(&futex_word, __ATOMIC_ACQUIRE))
		if (syscall(SYS_futex, &futex_word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0) &&
		    errno != EAGAIN && errno != EINTR)
			thread_fail(t, "FUTEX_WAIT: %s", strerror(errno));
}

static void futex_wake(struct thread *t)
{
	__atomic_store_n(&futex_word, 1, __ATOMIC_RELEASE);
	if (syscall(SYS_futex, &futex_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0) < 0)
		test_fail("FUTEX_WAKE for '%s': %m", t->kind->name);
}

static void joiner_block(struct thread *t)
{
	void *ret;
	int r = pthread_join(threads[FUTEX].handle, &ret);

	if (r)
		thread_fail(t, "pthread_join: %s", strerror(r));
	else if (ret != &threads[FUTEX])
		thread_fail(t, "pthread_join gave %p, not %p", ret, (void *)&threads[FUTEX]);
}

/* Woken by the futex thread's exit. */
static void joiner_wake(struct thread *t)
{
	(void)t;
}

static void reader_block(struct thread *t)
{
	char buf[64];
	ssize_t n = read(pipe_fds[0], buf, sizeof(buf));

	if (n < 0)
		thread_fail(t, "read: %s", strerror(errno));
	else if ((size_t)n != strlen(PIPE_MSG) || memcmp(buf, PIPE_MSG, n))
		thread_fail(t, "read '%.*s', not '%s'", (int)n, buf, PIPE_MSG);
}

static void reader_wake(struct thread *t)
{
	if (write(pipe_fds[1], PIPE_MSG, strlen(PIPE_MSG)) != (ssize_t)strlen(PIPE_MSG))
		test_fail("write to the pipe of '%s': %m", t->kind->name);
}

static void sleeper_block(struct thread *t)
{
	const struct timespec req = { SLEEP_NS / 1000000000, SLEEP_NS % 1000000000 };
	struct timespec rem;
	long long start, slept;

	while (!__atomic_load_n(&stop_sleeping, __ATOMIC_ACQUIRE)) {
		start = test_mono_ns();
		if (nanosleep(&req, &rem)) {
			thread_fail(t, "nanosleep: %s", strerror(errno));
			return;
		}
		slept = test_mono_ns() - start;
		if (slept < SLEEP_NS) {
			thread_fail(t, "nanosleep returned 0 after %lld ns of %lld", slept,
				    SLEEP_NS);
			return;
		}
	}
}

static void sleeper_wake(struct thread *t)
{
	(void)t;
	__atomic_store_n(&stop_sleeping, 1, __ATOMIC_RELEASE);
}

static const struct kind kinds[NTHREADS] = {
	[SPIN_A] = { "cr-spin-a", -1, spin_block, spin_wake, 0 },
	[SPIN_B] = { "cr-spin-b", -1, spin_block, spin_wake, 0 },
	[COND] = { "cr-condwait", SYS_futex, cond_block, cond_wake, 0 },
	[TIMEDCOND] = { "cr-timedwait", SYS_futex, timedcond_block, cond_wake, 0 },
	[FUTEX] = { "cr-futex", SYS_futex, futex_block, futex_wake, 1 },
	[JOINER] = { "cr-joiner", SYS_futex, joiner_block, joiner_wake, 0 },
	[READER] = { "cr-reader", SYS_read, reader_block, reader_wake, 0 },
	/* glibc's nanosleep() is clock_nanosleep(CLOCK_REALTIME, 0). */
	[SLEEPER] = { "cr-sleeper", SYS_clock_nanosleep, sleeper_block, sleeper_wake, 0 },
};

/* ---- What each thread checks in itself */

static uint64_t mask_bits(const sigset_t *set)
{
	uint64_t bits = 0;

	for (int sig = 1; sig <= 64; sig++)
		if (sigismember(set, sig) == 1)
			bits |= 1ULL << (sig - 1);
	return bits;
}

/* Not inlined, so that the __thread address is computed from the fs base of the moment. */
static __attribute__((noipa)) void read_self(struct thread *t, struct self *s)
{
	sigset_t blocked;
	void *head, *tid_addr;

	memset(s, 0, sizeof(*s));
	s->tid = gettid();
	if (prctl(PR_GET_NAME, s->name, 0, 0, 0))
		thread_fail(t, "PR_GET_NAME: %s", strerror(errno));
	sigemptyset(&blocked);
	pthread_sigmask(SIG_BLOCK, NULL, &blocked);
	s->blocked = mask_bits(&blocked);
	if (syscall(SYS_arch_prctl, ARCH_GET_FS, &s->fs))
		thread_fail(t, "ARCH_GET_FS: %s", strerror(errno));
	s->tls_addr = (uintptr_t)&tls_word;
	s->tls_value = tls_word;
	if (syscall(SYS_get_robust_list, 0, &head, &s->robust_len))
		thread_fail(t, "get_robust_list: %s", strerror(errno));
	s->robust_head = (uintptr_t)head;
	if (prctl(PR_GET_TID_ADDRESS, &tid_addr, 0, 0, 0))
		thread_fail(t, "PR_GET_TID_ADDRESS: %s", strerror(errno));
	s->tid_addr = (uintptr_t)tid_addr;
}

#define SAME(field, fmt)                                                                           \
	do {                                                                                       \
		if (now.field != was->field)                                                       \
			thread_fail(t, #field " " fmt ", was " fmt, now.field, was->field);        \
	} while (0)

static void check_self(struct thread *t)
{
	const struct self *was = &t->before;
	struct self now;

	read_self(t, &now);
	SAME(tid, "%d");
	if (strcmp(now.name, was->name))
		thread_fail(t, "name '%s', was '%s'", now.name, was->name);
	SAME(blocked, "%#" PRIx64);
	SAME(fs, "%#lx");
	SAME(tls_addr, "%#" PRIxPTR);
	SAME(tls_value, "%#" PRIx64);
	SAME(robust_head, "%#" PRIxPTR);
	SAME(robust_len, "%zu");
	SAME(tid_addr, "%#" PRIxPTR);
}

/*
 * The rseq area glibc registered for the thread must still be registered: registering it
 * again with the same length and signature fails with EBUSY only then (kernel/rseq.c). And
 * the kernel must keep it current: after a sleep, which always switches tasks, it has
 * rewritten cpu_id.
 */
static void check_rseq(struct thread *t)
{
	struct rseq *rs = (struct rseq *)((char *)__builtin_thread_pointer() + __rseq_offset);
	unsigned int len = __rseq_size < RSEQ_MIN_LEN ? RSEQ_MIN_LEN : __rseq_size;
	long r;

	if (__rseq_size == 0)
		return;
	r = syscall(SYS_rseq, rs, len, 0, RSEQ_SIG);
	if (r != -1 || errno != EBUSY)
		thread_fail(t, "rseq area %p not registered as glibc did: re-registering gave %s",
			    (void *)rs, r ? strerror(errno) : "success");
	rs->cpu_id = RSEQ_CPU_ID_REGISTRATION_FAILED;
	nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	if (rs->cpu_id >= CPU_SETSIZE)
		thread_fail(t, "rseq cpu_id %u not updated by the kernel", rs->cpu_id);
}

static void *thread_main(void *arg)
{
	struct thread *t = arg;
	int r;

	r = pthread_setname_np(pthread_self(), t->kind->name);
	if (r)
		thread_fail(t, "pthread_setname_np: %s", strerror(r));
	r = pthread_sigmask(SIG_SETMASK, &t->mask, NULL);
	if (r)
		thread_fail(t, "pthread_sigmask: %s", strerror(r));
	tls_word = t->tls_value;
	read_self(t, &t->before);
	check_rseq(t);
	__atomic_store_n(&t->set_up, 1, __ATOMIC_RELEASE);
	t->kind->block(t);
	check_self(t);
	check_rseq(t);
	return t;
}

/* ---- The main thread */

static void read_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		test_fail("open '%s': %m", path);
	n = read(fd, buf, len - 1);
	if (n < 0)
		test_fail("read '%s': %m", path);
	close(fd);
	buf[n] = '\0';
}

/* The comm and the SigBlk of a thread, as /proc/self/task/TID shows them. */
static void read_proc(pid_t tid, char *comm, size_t comm_len, char *sigblk, size_t sigblk_len)
{
	char path[64], status[4096];
	const char *line;

	snprintf(path, sizeof(path), "/proc/self/task/%d/comm", tid);
	read_text(path, comm, comm_len);
	comm[strcspn(comm, "\n")] = '\0';
	snprintf(path, sizeof(path), "/proc/self/task/%d/status", tid);
	read_text(path, status, sizeof(status));
	line = strstr(status, "\nSigBlk:");
	if (!line)
		test_fail("no SigBlk in '%s'", path);
	snprintf(sigblk, sigblk_len, "%.*s", (int)strcspn(line + 1, "\n"), line + 1);
}

/* Fail the test with the thread's first failure, if it had one. */
static void check_err(const struct thread *t)
{
	if (t->err[0])
		test_fail("thread '%s' (tid %d): %s", t->kind->name, t->before.tid, t->err);
}

static int in_syscall(const struct thread *t)
{
	char path[64], text[256];

	if (t->kind->syscall < 0)
		return __atomic_load_n(&t->regs.spinning, __ATOMIC_ACQUIRE);
	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", t->before.tid);
	read_text(path, text, sizeof(text));
	return strtol(text, NULL, 10) == t->kind->syscall && strncmp(text, "running", 7);
}

/* Wait until the thread has read its state and sits in its blocking call (or spin). */
static void wait_blocked(const struct thread *t)
{
	long long deadline = test_mono_ns() + SETTLE_S * 1000000000LL;

	while (!__atomic_load_n(&t->set_up, __ATOMIC_ACQUIRE) || !in_syscall(t)) {
		check_err(t);
		if (test_mono_ns() > deadline)
			test_fail("thread '%s' not blocked in system call %ld after %d s",
				  t->kind->name, t->kind->syscall, SETTLE_S);
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	}
	check_err(t);
}

static void *exit_at_once(void *arg)
{
	*(pid_t *)arg = gettid();
	return NULL;
}

static pid_t exited_thread(void)
{
	pthread_t th;
	pid_t tid = 0;
	int r = pthread_create(&th, NULL, exit_at_once, &tid);

	if (r || (r = pthread_join(th, NULL)))
		test_fail("exiting thread: %s", strerror(r));
	return tid;
}

static void start_threads(void)
{
	sigset_t all, old;
	int r;

	/* Each thread starts with every signal blocked and then sets its own mask. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (int i = 0; i < NTHREADS; i++) {
		struct thread *t = &threads[i];

		t->kind = &kinds[i];
		sigemptyset(&t->mask);
		sigaddset(&t->mask, SIGUSR2);
		for (int s = 0; s <= i; s++)
			sigaddset(&t->mask, SIGRTMIN + s);
		t->tls_value = 0x7415000000000000ULL | (uint64_t)i << 32 | (uint64_t)getpid();
		init_spin_regs(&t->regs, 1000 + i);
		r = pthread_create(&t->handle, NULL, thread_main, t);
		if (r)
			test_fail("pthread_create: %s", strerror(r));
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Join the thread, waiting no more than SETTLE_S for it. */
static void join(struct thread *t)
{
	int r = test_timedjoin(t->handle, SETTLE_S);

	if (r)
		test_fail("joining thread '%s' (tid %d): %s%s%s", t->kind->name, t->before.tid,
			  strerror(r), t->err[0] ? "; it found: " : "", t->err);
}

int main(int argc, char **argv)
{
	int tasks_was[TASKS_MAX], tasks_now[TASKS_MAX], ntasks_was, ntasks_now;
	char comm[32], sigblk[64], path[64];
	pid_t gone;

	test_init(argc, argv);
	if (__rseq_size == 0)
		test_msg("glibc did not register rseq, rseq not checked");
	if (pipe2(pipe_fds, O_CLOEXEC))
		test_fail("pipe2: %m");
	gone = exited_thread();
	start_threads();
	for (int i = 0; i < NTHREADS; i++) {
		struct thread *t = &threads[i];

		wait_blocked(t);
		read_proc(t->before.tid, t->comm, sizeof(t->comm), t->sigblk, sizeof(t->sigblk));
		if (strcmp(t->comm, t->kind->name))
			test_fail("thread '%s' has comm '%s'", t->kind->name, t->comm);
	}
	ntasks_was = test_tasks(tasks_was, TASKS_MAX);
	if (ntasks_was != NTHREADS + 1)
		test_fail("%d threads, expected %d", ntasks_was, NTHREADS + 1);

	test_ready();
	test_wait();

	snprintf(path, sizeof(path), "/proc/self/task/%d", gone);
	if (access(path, F_OK) == 0)
		test_fail("the exited thread's '%s' exists", path);
	if (errno != ENOENT)
		test_fail("access '%s': %m", path);
	ntasks_now = test_tasks(tasks_now, TASKS_MAX);
	if (ntasks_now != ntasks_was)
		test_fail("%d threads, was %d", ntasks_now, ntasks_was);
	for (int i = 0; i < ntasks_now; i++)
		if (tasks_now[i] != tasks_was[i])
			test_fail("thread tids changed: tid %d (%d-th lowest) was %d", tasks_now[i],
				  i + 1, tasks_was[i]);
	for (int i = 0; i < NTHREADS; i++) {
		struct thread *t = &threads[i];

		read_proc(t->before.tid, comm, sizeof(comm), sigblk, sizeof(sigblk));
		if (strcmp(comm, t->comm) || strcmp(sigblk, t->sigblk))
			test_fail("thread %d: comm '%s', %s; was '%s', %s", t->before.tid, comm,
				  sigblk, t->comm, t->sigblk);
	}

	for (int i = 0; i < NTHREADS; i++)
		threads[i].kind->wake(&threads[i]);
	for (int i = 0; i < NTHREADS; i++)
		if (!threads[i].kind->joined_by_peer)
			join(&threads[i]);
	for (int i = 0; i < NTHREADS; i++)
		check_err(&threads[i]);
	test_pass();
}
