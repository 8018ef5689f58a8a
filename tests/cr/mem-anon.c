/* SPDX-License-Identifier: MIT */
/*
 * State: anonymous mappings. A private mapping written in full; a MAP_SHARED|MAP_ANONYMOUS
 * mapping written in full (still shared with a child forked after restore); a sparse
 * 64 MiB mapping with a few pages written (the rest must read as zero); a PROT_NONE guard
 * between two writable mappings (same address and bounds, ---p, faults); an area written
 * and made read-only (r--p, same contents, writes fault) and one written and made PROT_NONE
 * (---p; readable again with the same contents after mprotect).
 */
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib.h"

#define PAGE 4096UL
#define PRIV_SIZE (256 * PAGE + 3 * PAGE)
#define SHARED_SIZE (64 * PAGE)
#define SPARSE_SIZE (64UL << 20)
#define SPARSE_STEP 97 /* every 97th page of the sparse mapping is written, and the last */
#define GUARD_SIDE (16 * PAGE)
#define GUARD_SIZE (8 * PAGE)
#define PROT_SIZE (8 * PAGE)

static void *map_anon(size_t len, int flags)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		test_fail("mmap of %zu bytes failed", len);
	return p;
}

/* A new read-write anonymous mapping filled from seed, and its checksum if ret_hash. */
static unsigned char *map_filled(size_t len, int flags, uint64_t seed, uint64_t *ret_hash)
{
	unsigned char *p = map_anon(len, flags);

	test_fill(p, len, seed);
	if (ret_hash)
		*ret_hash = test_hash(p, len);
	return p;
}

static void check_perms(const char *what, const void *addr, const char *perms)
{
	struct test_vma v;

	test_find_vma(addr, &v);
	if (strcmp(v.perms, perms))
		test_fail("%s at %p is %s in maps, expected %s", what, addr, v.perms, perms);
}

/* Does touching @addr in a child kill it with SIGSEGV? */
static int faults(volatile unsigned char *addr, int write)
{
	struct rlimit no_core = {0, 0};
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		test_fail("fork failed");
	if (pid == 0) {
		setrlimit(RLIMIT_CORE, &no_core);
		if (write)
			*addr = 1;
		else
			(void)*addr;
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid)
		test_fail("waitpid failed");
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV;
}

static void check_shared(unsigned char *shared, uint64_t hash)
{
	int status;
	pid_t pid;

	if (test_hash(shared, SHARED_SIZE) != hash)
		test_fail("shared anonymous mapping changed");
	check_perms("shared anonymous mapping", shared, "rw-s");
	pid = fork();
	if (pid < 0)
		test_fail("fork failed");
	if (pid == 0) {
		memset(shared + 5 * PAGE, 0xab, PAGE);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		test_fail("child writing the shared mapping failed");
	for (size_t i = 0; i < PAGE; i++)
		if (shared[5 * PAGE + i] != 0xab)
			test_fail("a child's write to the shared mapping is not seen: not shared");
}

static uint64_t sparse_word(size_t page)
{
	return 0x5eed000000000000ULL | page;
}

static int sparse_touched(size_t page)
{
	return page % SPARSE_STEP == 0 || page == SPARSE_SIZE / PAGE - 1;
}

static void write_sparse(uint64_t *sparse)
{
	for (size_t pg = 0; pg < SPARSE_SIZE / PAGE; pg++)
		if (sparse_touched(pg))
			for (size_t w = 0; w < PAGE / 8; w++)
				sparse[pg * PAGE / 8 + w] = sparse_word(pg) ^ w;
}

static void check_sparse(const uint64_t *sparse)
{
	for (size_t pg = 0; pg < SPARSE_SIZE / PAGE; pg++) {
		int touched = sparse_touched(pg);

		for (size_t w = 0; w < PAGE / 8; w++) {
			uint64_t want = touched ? sparse_word(pg) ^ w : 0;

			if (sparse[pg * PAGE / 8 + w] != want)
				test_fail("sparse mapping page %zu word %zu is %#" PRIx64
					  ", expected %#" PRIx64,
					  pg, w, sparse[pg * PAGE / 8 + w], want);
		}
	}
}

static void check_guard(unsigned char *area, uint64_t hash)
{
	unsigned char *guard = area + GUARD_SIDE;
	struct test_vma v;

	test_find_vma(guard, &v);
	if (v.start != (uintptr_t)guard || v.end != (uintptr_t)(guard + GUARD_SIZE) ||
	    strcmp(v.perms, "---p"))
		test_fail("guard is %" PRIxPTR "-%" PRIxPTR " %s in maps, expected %p-%p ---p",
			  v.start, v.end, v.perms, (void *)guard, (void *)(guard + GUARD_SIZE));
	check_perms("mapping below the guard", area, "rw-p");
	check_perms("mapping above the guard", guard + GUARD_SIZE, "rw-p");
	if (test_hash(area, GUARD_SIDE) + test_hash(guard + GUARD_SIZE, GUARD_SIDE) != hash)
		test_fail("the mappings around the guard changed");
	if (!faults(guard + GUARD_SIZE / 2, 0))
		test_fail("reading the guard does not fault");
}

int main(int argc, char **argv)
{
	unsigned char *priv, *shared, *guarded, *ro, *none;
	uint64_t priv_hash, shared_hash, guard_hash, ro_hash, none_hash;
	uint64_t *sparse;

	test_init(argc, argv);

	priv = map_filled(PRIV_SIZE, MAP_PRIVATE, 1, &priv_hash);
	shared = map_filled(SHARED_SIZE, MAP_SHARED, 2, &shared_hash);
	sparse = map_anon(SPARSE_SIZE, MAP_PRIVATE | MAP_NORESERVE);
	write_sparse(sparse);

	guarded = map_filled(2 * GUARD_SIDE + GUARD_SIZE, MAP_PRIVATE, 3, NULL);
	if (mprotect(guarded + GUARD_SIDE, GUARD_SIZE, PROT_NONE))
		test_fail("mprotect of the guard failed");
	guard_hash = test_hash(guarded, GUARD_SIDE) +
		     test_hash(guarded + GUARD_SIDE + GUARD_SIZE, GUARD_SIDE);

	ro = map_filled(PROT_SIZE, MAP_PRIVATE, 4, &ro_hash);
	none = map_filled(PROT_SIZE, MAP_PRIVATE, 5, &none_hash);
	if (mprotect(ro, PROT_SIZE, PROT_READ) || mprotect(none, PROT_SIZE, PROT_NONE))
		test_fail("mprotect failed");
	check_guard(guarded, guard_hash);

	test_ready();
	test_wait();

	if (test_hash(priv, PRIV_SIZE) != priv_hash)
		test_fail("private anonymous mapping changed");
	check_perms("private anonymous mapping", priv, "rw-p");
	check_shared(shared, shared_hash);
	check_sparse(sparse);
	check_guard(guarded, guard_hash);
	check_perms("read-only area", ro, "r--p");
	if (test_hash(ro, PROT_SIZE) != ro_hash)
		test_fail("read-only area changed");
	if (!faults(ro + PAGE, 1))
		test_fail("writing the read-only area does not fault");
	check_perms("PROT_NONE area", none, "---p");
	if (!faults(none, 0))
		test_fail("reading the PROT_NONE area does not fault");
	if (mprotect(none, PROT_SIZE, PROT_READ))
		test_fail("mprotect of the PROT_NONE area back to PROT_READ failed");
	if (test_hash(none, PROT_SIZE) != none_hash)
		test_fail("PROT_NONE area changed");
	test_pass();
}
