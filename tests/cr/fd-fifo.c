/* SPDX-License-Identifier: MIT */
/*
 * Named pipes in STATEDIR:
 *  - "both": a read end (blocking, dup'ed to a second fd) and a write end (FD_CLOEXEC) on two
 *    open file descriptions, the pipe sized to 128 KiB, 1000 bytes queued;
 *  - "reader": only a read end, O_NONBLOCK, with 500 bytes queued by a writer since closed;
 *  - "writer": only a write end, with 300 bytes queued by a reader since closed;
 *  - "rdwr": one O_RDWR fd, with 200 bytes queued;
 *  - "tree": a read end, O_NONBLOCK, that a child forked then inherits with all the others;
 *    the child opens the write end itself and queues 700 bytes.
 * After restore every fd must have its fd and status flags, link text and inode (the FIFO
 * itself, reopened by path), the pipe sizes must be as before and each FIFO must hold exactly
 * its queued bytes: readers read them (then EAGAIN while a writer is there, EOF when none is),
 * and bytes written to each write end come out of the read ends. No other fd may appear.
 * The child, told over a pipe, must find its inherited fds the parent's open file
 * descriptions (kcmp) and its write end with its flags and link text, of the FIFO of the
 * parent's read end, 700 bytes queued; what it writes then, the parent reads after the 700
 * bytes, and EOF once the child has exited.
 * CRYO-TEST: cycles=2
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/ioctl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib.h"

#define BIG_PIPE (128 * 1024)

struct fifo_fd {
	const char *what;
	int fd;
	struct test_fd_state was;
	int pipe_size;
};

static int open_fifo(const char *name, int flags)
{
	char path[PATH_MAX];
	int fd;

	test_path(path, sizeof(path), name);
	fd = open(path, flags);
	if (fd < 0)
		test_fail("open '%s' (%#o): %s", path, flags, strerror(errno));
	return fd;
}

static void make_fifo(const char *name)
{
	char path[PATH_MAX];

	test_path(path, sizeof(path), name);
	unlink(path);
	if (mkfifo(path, 0600))
		test_fail("mkfifo '%s': %s", path, strerror(errno));
}

static void put(int fd, const unsigned char *data, size_t len)
{
	if (write(fd, data, len) != (ssize_t)len)
		test_fail("write %zu bytes to fd %d: %s", len, fd, strerror(errno));
}

static void capture(struct fifo_fd *f)
{
	test_fd_state(f->fd, &f->was);
	f->pipe_size = fcntl(f->fd, F_GETPIPE_SZ);
	if (f->pipe_size < 0)
		test_fail("%s (fd %d): F_GETPIPE_SZ: %s", f->what, f->fd, strerror(errno));
}

static void check(const struct fifo_fd *f)
{
	int size = fcntl(f->fd, F_GETPIPE_SZ);

	test_fd_check(f->fd, &f->was);
	if (size != f->pipe_size)
		test_fail("%s (fd %d): pipe size %d, was %d", f->what, f->fd, size, f->pipe_size);
}

static void check_queued(const char *what, int fd, int want)
{
	int avail = -1;

	if (ioctl(fd, FIONREAD, &avail) || avail != want)
		test_fail("%s: FIONREAD gives %d, want %d", what, avail, want);
}

/* Read exactly want[0..len) from fd, then the read must end with end_errno (0: EOF). */
static void drain(const char *what, int fd, const unsigned char *want, size_t len, int end_errno)
{
	static unsigned char buf[BIG_PIPE];
	int fl = fcntl(fd, F_GETFL);
	size_t got = 0;
	ssize_t n;

	/* A blocking read end would wait instead of saying EAGAIN. */
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK))
		test_fail("%s: fcntl: %s", what, strerror(errno));
	while ((n = read(fd, buf + got, sizeof(buf) - got)) > 0)
		got += (size_t)n;
	if (fcntl(fd, F_SETFL, fl))
		test_fail("%s: fcntl: %s", what, strerror(errno));
	if (n == 0 && end_errno)
		test_fail("%s: EOF, the write end is gone", what);
	if (n < 0 && errno != end_errno)
		test_fail("%s: read: %s", what, strerror(errno));
	if (got != len)
		test_fail("%s: read %zu bytes, want %zu", what, got, len);
	if (memcmp(buf, want, len))
		test_fail("%s: the bytes read differ from those queued", what);
}

/* ---- The child */

static const unsigned char child_probe[] = "written by the child";

struct child_arg {
	const struct fifo_fd *const *inherited;
	size_t n;
	const char *name;
	const unsigned char *data;
	size_t len;
	int own;
	struct test_fd_state own_was;
};

/* The write end of FIFO a->name, opened by the child itself to queue the bytes of a->data. */
static void child_prepare(void *arg)
{
	struct child_arg *a = arg;

	a->own = open_fifo(a->name, O_WRONLY);
	if (write(a->own, a->data, a->len) != (ssize_t)a->len)
		test_child_fail("write: %s", strerror(errno));
	test_fd_state(a->own, &a->own_was);
}

/* a->inherited are the parent's, of which the last is a read end of FIFO a->name. */
static void child_check(void *arg)
{
	const struct child_arg *a = arg;
	const struct test_fd_state *own_was = &a->own_was;
	const struct fifo_fd *const *inherited = a->inherited;
	size_t n = a->n;
	int own = a->own;
	char link[PATH_MAX];
	struct stat st, theirs;
	int avail = -1;

	for (size_t i = 0; i < n; i++)
		test_child_shares(inherited[i]->fd, inherited[i]->what);
	test_fd_link(own, link, sizeof(link));
	if (fstat(own, &st) || fstat(inherited[n - 1]->fd, &theirs) || st.st_ino != theirs.st_ino)
		test_child_fail("its write end (fd %d) is not of the parent's FIFO", own);
	if (fcntl(own, F_GETFL) != own_was->fl_flags || fcntl(own, F_GETFD) != own_was->fd_flags ||
	    strcmp(link, own_was->link))
		test_child_fail("write end (fd %d): F_GETFL %#o F_GETFD %#x link '%s', was %#o %#x '%s'",
				own, fcntl(own, F_GETFL), fcntl(own, F_GETFD), link,
				own_was->fl_flags, own_was->fd_flags, own_was->link);
	if (ioctl(own, FIONREAD, &avail) || avail != (int)a->len)
		test_child_fail("FIONREAD gives %d, want %zu", avail, a->len);
	if (write(own, child_probe, sizeof(child_probe)) != (ssize_t)sizeof(child_probe))
		test_child_fail("write: %s", strerror(errno));
}

int main(int argc, char **argv)
{
	static const unsigned char probe[] = "written after restore";
	static unsigned char d_both[1000], d_reader[500], d_writer[300], d_rdwr[200],
		d_tree[700 + sizeof(child_probe)];
	struct fifo_fd rd = { .what = "both: read end" }, rd2 = { .what = "both: dup of read end" },
		       wr = { .what = "both: write end" }, ronly = { .what = "reader" },
		       wonly = { .what = "writer" }, rdwr = { .what = "rdwr" },
		       trd = { .what = "tree: read end" };
	const struct fifo_fd *inherited[] = { &rd, &rd2, &wr, &ronly, &wonly, &rdwr, &trd };
	const size_t tree_len = sizeof(d_tree) - sizeof(child_probe);
	struct child_arg child_arg = {
		.inherited = inherited,
		.n = sizeof(inherited) / sizeof(inherited[0]),
		.name = "tree",
		.data = d_tree,
		.len = tree_len,
	};
	pid_t child;
	int tmp;

	test_init(argc, argv);
	test_fill(d_both, sizeof(d_both), 1);
	test_fill(d_reader, sizeof(d_reader), 2);
	test_fill(d_writer, sizeof(d_writer), 3);
	test_fill(d_rdwr, sizeof(d_rdwr), 4);
	test_fill(d_tree, tree_len, 5);
	memcpy(d_tree + tree_len, child_probe, sizeof(child_probe));

	make_fifo("both");
	rd.fd = open_fifo("both", O_RDONLY | O_NONBLOCK);
	wr.fd = open_fifo("both", O_WRONLY | O_CLOEXEC);
	if (fcntl(rd.fd, F_SETFL, 0) || fcntl(wr.fd, F_SETPIPE_SZ, BIG_PIPE) != BIG_PIPE)
		test_fail("fcntl on 'both': %s", strerror(errno));
	rd2.fd = dup(rd.fd);
	put(wr.fd, d_both, sizeof(d_both));

	make_fifo("reader");
	ronly.fd = open_fifo("reader", O_RDONLY | O_NONBLOCK);
	tmp = open_fifo("reader", O_WRONLY);
	put(tmp, d_reader, sizeof(d_reader));
	close(tmp);

	make_fifo("writer");
	tmp = open_fifo("writer", O_RDONLY | O_NONBLOCK);
	wonly.fd = open_fifo("writer", O_WRONLY);
	put(wonly.fd, d_writer, sizeof(d_writer));
	close(tmp);

	make_fifo("rdwr");
	rdwr.fd = open_fifo("rdwr", O_RDWR);
	put(rdwr.fd, d_rdwr, sizeof(d_rdwr));

	make_fifo("tree");
	trd.fd = open_fifo("tree", O_RDONLY | O_NONBLOCK);
	child = test_child_fork(child_prepare, child_check, &child_arg);

	capture(&rd);
	capture(&rd2);
	capture(&wr);
	capture(&ronly);
	capture(&wonly);
	capture(&rdwr);
	capture(&trd);
	test_wait_same_fds();
	test_child_verify(child);
	check(&rd);
	check(&rd2);
	check(&wr);
	check(&ronly);
	check(&wonly);
	check(&rdwr);
	check(&trd);
	if (wr.pipe_size != BIG_PIPE)
		test_fail("'both': pipe size %d before the dump, want %d", wr.pipe_size, BIG_PIPE);

	check_queued("both", rd.fd, sizeof(d_both));
	drain("both", rd.fd, d_both, sizeof(d_both), EAGAIN);
	put(wr.fd, probe, sizeof(probe));
	drain("both: dup", rd2.fd, probe, sizeof(probe), EAGAIN);

	check_queued("reader", ronly.fd, sizeof(d_reader));
	drain("reader", ronly.fd, d_reader, sizeof(d_reader), 0);
	tmp = open_fifo("reader", O_WRONLY | O_NONBLOCK);
	put(tmp, probe, sizeof(probe));
	close(tmp);
	drain("reader after a write", ronly.fd, probe, sizeof(probe), 0);

	check_queued("writer", wonly.fd, sizeof(d_writer));
	tmp = open_fifo("writer", O_RDONLY | O_NONBLOCK);
	drain("writer", tmp, d_writer, sizeof(d_writer), EAGAIN);
	put(wonly.fd, probe, sizeof(probe));
	drain("writer after a write", tmp, probe, sizeof(probe), EAGAIN);
	close(tmp);

	check_queued("rdwr", rdwr.fd, sizeof(d_rdwr));
	drain("rdwr", rdwr.fd, d_rdwr, sizeof(d_rdwr), EAGAIN);

	/* The child has exited: no write end is left. */
	check_queued("tree", trd.fd, sizeof(d_tree));
	drain("tree", trd.fd, d_tree, sizeof(d_tree), 0);
	test_pass();
}
