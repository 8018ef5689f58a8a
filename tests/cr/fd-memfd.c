/* SPDX-License-Identifier: MIT */
/*
 * memfds:
 *  - "cryo test" (MFD_ALLOW_SEALING): 2 MiB with data only in [0, 64 KiB) and
 *    [1 MiB, 1 MiB + 4 KiB), mode 0640, sealed F_SEAL_SHRINK | F_SEAL_GROW, open O_RDWR at
 *    offset 12345 on two fds (dup), and O_RDONLY through /proc/self/fd at offset 777 on a
 *    third, FD_CLOEXEC one;
 *  - "" (empty name, MFD_CLOEXEC, no sealing: F_SEAL_SEAL): 3000 bytes, O_APPEND;
 *  - "wronly": held only by an O_WRONLY fd opened through /proc/self/fd, 100 bytes at 5000.
 * A child, forked then, inherits these fds but for that of "", which it opens O_RDONLY
 * through /proc/self/fd instead, at offset 1234.
 * After restore each fd must have its fd and status flags, offset and link text (the name),
 * each memfd its size, mode, seals and contents, with the holes still holes; the fds of one
 * memfd must share its inode (and the dup its offset), the seals must hold, and no other fd
 * may appear. In the child, told over a pipe, the inherited fds must be the parent's open
 * file descriptions (kcmp) and its own open must be of the parent's "", with its flags,
 * offset and link text.
 * CRYO-TEST: cycles=2
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib.h"

#define BIG_SIZE (2 << 20)
#define BIG_DATA (64 << 10)
#define BIG_TAIL_OFF (1 << 20)
#define BIG_TAIL 4096
#define BIG_SEALS (F_SEAL_SHRINK | F_SEAL_GROW)
#define CHILD_POS 1234

struct mfd {
	const char *what;
	int fd;
	struct test_fd_state was;
	int seals;
	uint64_t hash;
};

static int reopen(int fd, int flags)
{
	char path[64];
	int nfd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	nfd = open(path, flags);
	if (nfd < 0)
		test_fail("open '%s': %s", path, strerror(errno));
	return nfd;
}

/* Hash of the whole file, read through a fresh open: the fd's offset stays. */
static uint64_t contents_hash(int fd, off_t size)
{
	static unsigned char buf[BIG_SIZE];
	int ro = reopen(fd, O_RDONLY);

	if (size > BIG_SIZE || pread(ro, buf, (size_t)size, 0) != size)
		test_fail("fd %d: read %lld bytes: %s", fd, (long long)size, strerror(errno));
	close(ro);
	return test_hash(buf, (size_t)size);
}

static void capture(struct mfd *m)
{
	test_fd_state(m->fd, &m->was);
	m->seals = fcntl(m->fd, F_GET_SEALS);
	if (m->seals < 0)
		test_fail("%s: F_GET_SEALS: %s", m->what, strerror(errno));
	m->hash = contents_hash(m->fd, m->was.st.st_size);
}

static void check(const struct mfd *m)
{
	struct test_fd_state now;
	const struct stat *w = &m->was.st, *n = &now.st;
	int seals = fcntl(m->fd, F_GET_SEALS);

	test_fd_state(m->fd, &now);
	if (now.fd_flags != m->was.fd_flags || now.fl_flags != m->was.fl_flags)
		test_fail("%s: F_GETFD %#x F_GETFL %#o, was %#x %#o", m->what, now.fd_flags,
			  now.fl_flags, m->was.fd_flags, m->was.fl_flags);
	if (now.pos != m->was.pos)
		test_fail("%s: offset %lld, was %lld", m->what, (long long)now.pos,
			  (long long)m->was.pos);
	if (strcmp(now.link, m->was.link))
		test_fail("%s: link '%s', was '%s'", m->what, now.link, m->was.link);
	if (n->st_size != w->st_size || n->st_mode != w->st_mode || n->st_nlink != 0)
		test_fail("%s: size %lld mode %#o nlink %lu, was %lld %#o 0", m->what,
			  (long long)n->st_size, n->st_mode, (unsigned long)n->st_nlink,
			  (long long)w->st_size, w->st_mode);
	/* The restore writes only the data ranges: the holes take no memory. */
	if (n->st_blocks > w->st_blocks)
		test_fail("%s: %lld blocks, was %lld", m->what, (long long)n->st_blocks,
			  (long long)w->st_blocks);
	if (seals != m->seals)
		test_fail("%s: seals %#x, was %#x", m->what, seals, m->seals);
	if (contents_hash(m->fd, n->st_size) != m->hash)
		test_fail("%s: contents changed", m->what);
}

static void same_inode(const struct mfd *a, const struct mfd *b)
{
	struct stat sa, sb;

	if (fstat(a->fd, &sa) || fstat(b->fd, &sb))
		test_fail("fstat: %s", strerror(errno));
	if (sa.st_dev != sb.st_dev || sa.st_ino != sb.st_ino)
		test_fail("%s and %s are different files", a->what, b->what);
}

static int new_memfd(const char *name, unsigned int flags)
{
	int fd = memfd_create(name, flags);

	if (fd < 0)
		test_fail("memfd_create '%s': %s", name, strerror(errno));
	return fd;
}

static void put(int fd, const void *data, size_t len, off_t off)
{
	if (pwrite(fd, data, len, off) != (ssize_t)len)
		test_fail("pwrite %zu bytes at %lld to fd %d: %s", len, (long long)off, fd,
			  strerror(errno));
}

/* The seals must still refuse shrinking and growing; writing inside must work. */
static void check_big_seals(const struct mfd *rw, const struct mfd *ro)
{
	static const char probe[] = "written after restore";
	char buf[sizeof(probe)];

	if (ftruncate(rw->fd, 4096) == 0 || errno != EPERM)
		test_fail("%s: ftruncate to shrink: %s, want EPERM", rw->what, strerror(errno));
	if (pwrite(rw->fd, probe, sizeof(probe), BIG_SIZE) >= 0 || errno != EPERM)
		test_fail("%s: write past the end: %s, want EPERM", rw->what, strerror(errno));
	put(rw->fd, probe, sizeof(probe), 100);
	if (pread(ro->fd, buf, sizeof(buf), 100) != (ssize_t)sizeof(buf) ||
	    memcmp(buf, probe, sizeof(buf)))
		test_fail("%s: does not see what was written to %s", ro->what, rw->what);
}

/* ---- The child */

struct child_arg {
	const struct mfd *const *inherited;
	size_t n;
	const struct mfd *of;
	int own;
	struct test_fd_state own_was;
};

/* The child opens a->of anew instead of inheriting it. */
static void child_prepare(void *arg)
{
	struct child_arg *a = arg;

	a->own = reopen(a->of->fd, O_RDONLY);
	close(a->of->fd);
	if (lseek(a->own, CHILD_POS, SEEK_SET) != CHILD_POS)
		test_child_fail("lseek: %s", strerror(errno));
	test_fd_state(a->own, &a->own_was);
}

static void child_check(void *arg)
{
	const struct child_arg *a = arg;
	const struct test_fd_state *own_was = &a->own_was;
	const struct mfd *const *inherited = a->inherited;
	const struct mfd *of = a->of;
	int own = a->own;
	char link[PATH_MAX], path[64];
	struct stat st, theirs;

	for (size_t i = 0; i < a->n; i++)
		test_child_shares(inherited[i]->fd, inherited[i]->what);
	test_fd_link(own, link, sizeof(link));
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", getppid(), of->fd);
	if (fstat(own, &st) || stat(path, &theirs) || st.st_ino != theirs.st_ino)
		test_child_fail("its own open (fd %d) is not of the parent's %s", own, of->what);
	if (fcntl(own, F_GETFL) != own_was->fl_flags || fcntl(own, F_GETFD) != own_was->fd_flags)
		test_child_fail("its own open (fd %d): F_GETFL %#o F_GETFD %#x, was %#o %#x", own,
				fcntl(own, F_GETFL), fcntl(own, F_GETFD), own_was->fl_flags,
				own_was->fd_flags);
	if (lseek(own, 0, SEEK_CUR) != CHILD_POS || strcmp(link, own_was->link))
		test_child_fail("its own open (fd %d): offset %lld link '%s', was %d '%s'", own,
				(long long)lseek(own, 0, SEEK_CUR), link, CHILD_POS, own_was->link);
}

int main(int argc, char **argv)
{
	static unsigned char data[BIG_DATA], tail[BIG_TAIL], small[3000], wdata[100];
	struct mfd big = { .what = "memfd 'cryo test'" },
		   dup_fd = { .what = "dup of memfd 'cryo test'" },
		   ro = { .what = "read-only reopen of memfd 'cryo test'" },
		   anon = { .what = "memfd ''" }, wr = { .what = "memfd 'wronly'" };
	const struct mfd *inherited[] = { &big, &dup_fd, &ro, &wr };
	struct child_arg child_arg = {
		.inherited = inherited,
		.n = sizeof(inherited) / sizeof(inherited[0]),
		.of = &anon,
	};
	pid_t child;
	int tmp;

	test_init(argc, argv);
	test_fill(data, sizeof(data), 1);
	test_fill(tail, sizeof(tail), 2);
	test_fill(small, sizeof(small), 3);
	test_fill(wdata, sizeof(wdata), 4);

	big.fd = new_memfd("cryo test", MFD_ALLOW_SEALING);
	if (ftruncate(big.fd, BIG_SIZE) || fchmod(big.fd, 0640))
		test_fail("ftruncate/fchmod: %s", strerror(errno));
	put(big.fd, data, sizeof(data), 0);
	put(big.fd, tail, sizeof(tail), BIG_TAIL_OFF);
	if (fcntl(big.fd, F_ADD_SEALS, BIG_SEALS) || lseek(big.fd, 12345, SEEK_SET) != 12345)
		test_fail("F_ADD_SEALS/lseek: %s", strerror(errno));
	dup_fd.fd = dup(big.fd);
	ro.fd = reopen(big.fd, O_RDONLY | O_CLOEXEC);
	if (lseek(ro.fd, 777, SEEK_SET) != 777)
		test_fail("lseek: %s", strerror(errno));

	anon.fd = new_memfd("", MFD_CLOEXEC);
	put(anon.fd, small, sizeof(small), 0);
	if (fcntl(anon.fd, F_SETFL, O_APPEND) || lseek(anon.fd, 0, SEEK_END) != sizeof(small))
		test_fail("F_SETFL/lseek: %s", strerror(errno));

	tmp = new_memfd("wronly", 0);
	put(tmp, wdata, sizeof(wdata), 5000);
	wr.fd = reopen(tmp, O_WRONLY);
	close(tmp);
	if (lseek(wr.fd, 42, SEEK_SET) != 42)
		test_fail("lseek: %s", strerror(errno));

	capture(&big);
	capture(&dup_fd);
	capture(&ro);
	capture(&anon);
	capture(&wr);
	if (big.seals != BIG_SEALS || anon.seals != F_SEAL_SEAL)
		test_fail("seals %#x and %#x before the dump", big.seals, anon.seals);
	child = test_child_fork(child_prepare, child_check, &child_arg);
	test_wait_same_fds();
	test_child_verify(child);
	check(&big);
	check(&dup_fd);
	check(&ro);
	check(&anon);
	check(&wr);
	same_inode(&big, &dup_fd);
	same_inode(&big, &ro);
	if (lseek(big.fd, 999, SEEK_SET) != 999 || lseek(dup_fd.fd, 0, SEEK_CUR) != 999 ||
	    lseek(ro.fd, 0, SEEK_CUR) != 777)
		test_fail("the dup does not share the offset, or the reopen does");
	check_big_seals(&big, &ro);
	if (write(anon.fd, "x", 1) != 1 || lseek(anon.fd, 0, SEEK_CUR) != sizeof(small) + 1)
		test_fail("memfd '': O_APPEND write did not go to the end");
	test_pass();
}
