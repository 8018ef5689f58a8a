/* SPDX-License-Identifier: MIT */
/*
 * Demo workload: prints "counter N (pid P), memory intact" every 0.5 s. N lives only in
 * memory, so after a checkpoint and restore it carries on from where it was. A 4 MiB heap
 * buffer of pseudo-random words is checked against a running checksum on every tick (and
 * one word of it changes each tick), so lost or corrupted memory would show at once.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define BUF_WORDS ((4u << 20) / sizeof(uint64_t))

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Each word's contribution depends on its position, so swapped or shifted pages show too. */
static uint64_t word_sum(size_t i, uint64_t w)
{
	return splitmix64(w ^ (i * 0x100000001b3ULL));
}

static uint64_t buf_sum(const uint64_t *buf)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < BUF_WORDS; i++)
		sum += word_sum(i, buf[i]);
	return sum;
}

static void sleep_half_second(void)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = 500000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int main(void)
{
	uint64_t *buf, sum = 0;
	unsigned long counter = 0;

	/* Fds leaked by whoever started us (a pipe of make or of a terminal session) are kinds cryo
	 * may refuse; the demo needs only stdin, stdout and stderr. */
	close_range(3, ~0U, 0);
	setvbuf(stdout, NULL, _IOLBF, 0);
	buf = malloc(BUF_WORDS * sizeof(uint64_t));
	if (!buf) {
		perror("counter: malloc");
		return 1;
	}
	for (size_t i = 0; i < BUF_WORDS; i++) {
		buf[i] = splitmix64(i);
		sum += word_sum(i, buf[i]);
	}

	for (;;) {
		size_t i = splitmix64(counter) % BUF_WORDS;

		counter++;
		if (buf_sum(buf) != sum) {
			printf("counter %lu (pid %d), MEMORY CORRUPTED\n", counter, getpid());
			return 1;
		}
		printf("counter %lu (pid %d), memory intact\n", counter, getpid());
		/* Change one word per tick so the checked contents are not only the initial ones. */
		sum -= word_sum(i, buf[i]);
		buf[i] = splitmix64(buf[i] + counter);
		sum += word_sum(i, buf[i]);
		sleep_half_second();
	}
}
