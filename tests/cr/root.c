/* SPDX-License-Identifier: MIT */
/*
 * Root and working directory: the process chroots into STATEDIR/root and works in a directory
 * inside it. After restore its "/" must be the same directory (device and inode), the marker
 * file inside must be reachable as "/marker", and the working directory must be the same.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib.h"

int main(int argc, char **argv)
{
	char path[PATH_MAX], cwd_before[PATH_MAX], cwd_after[PATH_MAX];
	struct stat root_before, root_after, cwd_st_before, cwd_st_after, marker;
	int fd;

	test_init(argc, argv);
	snprintf(path, sizeof(path), "%s/root/work", test_dir());
	if (mkdir(path, 0755) < 0 && errno == ENOENT) {
		snprintf(path, sizeof(path), "%s/root", test_dir());
		if (mkdir(path, 0755) < 0)
			test_fail("mkdir '%s': %s", path, strerror(errno));
		snprintf(path, sizeof(path), "%s/root/work", test_dir());
		if (mkdir(path, 0755) < 0)
			test_fail("mkdir '%s': %s", path, strerror(errno));
	}
	snprintf(path, sizeof(path), "%s/root/marker", test_dir());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		test_fail("create '%s': %s", path, strerror(errno));
	close(fd);
	snprintf(path, sizeof(path), "%s/root", test_dir());
	if (chroot(path) < 0 || chdir("/work") < 0)
		test_fail("chroot into '%s': %s", path, strerror(errno));
	if (stat("/", &root_before) < 0 || stat(".", &cwd_st_before) < 0 ||
	    !getcwd(cwd_before, sizeof(cwd_before)))
		test_fail("stat before: %s", strerror(errno));

	test_ready();
	test_wait();

	if (stat("/", &root_after) < 0 || stat(".", &cwd_st_after) < 0 ||
	    !getcwd(cwd_after, sizeof(cwd_after)))
		test_fail("stat after: %s", strerror(errno));
	if (root_after.st_dev != root_before.st_dev || root_after.st_ino != root_before.st_ino)
		test_fail("root is another directory: ino %lu, was %lu",
			  (unsigned long)root_after.st_ino, (unsigned long)root_before.st_ino);
	if (stat("/marker", &marker) < 0)
		test_fail("'/marker' is not reachable in the root: %s", strerror(errno));
	if (cwd_st_after.st_ino != cwd_st_before.st_ino || strcmp(cwd_after, cwd_before))
		test_fail("working directory is '%s', was '%s'", cwd_after, cwd_before);
	test_pass();
}
