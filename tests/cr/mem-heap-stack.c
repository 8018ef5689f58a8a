/* SPDX-License-Identifier: MIT */
/*
 * State: the heap and the stack. Small malloc blocks (glibc serves them from the brk heap),
 * a region taken directly with sbrk(), a large malloc block (served by mmap) and four pages
 * of a local array in a non-inlined frame keep their contents; the program break is the
 * same for glibc (sbrk(0)) and for the kernel (brk(0)), and the heap still grows and
 * shrinks, and malloc still works on the restored arena.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib.h"

#define N_SMALL 512
#define SBRK_SIZE (256 * 1024 + 123)
#define BIG_SIZE (8 * 1024 * 1024 + 4096 * 3)
#define STACK_SIZE (4 * 4096 + 100)

static unsigned char *small[N_SMALL];
static size_t small_len[N_SMALL];
static uint64_t small_hash[N_SMALL];

static void *kernel_brk(void)
{
	return (void *)syscall(SYS_brk, 0);
}

static void check_brk_works(void *end)
{
	unsigned char *p = sbrk(3 * 4096);

	if (p == (void *)-1)
		test_fail("sbrk can't grow the heap after restore");
	if ((void *)p != end)
		test_fail("sbrk grew the heap at %p, expected %p", (void *)p, end);
	memset(p, 0x5a, 3 * 4096);
	if (kernel_brk() != (void *)(p + 3 * 4096))
		test_fail("kernel brk %p after growing, expected %p", kernel_brk(),
			  (void *)(p + 3 * 4096));
	if (sbrk(-3 * 4096) == (void *)-1 || kernel_brk() != end)
		test_fail("can't shrink the heap back to %p", end);
}

static void check_malloc_works(void)
{
	for (int i = 0; i < N_SMALL; i++)
		free(small[i]);
	for (int i = 0; i < N_SMALL; i++) {
		small[i] = malloc(small_len[i]);
		if (!small[i])
			test_fail("malloc of %zu bytes failed after restore", small_len[i]);
		memset(small[i], i, small_len[i]);
	}
	for (int i = 0; i < N_SMALL; i++)
		free(small[i]);
}

/* The stack array lives in this frame, below main's, while the process is dumped. */
static __attribute__((noinline)) void stack_frame(unsigned char *brk_area, unsigned char *big)
{
	unsigned char stack[STACK_SIZE];
	uint64_t stack_hash, sbrk_hash, big_hash;
	void *end, *kend;

	test_fill(stack, sizeof(stack), 3);
	stack_hash = test_hash(stack, sizeof(stack));
	sbrk_hash = test_hash(brk_area, SBRK_SIZE);
	big_hash = test_hash(big, BIG_SIZE);
	end = sbrk(0);
	kend = kernel_brk();
	if (end != kend)
		test_fail("sbrk(0) %p and kernel brk %p differ before the dump", end, kend);

	test_ready();
	test_wait();

	/* First, before anything below can move the break. */
	if (sbrk(0) != end)
		test_fail("sbrk(0) is %p, was %p", sbrk(0), end);
	if (kernel_brk() != end)
		test_fail("kernel brk is %p, was %p", kernel_brk(), end);
	if (test_hash(stack, sizeof(stack)) != stack_hash)
		test_fail("stack array at %p changed", (void *)stack);
	if (test_hash(brk_area, SBRK_SIZE) != sbrk_hash)
		test_fail("sbrk area at %p changed", (void *)brk_area);
	if (test_hash(big, BIG_SIZE) != big_hash)
		test_fail("large malloc block at %p changed", (void *)big);
	for (int i = 0; i < N_SMALL; i++)
		if (test_hash(small[i], small_len[i]) != small_hash[i])
			test_fail("malloc block %d (%zu bytes at %p) changed", i, small_len[i],
				  (void *)small[i]);
	check_brk_works(end);
	check_malloc_works();
	free(big);
}

int main(int argc, char **argv)
{
	unsigned char *brk_area, *big;
	void *heap_start;

	test_init(argc, argv);
	heap_start = sbrk(0);
	for (int i = 0; i < N_SMALL; i++) {
		small_len[i] = 16 + (size_t)(i * 37) % 2000;
		small[i] = malloc(small_len[i]);
		if (!small[i])
			test_fail("malloc of %zu bytes failed", small_len[i]);
		test_fill(small[i], small_len[i], 100 + (uint64_t)i);
		small_hash[i] = test_hash(small[i], small_len[i]);
	}
	for (int i = 0; i < N_SMALL; i++)
		if ((void *)small[i] < heap_start || (void *)small[i] >= sbrk(0))
			test_fail("malloc block %d at %p is not on the brk heap", i,
				  (void *)small[i]);
	brk_area = sbrk(SBRK_SIZE);
	if (brk_area == (void *)-1)
		test_fail("sbrk failed");
	test_fill(brk_area, SBRK_SIZE, 1);
	big = malloc(BIG_SIZE);
	if (!big)
		test_fail("malloc of %d bytes failed", BIG_SIZE);
	if ((void *)big < sbrk(0) && (void *)big >= heap_start)
		test_fail("large malloc block is on the brk heap, expected mmap");
	test_fill(big, BIG_SIZE, 2);
	stack_frame(brk_area, big);
	test_pass();
}
