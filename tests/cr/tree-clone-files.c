/* SPDX-License-Identifier: MIT */
/*
 * Fd tables and fs_structs shared between processes. The root R opens a file, then clones A
 * with CLONE_FILES | CLONE_FS (one fd table, one cwd/root/umask with R), A clones A1 the same
 * way (R's table and fs_struct through A), and R clones B with CLONE_FS only (a copy of the
 * fd table, the fs_struct shared); all by the raw clone syscall. After the clones R, A and A1
 * each open a file that the others see in the shared table (A's with O_APPEND), and B opens
 * one in its own table; R moves into the directory "one" and sets umask 027, which the
 * others see.
 * After restore: kcmp(KCMP_FILES) says R, A and A1 share one fd table and B has another,
 * kcmp(KCMP_FS) that all four share one fs_struct. Every fd has its flags, status flags,
 * offset and file as before. An fd A opens after restore is in R's table, one R opens is in
 * A's and A1's, and one R closes is gone for them. The cwd is "one" in each; A's chdir to
 * "two" is seen by R, A1 and B, and B's umask 077 by R, A and A1. A reaps A1, R the others.
 * CRYO-TEST: cycles=2
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib.h"

#define KCMP_FILES 2
#define KCMP_FS 3
#define WHY_MAX 256
#define REPORT_TIMEOUT_MS 10000
#define FILE_SIZE 4096
#define UMASK_BEFORE 027
#define UMASK_AFTER 077

/* R's children first: R reaps them, A reaps A1. */
enum role { R, A, B, A1, NR_ROLES };

static const char *const role_names[NR_ROLES] = { "R", "A", "B", "A1" };
/* Each process's own file, opened after the clones, and the offset it is left at. */
static const char *const own_names[NR_ROLES] = { "own-R", "own-A", "own-B", "own-A1" };
static const int own_flags[NR_ROLES] = { O_RDONLY | O_CLOEXEC, O_WRONLY | O_APPEND, O_RDWR,
					 O_RDONLY };
static const off_t own_pos[NR_ROLES] = { 50, 4096, 30, 70 };

/* What R tells a child: an operation and its argument; a child answers with a report. */
struct command {
	char op;
	long long arg;
};

struct report {
	int role;
	long long val;
	char why[WHY_MAX];
};

static enum role me;
static pid_t pids[NR_ROLES];
static int cmd[NR_ROLES][2];
static int rep[2];
static int early_fd, own_fd;
static int own_fds[NR_ROLES]; /* R: the fd each process's own file is at */
static struct test_fd_state early_was, own_was, shared_was[NR_ROLES];
static char why[WHY_MAX]; /* the first problem found since the last report */

#define note(...) test_note(why, sizeof(why), __VA_ARGS__)

static void open_own(void)
{
	static unsigned char data[FILE_SIZE];
	char path[PATH_MAX];

	test_fill(data, sizeof(data), 10 + me);
	close(test_create_file(own_names[me], data, sizeof(data), O_WRONLY | O_CLOEXEC));
	test_path(path, sizeof(path), own_names[me]);
	own_fd = open(path, own_flags[me]);
	if (own_fd < 0 || lseek(own_fd, own_pos[me], SEEK_SET) != own_pos[me])
		note("%s: open or lseek of '%s': %s", role_names[me], path, strerror(errno));
	test_fd_state(own_fd, &own_was);
}

/* In a child, which can't fail the test itself: its own file is as it was. */
static void check_own(void)
{
	struct test_fd_state now;

	test_fd_state(own_fd, &now);
	if (now.fd_flags != own_was.fd_flags || now.fl_flags != own_was.fl_flags ||
	    now.pos != own_was.pos || strcmp(now.link, own_was.link) ||
	    now.st.st_dev != own_was.st.st_dev || now.st.st_ino != own_was.st.st_ino)
		note("%s: fd %d of '%s' is fd flags %#x, flags %#o, offset %lld, '%s'; was %#x, "
		     "%#o, %lld, '%s'", role_names[me], own_fd, own_names[me], now.fd_flags,
		     now.fl_flags, (long long)now.pos, now.link, own_was.fd_flags, own_was.fl_flags,
		     (long long)own_was.pos, own_was.link);
}

/* The cwd must be STATEDIR/NAME. */
static void check_cwd(const char *name)
{
	char want[PATH_MAX], cwd[PATH_MAX], real[PATH_MAX];

	test_path(want, sizeof(want), name);
	if (!realpath(want, real) || !getcwd(cwd, sizeof(cwd)))
		note("%s: realpath or getcwd: %s", role_names[me], strerror(errno));
	else if (strcmp(cwd, real))
		note("%s: cwd is '%s', want '%s'", role_names[me], cwd, real);
}

/* fd must be open and lead to STATEDIR/NAME. */
static void check_link(int fd, const char *name)
{
	char want[PATH_MAX], link[PATH_MAX], real[PATH_MAX];

	test_path(want, sizeof(want), name);
	if (fcntl(fd, F_GETFD) < 0) {
		note("%s: fd %d of '%s': %s", role_names[me], fd, name, strerror(errno));
		return;
	}
	test_fd_link(fd, link, sizeof(link));
	if (!realpath(want, real) || strcmp(link, real))
		note("%s: fd %d leads to '%s', want '%s'", role_names[me], fd, link, want);
}

static mode_t get_umask(void)
{
	mode_t m = umask(0);

	umask(m);
	return m;
}

static pid_t clone_child(enum role role, unsigned long flags);

static long long run(const struct command *c)
{
	char name[16];

	switch (c->op) {
	case 'i': /* my own file's fd */
		return own_fd;
	case 'n': /* A: clone A1 */
		pids[A1] = clone_child(A1, CLONE_FILES | CLONE_FS);
		return pids[A1];
	case 'o': /* open a file named after me: its fd */
		snprintf(name, sizeof(name), "new-%s", role_names[me]);
		return test_create_file(name, "x", 1, O_WRONLY);
	case 'l': /* fd arg is R's new file */
		check_link((int)c->arg, "new-R");
		return 0;
	case 'g': /* fd arg is closed */
		if (fcntl((int)c->arg, F_GETFD) >= 0 || errno != EBADF)
			note("%s: fd %lld that R closed is still open", role_names[me], c->arg);
		return 0;
	case 'f':
		check_own();
		return 0;
	case 'c': /* chdir */
		if (chdir(c->arg ? "../two" : "../one"))
			note("%s: chdir: %s", role_names[me], strerror(errno));
		return 0;
	case 'd': /* the cwd */
		check_cwd(c->arg ? "two" : "one");
		return 0;
	case 'u':
		return get_umask();
	case 'U':
		umask((mode_t)c->arg);
		return 0;
	}
	note("%s: unknown command '%c'", role_names[me], c->op);
	return 0;
}

static void send_report(long long val)
{
	struct report r = { .role = me, .val = val };

	memcpy(r.why, why, sizeof(r.why));
	why[0] = '\0';
	if (write(rep[1], &r, sizeof(r)) != sizeof(r))
		_exit(3);
}

/* A reaps A1, which R told to exit first; A1's status is A's. */
static __attribute__((noreturn)) void child_exit(void)
{
	int status;

	if (me != A)
		_exit(0);
	if (waitpid(pids[A1], &status, 0) != pids[A1])
		_exit(4);
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 5);
}

static __attribute__((noreturn)) void child(void)
{
	struct command c;

	open_own();
	for (;;) {
		ssize_t n;

		do
			n = read(cmd[me][0], &c, sizeof(c));
		while (n < 0 && errno == EINTR);
		if (n != sizeof(c))
			_exit(3);
		if (c.op == 'x')
			child_exit();
		send_report(run(&c));
	}
}

static __attribute__((noreturn, format(printf, 1, 2))) void fail_tree(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	test_fail_killing(pids + 1, NR_ROLES - 1, "%s", msg);
}

static long long read_report(enum role from)
{
	struct report r;
	const char *err = test_read_msg(rep[0], &r, sizeof(r), REPORT_TIMEOUT_MS);

	if (err)
		fail_tree("report from %s: %s", role_names[from], err);
	if (r.role != (int)from)
		fail_tree("report from %s when %s was asked", role_names[r.role], role_names[from]);
	if (r.why[0])
		fail_tree("%s", r.why);
	return r.val;
}

static long long ask(enum role to, char op, long long arg)
{
	struct command c = { .op = op, .arg = arg };

	if (write(cmd[to][1], &c, sizeof(c)) != sizeof(c))
		fail_tree("command to %s: %s", role_names[to], strerror(errno));
	return read_report(to);
}

static int same(enum role p1, enum role p2, int type)
{
	long r = syscall(SYS_kcmp, pids[p1], pids[p2], type, 0, 0);

	if (r < 0)
		fail_tree("kcmp(%s, %s, %d): %s", role_names[p1], role_names[p2], type,
			  strerror(errno));
	return r == 0;
}

static void check_shares(void)
{
	if (!same(R, A, KCMP_FILES) || !same(R, A1, KCMP_FILES))
		fail_tree("R, A and A1 are not on one fd table");
	if (same(R, B, KCMP_FILES))
		fail_tree("R and B share one fd table, B had a copy");
	for (enum role i = A; i < NR_ROLES; i++)
		if (!same(R, i, KCMP_FS))
			fail_tree("R and %s do not share one fs_struct", role_names[i]);
}

/* Every process's own file (A's and A1's seen in R too), the umask and cwd everywhere. */
static void check_state(void)
{
	test_fd_check(early_fd, &early_was);
	test_fd_check(own_fds[R], &own_was);
	test_fd_check(own_fds[A], &shared_was[A]);
	test_fd_check(own_fds[A1], &shared_was[A1]);
	check_cwd("one");
	if (get_umask() != UMASK_BEFORE)
		fail_tree("R: umask %#o, want %#o", get_umask(), UMASK_BEFORE);
	for (enum role i = A; i < NR_ROLES; i++) {
		ask(i, 'f', 0);
		ask(i, 'd', 0);
		if (ask(i, 'u', 0) != UMASK_BEFORE)
			fail_tree("%s: umask is not %#o", role_names[i], UMASK_BEFORE);
	}
	if (why[0])
		fail_tree("%s", why);
}

static pid_t clone_child(enum role role, unsigned long flags)
{
	/* The raw syscall: glibc's clone() wants a stack; this one goes on like fork(). */
	pid_t pid = (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, 0);

	if (pid < 0)
		fail_tree("clone of %s: %s", role_names[role], strerror(errno));
	if (pid == 0) {
		me = role;
		child();
	}
	return pid;
}

static void setup(void)
{
	static unsigned char data[FILE_SIZE];
	char path[PATH_MAX];

	test_fill(data, sizeof(data), 1);
	early_fd = test_create_file("early", data, sizeof(data), O_RDWR);
	lseek(early_fd, 100, SEEK_SET);
	test_path(path, sizeof(path), "one");
	mkdir(path, 0755);
	test_path(path, sizeof(path), "two");
	mkdir(path, 0755);
	if (pipe2(rep, 0))
		test_fail("pipe2: %s", strerror(errno));
	for (enum role i = A; i < NR_ROLES; i++)
		if (pipe2(cmd[i], 0))
			test_fail("pipe2: %s", strerror(errno));
	pids[R] = getpid();
	pids[A] = clone_child(A, CLONE_FILES | CLONE_FS);
	pids[A1] = (pid_t)ask(A, 'n', 0);
	pids[B] = clone_child(B, CLONE_FS);
	for (enum role i = A; i < NR_ROLES; i++)
		own_fds[i] = (int)ask(i, 'i', 0);
	open_own();
	own_fds[R] = own_fd;
	test_fd_state(own_fds[A], &shared_was[A]);
	test_fd_state(own_fds[A1], &shared_was[A1]);
	test_fd_state(early_fd, &early_was);
	test_path(path, sizeof(path), "one");
	if (chdir(path))
		fail_tree("chdir '%s': %s", path, strerror(errno));
	umask(UMASK_BEFORE);
	check_shares();
	check_state();
}

int main(int argc, char **argv)
{
	int fd_a, fd_r;

	test_init(argc, argv);
	setup();

	test_ready();
	test_wait();

	check_shares();
	check_state();
	/* One table: A's new fd is R's, R's new fd is A's, R's close closes it for A. */
	fd_a = (int)ask(A, 'o', 0);
	check_link(fd_a, "new-A");
	fd_r = test_create_file("new-R", "x", 1, O_WRONLY);
	ask(A, 'l', fd_r);
	ask(A1, 'l', fd_r);
	close(fd_r);
	ask(A, 'g', fd_r);
	ask(A1, 'g', fd_r);
	/* One fs_struct: A's chdir and B's umask are everybody's. */
	ask(A, 'c', 1);
	check_cwd("two");
	ask(A1, 'd', 1);
	ask(B, 'd', 1);
	ask(B, 'U', UMASK_AFTER);
	if (get_umask() != UMASK_AFTER || ask(A, 'u', 0) != UMASK_AFTER ||
	    ask(A1, 'u', 0) != UMASK_AFTER)
		fail_tree("B's umask %#o is not R's, A's and A1's", UMASK_AFTER);
	if (why[0])
		fail_tree("%s", why);
	if (write(cmd[A1][1], &(struct command){ .op = 'x' }, sizeof(struct command)) < 0)
		fail_tree("command to A1: %s", strerror(errno));
	test_end_children(pids + A, (const int(*)[2])cmd + A, role_names + A, 2,
			  &(struct command){ .op = 'x' }, sizeof(struct command));
	test_pass();
}
