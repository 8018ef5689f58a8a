/* SPDX-License-Identifier: MIT */
/*
 * Listening unix sockets with connections waiting for accept(): a stream listener bound to a
 * path in STATEDIR (socket file mode 0640, backlog 5) with two pending connections, the first
 * from an unnamed client, the second from a client bound to an abstract name; a seqpacket
 * listener with an abstract name and one pending connection. The stream listener also has one
 * accepted connection with data queued both ways.
 * A connection not yet accepted carries no data: what a client sent into it sits in a socket
 * that has no fd until accept(), which the dump can't read (and refuses).
 * After restore: the listeners have their names, the socket file its mode, SO_ACCEPTCONN is
 * set; accept() returns the pending connections in their order (the peer of the second is the
 * named client) and data flows both ways over each, with seqpacket boundaries; the accepted
 * connection gives its queued data back and carries new data; a new client connects by path
 * and is accepted after the pending ones.
 * CRYO-TEST: cycles=2
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib.h"

static bool same_addr(const struct test_unix_addr *a, const struct sockaddr_un *sa, socklen_t len)
{
	return len == a->len && !memcmp(sa, &a->sa, len);
}

static int listener(int type, const struct test_unix_addr *a, int backlog)
{
	int fd = socket(AF_UNIX, type, 0);

	if (fd < 0 || bind(fd, (const struct sockaddr *)&a->sa, a->len) || listen(fd, backlog))
		test_fail("listener '%s': %s", a->sa.sun_path + !a->sa.sun_path[0], strerror(errno));
	return fd;
}

static int client(int type, const struct test_unix_addr *to, const struct test_unix_addr *own)
{
	int fd = socket(AF_UNIX, type, 0);

	if (fd < 0 || (own && bind(fd, (const struct sockaddr *)&own->sa, own->len)) ||
	    connect(fd, (const struct sockaddr *)&to->sa, to->len))
		test_fail("client of '%s': %s", to->sa.sun_path + !to->sa.sun_path[0],
			  strerror(errno));
	return fd;
}

static void check_listener(const char *what, int fd, const struct test_unix_addr *a)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);
	int on = 0;

	if (getsockname(fd, (struct sockaddr *)&sa, &len) || !same_addr(a, &sa, len))
		test_fail("%s: not bound to its name any more", what);
	len = sizeof(on);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) || !on)
		test_fail("%s: not listening any more", what);
}

static void xsend(int fd, const void *buf, size_t len)
{
	if (send(fd, buf, len, MSG_DONTWAIT) != (ssize_t)len)
		test_fail("fd %d: send %zu bytes: %s", fd, len, strerror(errno));
}

/* The next message (or stream bytes) from fd must be exactly want. */
static void expect(const char *what, int fd, const void *want, size_t len)
{
	char buf[4096];
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n != (ssize_t)len || memcmp(buf, want, len))
		test_fail("%s: received %zd bytes (%s), want %zu", what, n,
			  n < 0 ? strerror(errno) : "other data", len);
}

/* Accept the next pending connection of l; its peer must be named peer (NULL: unnamed). */
static int accept_from(const char *what, int l, const struct test_unix_addr *peer)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);
	int fd = accept4(l, (struct sockaddr *)&sa, &len, SOCK_NONBLOCK);

	if (fd < 0)
		test_fail("%s: accept: %s", what, strerror(errno));
	if (peer ? !same_addr(peer, &sa, len) : len != sizeof(sa_family_t))
		test_fail("%s: accepted a connection from the wrong client (address of %u bytes)",
			  what, len);
	return fd;
}

/* Both ways over a connection; two messages in a row keep their boundaries if seqpacket. */
static void talk(const char *what, int a, int b)
{
	int type;
	socklen_t len = sizeof(type);

	if (getsockopt(a, SOL_SOCKET, SO_TYPE, &type, &len))
		test_fail("%s: SO_TYPE: %s", what, strerror(errno));
	xsend(a, "ping", 4);
	if (type == SOCK_STREAM)
		expect(what, b, "ping", 4);
	xsend(a, "pong!", 5);
	if (type != SOCK_STREAM)
		expect(what, b, "ping", 4);
	expect(what, b, "pong!", 5);
	xsend(b, "back", 4);
	expect(what, a, "back", 4);
}

int main(int argc, char **argv)
{
	struct test_unix_addr lpath, lseq, named;
	int l1, l2, c0, s0, c1, c2, c3, c4, fd;
	struct stat st;

	test_init(argc, argv);
	test_unix_path_addr(&lpath, "listen.sock");
	test_unix_abstract_addr(&lseq, "seqpacket");
	test_unix_abstract_addr(&named, "client");
	l1 = listener(SOCK_STREAM, &lpath, 5);
	if (chmod(lpath.sa.sun_path, 0640))
		test_fail("chmod: %s", strerror(errno));
	c0 = client(SOCK_STREAM, &lpath, NULL);
	s0 = accept(l1, NULL, NULL);
	if (s0 < 0)
		test_fail("accept: %s", strerror(errno));
	xsend(c0, "to the server", 13);
	xsend(s0, "to the client", 13);
	c1 = client(SOCK_STREAM, &lpath, NULL);
	c2 = client(SOCK_STREAM, &lpath, &named);
	l2 = listener(SOCK_SEQPACKET, &lseq, 3);
	c3 = client(SOCK_SEQPACKET, &lseq, NULL);

	test_ready();
	test_wait();

	check_listener("stream listener", l1, &lpath);
	check_listener("seqpacket listener", l2, &lseq);
	if (stat(lpath.sa.sun_path, &st) || !S_ISSOCK(st.st_mode) || (st.st_mode & 07777) != 0640)
		test_fail("socket file '%s': mode %o, want a socket with 0640", lpath.sa.sun_path,
			  st.st_mode);
	expect("accepted connection", s0, "to the server", 13);
	expect("accepted connection", c0, "to the client", 13);
	talk("accepted connection", c0, s0);
	fd = accept_from("first pending connection", l1, NULL);
	talk("first pending connection", c1, fd);
	fd = accept_from("second pending connection", l1, &named);
	talk("second pending connection", c2, fd);
	fd = accept_from("seqpacket pending connection", l2, NULL);
	talk("seqpacket pending connection", c3, fd);
	if (fcntl(l1, F_SETFL, O_NONBLOCK))
		test_fail("fcntl: %s", strerror(errno));
	if (accept(l1, NULL, NULL) >= 0 || errno != EAGAIN)
		test_fail("stream listener: more pending connections than were made");
	c4 = client(SOCK_STREAM, &lpath, NULL);
	fd = accept_from("new connection", l1, NULL);
	talk("new connection", c4, fd);
	test_pass();
}
