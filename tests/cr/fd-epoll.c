/* SPDX-License-Identifier: MIT */
/*
 * Two epolls, one watching the other, over pipes. The outer one (O_NONBLOCK, FD_CLOEXEC)
 * watches: pipe A's read end level-triggered, and again through a dup of that fd, both with
 * data queued; pipe B's read end EPOLLET with data queued, its edge not yet reported; pipe C's
 * write end EPOLLONESHOT, already fired (disarmed); pipe D's read end EPOLLONESHOT, empty;
 * pipe E's read end EPOLLEXCLUSIVE, empty; and the inner epoll, which has a later fd number
 * and watches pipe F's read end, with data queued. After restore the watches in fdinfo (fd,
 * events with their flags, data) and the status flags must be as before, and epoll_wait must
 * behave as before: first A, A's dup, B and the inner epoll with their data; then B no more
 * (edge-triggered) and never C (disarmed); D once after a write to it, then no more
 * (one-shot); E after a write to it; the inner epoll gives F.
 * CRYO-TEST: cycles=2
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "lib.h"

#define LINES_MAX 64
#define TEXT_MAX 8192

enum { A, A2, B, C, D, E, F, INNER, NR };

static const uint64_t tag[NR] = { 0xa1a1a1a1a1a1a1a1ULL, 0xa2, 0xb0b0b0b0ULL, 0xc0, 0xd0d0,
				   0xe0e0e0e0e0ULL, 0xf0f0f0f0f0f0f0f0ULL, 0x1234567890abcdefULL };

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The "flags:" line and the watches (fd, events, data) of the epoll at fd, from its fdinfo,
 * the watches sorted: their order follows kernel addresses. pos, ino and sdev are left out:
 * restored pipes are new inodes.
 */
static void epoll_text(int fd, char *out, size_t len)
{
	char path[64], buf[TEXT_MAX], *lines[LINES_MAX], *save = NULL, *l;
	size_t n = 0, off = 0;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	test_read_file(path, buf, sizeof(buf));
	for (l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		unsigned int events;
		unsigned long long data;
		int tfd;

		if (!strncmp(l, "flags:", 6)) {
			off += (size_t)snprintf(out + off, len - off, "%s\n", l);
			continue;
		}
		if (sscanf(l, "tfd: %d events: %x data: %llx", &tfd, &events, &data) != 3)
			continue;
		if (n == LINES_MAX)
			test_fail("epoll %d: more than %d watches", fd, LINES_MAX);
		lines[n] = malloc(96);
		snprintf(lines[n++], 96, "tfd %d events %#x data %#llx\n", tfd, events, data);
	}
	qsort(lines, n, sizeof(*lines), cmp_str);
	for (size_t i = 0; i < n; i++) {
		off += (size_t)snprintf(out + off, len - off, "%s", lines[i]);
		free(lines[i]);
	}
}

static void add(int ep, int fd, uint32_t events, int which)
{
	struct epoll_event ev = { .events = events, .data.u64 = tag[which] };

	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
		test_fail("epoll_ctl add fd %d: %s", fd, strerror(errno));
}

/* epoll_wait must report exactly the watches in want (a bit per tag index), with EPOLLIN. */
static void expect(int ep, unsigned int want, const char *when)
{
	struct epoll_event evs[NR + 1];
	unsigned int got = 0;
	int n = epoll_wait(ep, evs, NR + 1, 0);

	if (n < 0)
		test_fail("%s: epoll_wait: %s", when, strerror(errno));
	for (int i = 0; i < n; i++) {
		int w = 0;

		while (w < NR && tag[w] != evs[i].data.u64)
			w++;
		if (w == NR)
			test_fail("%s: epoll_wait gave unknown data %#llx", when,
				  (unsigned long long)evs[i].data.u64);
		if (evs[i].events != EPOLLIN)
			test_fail("%s: watch %d: events %#x, want EPOLLIN", when, w, evs[i].events);
		if (got & (1u << w))
			test_fail("%s: watch %d reported twice", when, w);
		got |= 1u << w;
	}
	if (got != want)
		test_fail("%s: epoll_wait reported watches %#x, want %#x", when, got, want);
}

static void put(int fd, const char *what)
{
	if (write(fd, what, strlen(what)) != (ssize_t)strlen(what))
		test_fail("write to fd %d: %s", fd, strerror(errno));
}

int main(int argc, char **argv)
{
	static char outer_was[TEXT_MAX], inner_was[TEXT_MAX], now[TEXT_MAX];
	int outer, inner, p[NR][2], a2, fl;
	struct epoll_event ev;

	test_init(argc, argv);
	outer = epoll_create1(EPOLL_CLOEXEC);
	for (int i = A; i <= F; i++)
		if (i != A2 && pipe2(p[i], O_NONBLOCK))
			test_fail("pipe2: %s", strerror(errno));
	a2 = dup(p[A][0]);
	inner = epoll_create1(0);
	if (outer < 0 || inner < 0 || a2 < 0 || fcntl(outer, F_SETFL, O_NONBLOCK))
		test_fail("setup: %s", strerror(errno));
	/* C first, fired at once, before B is added, whose edge the wait would take. */
	add(outer, p[C][1], EPOLLOUT | EPOLLONESHOT | EPOLLET, C);
	if (epoll_wait(outer, &ev, 1, 0) != 1 || ev.data.u64 != tag[C])
		test_fail("the one-shot watch of pipe C did not fire");
	add(outer, p[A][0], EPOLLIN, A);
	add(outer, a2, EPOLLIN | EPOLLRDHUP, A2);
	add(outer, p[B][0], EPOLLIN | EPOLLET, B);
	add(outer, p[D][0], EPOLLIN | EPOLLONESHOT, D);
	add(outer, p[E][0], EPOLLIN | EPOLLEXCLUSIVE, E);
	add(inner, p[F][0], EPOLLIN, F);
	add(outer, inner, EPOLLIN, INNER);
	put(p[A][1], "a");
	put(p[B][1], "b");
	put(p[F][1], "f");
	fl = fcntl(outer, F_GETFL);
	epoll_text(outer, outer_was, sizeof(outer_was));
	epoll_text(inner, inner_was, sizeof(inner_was));

	test_ready();
	test_wait();

	epoll_text(outer, now, sizeof(now));
	test_same_lines("outer epoll", outer_was, now);
	epoll_text(inner, now, sizeof(now));
	test_same_lines("inner epoll", inner_was, now);
	if (fcntl(outer, F_GETFL) != fl || fcntl(outer, F_GETFD) != FD_CLOEXEC ||
	    fcntl(inner, F_GETFD) != 0)
		test_fail("epoll fd flags changed");
	expect(outer, 1u << A | 1u << A2 | 1u << B | 1u << INNER, "first wait");
	expect(outer, 1u << A | 1u << A2 | 1u << INNER, "second wait");
	put(p[D][1], "d");
	expect(outer, 1u << A | 1u << A2 | 1u << INNER | 1u << D, "after writing to D");
	expect(outer, 1u << A | 1u << A2 | 1u << INNER, "after D fired");
	put(p[E][1], "e");
	expect(outer, 1u << A | 1u << A2 | 1u << INNER | 1u << E, "after writing to E");
	expect(inner, 1u << F, "inner epoll");
	test_pass();
}
