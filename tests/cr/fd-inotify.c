/* SPDX-License-Identifier: MIT */
/*
 * An inotify (O_NONBLOCK, FD_CLOEXEC) watching two directories and a file in STATEDIR with
 * different masks and flags (IN_EXCL_UNLINK, IN_ONESHOT), with wds 1, 4 and 5: two watches
 * were added and removed in between, so the wds have a hole. After restore fdinfo must list
 * the same watches (wd, inode, device, mask, file handle), the fd flags must be the same, no
 * event may be queued (the dump had none), and new events must come with the right wds:
 * IN_CREATE in the first directory, IN_MOVED_TO in the second, IN_MODIFY on the file and then
 * IN_IGNORED, as its one-shot watch is gone. Before the dump the dentry cache is dropped, so
 * that the file's name may be gone from it and the dumper has to look for the file.
 * CRYO-TEST: cycles=2
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib.h"

#define LINES_MAX 16
#define TEXT_MAX 4096

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The "flags:" line and the sorted "inotify wd:..." lines of the fdinfo of fd. */
static void inotify_text(int fd, char *out, size_t len)
{
	char path[64], buf[TEXT_MAX], *lines[LINES_MAX], *save = NULL, *l;
	size_t n = 0, off = 0;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	test_read_file(path, buf, sizeof(buf));
	for (l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(l, "flags:", 6))
			off += (size_t)snprintf(out + off, len - off, "%s\n", l);
		else if (!strncmp(l, "inotify ", 8) && n < LINES_MAX)
			lines[n++] = l;
	}
	qsort(lines, n, sizeof(*lines), cmp_str);
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(out + off, len - off, "%s\n", lines[i]);
}

static int watch(int in, const char *name, uint32_t mask)
{
	char path[PATH_MAX];
	int wd;

	test_path(path, sizeof(path), name);
	wd = inotify_add_watch(in, path, mask);
	if (wd < 0)
		test_fail("inotify_add_watch '%s': %s", path, strerror(errno));
	return wd;
}

/* Read everything queued; it must be exactly the n events of want (name "" for none). */
static void expect(int in, const struct inotify_event *want, const char *const *names, int n,
		   const char *when)
{
	char buf[4096] __attribute__((aligned(8)));
	ssize_t len = read(in, buf, sizeof(buf));
	int i = 0;

	if (len < 0 && errno != EAGAIN)
		test_fail("%s: read inotify: %s", when, strerror(errno));
	for (ssize_t off = 0; off < len; i++) {
		const struct inotify_event *e = (const void *)(buf + off);
		const char *name = e->len ? e->name : "";

		if (i >= n || e->wd != want[i].wd || e->mask != want[i].mask ||
		    strcmp(name, names[i]))
			test_fail("%s: event %d is wd %d mask %#x name '%s', want wd %d mask %#x name '%s'",
				  when, i, e->wd, e->mask, name, i < n ? want[i].wd : -1,
				  i < n ? want[i].mask : 0, i < n ? names[i] : "(none)");
		off += (ssize_t)sizeof(*e) + e->len;
	}
	if (i != n)
		test_fail("%s: %d events, want %d", when, i, n);
}

static void touch_paths(void)
{
	char from[PATH_MAX], to[PATH_MAX];
	int fd;

	test_path(from, sizeof(from), "d1/new");
	test_path(to, sizeof(to), "d2/moved");
	fd = open(from, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0 || close(fd) || rename(from, to))
		test_fail("create and rename '%s': %s", from, strerror(errno));
	test_path(from, sizeof(from), "f");
	fd = open(from, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0 || write(fd, "x", 1) != 1 || close(fd))
		test_fail("append to '%s': %s", from, strerror(errno));
}

/* Drop unused dentries and inodes (root only; without it the test goes on all the same). */
static void drop_dentries(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	sync();
	if (write(fd, "2", 1) != 1)
		test_msg("drop_caches: %s", strerror(errno));
	close(fd);
}

int main(int argc, char **argv)
{
	static char was[TEXT_MAX], now[TEXT_MAX];
	char path[PATH_MAX];
	int in, wd1, wd2, wd3, hole, fd_flags, fl_flags;

	test_init(argc, argv);
	for (int i = 1; i <= 2; i++) {
		snprintf(path, sizeof(path), "%s/d%d", test_dir(), i);
		if (mkdir(path, 0755))
			test_fail("mkdir '%s': %s", path, strerror(errno));
	}
	close(test_create_file("f", "data", 4, O_WRONLY | O_CLOEXEC));
	in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (in < 0)
		test_fail("inotify_init1: %s", strerror(errno));
	wd1 = watch(in, "d1", IN_CREATE | IN_DELETE);
	for (int i = 0; i < 2; i++) {
		hole = watch(in, ".", IN_ATTRIB);
		if (inotify_rm_watch(in, hole))
			test_fail("inotify_rm_watch: %s", strerror(errno));
	}
	expect(in,
	       (struct inotify_event[]){ { .wd = 2, .mask = IN_IGNORED },
					 { .wd = 3, .mask = IN_IGNORED } },
	       (const char *[]){ "", "" }, 2, "setup");
	wd2 = watch(in, "d2", IN_MOVED_TO | IN_EXCL_UNLINK | IN_ONLYDIR);
	wd3 = watch(in, "f", IN_MODIFY | IN_CLOSE_WRITE | IN_ONESHOT);
	if (wd1 != 1 || wd2 != 4 || wd3 != 5)
		test_fail("wds %d, %d, %d, want 1, 4, 5", wd1, wd2, wd3);
	inotify_text(in, was, sizeof(was));
	drop_dentries();
	fd_flags = fcntl(in, F_GETFD);
	fl_flags = fcntl(in, F_GETFL);

	test_ready();
	test_wait();

	inotify_text(in, now, sizeof(now));
	test_same_lines("inotify fdinfo", was, now);
	if (fcntl(in, F_GETFD) != fd_flags || fcntl(in, F_GETFL) != fl_flags)
		test_fail("inotify fd flags changed");
	expect(in, NULL, NULL, 0, "after restore");
	touch_paths();
	expect(in,
	       (struct inotify_event[]){ { .wd = wd1, .mask = IN_CREATE },
					 { .wd = wd2, .mask = IN_MOVED_TO },
					 { .wd = wd3, .mask = IN_MODIFY },
					 { .wd = wd3, .mask = IN_IGNORED } },
	       (const char *[]){ "new", "moved", "", "" }, 4, "new events");
	test_pass();
}
