/* SPDX-License-Identifier: MIT */
/*
 * Three eventfds: a non-blocking one with counter 5, shared by a second fd (dup); a blocking
 * one in semaphore mode (EFD_SEMAPHORE) with counter 3 and FD_CLOEXEC; a non-blocking one whose
 * counter, 0x123456789ab, does not fit the unsigned int eventfd2 takes. After restore each fd
 * has the same fd and status flags and link, fdinfo shows the same flags, counter and mode;
 * the first reads 5 through the dup and then EAGAIN, and a value written to one fd is read from
 * the other; the semaphore reads 1 three times and is then not readable (poll); the third reads
 * its whole counter at once.
 * CRYO-TEST: cycles=2
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "lib.h"

#define BIG_COUNT 0x123456789abULL

struct efd {
	int fd;
	struct test_fd_state st;
	char info[512];
};

static void read_info(int fd, char *buf, size_t len)
{
	static const char *const keys[] = { "flags:", "eventfd-count:", "eventfd-semaphore:" };
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	test_status_lines(path, "", keys, sizeof(keys) / sizeof(keys[0]), buf, len);
}

static void capture(struct efd *e)
{
	test_fd_state(e->fd, &e->st);
	read_info(e->fd, e->info, sizeof(e->info));
}

static void check(const struct efd *e)
{
	char now[512], what[64];

	test_fd_check(e->fd, &e->st);
	read_info(e->fd, now, sizeof(now));
	snprintf(what, sizeof(what), "fdinfo of eventfd %d", e->fd);
	test_same_lines(what, e->info, now);
}

static uint64_t read_count(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
		test_fail("read eventfd %d: %s", fd, strerror(errno));
	return v;
}

static void write_count(int fd, uint64_t v)
{
	if (write(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
		test_fail("write eventfd %d: %s", fd, strerror(errno));
}

static void check_empty(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (poll(&p, 1, 0) != 0)
		test_fail("eventfd %d is still readable (revents %#x)", fd, p.revents);
}

int main(int argc, char **argv)
{
	struct efd plain, dup_fd, sem, big;
	uint64_t v;

	test_init(argc, argv);
	plain.fd = eventfd(5, EFD_NONBLOCK);
	sem.fd = eventfd(3, EFD_SEMAPHORE | EFD_CLOEXEC);
	big.fd = eventfd(0, EFD_NONBLOCK);
	if (plain.fd < 0 || sem.fd < 0 || big.fd < 0)
		test_fail("eventfd: %s", strerror(errno));
	dup_fd.fd = dup(plain.fd);
	if (dup_fd.fd < 0)
		test_fail("dup: %s", strerror(errno));
	write_count(big.fd, BIG_COUNT);
	capture(&plain);
	capture(&dup_fd);
	capture(&sem);
	capture(&big);

	test_ready();
	test_wait();

	check(&plain);
	check(&dup_fd);
	check(&sem);
	check(&big);
	if ((v = read_count(dup_fd.fd)) != 5)
		test_fail("eventfd counter %llu, want 5", (unsigned long long)v);
	if (read(plain.fd, &v, sizeof(v)) >= 0 || errno != EAGAIN)
		test_fail("eventfd not empty after reading its counter through the dup");
	write_count(plain.fd, 42);
	if ((v = read_count(dup_fd.fd)) != 42)
		test_fail("wrote 42 to fd %d, read %llu from its dup", plain.fd,
			  (unsigned long long)v);
	for (int i = 0; i < 3; i++)
		if ((v = read_count(sem.fd)) != 1)
			test_fail("semaphore read %d gave %llu, want 1", i, (unsigned long long)v);
	check_empty(sem.fd);
	if ((v = read_count(big.fd)) != BIG_COUNT)
		test_fail("big eventfd counter %#llx, want %#llx", (unsigned long long)v, BIG_COUNT);
	check_empty(big.fd);
	test_pass();
}
