/* SPDX-License-Identifier: MIT */
/*
 * `limits [DIR]`: this machine's ceilings for checkpointing memory, to read cryo's figures
 * against. memcpy: 1 GiB copied in 64 MiB chunks between two pre-faulted buffers. Page-cache
 * write: 1 GiB written with 8 MiB write()s to a new file in DIR (where images go), without
 * fsync, then unlinked. Best of 3 each; GB = 10^9 bytes. The first write is reported too: in a
 * VM whose host backs guest memory lazily (and takes freed pages back), page cache made of new
 * memory is many times slower than recycled memory, and a dump of gigabytes meets the former.
 * Prints one line:
 *   memcpy 10.52 GB/s, page-cache write 3.10 GB/s (first write 0.45 GB/s)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TOTAL (1ull << 30)
#define CHUNK (64ull << 20)
#define WCHUNK (8ull << 20)
#define ROUNDS 3

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double memcpy_rate(void)
{
	char *src = malloc(CHUNK), *dst = malloc(CHUNK);
	double best = 0;

	if (!src || !dst)
		return -1;
	/* Fault both buffers in, with non-zero data, before timing. */
	for (size_t i = 0; i < CHUNK; i++)
		src[i] = (char)(i * 131 + 7);
	memset(dst, 1, CHUNK);
	for (int r = 0; r < ROUNDS; r++) {
		double t = now(), dt;

		for (unsigned long long done = 0; done < TOTAL; done += CHUNK) {
			memcpy(dst, src, CHUNK);
			/* Keep the copy: the compiler can't see who reads dst. */
			__asm__ volatile("" : : "r"(dst) : "memory");
		}
		dt = now() - t;
		if (TOTAL / dt > best)
			best = TOTAL / dt;
	}
	free(src);
	free(dst);
	return best;
}

static double write_rate(const char *dir, double *first)
{
	char path[4096];
	double best = 0;
	char *buf = malloc(WCHUNK);

	if (!buf || snprintf(path, sizeof(path), "%s/limits.XXXXXX", dir) >= (int)sizeof(path))
		return -1;
	for (size_t i = 0; i < WCHUNK; i++)
		buf[i] = (char)(i * 131 + 7);
	for (int r = 0; r < ROUNDS; r++) {
		char name[4096];
		double t, dt;
		int fd;

		strcpy(name, path);
		fd = mkstemp(name);
		if (fd < 0) {
			perror("limits: mkstemp");
			return -1;
		}
		t = now();
		for (unsigned long long done = 0; done < TOTAL; done += WCHUNK) {
			if (write(fd, buf, WCHUNK) != (ssize_t)WCHUNK) {
				perror("limits: write");
				unlink(name);
				return -1;
			}
		}
		dt = now() - t;
		close(fd);
		unlink(name);
		if (r == 0)
			*first = TOTAL / dt;
		if (TOTAL / dt > best)
			best = TOTAL / dt;
	}
	free(buf);
	return best;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : ".";
	double mc, wr, first = 0;

	/* The write goes first, so that it meets the page cache as a dump would. */
	wr = write_rate(dir, &first);
	mc = memcpy_rate();
	if (mc < 0 || wr < 0) {
		fprintf(stderr, "limits: measurement failed\n");
		return 1;
	}
	printf("memcpy %.2f GB/s, page-cache write %.2f GB/s (first write %.2f GB/s)\n", mc / 1e9,
	       wr / 1e9, first / 1e9);
	return 0;
}
