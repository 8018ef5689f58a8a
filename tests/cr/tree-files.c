/* SPDX-License-Identifier: MIT */
/*
 * Files across a fork. The root R opens a file before forking children A and B, so that the
 * three share one open file description, at offset 300. A and B each open another file
 * themselves, at offsets 10 and 20: two descriptions. A pipe goes from A (which holds only
 * the write end) to B (only the read end), with 5000 bytes that A wrote queued in it; R
 * holds neither end.
 * After restore, told step by step by R over a pipe of each: every fd has its fd and status
 * flags, offset and file (device and inode) as before; kcmp(KCMP_FILE) finds the shared
 * file one description in R, A and B, the separate opens two, and the pipe ends two; both
 * ends are of one pipe inode. An lseek() in A moves the offset that R and B see, a write()
 * in B moves it on for R and A, and O_APPEND set by A shows in R; an lseek() of A's separate
 * open leaves B's where it was. B reads exactly the 5000 queued bytes (FIONREAD 5000 first),
 * then the bytes A writes after restore, and EOF once A has closed its end: no other write
 * end is left open anywhere.
 * CRYO-TEST: cycles=2
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib.h"

#define KCMP_FILE 0
#define FILE_SIZE 8192
#define SHARED_POS 300
#define SEEK_POS 1234
#define MARK "written by B...."
#define MARK_LEN 16
#define QUEUED 5000
#define PROBE "after restore"
#define WHY_MAX 256
#define REPORT_TIMEOUT_MS 10000

enum role { R, A, B, NR_ROLES };

static const char *const role_names[NR_ROLES] = { "R", "A", "B" };
static const off_t separate_pos[NR_ROLES] = { 0, 10, 20 };

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

struct fd_was {
	int fd_flags, fl_flags;
	off_t pos;
	dev_t dev;
	ino_t ino;
};

static enum role me;
static pid_t pids[NR_ROLES];
static int cmd[NR_ROLES][2];
static int rep[2];
static int shared_fd, separate_fd = -1, pipe_fd[2];
static int separate_fds[NR_ROLES]; /* R: each child's separate_fd, as it reported it */
static struct fd_was shared_was, separate_was, pipe_was;
static unsigned char queued[QUEUED];
static char why[WHY_MAX]; /* the first problem found since the last report */

#define note(...) test_note(why, sizeof(why), __VA_ARGS__)

static void record_fd(int fd, struct fd_was *w)
{
	struct stat st = { 0 };

	w->fd_flags = fcntl(fd, F_GETFD);
	w->fl_flags = fcntl(fd, F_GETFL);
	w->pos = lseek(fd, 0, SEEK_CUR);
	if (fstat(fd, &st))
		note("fstat %d: %s", fd, strerror(errno));
	w->dev = st.st_dev;
	w->ino = st.st_ino;
}

/* A pipe end is recreated with a new inode: its offset and inode are not compared. */
static void check_fd(const char *name, int fd, const struct fd_was *was, int is_pipe)
{
	struct fd_was now;

	record_fd(fd, &now);
	if (now.fd_flags != was->fd_flags)
		note("%s (fd %d): F_GETFD %#x, was %#x", name, fd, now.fd_flags, was->fd_flags);
	else if (now.fl_flags != was->fl_flags)
		note("%s (fd %d): F_GETFL %#o, was %#o", name, fd, now.fl_flags, was->fl_flags);
	else if (!is_pipe && now.pos != was->pos)
		note("%s (fd %d): offset %lld, was %lld", name, fd, (long long)now.pos,
		     (long long)was->pos);
	else if (!is_pipe && (now.dev != was->dev || now.ino != was->ino))
		note("%s (fd %d): dev %#llx ino %llu, was %#llx %llu", name, fd,
		     (unsigned long long)now.dev, (unsigned long long)now.ino,
		     (unsigned long long)was->dev, (unsigned long long)was->ino);
}

static void check_pos(const char *name, int fd, off_t want)
{
	off_t pos = lseek(fd, 0, SEEK_CUR);

	if (pos != want)
		note("%s: %s (fd %d) at offset %lld, want %lld", role_names[me], name, fd,
		     (long long)pos, (long long)want);
}

static ino_t pipe_ino(void)
{
	struct stat st = { 0 };

	if (fstat(pipe_fd[me == A], &st))
		note("fstat of the pipe: %s", strerror(errno));
	return st.st_ino;
}

/* B: read exactly len bytes, blocking, and compare them. */
static void read_pipe(const void *want, size_t len)
{
	unsigned char buf[QUEUED];
	size_t got = 0;
	ssize_t n = 0;

	while (got < len && (n = read(pipe_fd[0], buf + got, len - got)) > 0)
		got += (size_t)n;
	if (got < len)
		note("pipe: read %zu of %zu bytes, then %s", got, len,
		     n < 0 ? strerror(errno) : "EOF");
	else if (memcmp(buf, want, len))
		note("pipe: the bytes read differ from those written");
}

/* ---- The children */

static void verify(void)
{
	int avail = -1;

	check_fd("shared file", shared_fd, &shared_was, 0);
	check_fd("separate file", separate_fd, &separate_was, 0);
	check_fd(me == A ? "pipe write end" : "pipe read end", pipe_fd[me == A], &pipe_was, 1);
	if (me == B && (ioctl(pipe_fd[0], FIONREAD, &avail) || avail != QUEUED))
		note("pipe: FIONREAD gives %d, want %d", avail, QUEUED);
}

/* Do what R says; returns a value for R. */
static long long obey(const struct command *c)
{
	char eof;

	switch (c->op) {
	case 'v': /* verify */
		verify();
		return (long long)pipe_ino();
	case 'p': /* the shared offset must be arg */
		check_pos("shared file", shared_fd, (off_t)c->arg);
		break;
	case 's': /* seek the shared file to arg */
		if (lseek(shared_fd, (off_t)c->arg, SEEK_SET) != (off_t)c->arg)
			note("lseek: %s", strerror(errno));
		break;
	case 'w': /* write the mark at the shared offset */
		if (write(shared_fd, MARK, MARK_LEN) != MARK_LEN)
			note("write to the shared file: %s", strerror(errno));
		break;
	case 'a': /* set O_APPEND on the shared file */
		if (fcntl(shared_fd, F_SETFL, O_APPEND))
			note("F_SETFL: %s", strerror(errno));
		break;
	case 'g': /* the separate open must be where it was; A moves it */
		check_pos("separate file", separate_fd, separate_pos[me]);
		if (me == A && lseek(separate_fd, 500, SEEK_SET) != 500)
			note("lseek: %s", strerror(errno));
		break;
	case 'r': /* B: the queued bytes, then nothing */
		read_pipe(queued, QUEUED);
		break;
	case 'q': /* A: write the probe and close the write end */
		if (write(pipe_fd[1], PROBE, sizeof(PROBE)) != sizeof(PROBE))
			note("write to the pipe: %s", strerror(errno));
		close(pipe_fd[1]);
		break;
	case 'e': /* B: the probe, then EOF: no write end is left */
		read_pipe(PROBE, sizeof(PROBE));
		if (fcntl(pipe_fd[0], F_SETFL, O_NONBLOCK))
			note("F_SETFL: %s", strerror(errno));
		else if (read(pipe_fd[0], &eof, 1) != 0)
			note("pipe: no EOF after A closed its end (%s): a write end is still open",
			     strerror(errno));
		break;
	case 'x':
		_exit(0);
	default:
		note("unknown command '%c'", c->op);
	}
	return 0;
}

static __attribute__((noreturn)) void child(enum role role)
{
	struct report r = { .role = role };
	char path[PATH_MAX];
	struct command c;

	me = role;
	close(pipe_fd[role == A ? 0 : 1]);
	for (int i = 1; i < NR_ROLES; i++) {
		close(cmd[i][1]);
		if (i != (int)role)
			close(cmd[i][0]);
	}
	close(rep[0]);
	test_path(path, sizeof(path), "separate");
	separate_fd = open(path, O_RDWR | O_CLOEXEC);
	if (separate_fd < 0 || lseek(separate_fd, separate_pos[role], SEEK_SET) < 0)
		note("open 'separate': %s", strerror(errno));
	if (role == A && write(pipe_fd[1], queued, QUEUED) != QUEUED)
		note("write to the pipe: %s", strerror(errno));
	record_fd(shared_fd, &shared_was);
	record_fd(separate_fd, &separate_was);
	record_fd(pipe_fd[role == A], &pipe_was);
	/* The first report gives R the fd of the separate open. */
	r.val = separate_fd;
	for (;;) {
		snprintf(r.why, sizeof(r.why), "%s", why);
		why[0] = '\0';
		test_send_recv(rep[1], &r, sizeof(r), cmd[role][0], &c, sizeof(c));
		r.val = obey(&c);
	}
}

/* ---- R */

/* Fail, killing the descendants first. */
#define fail_tree(...) test_fail_killing(pids + 1, NR_ROLES - 1, __VA_ARGS__)

static void check_mine(void)
{
	if (why[0])
		fail_tree("R: %s", why);
}

static void read_any(struct report *r)
{
	const char *err = test_read_msg(rep[0], r, sizeof(*r), REPORT_TIMEOUT_MS);

	if (err)
		fail_tree("report pipe from the children: %s", err);
	if (r->role <= R || r->role >= NR_ROLES)
		fail_tree("a report from unknown role %d", r->role);
	if (r->why[0])
		fail_tree("%s: %s", role_names[r->role], r->why);
}

static long long read_report(enum role from)
{
	struct report r;

	read_any(&r);
	if (r.role != (int)from)
		fail_tree("a report from %s, want %s", role_names[r.role], role_names[from]);
	return r.val;
}

static long long ask(enum role to, char op, long long arg)
{
	struct command c = { .op = op, .arg = arg };

	if (write(cmd[to][1], &c, sizeof(c)) != sizeof(c))
		fail_tree("command to %s: %s", role_names[to], strerror(errno));
	return read_report(to);
}

/* Are fd1 of p1 and fd2 of p2 one open file description? */
static int same_file(enum role p1, int fd1, enum role p2, int fd2)
{
	long r = syscall(SYS_kcmp, pids[p1], pids[p2], KCMP_FILE, fd1, fd2);

	if (r < 0)
		fail_tree("kcmp(%s fd %d, %s fd %d): %s", role_names[p1], fd1, role_names[p2], fd2,
			  strerror(errno));
	return r == 0;
}

static void check_kcmp(void)
{
	if (!same_file(R, shared_fd, A, shared_fd) || !same_file(R, shared_fd, B, shared_fd) ||
	    !same_file(A, shared_fd, B, shared_fd))
		fail_tree("the shared file (fd %d) is not one description in R, A and B", shared_fd);
	if (same_file(A, separate_fds[A], B, separate_fds[B]))
		fail_tree("the separate opens of A and B are one description");
	if (same_file(A, separate_fds[A], A, shared_fd))
		fail_tree("A's separate open and the shared file are one description");
	if (same_file(A, pipe_fd[1], B, pipe_fd[0]))
		fail_tree("the pipe's write end (A) and read end (B) are one description");
}

static void setup(void)
{
	static unsigned char data[FILE_SIZE];

	test_fill(data, sizeof(data), 7);
	test_fill(queued, sizeof(queued), 8);
	close(test_create_file("separate", data, sizeof(data), O_WRONLY | O_CLOEXEC));
	shared_fd = test_create_file("shared", data, sizeof(data), O_RDWR | O_CLOEXEC);
	if (lseek(shared_fd, SHARED_POS, SEEK_SET) != SHARED_POS)
		test_fail("lseek: %s", strerror(errno));
	if (pipe2(pipe_fd, 0) || pipe2(rep, 0))
		test_fail("pipe2: %s", strerror(errno));
	pids[R] = getpid();
	for (int i = 1; i < NR_ROLES; i++) {
		if (pipe2(cmd[i], 0))
			test_fail("pipe2: %s", strerror(errno));
	}
	for (int i = 1; i < NR_ROLES; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			fail_tree("fork: %s", strerror(errno));
		if (pids[i] == 0)
			child(i);
	}
	close(pipe_fd[0]);
	close(pipe_fd[1]);
	close(rep[1]);
	for (int i = 1; i < NR_ROLES; i++)
		close(cmd[i][0]);
	/* The children's first reports, in any order. */
	for (int i = 1; i < NR_ROLES; i++) {
		struct report r;

		read_any(&r);
		separate_fds[r.role] = (int)r.val;
	}
	record_fd(shared_fd, &shared_was);
	check_mine();
	check_kcmp();
}

int main(int argc, char **argv)
{
	long long ino_a, ino_b;

	test_init(argc, argv);
	setup();

	test_ready();
	test_wait();

	check_fd("shared file", shared_fd, &shared_was, 0);
	check_mine();
	ino_a = ask(A, 'v', 0);
	ino_b = ask(B, 'v', 0);
	if (ino_a != ino_b)
		fail_tree("A's write end is of pipe inode %lld, B's read end of %lld", ino_a, ino_b);
	check_kcmp();

	/* One offset: moved by A, seen by R and B; moved on by B's write, seen by R and A. */
	ask(A, 's', SEEK_POS);
	check_pos("shared file", shared_fd, SEEK_POS);
	check_mine();
	ask(B, 'p', SEEK_POS);
	ask(B, 'w', 0);
	check_pos("shared file", shared_fd, SEEK_POS + MARK_LEN);
	check_mine();
	ask(A, 'p', SEEK_POS + MARK_LEN);
	ask(A, 'a', 0);
	if (!(fcntl(shared_fd, F_GETFL) & O_APPEND))
		fail_tree("R: no O_APPEND on the shared file after A set it");

	/* Two descriptions: A moves its separate open, B's stays. */
	ask(A, 'g', 0);
	ask(B, 'g', 0);

	ask(B, 'r', 0);
	ask(A, 'q', 0);
	ask(B, 'e', 0);
	test_end_children(pids + 1, cmd + 1, role_names + 1, NR_ROLES - 1,
			  &(struct command){ .op = 'x' }, sizeof(struct command));
	test_pass();
}
