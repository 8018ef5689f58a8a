/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib.h"

static const char *state_dir;
static int state_fd = -1; /* the state dir, still reachable after chdir or chroot */
static volatile sig_atomic_t got_usr2;

static void on_usr2(int sig)
{
	(void)sig;
	got_usr2 = 1;
}

void test_init(int argc, char **argv)
{
	struct sigaction sa;

	if (argc < 2) {
		fprintf(stderr, "usage: %s STATEDIR\n", argv[0]);
		exit(2);
	}
	state_dir = argv[1];
	/* Whatever the caller leaked to us is not part of the state under test. */
	close_range(3, ~0U, 0);
	state_fd = open(state_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (state_fd < 0) {
		fprintf(stderr, "can't open '%s': %s\n", state_dir, strerror(errno));
		exit(2);
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr2;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);
}

const char *test_dir(void)
{
	return state_dir;
}

void test_ready(void)
{
	int fd = openat(state_fd, "ready", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		test_fail("can't create '%s/ready': %s", state_dir, strerror(errno));
	close(fd);
}

int test_signalled(void)
{
	return got_usr2;
}

void test_wait(void)
{
	while (!got_usr2)
		pause();
}

void test_pass(void)
{
	printf("PASS\n");
	exit(0);
}

void test_fail(const char *fmt, ...)
{
	va_list ap;

	printf("FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	exit(1);
}

void test_msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

uint64_t test_hash(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}
