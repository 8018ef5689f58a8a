/* SPDX-License-Identifier: MIT */
/*
 * Standard fds: stdin is /dev/null, stdout and stderr are STATEDIR/out, a regular file the test
 * has already written a line to. After restore fds 0-2 must be the same files with the same fd
 * and status flags, stdout and stderr must still be at the end of the file (the offset it had
 * at the dump) and share one open file description if they did, and a line written then must
 * follow the earlier one instead of overwriting it.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib.h"

#define OUT_MAX 65536
#define KCMP_FILE 0

static const char line_before[] = "files-stdio: line written before the dump\n";
static const char line_after[] = "files-stdio: line written after the restore\n";

static struct test_fd_state saved[3];
static char out_path[PATH_MAX];

static int same_file(int fd1, int fd2)
{
	pid_t pid = getpid();

	return syscall(SYS_kcmp, pid, pid, KCMP_FILE, fd1, fd2) == 0;
}

/* fds 1 and 2 must be STATEDIR/out itself, positioned at the size it had at capture time. */
static void check_out_fds(const struct stat *out_st, off_t size)
{
	struct stat st;

	for (int fd = 1; fd <= 2; fd++) {
		if (fstat(fd, &st))
			test_fail("fstat %d: %s", fd, strerror(errno));
		if (st.st_dev != out_st->st_dev || st.st_ino != out_st->st_ino)
			test_fail("fd %d is not '%s'", fd, out_path);
		if (lseek(fd, 0, SEEK_CUR) != size)
			test_fail("fd %d: offset %lld, file size %lld", fd,
				  (long long)lseek(fd, 0, SEEK_CUR), (long long)size);
	}
}

int main(int argc, char **argv)
{
	static char before[OUT_MAX], after[OUT_MAX];
	size_t len_before, len_after;
	struct stat out_st;
	int shared;

	test_init(argc, argv);
	test_path(out_path, sizeof(out_path), "out");
	if (write(1, line_before, strlen(line_before)) != (ssize_t)strlen(line_before))
		test_fail("write to stdout: %s", strerror(errno));
	if (stat(out_path, &out_st))
		test_fail("stat '%s': %s", out_path, strerror(errno));
	check_out_fds(&out_st, out_st.st_size);
	for (int fd = 0; fd < 3; fd++)
		test_fd_state(fd, &saved[fd]);
	shared = same_file(1, 2);
	len_before = test_read_file(out_path, before, sizeof(before));

	test_ready();
	test_wait();

	for (int fd = 0; fd < 3; fd++)
		test_fd_check(fd, &saved[fd]);
	check_out_fds(&out_st, (off_t)len_before);
	if (same_file(1, 2) != shared)
		test_fail("stdout and stderr %s one open file description, they %s before",
			  shared ? "are no longer" : "became", shared ? "were" : "were not");

	if (write(1, line_after, strlen(line_after)) != (ssize_t)strlen(line_after))
		test_fail("write to stdout: %s", strerror(errno));
	len_after = test_read_file(out_path, after, sizeof(after));
	if (len_after != len_before + strlen(line_after) || memcmp(after, before, len_before) ||
	    memcmp(after + len_before, line_after, strlen(line_after)))
		test_fail("'%s' does not hold the earlier output followed by the new line",
			  out_path);
	test_pass();
}
