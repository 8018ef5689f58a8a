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
#include <stdint.h>
#include <stdio.h>
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
static unsigned char buf[FILE_SIZE];
static char maps_buf[1 << 20];

static void fill(unsigned char *p, size_t len, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)x;
	}
}

static void path_of(char *path, size_t size, const char *name)
{
	snprintf(path, size, "%s/%s", test_dir(), name);
}

static unsigned char *create_and_map(const char *name, int flags)
{
	char path[4096];
	void *p;
	int fd;

	path_of(path, sizeof(path), name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		test_fail("can't create '%s': %s", path, strerror(errno));
	if (pwrite(fd, file_data, FILE_SIZE, 0) != FILE_SIZE)
		test_fail("can't write '%s'", path);
	p = mmap(NULL, FILE_SIZE, PROT_READ | PROT_WRITE, flags, fd, 0);
	if (p == MAP_FAILED)
		test_fail("can't map '%s': %s", path, strerror(errno));
	close(fd);
	return p;
}

static void read_file(const char *name, unsigned char *data)
{
	char path[4096];
	int fd;

	path_of(path, sizeof(path), name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		test_fail("can't open '%s': %s", path, strerror(errno));
	if (pread(fd, data, FILE_SIZE, 0) != FILE_SIZE)
		test_fail("can't read '%s'", path);
	close(fd);
}

/* The first page that differs, for messages; -1 if none. */
static int diff_page(const unsigned char *a, const unsigned char *b)
{
	for (int i = 0; i < NPAGES; i++)
		if (memcmp(a + i * PAGE, b + i * PAGE, PAGE))
			return i;
	return -1;
}

/* The mapping at @addr must be the whole of file @name with permissions @perms. */
static void check_maps(const void *addr, const char *name, const char *perms)
{
	char p[5], path[4096], want[4096];
	uintptr_t start, end;
	unsigned long long off;
	ssize_t n, len = 0;
	char *line;
	int fd;

	fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		test_fail("can't open /proc/self/maps");
	while ((n = read(fd, maps_buf + len, sizeof(maps_buf) - 1 - (size_t)len)) > 0)
		len += n;
	close(fd);
	maps_buf[len] = '\0';
	path_of(want, sizeof(want), name);
	for (line = maps_buf; *line; line = strchr(line, '\n') + 1) {
		path[0] = '\0';
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %4s %llx %*s %*s %4095[^\n]", &start,
			   &end, p, &off, path) < 4 ||
		    !strchr(line, '\n'))
			test_fail("bad line in /proc/self/maps: %.80s", line);
		if (start != (uintptr_t)addr)
			continue;
		if (end - start != FILE_SIZE || off || strcmp(p, perms) || strcmp(path, want))
			test_fail("mapping at %p is %.*s, expected %s 0 %s", addr,
				  (int)(strchr(line, '\n') - line), line, perms, want);
		return;
	}
	test_fail("no mapping at %p", addr);
}

static void check_private(const unsigned char *priv)
{
	int pg;

	check_maps(priv, "private", "rw-p");
	pg = diff_page(priv, priv_want);
	if (pg >= 0)
		test_fail("private mapping page %d changed", pg);
	read_file("private", buf);
	pg = diff_page(buf, file_data);
	if (pg >= 0)
		test_fail("file 'private' page %d changed: private writes reached it?", pg);
}

static void check_shared(unsigned char *shared)
{
	int pg;

	check_maps(shared, "shared", "rw-s");
	pg = diff_page(shared, shared_want);
	if (pg >= 0)
		test_fail("shared mapping page %d changed", pg);
	read_file("shared", buf);
	pg = diff_page(buf, shared_want);
	if (pg >= 0)
		test_fail("file 'shared' page %d differs from what was written through the mapping",
			  pg);
	/* A new write through the restored mapping must reach the file. */
	memset(shared + 7 * PAGE + 100, 0xc3, 1000);
	memset(shared_want + 7 * PAGE + 100, 0xc3, 1000);
	if (msync(shared, FILE_SIZE, MS_SYNC))
		test_fail("msync of the shared mapping failed: %s", strerror(errno));
	read_file("shared", buf);
	pg = diff_page(buf, shared_want);
	if (pg >= 0)
		test_fail("page %d of file 'shared': a new write through the mapping is missing",
			  pg);
}

int main(int argc, char **argv)
{
	unsigned char *priv, *shared;

	test_init(argc, argv);
	fill(file_data, FILE_SIZE, 1);

	priv = create_and_map("private", MAP_PRIVATE);
	memcpy(priv_want, file_data, FILE_SIZE);
	/* Copy-on-write whole pages 1, 5 and 15, and one byte of page 9. */
	fill(priv_want + 1 * PAGE, PAGE, 2);
	fill(priv_want + 5 * PAGE, PAGE, 3);
	fill(priv_want + 15 * PAGE, PAGE, 4);
	priv_want[9 * PAGE + 17] ^= 0xff;
	memcpy(priv + 1 * PAGE, priv_want + 1 * PAGE, PAGE);
	memcpy(priv + 5 * PAGE, priv_want + 5 * PAGE, PAGE);
	memcpy(priv + 15 * PAGE, priv_want + 15 * PAGE, PAGE);
	priv[9 * PAGE + 17] ^= 0xff;

	shared = create_and_map("shared", MAP_SHARED);
	memcpy(shared_want, file_data, FILE_SIZE);
	fill(shared_want + 2 * PAGE, 3 * PAGE, 5);
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
