/* SPDX-License-Identifier: MIT */
/*
 * A chroot in a shared fs_struct. The root R clones C with CLONE_FS only (its own fd table
 * and memory), then chroots into STATEDIR/root and works in /work there, which moves C too.
 * R and C each open a file inside the new root by path, so the images name them by their
 * full paths from outside it: the restore must open every such file before it chroots the
 * fs_struct they share, whichever process it restores first.
 * After restore: kcmp(KCMP_FS) says R and C share one fs_struct; in both, "/" is the same
 * directory as before (device and inode), the cwd is /work, and each one's file is at its
 * fd with its flags, offset and inode. A chdir("/") by C moves R.
 * CRYO-TEST: cycles=2
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib.h"

#define KCMP_FS 3
#define WHY_MAX 256
#define REPORT_TIMEOUT_MS 10000

/* What an fd is, without /proc, which the new root lacks. */
struct fd_was {
	int fd_flags, fl_flags;
	off_t pos;
	struct stat st;
};

static int cmd[2], rep[2];
static struct stat root_was;
static struct fd_was file_was;
static int file_fd;

static void record_fd(struct fd_was *w)
{
	memset(w, 0, sizeof(*w));
	w->fd_flags = fcntl(file_fd, F_GETFD);
	w->fl_flags = fcntl(file_fd, F_GETFL);
	w->pos = lseek(file_fd, 0, SEEK_CUR);
	fstat(file_fd, &w->st);
}

/* Note the root and open a file in it. */
static void open_file(const char *name, int flags, off_t pos)
{
	if (stat("/", &root_was))
		test_fail("stat '/': %s", strerror(errno));
	file_fd = open(name, flags | O_CREAT, 0644);
	if (file_fd < 0 || lseek(file_fd, pos, SEEK_SET) != pos)
		test_fail("open or lseek of '%s' in the root: %s", name, strerror(errno));
	record_fd(&file_was);
}

/* The root, cwd and file as they were; the first difference into why. */
static void check_mine(char *why, size_t len)
{
	char cwd[PATH_MAX];
	struct fd_was now;
	struct stat root;

	record_fd(&now);
	if (stat("/", &root) || root.st_dev != root_was.st_dev || root.st_ino != root_was.st_ino)
		test_note(why, len, "'/' is not the directory it was");
	else if (!getcwd(cwd, sizeof(cwd)) || strcmp(cwd, "/work"))
		test_note(why, len, "cwd is '%s', want '/work'", cwd);
	else if (now.fl_flags != file_was.fl_flags || now.fd_flags != file_was.fd_flags ||
		 now.pos != file_was.pos || now.st.st_ino != file_was.st.st_ino ||
		 now.st.st_dev != file_was.st.st_dev)
		test_note(why, len, "fd %d: flags %#o/%#x offset %lld, was %#o/%#x %lld", file_fd,
			  now.fl_flags, now.fd_flags, (long long)now.pos, file_was.fl_flags,
			  file_was.fd_flags, (long long)file_was.pos);
}

/* C: on each command byte, 'o' notes the root and opens its file, 'v' checks, 'c' chdirs to "/", 'x' exits. */
static __attribute__((noreturn)) void child(void)
{
	char c, why[WHY_MAX];

	for (;;) {
		ssize_t n;

		do
			n = read(cmd[0], &c, 1);
		while (n < 0 && errno == EINTR);
		if (n != 1 || c == 'x')
			_exit(n == 1 ? 0 : 3);
		memset(why, 0, sizeof(why));
		if (c == 'o')
			open_file("/c-file", O_RDWR, 20);
		else if (c == 'v')
			check_mine(why, sizeof(why));
		else if (chdir("/"))
			test_note(why, sizeof(why), "chdir: %s", strerror(errno));
		if (write(rep[1], why, sizeof(why)) != sizeof(why))
			_exit(3);
	}
}

static void ask(pid_t c, char op)
{
	char why[WHY_MAX];
	const char *err;

	if (write(cmd[1], &op, 1) != 1)
		test_fail_killing(&c, 1, "command to C: %s", strerror(errno));
	err = test_read_msg(rep[0], why, sizeof(why), REPORT_TIMEOUT_MS);
	if (err || why[0])
		test_fail_killing(&c, 1, "C: %s", err ? err : why);
}

int main(int argc, char **argv)
{
	char path[PATH_MAX], why[WHY_MAX] = "", cwd[PATH_MAX];
	int status;
	pid_t c;

	test_init(argc, argv);
	test_path(path, sizeof(path), "root");
	mkdir(path, 0755);
	test_path(path, sizeof(path), "root/work");
	mkdir(path, 0755);
	if (pipe2(cmd, 0) || pipe2(rep, 0))
		test_fail("pipe2: %s", strerror(errno));
	/* The raw syscall goes on like fork(); glibc's clone() would want a stack. */
	c = (pid_t)syscall(SYS_clone, CLONE_FS | SIGCHLD, NULL, NULL, NULL, 0);
	if (c < 0)
		test_fail("clone(CLONE_FS): %s", strerror(errno));
	if (c == 0)
		child();
	test_path(path, sizeof(path), "root");
	if (chroot(path) || chdir("/work"))
		test_fail_killing(&c, 1, "chroot into '%s': %s", path, strerror(errno));
	open_file("/work/r-file", O_WRONLY | O_APPEND, 0);
	ask(c, 'o');
	ask(c, 'v');
	check_mine(why, sizeof(why));
	if (why[0])
		test_fail_killing(&c, 1, "R before the dump: %s", why);

	test_ready();
	test_wait();

	if (syscall(SYS_kcmp, getpid(), c, KCMP_FS, 0, 0) != 0)
		test_fail_killing(&c, 1, "R and C do not share one fs_struct");
	check_mine(why, sizeof(why));
	if (why[0])
		test_fail_killing(&c, 1, "R: %s", why);
	ask(c, 'v');
	ask(c, 'c');
	if (!getcwd(cwd, sizeof(cwd)) || strcmp(cwd, "/"))
		test_fail_killing(&c, 1, "C's chdir(\"/\") did not move R: cwd '%s'", cwd);
	if (write(cmd[1], "x", 1) != 1 || waitpid(c, &status, 0) != c || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		test_fail_killing(&c, 1, "C did not exit with 0");
	test_pass();
}
