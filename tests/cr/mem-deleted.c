/* SPDX-License-Identifier: MIT */
/*
 * Mapped deleted files: a 64 KiB file in STATEDIR is mapped MAP_SHARED, another MAP_PRIVATE
 * with pages copied on write, both unlinked, and a child is forked that shares them. After
 * restore both mappings keep their contents and their "(deleted)" maps lines, the shared one
 * is still shared between parent and child (a write by either is seen by the other), the
 * private one keeps the parent's copied page apart from the file's, and no file has come back
 * under the old names.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib.h"

/* CRYO-TEST: cycles=2 */

#define LEN (64 * 1024)

static unsigned char *map_deleted(const char *name, int flags, uint64_t seed)
{
	static unsigned char data[LEN];
	char path[4096];
	unsigned char *m;
	int fd;

	test_fill(data, LEN, seed);
	fd = test_create_file(name, data, LEN, O_RDWR);
	m = mmap(NULL, LEN, PROT_READ | PROT_WRITE, flags, fd, 0);
	if (m == MAP_FAILED)
		test_fail("mmap '%s': %s", name, strerror(errno));
	close(fd);
	test_path(path, sizeof(path), name);
	if (unlink(path) < 0)
		test_fail("unlink '%s': %s", path, strerror(errno));
	return m;
}

static void check_maps_line(const void *addr, const char *name)
{
	struct test_vma v;
	char want[4096];
	char tail[] = " (deleted)";

	test_find_vma(addr, &v);
	test_path(want, sizeof(want), name);
	strcat(want, tail);
	if (strcmp(v.path, want))
		test_fail("mapping of %s reads '%s', want '%s'", name, v.path, want);
}

int main(int argc, char **argv)
{
	static unsigned char want_priv[LEN];
	volatile unsigned char *shared;
	unsigned char *priv;
	int to_child[2], to_parent[2], st;
	char c = 0, path[4096];
	pid_t child;

	test_init(argc, argv);
	shared = map_deleted("shared", MAP_SHARED, 1);
	priv = map_deleted("private", MAP_PRIVATE, 2);
	test_fill(want_priv, LEN, 2);
	memset(priv + 4096, 0x5a, 4096); /* one page copied on write in the parent */
	memset(want_priv + 4096, 0x5a, 4096);
	if (pipe(to_child) < 0 || pipe(to_parent) < 0)
		test_fail("pipe: %s", strerror(errno));
	child = fork();
	if (child == 0) {
		/* Wait for the go, write a mark into the shared file, report it, then exit 3. */
		if (read(to_child[0], &c, 1) != 1)
			_exit(1);
		shared[100] = 0xc1;
		_exit(write(to_parent[1], &c, 1) == 1 && shared[200] == 0xb2 ? 3 : 2);
	}
	test_ready();
	test_wait();

	check_maps_line((void *)shared, "shared");
	check_maps_line(priv, "private");
	if (memcmp(priv, want_priv, LEN))
		test_fail("the private mapping of the deleted file changed");
	shared[200] = 0xb2;
	if (write(to_child[1], &c, 1) != 1 || read(to_parent[0], &c, 1) != 1)
		test_fail("child didn't answer");
	if (shared[100] != 0xc1)
		test_fail("the child's write to the shared file is not seen by the parent");
	if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st) != 3)
		test_fail("child ended with status 0x%x: it didn't see the parent's write", st);
	test_path(path, sizeof(path), "shared");
	if (access(path, F_OK) == 0)
		test_fail("the deleted file is back at '%s'", path);
	test_pass();
}
