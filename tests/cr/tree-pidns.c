/* SPDX-License-Identifier: MIT */
/*
 * A root R and its child C, with what a tree restored into a new pid namespace must keep:
 * R's heap data, a pipe from C with a message queued in it, and a counter in shared memory
 * that a second thread of C bumps every millisecond, noting its gettid() each time. After
 * restore each process checks that getpid() and the last field of NSpid in /proc/self/status
 * are its pid from before, C that getppid() is R and that its thread's tid is as before.
 * R, when its pid namespace is no longer the one it started in, also checks that it is one
 * namespace deeper and that its parent is pid 1 there, the namespace's init. The counter
 * must move on and the queued message come out whole; then C, told to, sends its verdict and
 * exits with status 5, which R must reap.
 * tests/cr/pidns.sh also runs it, to restore it while the original still runs.
 * CRYO-TEST: restore-args=--new-pidns
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib.h"

#define HEAP_SIZE (300 * 1024)
#define HEAP_SEED 77
#define WHY_MAX 200
#define REPLY_TIMEOUT_MS 10000
#define C_STATUS 5

static const char queued[] = "queued by the child before the dump";

/* Shared between R and C. */
static struct shared {
	unsigned long counter;
	pid_t c_pid;
	pid_t t_tid; /* C's thread, before the dump */
	pid_t t_tid_now; /* and as it last saw itself */
} *sh;

static int data[2]; /* C -> R: the queued message, then C's verdict */
static int cmd[2];  /* R -> C: 'x' to check itself and exit */

/* The NSpid line of /proc/self/status: its last field and how many it has. */
static pid_t nspid(int *ret_depth)
{
	static const char *const key[] = { "NSpid:" };
	char line[256], *tok, *save = NULL;
	pid_t last = -1;
	int depth = 0;

	test_status_lines("/proc/self/status", "", key, 1, line, sizeof(line));
	strtok_r(line, " \t\n", &save);
	while ((tok = strtok_r(NULL, " \t\n", &save))) {
		last = (pid_t)atoi(tok);
		depth++;
	}
	if (ret_depth)
		*ret_depth = depth;
	return last;
}

static ino_t pidns_ino(void)
{
	struct stat st;

	if (stat("/proc/self/ns/pid", &st) < 0)
		test_fail("stat '/proc/self/ns/pid': %s", strerror(errno));
	return st.st_ino;
}

/* C's check of itself, after the restore: "" if all is well. */
static void child_check(pid_t r_pid, char *why, size_t len)
{
	why[0] = '\0';
	if (getpid() != sh->c_pid)
		test_note(why, len, "child: getpid() %d, was %d", getpid(), sh->c_pid);
	if (nspid(NULL) != sh->c_pid)
		test_note(why, len, "child: NSpid ends in %d, not %d", nspid(NULL), sh->c_pid);
	if (getppid() != r_pid)
		test_note(why, len, "child: getppid() %d, not the root's %d", getppid(), r_pid);
	if (__atomic_load_n(&sh->t_tid_now, __ATOMIC_RELAXED) != sh->t_tid)
		test_note(why, len, "child's thread: gettid() %d, was %d", sh->t_tid_now, sh->t_tid);
}

static void *counting(void *arg)
{
	const struct timespec ms = { 0, 1000000 };

	(void)arg;
	sh->t_tid = gettid();
	for (;;) {
		__atomic_store_n(&sh->t_tid_now, gettid(), __ATOMIC_RELAXED);
		__atomic_add_fetch(&sh->counter, 1, __ATOMIC_RELAXED);
		nanosleep(&ms, NULL);
	}
	return NULL;
}

static __attribute__((noreturn)) void child_main(pid_t r_pid)
{
	char why[WHY_MAX], c;
	pthread_t t;

	sh->c_pid = getpid();
	if (write(data[1], queued, sizeof(queued)) != sizeof(queued) ||
	    pthread_create(&t, NULL, counting, NULL))
		_exit(2);
	while (read(cmd[0], &c, 1) < 0 && errno == EINTR)
		;
	child_check(r_pid, why, sizeof(why));
	if (write(data[1], why, sizeof(why)) != sizeof(why))
		_exit(3);
	_exit(C_STATUS);
}

/* R's own pids, after the restore. */
static void root_check(pid_t was, ino_t ns_was, int depth_was)
{
	int depth;

	if (getpid() != was)
		test_fail("root: getpid() %d, was %d", getpid(), was);
	if (nspid(&depth) != was)
		test_fail("root: NSpid ends in %d, not %d", nspid(NULL), was);
	if (pidns_ino() == ns_was)
		return;
	if (depth != depth_was + 1)
		test_fail("root: in %d pid namespaces, was in %d", depth, depth_was);
	if (getppid() != 1)
		test_fail("root: in a new pid namespace, its parent is %d, not its init", getppid());
}

/* Tell C to end; its verdict, its exit status. */
static void end_child(pid_t c)
{
	char why[WHY_MAX];
	const char *err;
	int ws;

	if (write(cmd[1], "x", 1) != 1)
		test_fail("can't write to the child: %s", strerror(errno));
	err = test_read_msg(data[0], why, sizeof(why), REPLY_TIMEOUT_MS);
	if (err)
		test_fail_killing(&c, 1, "no verdict from the child: %s", err);
	if (why[0])
		test_fail_killing(&c, 1, "%s", why);
	if (waitpid(c, &ws, 0) != c)
		test_fail("waitpid of the child: %s", strerror(errno));
	if (!WIFEXITED(ws) || WEXITSTATUS(ws) != C_STATUS)
		test_fail("the child ended with status 0x%x, not exit %d", ws, C_STATUS);
}

int main(int argc, char **argv)
{
	char msg[sizeof(queued)];
	unsigned char *heap;
	unsigned long since;
	uint64_t sum;
	const char *err;
	pid_t me, c;
	ino_t ns;
	int depth;

	test_init(argc, argv);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	heap = malloc(HEAP_SIZE);
	if (sh == MAP_FAILED || !heap || pipe(data) < 0 || pipe(cmd) < 0)
		test_fail("setup: %s", strerror(errno));
	test_fill(heap, HEAP_SIZE, HEAP_SEED);
	sum = test_hash(heap, HEAP_SIZE);
	me = getpid();
	ns = pidns_ino();
	nspid(&depth);
	c = fork();
	if (c < 0)
		test_fail("fork: %s", strerror(errno));
	if (c == 0)
		child_main(me);
	since = test_counting(&sh->counter, 0, "the child");
	test_ready();
	test_wait();
	root_check(me, ns, depth);
	test_counting(&sh->counter, since, "the child");
	err = test_read_msg(data[0], msg, sizeof(msg), REPLY_TIMEOUT_MS);
	if (err || memcmp(msg, queued, sizeof(queued)))
		test_fail_killing(&c, 1, "queued message: %s", err ? err : "changed");
	end_child(c);
	if (test_hash(heap, HEAP_SIZE) != sum)
		test_fail("the heap data changed");
	test_pass();
}
