/* SPDX-License-Identifier: MIT */
/*
 * Copy-on-write sharing measured. The root R fills a 16 MiB private anonymous buffer and
 * forks four children, which only read it but for the last, which overwrites one page; the
 * sum over the five processes of the Pss of the buffer's mapping (/proc/PID/smaps) is then
 * about 16 MiB, where unshared copies would make 80.
 * After restore the sum must be what it was (at most 5% and 64 KiB more), the pages files
 * of each image directory of the test between 1 and 1.5 times the buffer (the pages
 * written once, not once per process), every process must have the CPU affinity it had,
 * and each process's buffer must hold its bytes: the children say so when R tells them to
 * exit.
 * CRYO-TEST: cycles=2
 */
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib.h"

#define BUF_LEN (16UL << 20)
#define NR_CHILDREN 4
#define SEED 0xc0ffee
#define WRITER_PAGE 100

static char *buf;
static uint64_t hash_parent, hash_writer;
static pid_t pids[NR_CHILDREN];
static int cmd[NR_CHILDREN][2];
static int rep[2]; /* children -> R: set up */

/* Pss of @pid's mapping that starts at @start, in KiB. */
static long pss_kb(pid_t pid, uintptr_t start)
{
	char path[64], line[512], head[32];
	long kb = -1;
	bool in = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	snprintf(head, sizeof(head), "%lx-", (unsigned long)start);
	f = fopen(path, "re");
	if (!f)
		test_fail_killing(pids, NR_CHILDREN, "can't open '%s': %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (strchr(line, '-') && strchr(line, ' ') && strchr(line, '-') < strchr(line, ' '))
			in = !strncmp(line, head, strlen(head));
		else if (in && sscanf(line, "Pss: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	if (kb < 0)
		test_fail_killing(pids, NR_CHILDREN, "'%s': no Pss for the mapping at %lx", path,
				  (unsigned long)start);
	return kb;
}

/* @pid's CPU affinity must be @want: a restore leaves no process on cryo's CPU alone. */
static void check_affinity(pid_t pid, const cpu_set_t *want)
{
	cpu_set_t cpus;

	if (sched_getaffinity(pid, sizeof(cpus), &cpus))
		test_fail_killing(pids, NR_CHILDREN, "sched_getaffinity(%d): %s", pid, strerror(errno));
	if (!CPU_EQUAL(&cpus, want))
		test_fail_killing(pids, NR_CHILDREN, "task %d: on %d CPUs, was on %d", pid,
				  CPU_COUNT(&cpus), CPU_COUNT(want));
}

static long tree_pss_kb(void)
{
	long sum = pss_kb(getpid(), (uintptr_t)buf);

	for (int i = 0; i < NR_CHILDREN; i++)
		sum += pss_kb(pids[i], (uintptr_t)buf);
	return sum;
}

/* Bytes of the pages-*.img files in image directory @dir. */
static long long pages_bytes(const char *dir)
{
	long long sum = 0;
	struct dirent *de;
	DIR *img = opendir(dir);

	if (!img)
		test_fail_killing(pids, NR_CHILDREN, "opendir('%s'): %s", dir, strerror(errno));
	while ((de = readdir(img))) {
		struct stat st;

		if (!strncmp(de->d_name, "pages-", 6) && fstatat(dirfd(img), de->d_name, &st, 0) == 0)
			sum += st.st_size;
	}
	closedir(img);
	return sum;
}

/* Every STATEDIR/img.* directory: its pages written once for the tree, not per process. */
static void check_pages(void)
{
	DIR *top = opendir(test_dir());
	struct dirent *de;
	int dirs = 0;

	if (!top)
		test_fail_killing(pids, NR_CHILDREN, "opendir('%s'): %s", test_dir(), strerror(errno));
	while ((de = readdir(top))) {
		char path[PATH_MAX];
		long long n;

		if (strncmp(de->d_name, "img.", 4))
			continue;
		snprintf(path, sizeof(path), "%s/%s", test_dir(), de->d_name);
		n = pages_bytes(path);
		if (n < (long long)BUF_LEN || n > (long long)BUF_LEN * 3 / 2)
			test_fail_killing(pids, NR_CHILDREN, "'%s': pages files of %lld bytes for a %lu-byte buffer",
					  path, n, BUF_LEN);
		dirs++;
	}
	closedir(top);
	if (!dirs)
		test_msg("no image directory: no dump was tried (CRYO_NOCR)");
}

/* A child: wait for R's command, then check the buffer and exit 0 if it is intact. */
static __attribute__((noreturn)) void child(int i)
{
	char c;

	if (i == NR_CHILDREN - 1)
		memset(buf + WRITER_PAGE * 4096UL, 0x5a, 4096);
	close(cmd[i][1]);
	if (write(rep[1], "r", 1) != 1)
		_exit(3);
	while (read(cmd[i][0], &c, 1) < 0 && errno == EINTR)
		;
	_exit(test_hash(buf, BUF_LEN) == (i == NR_CHILDREN - 1 ? hash_writer : hash_parent) ? 0 : 1);
}

static void setup(void)
{
	static char page[4096];
	char c;

	buf = mmap(NULL, BUF_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED || pipe2(rep, 0))
		test_fail("setup: %s", strerror(errno));
	test_fill(buf, BUF_LEN, SEED);
	hash_parent = test_hash(buf, BUF_LEN);
	/* What the writer's buffer will hash to: the page overwritten, then put back. */
	memcpy(page, buf + WRITER_PAGE * 4096UL, sizeof(page));
	memset(buf + WRITER_PAGE * 4096UL, 0x5a, 4096);
	hash_writer = test_hash(buf, BUF_LEN);
	memcpy(buf + WRITER_PAGE * 4096UL, page, sizeof(page));
	for (int i = 0; i < NR_CHILDREN; i++) {
		if (pipe2(cmd[i], 0))
			test_fail_killing(pids, NR_CHILDREN, "pipe2: %s", strerror(errno));
		pids[i] = fork();
		if (pids[i] < 0)
			test_fail_killing(pids, NR_CHILDREN, "fork: %s", strerror(errno));
		if (pids[i] == 0)
			child(i);
		close(cmd[i][0]);
	}
	for (int i = 0; i < NR_CHILDREN; i++)
		if (read(rep[0], &c, 1) != 1)
			test_fail_killing(pids, NR_CHILDREN, "children not set up: %s", strerror(errno));
}

int main(int argc, char **argv)
{
	static const char *const names[NR_CHILDREN] = { "child 1", "child 2", "child 3", "child 4" };
	long before, after;
	cpu_set_t cpus;

	test_init(argc, argv);
	setup();
	if (sched_getaffinity(0, sizeof(cpus), &cpus))
		test_fail_killing(pids, NR_CHILDREN, "sched_getaffinity: %s", strerror(errno));
	before = tree_pss_kb();
	if (before > (long)(BUF_LEN >> 10) * 3 / 2)
		test_fail_killing(pids, NR_CHILDREN, "Pss of the tree %ld KiB before the dump: not shared",
				  before);
	test_ready();
	test_wait();
	after = tree_pss_kb();
	test_msg("Pss of the buffer in the tree: %ld KiB before the dump, %ld KiB after restore",
		 before, after);
	if (after > before + before / 20 + 64)
		test_fail_killing(pids, NR_CHILDREN, "Pss of the tree %ld KiB after restore, %ld before",
				  after, before);
	check_pages();
	check_affinity(getpid(), &cpus);
	for (int i = 0; i < NR_CHILDREN; i++)
		check_affinity(pids[i], &cpus);
	if (test_hash(buf, BUF_LEN) != hash_parent)
		test_fail_killing(pids, NR_CHILDREN, "R's buffer changed");
	test_end_children(pids, (const int(*)[2])cmd, names, NR_CHILDREN, "x", 1);
	test_pass();
}
