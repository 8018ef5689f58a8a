/* SPDX-License-Identifier: MIT */
/*
 * State: file mappings. A 64 KiB file mapped MAP_PRIVATE with some pages written
 * (copy-on-write): the mapping shows the written pages and the file's contents elsewhere,
 * while the file keeps none of the private writes. Another file mapped MAP_SHARED and
 * written through the mapping: mapping and file both show the writes, and a new write
 * through the mapping still reaches the file. Both mappings still name their files.
 * The files' descriptors are closed before the dump: only the mappings hold them.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib.h"

#define PAGE 4096
#define FILE_SIZE (64 * 1024)
#define NPAGES (FILE_SIZE / PAGE)

static unsigned char file_data[FILE_SIZE];   /* what both files hold when created */
static unsigned char priv_want[FILE_SIZE];   /* what the private mapping must show */
static unsigned char shared_want[FILE_SIZE]; /* what the shared mapping and its file hold */
static unsigned char buf[FILE_SIZE + 1];

static unsigned char *create_and_map(const char *name, int flags)
{
	void *p;
	int fd;

	fd = test_create_file(name, file_data, FILE_SIZE, O_RDWR | O_CLOEXEC);
	p = mmap(NULL, FILE_SIZE, PROT_READ | PROT_WRITE, flags, fd, 0);
	if (p == MAP_FAILED)
		test_fail("can't map '%s': %s", name, strerror(errno));
	close(fd);
	return p;
}

/* The first page that differs, for messages; -1 if none. */
static int diff_page(const unsigned char *a, const unsigned char *b)
{
	for (int i = 0; i < NPAGES; i++)
		if (memcmp(a + i * PAGE, b + i * PAGE, PAGE))
			return i;
	return -1;
}

/* The mapping at @addr must be the whole of file @name with permissions @perms, holding @want. */
static void check_map(const unsigned char *addr, const char *name, const char *perms,
		      const unsigned char *want)
{
	char path[PATH_MAX];
	struct test_vma v;
	int pg;

	test_path(path, sizeof(path), name);
	test_find_vma(addr, &v);
	if (v.start != (uintptr_t)addr || v.end - v.start != FILE_SIZE || v.off ||
	    strcmp(v.perms, perms) || strcmp(v.path, path))
		test_fail("mapping at %p is %" PRIxPTR "-%" PRIxPTR " %s %llx '%s', expected %s 0 '%s'",
			  (const void *)addr, v.start, v.end, v.perms, v.off, v.path, perms, path);
	pg = diff_page(addr, want);
	if (pg >= 0)
		test_fail("%s mapping page %d changed", name, pg);
}

/* File @name must hold @want, @what for the message. */
static void check_file(const char *name, const unsigned char *want, const char *what)
{
	char path[PATH_MAX];
	int pg;

	test_path(path, sizeof(path), name);
	if (test_read_file(path, (char *)buf, sizeof(buf)) != FILE_SIZE)
		test_fail("file '%s' is not %d bytes long", name, FILE_SIZE);
	pg = diff_page(buf, want);
	if (pg >= 0)
		test_fail("file '%s' page %d is not %s", name, pg, what);
}

static void check_private(const unsigned char *priv)
{
	check_map(priv, "private", "rw-p", priv_want);
	check_file("private", file_data, "as created: private writes reached it?");
}

static void check_shared(unsigned char *shared)
{
	check_map(shared, "shared", "rw-s", shared_want);
	check_file("shared", shared_want, "what was written through the mapping");
	/* A new write through the restored mapping must reach the file. */
	memset(shared + 7 * PAGE + 100, 0xc3, 1000);
	memset(shared_want + 7 * PAGE + 100, 0xc3, 1000);
	if (msync(shared, FILE_SIZE, MS_SYNC))
		test_fail("msync of the shared mapping failed: %s", strerror(errno));
	check_file("shared", shared_want, "as written through the mapping after restore");
}

int main(int argc, char **argv)
{
	unsigned char *priv, *shared;

	test_init(argc, argv);
	test_fill(file_data, FILE_SIZE, 1);

	priv = create_and_map("private", MAP_PRIVATE);
	memcpy(priv_want, file_data, FILE_SIZE);
	/* Copy-on-write whole pages 1, 5 and 15, and one byte of page 9. */
	test_fill(priv_want + 1 * PAGE, PAGE, 2);
	test_fill(priv_want + 5 * PAGE, PAGE, 3);
	test_fill(priv_want + 15 * PAGE, PAGE, 4);
	priv_want[9 * PAGE + 17] ^= 0xff;
	memcpy(priv + 1 * PAGE, priv_want + 1 * PAGE, PAGE);
	memcpy(priv + 5 * PAGE, priv_want + 5 * PAGE, PAGE);
	memcpy(priv + 15 * PAGE, priv_want + 15 * PAGE, PAGE);
	priv[9 * PAGE + 17] ^= 0xff;

	shared = create_and_map("shared", MAP_SHARED);
	memcpy(shared_want, file_data, FILE_SIZE);
	test_fill(shared_want + 2 * PAGE, 3 * PAGE, 5);
	shared_want[12 * PAGE + 4000] ^= 0xff;
	memcpy(shared + 2 * PAGE, shared_want + 2 * PAGE, 3 * PAGE);
	shared[12 * PAGE + 4000] ^= 0xff;

	check_private(priv);

	test_ready();
	test_wait();

	check_private(priv);
	check_shared(shared);
	test_pass();
}
