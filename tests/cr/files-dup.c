/* SPDX-License-Identifier: MIT */
/*
 * One open file description behind three fds (dup() and fcntl(F_DUPFD_CLOEXEC)), next to a
 * second, separate open of the same file. After restore the three fds must still be one
 * description (kcmp KCMP_FILE, a shared offset and shared status flags) with their own fd
 * flags, and the separate open must still be a description of its own with its own offset.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib.h"

#define KCMP_FILE 0
#define SHARED_POS 500
#define OTHER_POS 100
#define MOVED_POS 777

enum { FD_ORIG, FD_DUP, FD_DUP_CLOEXEC, FD_OTHER, NR_FDS };

static int fds[NR_FDS];
static int fd_flags[NR_FDS];

/* 0: same description, 1: different ones; fails on error. */
static int kcmp_file(int fd1, int fd2)
{
	pid_t pid = getpid();
	long r = syscall(SYS_kcmp, pid, pid, KCMP_FILE, fd1, fd2);

	if (r < 0)
		test_fail("kcmp(%d, %d): %s", fd1, fd2, strerror(errno));
	return r != 0;
}

static void check_layout(void)
{
	for (int i = FD_DUP; i <= FD_DUP_CLOEXEC; i++)
		if (kcmp_file(fds[FD_ORIG], fds[i]))
			test_fail("fd %d and fd %d are different open file descriptions",
				  fds[FD_ORIG], fds[i]);
	if (!kcmp_file(fds[FD_ORIG], fds[FD_OTHER]))
		test_fail("fd %d and fd %d are one open file description", fds[FD_ORIG],
			  fds[FD_OTHER]);
	for (int i = 0; i < NR_FDS; i++)
		if (fcntl(fds[i], F_GETFD) != fd_flags[i])
			test_fail("fd %d: F_GETFD %#x, was %#x", fds[i], fcntl(fds[i], F_GETFD),
				  fd_flags[i]);
}

static void check_pos(int fd, off_t want)
{
	off_t pos = lseek(fd, 0, SEEK_CUR);

	if (pos != want)
		test_fail("fd %d: offset %lld, want %lld", fd, (long long)pos, (long long)want);
}

int main(int argc, char **argv)
{
	static char data[4096];
	char path[4096];
	int fd;

	test_init(argc, argv);
	memset(data, 'd', sizeof(data));
	fd = test_create_file("dup", data, sizeof(data), O_RDWR);
	test_path(path, sizeof(path), "dup");
	fds[FD_ORIG] = fd;
	fds[FD_DUP] = dup(fd);
	fds[FD_DUP_CLOEXEC] = fcntl(fd, F_DUPFD_CLOEXEC, 50);
	fds[FD_OTHER] = open(path, O_RDONLY);
	if (fds[FD_DUP] < 0 || fds[FD_DUP_CLOEXEC] < 0 || fds[FD_OTHER] < 0)
		test_fail("dup/open: %s", strerror(errno));
	lseek(fd, SHARED_POS, SEEK_SET);
	lseek(fds[FD_OTHER], OTHER_POS, SEEK_SET);
	for (int i = 0; i < NR_FDS; i++)
		fd_flags[i] = fcntl(fds[i], F_GETFD);
	check_layout();

	test_ready();
	test_wait();

	check_layout();
	for (int i = FD_ORIG; i <= FD_DUP_CLOEXEC; i++)
		check_pos(fds[i], SHARED_POS);
	check_pos(fds[FD_OTHER], OTHER_POS);

	/* Moving or changing the description through one fd shows through the others. */
	if (lseek(fds[FD_DUP], MOVED_POS, SEEK_SET) != MOVED_POS)
		test_fail("lseek: %s", strerror(errno));
	if (fcntl(fds[FD_DUP_CLOEXEC], F_SETFL, O_NONBLOCK))
		test_fail("F_SETFL: %s", strerror(errno));
	for (int i = FD_ORIG; i <= FD_DUP_CLOEXEC; i++) {
		check_pos(fds[i], MOVED_POS);
		if (!(fcntl(fds[i], F_GETFL) & O_NONBLOCK))
			test_fail("fd %d: O_NONBLOCK set through fd %d does not show", fds[i],
				  fds[FD_DUP_CLOEXEC]);
	}
	check_pos(fds[FD_OTHER], OTHER_POS);
	if (fcntl(fds[FD_OTHER], F_GETFL) & O_NONBLOCK)
		test_fail("fd %d: O_NONBLOCK leaked into the separate open", fds[FD_OTHER]);
	test_pass();
}
