/* SPDX-License-Identifier: MIT */
/*
 * State: a big sparse anonymous mapping. Of a 1 GiB private mapping the first 32 MiB are
 * written in full and one word of every 64th page of the rest holds a value of its own;
 * after restore the dense part has the same checksum, every marked word its value and
 * every other byte of the mapping is zero.
 */
#include <inttypes.h>
#include <stdint.h>
#include <sys/mman.h>

#include "lib.h"

#define PAGE 4096UL
#define BIG_SIZE (1UL << 30)
#define DENSE_SIZE (32UL << 20)
#define STEP 64 /* pages between marked words */
#define WORDS (PAGE / 8)

/* Each marked page gets its value at a different word of the page. */
static size_t mark_word(size_t page)
{
	return (page / STEP * 7) % WORDS;
}

static uint64_t mark_value(size_t page)
{
	return 0x9e3779b97f4a7c15ULL * (page + 1);
}

static void check_sparse(const uint64_t *big)
{
	for (size_t pg = DENSE_SIZE / PAGE; pg < BIG_SIZE / PAGE; pg++) {
		const uint64_t *w = big + pg * WORDS;
		int marked = pg % STEP == 0;

		for (size_t i = 0; i < WORDS; i++) {
			uint64_t want = marked && i == mark_word(pg) ? mark_value(pg) : 0;

			if (w[i] != want)
				test_fail("page %zu word %zu is %#" PRIx64 ", expected %#" PRIx64,
					  pg, i, w[i], want);
		}
	}
}

int main(int argc, char **argv)
{
	uint64_t dense_hash, *big;

	test_init(argc, argv);
	big = mmap(NULL, BIG_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (big == MAP_FAILED)
		test_fail("mmap of 1 GiB failed");
	test_fill(big, DENSE_SIZE, 1);
	dense_hash = test_hash(big, DENSE_SIZE);
	for (size_t pg = DENSE_SIZE / PAGE; pg < BIG_SIZE / PAGE; pg += STEP)
		big[pg * WORDS + mark_word(pg)] = mark_value(pg);

	test_ready();
	test_wait();

	if (test_hash(big, DENSE_SIZE) != dense_hash)
		test_fail("the first 32 MiB changed");
	check_sparse(big);
	test_pass();
}
