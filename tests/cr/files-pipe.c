/* SPDX-License-Identifier: MIT */
/*
 * A pipe with both ends held by the process: the size raised to 128 KiB with F_SETPIPE_SZ, the
 * read end O_NONBLOCK and the write end blocking with FD_CLOEXEC, 3000 bytes of a known pattern
 * queued in it. After restore the fd and status flags of each end, the pipe size and FIONREAD
 * must be as before; reading gives exactly the queued bytes and then EAGAIN; both ends are
 * "pipe:[N]" with one N, and bytes written to the write end come out of the read end.
 * CRYO-TEST: cycles=2
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "lib.h"

#define PIPE_SIZE (128 * 1024)
#define QUEUED 3000

struct end {
	int fd;
	int fd_flags;
	int fl_flags;
};

static void capture(struct end *e)
{
	e->fd_flags = fcntl(e->fd, F_GETFD);
	e->fl_flags = fcntl(e->fd, F_GETFL);
}

static void check_end(const char *name, const struct end *e)
{
	struct end now = { .fd = e->fd };

	capture(&now);
	if (now.fd_flags != e->fd_flags)
		test_fail("%s end (fd %d): F_GETFD %#x, was %#x", name, e->fd, now.fd_flags,
			  e->fd_flags);
	if (now.fl_flags != e->fl_flags)
		test_fail("%s end (fd %d): F_GETFL %#o, was %#o", name, e->fd, now.fl_flags,
			  e->fl_flags);
	if (fcntl(e->fd, F_GETPIPE_SZ) != PIPE_SIZE)
		test_fail("%s end (fd %d): pipe size %d, was %d", name, e->fd,
			  fcntl(e->fd, F_GETPIPE_SZ), PIPE_SIZE);
}

/* Both ends must be one pipe: "pipe:[N]" with the same N. */
static void check_links(const struct end *rd, const struct end *wr)
{
	char lr[PATH_MAX], lw[PATH_MAX];

	test_fd_link(rd->fd, lr, sizeof(lr));
	test_fd_link(wr->fd, lw, sizeof(lw));
	if (strncmp(lr, "pipe:[", 6) || strcmp(lr, lw))
		test_fail("pipe ends are '%s' and '%s'", lr, lw);
}

/* Read everything queued in the non-blocking read end; it must be exactly want[0..len). */
static void drain(int fd, const unsigned char *want, size_t len)
{
	unsigned char buf[PIPE_SIZE];
	size_t got = 0;
	ssize_t n;

	while ((n = read(fd, buf + got, sizeof(buf) - got)) > 0)
		got += (size_t)n;
	if (n == 0)
		test_fail("read end: EOF, the write end is gone");
	if (errno != EAGAIN)
		test_fail("read end: %s", strerror(errno));
	if (got != len)
		test_fail("read %zu bytes from the pipe, want %zu", got, len);
	if (memcmp(buf, want, len))
		test_fail("the bytes read from the pipe differ from those queued");
}

int main(int argc, char **argv)
{
	static const unsigned char probe[] = "written after restore";
	unsigned char data[QUEUED];
	struct end rd, wr;
	int p[2], avail;

	test_init(argc, argv);
	test_fill(data, QUEUED, 1);
	if (pipe2(p, 0))
		test_fail("pipe2: %s", strerror(errno));
	rd.fd = p[0];
	wr.fd = p[1];
	if (fcntl(wr.fd, F_SETPIPE_SZ, PIPE_SIZE) != PIPE_SIZE)
		test_fail("F_SETPIPE_SZ: %s", strerror(errno));
	if (fcntl(rd.fd, F_SETFL, O_NONBLOCK) || fcntl(wr.fd, F_SETFD, FD_CLOEXEC))
		test_fail("fcntl: %s", strerror(errno));
	if (write(wr.fd, data, sizeof(data)) != (ssize_t)sizeof(data))
		test_fail("write to the pipe: %s", strerror(errno));
	capture(&rd);
	capture(&wr);

	test_ready();
	test_wait();

	check_end("read", &rd);
	check_end("write", &wr);
	check_links(&rd, &wr);
	if (ioctl(rd.fd, FIONREAD, &avail) || avail != QUEUED)
		test_fail("FIONREAD gives %d, want %d", avail, QUEUED);
	drain(rd.fd, data, sizeof(data));
	if (write(wr.fd, probe, sizeof(probe)) != (ssize_t)sizeof(probe))
		test_fail("write end: %s", strerror(errno));
	drain(rd.fd, probe, sizeof(probe));
	test_pass();
}
