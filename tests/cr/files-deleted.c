/* SPDX-License-Identifier: MIT */
/*
 * An open file that has been unlinked: STATEDIR/ghost with 10 KiB of known data, open O_RDWR at
 * offset 1234, then unlinked. After restore the fd must still be an unlinked regular file
 * (nlink 0, link text "... (deleted)" as before) of the same size, contents, offset and flags,
 * and nothing may have been left at STATEDIR/ghost.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib.h"

#define GHOST_SIZE (10 * 1024)
#define GHOST_POS 1234

static const char deleted_suffix[] = " (deleted)";

static int ends_with(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);

	return ls >= lx && !strcmp(s + ls - lx, suffix);
}

int main(int argc, char **argv)
{
	static unsigned char data[GHOST_SIZE], buf[GHOST_SIZE];
	char path[PATH_MAX], link_before[PATH_MAX], link_after[PATH_MAX];
	int fd, fl_flags;
	struct stat st;

	test_init(argc, argv);
	test_fill(data, GHOST_SIZE, 1);
	test_path(path, sizeof(path), "ghost");
	fd = test_create_file("ghost", data, sizeof(data), O_RDWR);
	if (lseek(fd, GHOST_POS, SEEK_SET) != GHOST_POS || unlink(path))
		test_fail("lseek/unlink '%s': %s", path, strerror(errno));
	fl_flags = fcntl(fd, F_GETFL);
	test_fd_link(fd, link_before, sizeof(link_before));
	if (!ends_with(link_before, deleted_suffix))
		test_fail("link of the unlinked file is '%s'", link_before);

	test_ready();
	test_wait();

	if (fstat(fd, &st))
		test_fail("fstat %d: %s", fd, strerror(errno));
	if (!S_ISREG(st.st_mode) || st.st_nlink != 0)
		test_fail("fd %d: mode %#o nlink %lu, want a regular file with nlink 0", fd,
			  st.st_mode, (unsigned long)st.st_nlink);
	if (st.st_size != GHOST_SIZE)
		test_fail("fd %d: size %lld, want %d", fd, (long long)st.st_size, GHOST_SIZE);
	if (fcntl(fd, F_GETFL) != fl_flags)
		test_fail("fd %d: F_GETFL %#o, was %#o", fd, fcntl(fd, F_GETFL), fl_flags);
	if (lseek(fd, 0, SEEK_CUR) != GHOST_POS)
		test_fail("fd %d: offset %lld, want %d", fd, (long long)lseek(fd, 0, SEEK_CUR),
			  GHOST_POS);
	test_fd_link(fd, link_after, sizeof(link_after));
	if (strcmp(link_after, link_before))
		test_fail("fd %d: link '%s', was '%s'", fd, link_after, link_before);
	if (access(path, F_OK) == 0 || errno != ENOENT)
		test_fail("'%s' exists again after restore", path);

	if (read(fd, buf, GHOST_SIZE - GHOST_POS) != GHOST_SIZE - GHOST_POS ||
	    memcmp(buf, data + GHOST_POS, GHOST_SIZE - GHOST_POS))
		test_fail("fd %d: reading on from offset %d does not give the data", fd, GHOST_POS);
	if (pread(fd, buf, GHOST_SIZE, 0) != GHOST_SIZE || memcmp(buf, data, GHOST_SIZE))
		test_fail("fd %d: contents differ", fd);
	if (pwrite(fd, "x", 1, GHOST_SIZE) != 1)
		test_fail("fd %d: write: %s", fd, strerror(errno));
	test_pass();
}
