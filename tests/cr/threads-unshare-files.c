/* SPDX-License-Identifier: MIT */
/*
 * A thread with an fd table of its own: it calls unshare(CLONE_FILES) and opens a file that
 * only it has. Threads are restored on their leader's table, so the dump must fail with an
 * error and leave the process running as it was. After SIGUSR2, kcmp(KCMP_FILES) must still
 * say the thread has a table of its own, the thread must still have its file, and the
 * memory map, signal masks and dispositions and open fds must be those from before the dump.
 * CRYO-TEST: expect=dump-fail
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib.h"

#define KCMP_FILES 2

static pid_t tid;
static int thread_fd = -1;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int stage; /* 1: the thread is set up; 2: told to check; 3: checked, why says how */
static char why[256];

static void set_stage(int s)
{
	pthread_mutex_lock(&lock);
	stage = s;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

static void wait_stage(int s)
{
	pthread_mutex_lock(&lock);
	while (stage < s)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
}

static void *own_table(void *arg)
{
	char path[256];

	(void)arg;
	tid = (pid_t)syscall(SYS_gettid);
	test_path(path, sizeof(path), "thread-file");
	if (unshare(CLONE_FILES))
		test_note(why, sizeof(why), "unshare(CLONE_FILES): %s", strerror(errno));
	thread_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (thread_fd < 0)
		test_note(why, sizeof(why), "open '%s': %s", path, strerror(errno));
	set_stage(1);
	wait_stage(2);
	if (fcntl(thread_fd, F_GETFD) < 0)
		test_note(why, sizeof(why), "the thread lost its fd %d: %s", thread_fd,
			  strerror(errno));
	set_stage(3);
	return NULL;
}

int main(int argc, char **argv)
{
	const struct test_snapshot *before;
	pthread_t th;

	test_init(argc, argv);
	if (pthread_create(&th, NULL, own_table, NULL))
		test_fail("pthread_create failed");
	wait_stage(1);
	if (why[0])
		test_fail("%s", why);
	before = test_snapshot_take();

	test_ready();
	test_wait();

	test_snapshot_check(before);
	if (syscall(SYS_kcmp, getpid(), tid, KCMP_FILES, 0, 0) == 0)
		test_fail("the thread is on its leader's fd table now");
	set_stage(2);
	if (test_timedjoin(th, 10))
		test_fail("the thread did not end");
	if (why[0])
		test_fail("%s", why);
	test_pass();
}
