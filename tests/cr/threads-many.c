/* SPDX-License-Identifier: MIT */
/*
 * Many threads: 100 threads, each bumping a counter of its own every millisecond (between
 * 1 ms nanosleep()s) with SIGUSR2 blocked. After restore /proc/self/task lists the same tids
 * as before, each thread still has its tid (it checks gettid() at every bump), no counter went
 * back, and every counter moves on within a few seconds.
 * CRYO-TEST: cycles=2
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib.h"

#define NTHREADS 100
#define TASKS_MAX (NTHREADS + 8)
/* How long the counters may take to start, or to move on after restore. */
#define SETTLE_S 5

struct thread {
	pthread_t handle;
	pid_t tid;
	unsigned long counter;
	/* The tid gettid() gave when it differed from the one recorded at the start. */
	pid_t wrong_tid;
};

static struct thread threads[NTHREADS];
static int stop;

static void *count(void *arg)
{
	const struct timespec tick = { 0, 1000000 };
	struct thread *t = arg;
	pid_t tid;

	__atomic_store_n(&t->tid, gettid(), __ATOMIC_RELEASE);
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		tid = gettid();
		if (tid != t->tid)
			__atomic_store_n(&t->wrong_tid, tid, __ATOMIC_RELAXED);
		__atomic_add_fetch(&t->counter, 1, __ATOMIC_RELAXED);
		nanosleep(&tick, NULL);
	}
	return NULL;
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

static void same_tasks(const int *was, int nwas, const int *now, int nnow)
{
	for (int i = 0; i < nwas && i < nnow; i++)
		if (now[i] != was[i])
			test_fail("thread tids changed: tid %d (%d-th lowest) was %d", now[i],
				  i + 1, was[i]);
	if (nnow != nwas)
		test_fail("%d threads, was %d", nnow, nwas);
}

/* Wait until every counter is past since[] (all of them 0 for the start). */
static void wait_counting(const unsigned long *since, const char *when)
{
	long long deadline = test_mono_ns() + SETTLE_S * 1000000000LL;

	for (int i = 0; i < NTHREADS; i++)
		while (__atomic_load_n(&threads[i].counter, __ATOMIC_RELAXED) <= since[i]) {
			if (test_mono_ns() > deadline)
				test_fail("thread %d (tid %d) stuck at %lu %s", i, threads[i].tid,
					  since[i], when);
			nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
		}
}

static void start_threads(void)
{
	sigset_t usr2, old;
	int r;

	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &usr2, &old);
	for (int i = 0; i < NTHREADS; i++) {
		r = pthread_create(&threads[i].handle, NULL, count, &threads[i]);
		if (r)
			test_fail("pthread_create %d: %s", i, strerror(r));
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

int main(int argc, char **argv)
{
	static int tasks_was[TASKS_MAX], tasks_now[TASKS_MAX], expected[TASKS_MAX];
	static unsigned long zero[NTHREADS], at_ready[NTHREADS], restored[NTHREADS];
	int ntasks_was, ntasks_now;

	test_init(argc, argv);
	start_threads();
	wait_counting(zero, "at the start");
	expected[0] = gettid();
	for (int i = 0; i < NTHREADS; i++)
		expected[i + 1] = __atomic_load_n(&threads[i].tid, __ATOMIC_ACQUIRE);
	qsort(expected, NTHREADS + 1, sizeof(*expected), cmp_int);
	ntasks_was = test_tasks(tasks_was, TASKS_MAX);
	same_tasks(expected, NTHREADS + 1, tasks_was, ntasks_was);
	for (int i = 0; i < NTHREADS; i++)
		at_ready[i] = __atomic_load_n(&threads[i].counter, __ATOMIC_RELAXED);

	test_ready();
	test_wait();

	ntasks_now = test_tasks(tasks_now, TASKS_MAX);
	same_tasks(tasks_was, ntasks_was, tasks_now, ntasks_now);
	for (int i = 0; i < NTHREADS; i++) {
		restored[i] = __atomic_load_n(&threads[i].counter, __ATOMIC_RELAXED);
		if (restored[i] < at_ready[i])
			test_fail("thread %d (tid %d): counter %lu, was %lu at ready", i,
				  threads[i].tid, restored[i], at_ready[i]);
	}
	wait_counting(restored, "after restore");
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(threads[i].handle, NULL);
		if (threads[i].wrong_tid)
			test_fail("thread %d: gettid() %d, was %d", i, threads[i].wrong_tid,
				  threads[i].tid);
	}
	test_pass();
}
