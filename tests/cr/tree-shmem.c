/* SPDX-License-Identifier: MIT */
/*
 * Shared anonymous memory across a fork: a 1 MiB MAP_SHARED | MAP_ANONYMOUS region that the
 * root R maps before forking children A and B. R writes pages 0-63 before the fork and
 * pages 128-191 after it; A writes pages 64-127 and page 200 after the fork, and overwrites
 * page 10; B only reads; the other pages are never touched and read as zeros.
 * After restore, told step by step by R over a pipe of each: in each of R, A and B the
 * region is at its address, "rw-s", and holds every page as written; then a page written
 * by A is seen by R and B, one written by R by A and B, and one written by B by R and A.
 * CRYO-TEST: cycles=2
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib.h"

#define PAGE 4096
#define NR_PAGES 256
#define REGION_SIZE (NR_PAGES * PAGE)
#define A_ONLY_PAGE 200
#define OVERWRITTEN_PAGE 10
#define WHY_MAX 256
#define REPORT_TIMEOUT_MS 10000

enum role { R, A, B, NR_ROLES };

static const char *const role_names[NR_ROLES] = { "R", "A", "B" };

struct command {
	char op;
	int page;
	unsigned seed;
};

struct report {
	int role;
	char why[WHY_MAX];
};

static enum role me;
static pid_t pids[NR_ROLES];
static int cmd[NR_ROLES][2];
static int rep[2];
static unsigned char *region;
static struct test_vma region_was;
static char why[WHY_MAX]; /* the first problem found since the last report */

#define note(...) test_note(why, sizeof(why), __VA_ARGS__)

/* The seed page @i was last written with before the dump by R or A; 0 for a zero page. */
static unsigned page_seed(int i)
{
	if (i == OVERWRITTEN_PAGE || (i >= 64 && i < 128) || i == A_ONLY_PAGE)
		return 2000 + i; /* A's, after the fork */
	if (i < 64)
		return 1000 + i; /* R's, before the fork */
	if (i >= 128 && i < 192)
		return 3000 + i; /* R's, after the fork */
	return 0;
}

static void write_page(int i, unsigned seed)
{
	test_fill(region + (size_t)i * PAGE, PAGE, seed);
}

static void check_page(int i, unsigned seed)
{
	static const unsigned char zero[PAGE];
	unsigned char want[PAGE];
	const unsigned char *p = region + (size_t)i * PAGE;

	if (seed)
		test_fill(want, PAGE, seed);
	else
		memset(want, 0, PAGE);
	if (!memcmp(p, want, PAGE))
		return;
	/* Which of the writes before the dump it holds, if any: a lost or misplaced write. */
	for (unsigned s = 1000; s < 4000; s += 1000) {
		test_fill(want, PAGE, s + (unsigned)i);
		if (!memcmp(p, want, PAGE)) {
			note("%s: page %d holds the data of seed %u, want %s seed %u",
			     role_names[me], i, s + (unsigned)i, seed ? "the data of" : "zeros,",
			     seed);
			return;
		}
	}
	if (!memcmp(p, zero, PAGE))
		note("%s: page %d is zeros, want the data of seed %u", role_names[me], i, seed);
	else
		note("%s: page %d differs (checksum %#llx), want %s seed %u", role_names[me], i,
		     (unsigned long long)test_hash(p, PAGE), seed ? "the data of" : "zeros,", seed);
}

static void check_region(void)
{
	struct test_vma now;

	test_find_vma(region, &now);
	if (now.start != region_was.start || now.end != region_was.end ||
	    strcmp(now.perms, "rw-s"))
		note("%s: the region is %#lx-%#lx %s, was %#lx-%#lx %s", role_names[me],
		     (unsigned long)now.start, (unsigned long)now.end, now.perms,
		     (unsigned long)region_was.start, (unsigned long)region_was.end,
		     region_was.perms);
	for (int i = 0; i < NR_PAGES && !why[0]; i++)
		check_page(i, page_seed(i));
}

static void obey(const struct command *c)
{
	switch (c->op) {
	case 'v':
		check_region();
		break;
	case 'c':
		check_page(c->page, c->seed);
		break;
	case 'w':
		write_page(c->page, c->seed);
		break;
	case 'x':
		_exit(0);
	default:
		note("unknown command '%c'", c->op);
	}
}

/* ---- The children */

static __attribute__((noreturn)) void child(enum role role)
{
	struct report r = { .role = role };
	struct command c;

	me = role;
	for (int i = 1; i < NR_ROLES; i++) {
		close(cmd[i][1]);
		if (i != (int)role)
			close(cmd[i][0]);
	}
	close(rep[0]);
	if (role == A) {
		for (int i = 0; i < NR_PAGES; i++)
			if (page_seed(i) >= 2000 && page_seed(i) < 3000)
				write_page(i, page_seed(i));
	}
	for (;;) {
		snprintf(r.why, sizeof(r.why), "%s", why);
		why[0] = '\0';
		test_send_recv(rep[1], &r, sizeof(r), cmd[role][0], &c, sizeof(c));
		obey(&c);
	}
}

/* ---- R */

/* Fail, killing the descendants first. */
#define fail_tree(...) test_fail_killing(pids + 1, NR_ROLES - 1, __VA_ARGS__)

static void check_mine(void)
{
	if (why[0])
		fail_tree("%s", why);
}

static enum role read_report(void)
{
	struct report r;
	const char *err = test_read_msg(rep[0], &r, sizeof(r), REPORT_TIMEOUT_MS);

	if (err)
		fail_tree("report pipe from the children: %s", err);
	if (r.role <= R || r.role >= NR_ROLES)
		fail_tree("a report from unknown role %d", r.role);
	if (r.why[0])
		fail_tree("%s", r.why);
	return r.role;
}

static void ask(enum role to, char op, int page, unsigned seed)
{
	struct command c = { .op = op, .page = page, .seed = seed };

	if (write(cmd[to][1], &c, sizeof(c)) != sizeof(c))
		fail_tree("command to %s: %s", role_names[to], strerror(errno));
	if (read_report() != to)
		fail_tree("a report from another child than %s", role_names[to]);
}

/* The page written by @who must be seen by everyone. */
static void write_and_see(enum role who, int page, unsigned seed)
{
	if (who == R)
		write_page(page, seed);
	else
		ask(who, 'w', page, seed);
	for (int i = 0; i < NR_ROLES; i++) {
		if (i == R)
			check_page(page, seed);
		else
			ask(i, 'c', page, seed);
		check_mine();
	}
}

static void setup(void)
{
	region = mmap(NULL, REGION_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
		      0);
	if (region == MAP_FAILED)
		test_fail("mmap: %s", strerror(errno));
	test_find_vma(region, &region_was);
	for (int i = 0; i < NR_PAGES; i++)
		if (page_seed(i) >= 1000 && page_seed(i) < 2000)
			write_page(i, page_seed(i));
	/* What A overwrites. */
	write_page(OVERWRITTEN_PAGE, 1000 + OVERWRITTEN_PAGE);
	if (pipe2(rep, 0))
		test_fail("pipe2: %s", strerror(errno));
	for (int i = 1; i < NR_ROLES; i++)
		if (pipe2(cmd[i], 0))
			test_fail("pipe2: %s", strerror(errno));
	pids[R] = getpid();
	for (int i = 1; i < NR_ROLES; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			fail_tree("fork: %s", strerror(errno));
		if (pids[i] == 0)
			child(i);
	}
	close(rep[1]);
	for (int i = 1; i < NR_ROLES; i++)
		close(cmd[i][0]);
	for (int i = 0; i < NR_PAGES; i++)
		if (page_seed(i) >= 3000)
			write_page(i, page_seed(i));
	for (int i = 1; i < NR_ROLES; i++)
		read_report();
	/* A has written its pages: everyone sees all of them already. */
	check_region();
	check_mine();
	ask(A, 'v', 0, 0);
	ask(B, 'v', 0, 0);
}

int main(int argc, char **argv)
{
	test_init(argc, argv);
	setup();

	test_ready();
	test_wait();

	check_region();
	check_mine();
	ask(A, 'v', 0, 0);
	ask(B, 'v', 0, 0);
	write_and_see(A, 220, 5000);
	write_and_see(R, 230, 6000);
	write_and_see(B, 240, 7000);
	write_and_see(A, 0, 8000);
	test_end_children(pids + 1, cmd + 1, role_names + 1, NR_ROLES - 1,
			  &(struct command){ .op = 'x' }, sizeof(struct command));
	test_pass();
}
