/* SPDX-License-Identifier: MIT */
/*
 * Character devices held open with different flags: /dev/null O_RDWR and again O_WRONLY|O_APPEND,
 * /dev/zero O_RDONLY with FD_CLOEXEC, /dev/urandom O_RDONLY|O_NONBLOCK. After restore each fd
 * must be the same device (link text, inode, st_rdev) with the same fd and status flags, and
 * behave like it: /dev/null swallows writes and reads EOF, /dev/zero reads zeros, /dev/urandom reads
 * different bytes on every read.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib.h"

#define BUF_SIZE 4096

struct dev {
	const char *path;
	int oflags;
	int fd;			/* fd number the device is moved to */
	int cloexec;
	struct test_fd_state was; /* captured before test_ready() */
};

enum { D_NULL, D_NULL_APPEND, D_ZERO, D_URANDOM, NR_DEVS };

static struct dev devs[NR_DEVS] = {
	[D_NULL] = { "/dev/null", O_RDWR, 20, 0 },
	[D_NULL_APPEND] = { "/dev/null", O_WRONLY | O_APPEND, 21, 0 },
	[D_ZERO] = { "/dev/zero", O_RDONLY, 30, 1 },
	[D_URANDOM] = { "/dev/urandom", O_RDONLY | O_NONBLOCK, 40, 0 },
};

static void setup(struct dev *d)
{
	int fd;

	fd = open(d->path, d->oflags);
	if (fd < 0)
		test_fail("open '%s': %s", d->path, strerror(errno));
	if (dup3(fd, d->fd, d->cloexec ? O_CLOEXEC : 0) != d->fd)
		test_fail("dup3 to %d: %s", d->fd, strerror(errno));
	close(fd);
	test_fd_state(d->fd, &d->was);
	if (!S_ISCHR(d->was.st.st_mode))
		test_fail("fd %d: '%s' is not a character device", d->fd, d->path);
}

static void check_behaviour(void)
{
	static unsigned char buf[BUF_SIZE], buf2[BUF_SIZE];
	ssize_t n;

	memset(buf, 0xa5, sizeof(buf));
	for (int i = D_NULL; i <= D_NULL_APPEND; i++) {
		n = write(devs[i].fd, buf, sizeof(buf));
		if (n != (ssize_t)sizeof(buf))
			test_fail("fd %d: write to /dev/null gave %zd: %s", devs[i].fd, n,
				  strerror(errno));
	}
	n = read(devs[D_NULL].fd, buf, sizeof(buf));
	if (n != 0)
		test_fail("fd %d: read from /dev/null gave %zd, want 0", devs[D_NULL].fd, n);

	n = read(devs[D_ZERO].fd, buf, sizeof(buf));
	if (n != (ssize_t)sizeof(buf))
		test_fail("fd %d: read from /dev/zero gave %zd: %s", devs[D_ZERO].fd, n,
			  strerror(errno));
	for (size_t i = 0; i < sizeof(buf); i++)
		if (buf[i])
			test_fail("fd %d: /dev/zero gave a non-zero byte", devs[D_ZERO].fd);

	if (read(devs[D_URANDOM].fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf) ||
	    read(devs[D_URANDOM].fd, buf2, sizeof(buf2)) != (ssize_t)sizeof(buf2))
		test_fail("fd %d: read from /dev/urandom: %s", devs[D_URANDOM].fd, strerror(errno));
	if (!memcmp(buf, buf2, sizeof(buf)))
		test_fail("fd %d: /dev/urandom gave the same bytes twice", devs[D_URANDOM].fd);
}

int main(int argc, char **argv)
{
	test_init(argc, argv);
	for (int i = 0; i < NR_DEVS; i++)
		setup(&devs[i]);

	test_ready();
	test_wait();

	for (int i = 0; i < NR_DEVS; i++)
		test_fd_check(devs[i].fd, &devs[i].was);
	check_behaviour();
	test_pass();
}
