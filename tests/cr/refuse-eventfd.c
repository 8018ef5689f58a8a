/* SPDX-License-Identifier: MIT */
/*
 * An eventfd with counter 5, which the engine does not dump: the dump must fail with an error
 * and leave the process running as it was. After SIGUSR2 the eventfd must have the same flags
 * and reading it must give 5 and then EAGAIN, memory must hold the same data, and the memory
 * map, signal masks and dispositions and open fds must be those from before the dump.
 * CRYO-TEST: expect=dump-fail
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "lib.h"

#define MEM_SIZE (1024 * 1024)
#define COUNT 5

int main(int argc, char **argv)
{
	static unsigned char mem[MEM_SIZE];
	const struct test_snapshot *before;
	int efd, fl_flags;
	uint64_t hash, v;

	test_init(argc, argv);
	test_fill(mem, MEM_SIZE, 1);
	hash = test_hash(mem, MEM_SIZE);
	efd = eventfd(COUNT, EFD_NONBLOCK);
	if (efd < 0)
		test_fail("eventfd: %s", strerror(errno));
	fl_flags = fcntl(efd, F_GETFL);
	before = test_snapshot_take();

	test_ready();
	test_wait();

	test_snapshot_check(before);
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
