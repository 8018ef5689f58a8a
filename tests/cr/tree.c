/* SPDX-License-Identifier: MIT */
/*
 * A tree of six processes on three levels. The root R leads a process group of its own and
 * has children A and B. A made a group of its own (setpgid(0, 0)) and has children A1, in
 * A's group, and A2, which moved into R's group. B leads a new session (setsid()) and has
 * child B1 in it. Each process, after its fork, fills a heap buffer of its own with data of
 * its own and overwrites its own page of a heap buffer that R filled before forking, and
 * records its pid, ppid, pgid and sid. A second thread of R waits for B in waitpid() from
 * before the first dump to after the last restore.
 * After restore R tells its descendants one by one, over a pipe of each, to check in
 * themselves their pid, ppid, pgid, sid (the one of B's session as it was; any other the one
 * R is in now, as R's session is outside the tree and the restored root joins cryo's) and
 * the bytes of both buffers, and collects their verdicts over a shared pipe. Then each
 * process reaps its children, which must exit with status 0, and exits; B with status 7,
 * which R's waiting thread must get.
 * CRYO-TEST: cycles=2
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib.h"

#define PAGE 4096
#define PRIV_SIZE (6 * PAGE)
/* Below glibc's mmap threshold (128 KiB), so both buffers are on the brk heap. */
#define COMMON_SIZE (NR_ROLES * PAGE + 3 * PAGE)
#define COMMON_SEED 1000
#define WHY_MAX 200
#define REPORT_TIMEOUT_MS 10000
#define B_STATUS 7

enum role { R, A, A1, A2, B, B1, NR_ROLES };

static const char *const role_names[NR_ROLES] = { "R", "A", "A1", "A2", "B", "B1" };
static const enum role parent_of[NR_ROLES] = { R, R, A, A, R, B };

enum { REP_UP, REP_VERDICT, REP_EXIT };

/* What a process says to R; under PIPE_BUF, so each write is atomic. */
struct report {
	int kind;
	int role;
	pid_t pid, ppid, pgid, sid;
	char why[WHY_MAX];
};

/* What a process records about itself, checked in itself after restore. */
static struct self {
	enum role role;
	pid_t pid, ppid, pgid, sid;
	unsigned char *priv;
	unsigned char *common;
} me;

static pid_t pids[NR_ROLES];
static int cmd[NR_ROLES][2]; /* R -> each descendant: 'v' check yourself, 'x' exit */
static int rep[2];	     /* every descendant -> R */

/* ---- Any process */

static void ids(struct report *r)
{
	r->pid = getpid();
	r->ppid = getppid();
	r->pgid = getpgid(0);
	r->sid = getsid(0);
}

static void send_report(int kind, const char *why)
{
	struct report r = { .kind = kind, .role = me.role };

	ids(&r);
	snprintf(r.why, sizeof(r.why), "%s", why);
	if (write(rep[1], &r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(3);
}

static uint64_t priv_seed(enum role role)
{
	return 100 + role;
}

/*
 * The heap state of a role, in buffers of the caller. Its page of the common buffer is
 * written after its fork, as are its ancestors' pages but R's before they forked.
 */
static void expected(enum role role, unsigned char *priv, unsigned char *common)
{
	test_fill(priv, PRIV_SIZE, priv_seed(role));
	test_fill(common, COMMON_SIZE, COMMON_SEED);
	for (enum role r = role; r != R; r = parent_of[r])
		test_fill(common + r * PAGE, PAGE, 2000 + r);
	if (role == R)
		test_fill(common + R * PAGE, PAGE, 2000 + R);
}

/* After fork: this process's own heap data, and its ids. */
static void become(enum role role)
{
	me.role = role;
	me.priv = malloc(PRIV_SIZE);
	if (!me.priv)
		_exit(3);
	test_fill(me.priv, PRIV_SIZE, priv_seed(role));
	test_fill(me.common + role * PAGE, PAGE, 2000 + role);
	me.pid = getpid();
	me.ppid = getppid();
	me.pgid = getpgid(0);
	me.sid = getsid(0);
}

/* The check of a process in itself; "" if all is as it was. */
static void check_self(char *why, size_t len)
{
	static unsigned char priv[PRIV_SIZE], common[COMMON_SIZE];
	pid_t sid = getsid(0), want_sid;

	*why = '\0';
	/* B's session is in the tree; R's (everyone else's) is the one R was restored into. */
	if (me.role == B || me.role == B1)
		want_sid = me.sid;
	else
		want_sid = getsid(me.role == R ? getppid() : pids[R]);
	if (getpid() != me.pid)
		snprintf(why, len, "pid %d, was %d", getpid(), me.pid);
	else if (me.role != R && getppid() != me.ppid)
		snprintf(why, len, "ppid %d, was %d", getppid(), me.ppid);
	else if (getpgid(0) != me.pgid)
		snprintf(why, len, "pgid %d, was %d", getpgid(0), me.pgid);
	else if (sid != want_sid)
		snprintf(why, len, "sid %d, want %d (was %d)", sid, want_sid, me.sid);
	if (*why)
		return;
	expected(me.role, priv, common);
	if (memcmp(me.priv, priv, PRIV_SIZE))
		snprintf(why, len, "private heap buffer: checksum %#llx, want %#llx",
			 (unsigned long long)test_hash(me.priv, PRIV_SIZE),
			 (unsigned long long)test_hash(priv, PRIV_SIZE));
	else if (memcmp(me.common, common, COMMON_SIZE))
		snprintf(why, len, "heap buffer filled before fork: checksum %#llx, want %#llx",
			 (unsigned long long)test_hash(me.common, COMMON_SIZE),
			 (unsigned long long)test_hash(common, COMMON_SIZE));
}

/* ---- Descendants */

/* Keep only this process's command pipe and the report pipe. */
static void close_others(void)
{
	for (int i = 1; i < NR_ROLES; i++) {
		close(cmd[i][1]);
		if (i != (int)me.role)
			close(cmd[i][0]);
	}
	close(rep[0]);
}

static char next_command(void)
{
	char c;
	ssize_t n;

	do
		n = read(cmd[me.role][0], &c, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		_exit(3); /* R is gone */
	return c;
}

/* Reap the children of this process: each must exit with status 0. */
static void reap_children(char *why, size_t len)
{
	for (int i = 1; i < NR_ROLES; i++) {
		int status;
		pid_t w;

		if (parent_of[i] != me.role)
			continue;
		w = waitpid(pids[i], &status, 0);
		if (w != pids[i] && !*why)
			snprintf(why, len, "waitpid(%s %d): %s", role_names[i], pids[i],
				 w < 0 ? strerror(errno) : "another child");
		else if (w == pids[i] && (!WIFEXITED(status) || WEXITSTATUS(status)) && !*why)
			snprintf(why, len, "%s ended with status %#x", role_names[i], status);
	}
}

static void serve(void)
{
	char why[WHY_MAX];

	close_others();
	send_report(REP_UP, "");
	for (;;) {
		switch (next_command()) {
		case 'v':
			check_self(why, sizeof(why));
			send_report(REP_VERDICT, why);
			break;
		case 'x':
			why[0] = '\0';
			reap_children(why, sizeof(why));
			send_report(REP_EXIT, why);
			_exit(*why ? 1 : me.role == B ? B_STATUS : 0);
		default:
			_exit(3);
		}
	}
}

static __attribute__((noreturn)) void start(enum role role);

/* Fork the process of @role, which sets itself up, starts its own children and serves. */
static void spawn(enum role role)
{
	pid_t pid = fork();

	if (pid < 0)
		test_fail("fork: %s", strerror(errno));
	if (pid == 0)
		start(role);
	pids[role] = pid;
}

static __attribute__((noreturn)) void start(enum role role)
{
	pids[role] = getpid();
	if (role == A && setpgid(0, 0))
		_exit(3);
	if (role == A2 && setpgid(0, pids[R]))
		_exit(3);
	if (role == B && setsid() < 0)
		_exit(3);
	become(role);
	for (int i = 1; i < NR_ROLES; i++)
		if (parent_of[i] == role)
			spawn(i);
	serve();
	_exit(3);
}

/* ---- R */

static struct report ups[NR_ROLES];
static pthread_t waiter;
static pid_t waited;
static int waited_status, waited_errno;

/* Fail, killing the descendants first. */
#define fail_tree(...) test_fail_killing(pids + 1, NR_ROLES - 1, __VA_ARGS__)

static void read_report(struct report *r)
{
	const char *err = test_read_msg(rep[0], r, sizeof(*r), REPORT_TIMEOUT_MS);

	if (err)
		fail_tree("report pipe from the descendants: %s", err);
	if (r->role <= R || r->role >= NR_ROLES)
		fail_tree("report from an unknown role %d", r->role);
}

/* The report of the process of @role, after a command to it. */
static void ask(enum role role, char c, int kind, struct report *r)
{
	if (write(cmd[role][1], &c, 1) != 1)
		fail_tree("command to %s: %s", role_names[role], strerror(errno));
	read_report(r);
	if (r->role != (int)role || r->kind != kind)
		fail_tree("report %d from %s, want %d from %s", r->kind, role_names[r->role], kind,
			  role_names[role]);
	if (r->why[0])
		fail_tree("%s (pid %d): %s", role_names[role], pids[role], r->why);
}

/* The tree must be what the test says it is: checked before the dump. */
static void check_shape(void)
{
	const struct report *u = ups;

	for (int i = 1; i < NR_ROLES; i++)
		if (u[i].ppid != u[parent_of[i]].pid)
			fail_tree("%s: ppid %d, want %d", role_names[i], u[i].ppid,
				  u[parent_of[i]].pid);
	if (u[R].pgid != u[R].pid || u[A].pgid != u[A].pid || u[A1].pgid != u[A].pid ||
	    u[A2].pgid != u[R].pid || u[B].pgid != u[B].pid || u[B1].pgid != u[B].pid)
		fail_tree("process groups are not as planned");
	if (u[B].sid != u[B].pid || u[B1].sid != u[B].pid || u[A].sid != u[R].sid ||
	    u[A1].sid != u[R].sid || u[A2].sid != u[R].sid || u[R].sid == u[R].pid)
		fail_tree("sessions are not as planned");
}

static void *wait_for_b(void *arg)
{
	(void)arg;
	waited = waitpid(pids[B], &waited_status, 0);
	waited_errno = errno;
	return NULL;
}

static void setup_root(void)
{
	struct report r;

	if (setpgid(0, 0))
		test_fail("setpgid: %s", strerror(errno));
	for (int i = 1; i < NR_ROLES; i++)
		if (pipe2(cmd[i], 0))
			test_fail("pipe2: %s", strerror(errno));
	if (pipe2(rep, 0))
		test_fail("pipe2: %s", strerror(errno));
	me.common = malloc(COMMON_SIZE);
	if (!me.common)
		test_fail("malloc failed");
	test_fill(me.common, COMMON_SIZE, COMMON_SEED);
	pids[R] = getpid();
	for (int i = 1; i < NR_ROLES; i++)
		if (parent_of[i] == R)
			spawn(i);
	become(R);
	for (int i = 1; i < NR_ROLES; i++)
		close(cmd[i][0]);
	close(rep[1]);
	ids(&ups[R]);
	for (int i = 1; i < NR_ROLES; i++) {
		read_report(&r);
		if (r.kind != REP_UP || ups[r.role].pid)
			fail_tree("unexpected report %d from %s", r.kind, role_names[r.role]);
		ups[r.role] = r;
		pids[r.role] = r.pid;
	}
	check_shape();
	/* SIGUSR2 is for the main thread. */
	test_mask_usr2(SIG_BLOCK);
	if (pthread_create(&waiter, NULL, wait_for_b, NULL))
		fail_tree("pthread_create failed");
	test_mask_usr2(SIG_UNBLOCK);
}

int main(int argc, char **argv)
{
	static const enum role order[] = { A1, A2, B1, A, B };
	char why[WHY_MAX];
	struct report r;
	int status;

	test_init(argc, argv);
	setup_root();

	test_ready();
	test_wait();

	check_self(why, sizeof(why));
	if (why[0])
		fail_tree("R: %s", why);
	for (int i = 1; i < NR_ROLES; i++) {
		ask(i, 'v', REP_VERDICT, &r);
		if (r.pid != ups[i].pid || r.ppid != ups[i].ppid || r.pgid != ups[i].pgid)
			fail_tree("%s: pid/ppid/pgid %d/%d/%d, were %d/%d/%d", role_names[i], r.pid,
				  r.ppid, r.pgid, ups[i].pid, ups[i].ppid, ups[i].pgid);
	}
	/* Leaves first: each parent reaps its children when told to exit. */
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		ask(order[i], 'x', REP_EXIT, &r);
	if (waitpid(pids[A], &status, 0) != pids[A])
		fail_tree("waitpid(A %d): %s", pids[A], strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fail_tree("A ended with status %#x", status);
	pthread_join(waiter, NULL);
	if (waited != pids[B])
		fail_tree("the thread waiting for B (%d) got %d: %s", pids[B], waited,
			  strerror(waited_errno));
	if (!WIFEXITED(waited_status) || WEXITSTATUS(waited_status) != B_STATUS)
		fail_tree("B ended with status %#x, want exit status %d", waited_status, B_STATUS);
	test_pass();
}
