/* SPDX-License-Identifier: MIT */
/*
 * A datagram server bound to a path in STATEDIR, with SO_PASSCRED, and three clients: one
 * unnamed and connected to it, one bound to an abstract name and connected to it, one unnamed
 * and unconnected that uses sendto(). Seven datagrams from the three of them wait in the
 * server's queue (one of them empty); the server sent two datagrams to the named client, which
 * wait in its queue. A second datagram socket is bound to a path that was then unlinked.
 * After restore: the server has its name, the clients their names and peers; recvfrom() on the
 * server gives each datagram exactly, in order, with its sender's address and credentials; the
 * named client gets the server's two datagrams from the server's address; new datagrams flow
 * from each client to the server and back; the unlinked socket keeps its name and its path is
 * still absent.
 * CRYO-TEST: cycles=2
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib.h"

static const struct test_unix_addr unnamed = { .sa = { .sun_family = AF_UNIX },
				     .len = sizeof(sa_family_t) };

/* An unnamed sender's address comes back empty (or as just the family). */
static bool same_addr(const struct test_unix_addr *a, const struct sockaddr_un *sa, socklen_t len)
{
	if (a->len <= sizeof(sa_family_t))
		return len <= sizeof(sa_family_t);
	return len == a->len && !memcmp(sa, &a->sa, len);
}

static const char *show(const struct test_unix_addr *a)
{
	return a->len <= sizeof(sa_family_t) ? "(unnamed)" : a->sa.sun_path + !a->sa.sun_path[0];
}

static int dgram(const struct test_unix_addr *own, const struct test_unix_addr *to)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

	if (fd < 0 || (own && bind(fd, (const struct sockaddr *)&own->sa, own->len)) ||
	    (to && connect(fd, (const struct sockaddr *)&to->sa, to->len)))
		test_fail("datagram socket '%s': %s", own ? show(own) : "", strerror(errno));
	return fd;
}

/* What was queued: the datagrams the server (or the named client) must receive, in order. */
struct dg {
	const struct test_unix_addr *from;
	size_t len;
	uint64_t seed;
};

static void xsendto(int fd, const struct test_unix_addr *to, const struct dg *d)
{
	unsigned char buf[4096];

	test_fill(buf, d->len, d->seed);
	if (sendto(fd, buf, d->len, MSG_DONTWAIT, to ? (const struct sockaddr *)&to->sa : NULL,
		   to ? to->len : 0) != (ssize_t)d->len)
		test_fail("send %zu bytes to '%s': %s", d->len, to ? show(to) : "its peer",
			  strerror(errno));
}

static void expect(const char *what, int fd, const struct dg *d, bool creds)
{
	union {
		struct cmsghdr align;
		char b[CMSG_SPACE(sizeof(struct ucred))];
	} cb;
	unsigned char buf[4096], want[4096];
	struct sockaddr_un from;
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh = { .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov,
			     .msg_iovlen = 1, .msg_control = cb.b, .msg_controllen = sizeof(cb.b) };
	struct ucred c = { 0 };
	ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);

	test_fill(want, d->len, d->seed);
	if (n != (ssize_t)d->len || memcmp(buf, want, d->len))
		test_fail("%s: datagram of %zd bytes (%s), want %zu from '%s'", what, n,
			  n < 0 ? strerror(errno) : "other data", d->len, show(d->from));
	if (!same_addr(d->from, &from, mh.msg_namelen))
		test_fail("%s: datagram of %zu bytes: sender address of %u bytes, want '%s'", what,
			  d->len, mh.msg_namelen, show(d->from));
	if (CMSG_FIRSTHDR(&mh) && CMSG_FIRSTHDR(&mh)->cmsg_type == SCM_CREDENTIALS)
		memcpy(&c, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof(c));
	if (creds && (c.pid != getpid() || c.uid != getuid() || c.gid != getgid()))
		test_fail("%s: credentials %d/%u/%u, want %d/%u/%u", what, c.pid, c.uid, c.gid,
			  getpid(), getuid(), getgid());
}

static void expect_empty(const char *what, int fd)
{
	char c;

	if (recv(fd, &c, 1, MSG_DONTWAIT) >= 0 || errno != EAGAIN)
		test_fail("%s: more datagrams than were queued", what);
}

static void check_name(const char *what, int fd, const struct test_unix_addr *want, bool peer)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);
	int r = peer ? getpeername(fd, (struct sockaddr *)&sa, &len)
		     : getsockname(fd, (struct sockaddr *)&sa, &len);

	if (r || !same_addr(want, &sa, len))
		test_fail("%s: %s is not '%s'", what, peer ? "peer" : "name", show(want));
}

int main(int argc, char **argv)
{
	struct test_unix_addr srv, cli, gone;
	int s, c1, c2, c3, g, one = 1;
	struct stat st;

	test_init(argc, argv);
	test_unix_path_addr(&srv, "dgram.sock");
	test_unix_path_addr(&gone, "gone.sock");
	test_unix_abstract_addr(&cli, "dgram-client");
	s = dgram(&srv, NULL);
	if (setsockopt(s, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)))
		test_fail("SO_PASSCRED: %s", strerror(errno));
	c1 = dgram(NULL, &srv);
	c2 = dgram(&cli, &srv);
	c3 = dgram(NULL, NULL);
	g = dgram(&gone, NULL);
	if (unlink(gone.sa.sun_path))
		test_fail("unlink: %s", strerror(errno));
	const struct dg to_srv[] = {
		{ &unnamed, 10, 1 }, { &cli, 300, 2 }, { &unnamed, 0, 3 }, { &unnamed, 4000, 4 },
		{ &cli, 1, 5 },	     { &unnamed, 7, 6 }, { &unnamed, 20, 7 },
	};
	const int senders[] = { c1, c2, c3, c1, c2, c3, c1 };
	const struct dg to_cli[] = { { &srv, 50, 8 }, { &srv, 60, 9 } };
	for (size_t i = 0; i < 7; i++)
		xsendto(senders[i], senders[i] == c3 ? &srv : NULL, &to_srv[i]);
	xsendto(s, &cli, &to_cli[0]);
	xsendto(s, &cli, &to_cli[1]);

	test_ready();
	test_wait();

	check_name("server", s, &srv, false);
	check_name("named client", c2, &cli, false);
	check_name("unnamed client", c1, &srv, true);
	check_name("named client", c2, &srv, true);
	check_name("socket with an unlinked path", g, &gone, false);
	if (stat(srv.sa.sun_path, &st) || !S_ISSOCK(st.st_mode))
		test_fail("'%s' is not a socket any more", srv.sa.sun_path);
	if (stat(gone.sa.sun_path, &st) == 0 || errno != ENOENT)
		test_fail("'%s' is back", gone.sa.sun_path);
	for (size_t i = 0; i < 7; i++)
		expect("server", s, &to_srv[i], true);
	expect_empty("server", s);
	expect("named client", c2, &to_cli[0], false);
	expect("named client", c2, &to_cli[1], false);
	expect_empty("named client", c2);
	for (size_t i = 0; i < 3; i++) {
		const int c[] = { c1, c2, c3 };
		const struct dg d = { i == 1 ? &cli : &unnamed, 33 + i, 20 + i };

		xsendto(c[i], i == 2 ? &srv : NULL, &d);
		expect("server, new datagram", s, &d, true);
	}
	xsendto(s, &cli, &to_cli[0]);
	expect("named client, new datagram", c2, &to_cli[0], false);
	test_pass();
}
