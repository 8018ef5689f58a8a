/* SPDX-License-Identifier: MIT */
/*
 * An eventfd with counter 5, which the engine does not dump: the dump must fail with an error
 * and leave the process running as it was. After SIGUSR2 the eventfd must have the same flags
 * and reading it must give 5 and then EAGAIN, memory must hold the same data, and the memory
 * map, signal masks and dispositions and open fds must be those from before the dump.
 * CRYO-TEST: expect=dump-fail
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "lib.h"

#define SNAP_MAX (64 * 1024)
#define MEM_SIZE (1024 * 1024)
#define COUNT 5

/* Append the contents of a /proc file to buf. */
static size_t append_file(char *buf, size_t used, size_t len, const char *path)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		test_fail("open '%s': %s", path, strerror(errno));
	while ((n = read(fd, buf + used, len - used - 1)) > 0)
		used += (size_t)n;
	if (n < 0 || used >= len - 1)
		test_fail("read '%s': %s", path, n < 0 ? strerror(errno) : "too big");
	close(fd);
	buf[used] = '\0';
	return used;
}

/* Append the signal mask and dispositions of every thread, from its status file. */
static size_t append_sig_lines(char *buf, size_t used, size_t len)
{
	static const char *const keys[] = { "\nSigBlk:", "\nSigIgn:", "\nSigCgt:" };
	char path[300], status[8192];
	struct dirent *de;
	DIR *d;

	d = opendir("/proc/self/task");
	if (!d)
		test_fail("opendir /proc/self/task: %s", strerror(errno));
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/status", de->d_name);
		append_file(status, 0, sizeof(status), path);
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			const char *s = strstr(status, keys[i]);

			if (!s)
				test_fail("no '%s' in '%s'", keys[i] + 1, path);
			used += snprintf(buf + used, len - used, "%s %.*s\n", de->d_name,
					 (int)strcspn(s + 1, "\n"), s + 1);
			if (used >= len)
				test_fail("snapshot too big");
		}
	}
	closedir(d);
	return used;
}

/* Append "fd N -> target" for every open fd. */
static size_t append_fds(char *buf, size_t used, size_t len)
{
	char path[300], target[256];
	struct dirent *de;
	ssize_t n;
	DIR *d;

	d = opendir("/proc/self/fd");
	if (!d)
		test_fail("opendir /proc/self/fd: %s", strerror(errno));
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || atoi(de->d_name) == dirfd(d))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		if (n < 0)
			test_fail("readlink '%s': %s", path, strerror(errno));
		used += snprintf(buf + used, len - used, "fd %s -> %.*s\n", de->d_name, (int)n,
				 target);
		if (used >= len)
			test_fail("snapshot too big");
	}
	closedir(d);
	return used;
}

/*
 * What a failed dump must leave as it found it: the signal masks and dispositions, the open
 * fds and the memory map (no leftover mappings of the dumper). The map is read last, once
 * opendir() has made the heap exist.
 */
static void snapshot(char *buf, size_t len)
{
	size_t used;

	used = append_sig_lines(buf, 0, len);
	used = append_fds(buf, used, len);
	append_file(buf, used, len, "/proc/self/maps");
}

static void check_snapshot(const char *before)
{
	static char now[SNAP_MAX];
	size_t i = 0, line = 0;

	snapshot(now, sizeof(now));
	if (!strcmp(now, before))
		return;
	while (now[i] == before[i]) {
		if (now[i] == '\n')
			line = i + 1;
		i++;
	}
	test_fail("process state changed: '%.*s' became '%.*s'", (int)strcspn(before + line, "\n"),
		  before + line, (int)strcspn(now + line, "\n"), now + line);
}

int main(int argc, char **argv)
{
	static unsigned char mem[MEM_SIZE];
	static char before[SNAP_MAX];
	int efd, fl_flags;
	uint64_t hash, v;

	test_init(argc, argv);
	for (size_t i = 0; i < MEM_SIZE; i++)
		mem[i] = (unsigned char)(i * 5 + (i >> 12));
	hash = test_hash(mem, MEM_SIZE);
	efd = eventfd(COUNT, EFD_NONBLOCK);
	if (efd < 0)
		test_fail("eventfd: %s", strerror(errno));
	fl_flags = fcntl(efd, F_GETFL);
	snapshot(before, sizeof(before));

	test_ready();
	test_wait();

	check_snapshot(before);
	if (fcntl(efd, F_GETFL) != fl_flags)
		test_fail("fd %d: F_GETFL %#o, was %#o", efd, fcntl(efd, F_GETFL), fl_flags);
	if (read(efd, &v, sizeof(v)) != (ssize_t)sizeof(v))
		test_fail("read eventfd: %s", strerror(errno));
	if (v != COUNT)
		test_fail("eventfd counter %llu, want %d", (unsigned long long)v, COUNT);
	if (read(efd, &v, sizeof(v)) >= 0 || errno != EAGAIN)
		test_fail("eventfd not empty after reading its counter");
	if (test_hash(mem, MEM_SIZE) != hash)
		test_fail("memory contents changed");
	test_pass();
}
