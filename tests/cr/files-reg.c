/* SPDX-License-Identifier: MIT */
/*
 * Regular files and a directory held open at chosen fd numbers: the access modes O_RDONLY,
 * O_WRONLY and O_RDWR|O_APPEND, O_NONBLOCK, FD_CLOEXEC on some fds, offsets moved by reads and
 * lseek. After restore every fd must be the same file (link text, device and inode) with the
 * same fd and status flags and offset, no fd may be missing or extra, reads go on where they
 * stopped, a write lands at the saved offset and an append write lands at the end of the file.
 * CRYO-TEST: cycles=2
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib.h"

#define FILE_SIZE 8192
#define FDLIST_MAX 8192

struct held {
	const char *name;	/* file in the state dir; NULL for the state dir itself */
	int oflags;		/* open() flags */
	int fd;			/* fd number the file is moved to */
	int cloexec;
	off_t skip;		/* bytes read, then skipped by lseek(SEEK_CUR), after opening */
	struct test_fd_state was; /* captured before test_ready() */
};

enum { H_RO, H_WO, H_APP, H_DIR, NR_HELD };

static struct held held[NR_HELD] = {
	[H_RO] = { "ro", O_RDONLY | O_NONBLOCK, 10, 0, 100 },
	[H_WO] = { "wo", O_WRONLY, 42, 1, 0 },
	[H_APP] = { "app", O_RDWR | O_APPEND, 100, 0, 500 },
	[H_DIR] = { NULL, O_RDONLY | O_DIRECTORY, 77, 1, 0 },
};

static unsigned char pattern(int file, off_t off)
{
	return (unsigned char)(off * 7 + (off >> 8) + file * 31);
}

static void create_file(int file, const char *name)
{
	unsigned char buf[FILE_SIZE];

	for (off_t i = 0; i < FILE_SIZE; i++)
		buf[i] = pattern(file, i);
	close(test_create_file(name, buf, sizeof(buf), O_WRONLY | O_CLOEXEC));
}

/* Every byte read from fd must be the file's pattern at the offset it was read from. */
static void read_check(int file, int fd, size_t len)
{
	unsigned char buf[FILE_SIZE];
	off_t start = lseek(fd, 0, SEEK_CUR);

	if (read(fd, buf, len) != (ssize_t)len)
		test_fail("fd %d: read of %zu bytes at %lld: %s", fd, len, (long long)start,
			  strerror(errno));
	for (size_t i = 0; i < len; i++)
		if (buf[i] != pattern(file, start + (off_t)i))
			test_fail("fd %d: wrong byte at %lld", fd, (long long)(start + (off_t)i));
}

static void setup(int file, struct held *h)
{
	char path[PATH_MAX];
	int fd;

	if (h->name) {
		create_file(file, h->name);
		test_path(path, sizeof(path), h->name);
	} else {
		snprintf(path, sizeof(path), "%s", test_dir());
	}
	fd = open(path, h->oflags);
	if (fd < 0)
		test_fail("open '%s': %s", path, strerror(errno));
	if (h->skip) {
		read_check(file, fd, (size_t)h->skip);
		lseek(fd, h->skip * 10, SEEK_CUR);
	}
	if (dup3(fd, h->fd, h->cloexec ? O_CLOEXEC : 0) != h->fd)
		test_fail("dup3 to %d: %s", h->fd, strerror(errno));
	close(fd);

	test_fd_state(h->fd, &h->was);
}

static void check(const struct held *h)
{
	struct stat st;

	test_fd_check(h->fd, &h->was);
	if (fstat(h->fd, &st))
		test_fail("fstat %d: %s", h->fd, strerror(errno));
	if (h->name && st.st_size != FILE_SIZE)
		test_fail("fd %d: file size %lld, was %d", h->fd, (long long)st.st_size, FILE_SIZE);
}

/* A write through the O_WRONLY fd must land at its saved offset. */
static void check_write(const struct held *h)
{
	static const char msg[] = "written-after-restore";
	char path[PATH_MAX], buf[sizeof(msg)];
	int fd;

	if (write(h->fd, msg, sizeof(msg)) != (ssize_t)sizeof(msg))
		test_fail("fd %d: write: %s", h->fd, strerror(errno));
	test_path(path, sizeof(path), h->name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || pread(fd, buf, sizeof(buf), h->was.pos) != (ssize_t)sizeof(buf))
		test_fail("read back '%s': %s", path, strerror(errno));
	close(fd);
	if (memcmp(buf, msg, sizeof(msg)))
		test_fail("fd %d: write did not land at offset %lld", h->fd, (long long)h->was.pos);
}

/* Reads on the O_APPEND fd go on from its offset; a write goes to the end of the file. */
static void check_append(const struct held *h)
{
	static const char msg[] = "appended-after-restore";
	char buf[sizeof(msg)];
	struct stat st;

	read_check(H_APP, h->fd, 10);
	if (write(h->fd, msg, sizeof(msg)) != (ssize_t)sizeof(msg))
		test_fail("fd %d: append write: %s", h->fd, strerror(errno));
	if (fstat(h->fd, &st) || st.st_size != FILE_SIZE + (off_t)sizeof(msg))
		test_fail("fd %d: size %lld after append, want %lld", h->fd, (long long)st.st_size,
			  (long long)(FILE_SIZE + sizeof(msg)));
	if (pread(h->fd, buf, sizeof(buf), FILE_SIZE) != (ssize_t)sizeof(buf) ||
	    memcmp(buf, msg, sizeof(msg)))
		test_fail("fd %d: appended data is not at the end of the file", h->fd);
	if (lseek(h->fd, 0, SEEK_CUR) != st.st_size)
		test_fail("fd %d: offset after append is not the file size", h->fd);
}

int main(int argc, char **argv)
{
	static char fds_before[FDLIST_MAX], fds_after[FDLIST_MAX];
	int fd;

	test_init(argc, argv);
	for (int i = 0; i < NR_HELD; i++)
		setup(i, &held[i]);
	test_fd_list(fds_before, sizeof(fds_before));

	test_ready();
	test_wait();

	test_fd_list(fds_after, sizeof(fds_after));
	test_same_lines("open fds", fds_before, fds_after);
	for (int i = 0; i < NR_HELD; i++)
		check(&held[i]);

	read_check(H_RO, held[H_RO].fd, 100);
	check_write(&held[H_WO]);
	check_append(&held[H_APP]);
	fd = openat(held[H_DIR].fd, held[H_RO].name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		test_fail("openat via the directory fd: %s", strerror(errno));
	close(fd);
	test_pass();
}
