/* SPDX-License-Identifier: MIT */
/*
 * Benchmark workload: `memhog MIB READYFILE` maps MIB MiB of anonymous memory, writes every
 * page with non-zero data that differs from page to page (so every page is dirty, present
 * and non-zero, and no page can be skipped or deduplicated), creates READYFILE and sleeps.
 * On SIGUSR1 it checks every page and writes "ok" or "bad page N" to READYFILE.verify, so a
 * benchmark can tell that a restored copy holds the right data, outside its timings.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096u
#define WORDS_PER_PAGE (PAGE / sizeof(uint64_t))
#define MAX_MIB (1u << 20)

static volatile sig_atomic_t verify_requested;

static uint64_t word_at(size_t page, size_t i)
{
	uint64_t x = (uint64_t)page * WORDS_PER_PAGE + i + 0x9e3779b97f4a7c15ULL;

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return (x ^ (x >> 31)) | 1; /* never zero */
}

/* Returns the first bad page, or -1 when all are as written. */
static long check(const uint64_t *mem, size_t pages)
{
	for (size_t p = 0; p < pages; p++)
		for (size_t i = 0; i < WORDS_PER_PAGE; i++)
			if (mem[p * WORDS_PER_PAGE + i] != word_at(p, i))
				return (long)p;
	return -1;
}

static int write_file(const char *path, const char *text)
{
	char tmp[4096];
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text) || close(fd) < 0)
		return -EIO;
	/* Renamed into place so that a waiter never sees a half-written file. */
	return rename(tmp, path) < 0 ? -errno : 0;
}

static void on_usr1(int sig)
{
	(void)sig;
	verify_requested = 1;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	char verify_path[4096], text[64];
	unsigned long mib;
	uint64_t *mem;
	size_t pages;
	char *end;

	if (argc != 3) {
		fprintf(stderr, "usage: %s MIB READYFILE\n", argv[0]);
		return 2;
	}
	/* Fds leaked by whoever started us (a pipe of make, say) are kinds cryo may refuse. */
	close_range(3, ~0U, 0);
	mib = strtoul(argv[1], &end, 10);
	if (*end || mib == 0 || mib > MAX_MIB) {
		fprintf(stderr, "memhog: bad size '%s'\n", argv[1]);
		return 2;
	}
	if (snprintf(verify_path, sizeof(verify_path), "%s.verify", argv[2]) >=
	    (int)sizeof(verify_path)) {
		fprintf(stderr, "memhog: path too long\n");
		return 2;
	}
	pages = (size_t)mib * (1u << 20) / PAGE;
	mem = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		perror("memhog: mmap");
		return 1;
	}
	for (size_t p = 0; p < pages; p++)
		for (size_t i = 0; i < WORDS_PER_PAGE; i++)
			mem[p * WORDS_PER_PAGE + i] = word_at(p, i);

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) < 0) {
		perror("memhog: sigaction");
		return 1;
	}
	snprintf(text, sizeof(text), "%d\n", getpid());
	if (write_file(argv[2], text) < 0) {
		fprintf(stderr, "memhog: can't create '%s'\n", argv[2]);
		return 1;
	}
	for (;;) {
		long bad;

		pause();
		if (!verify_requested)
			continue;
		verify_requested = 0;
		bad = check(mem, pages);
		if (bad < 0)
			snprintf(text, sizeof(text), "ok\n");
		else
			snprintf(text, sizeof(text), "bad page %ld\n", bad);
		if (write_file(verify_path, text) < 0)
			return 1;
	}
}
