/* SPDX-License-Identifier: MIT */
/*
 * UDP sockets: on 127.0.0.1 a bound one (SO_BROADCAST, IP_PKTINFO, IP_TTL, a receive buffer
 * and timeout) and a non-blocking one connected to it (IP_RECVERR, IP_TOS); on [::1] a bound
 * one with IPV6_V6ONLY and IPV6_RECVPKTINFO and one connected to it; and one never bound.
 * Datagrams go both ways before the dump and are all read. After restore each socket has the
 * same local address, peer (or none), fd and status flags and options; the connected socket
 * and the bound one exchange datagrams both ways (the bound one still gets the IP_PKTINFO
 * control message), the connected one drops what comes from another address, and the unbound
 * one can still send.
 * CRYO-TEST: cycles=2
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "lib.h"

union addr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

struct sk {
	const char *name;
	int fd;
	union addr addr, peer; /* getsockname, getpeername */
	socklen_t len, plen;   /* plen 0: not connected */
};

enum { SRV4, CLI4, SRV6, CLI6, NONE, NR_SK };
static struct sk sks[NR_SK] = {
	[SRV4] = { .name = "bound socket 127.0.0.1" },
	[CLI4] = { .name = "connected socket 127.0.0.1" },
	[SRV6] = { .name = "bound socket [::1]" },
	[CLI6] = { .name = "connected socket [::1]" },
	[NONE] = { .name = "unbound socket" },
};

#define O TEST_SOCKOPT
static const struct test_sockopt opts[] = {
	O(SOL_SOCKET, SO_DOMAIN),	    O(SOL_SOCKET, SO_TYPE),
	O(SOL_SOCKET, SO_PROTOCOL),	    O(SOL_SOCKET, SO_BROADCAST),
	O(SOL_SOCKET, SO_REUSEADDR),	    O(SOL_SOCKET, SO_RCVBUF),
	O(SOL_SOCKET, SO_SNDBUF),	    O(SOL_SOCKET, SO_PRIORITY),
	O(SOL_IP, IP_TOS),		    O(SOL_IP, IP_TTL),
	O(SOL_IP, IP_PKTINFO),		    O(SOL_IP, IP_RECVERR),
	O(SOL_IP, IP_MULTICAST_LOOP),	    O(SOL_IPV6, IPV6_V6ONLY),
	O(SOL_IPV6, IPV6_RECVPKTINFO),	    O(SOL_IPV6, IPV6_MULTICAST_HOPS),
};

#define SET(fd, l, n, v) test_setsockopt_int(fd, l, n, v, #n)

static void set_timeo(int fd, int name)
{
	struct timeval tv = { 2, 250000 };

	if (setsockopt(fd, SOL_SOCKET, name, &tv, sizeof(tv)))
		test_fail("setsockopt timeout: %s", strerror(errno));
}

static void capture(const struct sk *s, struct test_values *v)
{
	static const int timeos[] = { SO_RCVTIMEO, SO_SNDTIMEO };
	struct timeval tv;
	socklen_t len;

	test_sockopts_add(v, s->fd, s->name, opts, sizeof(opts) / sizeof(opts[0]));
	for (int i = 0; i < 2; i++) {
		len = sizeof(tv);
		if (getsockopt(s->fd, SOL_SOCKET, timeos[i], &tv, &len))
			test_fail("%s: timeout: %s", s->name, strerror(errno));
		test_values_add(v, tv.tv_sec * 1000000LL + tv.tv_usec, "%s: %s", s->name,
				i ? "SO_SNDTIMEO" : "SO_RCVTIMEO");
	}
}

/* The local address and the peer's (plen 0 when not connected). */
static void get_names(const struct sk *s, union addr *addr, socklen_t *len, union addr *peer,
		      socklen_t *plen)
{
	memset(addr, 0, sizeof(*addr));
	memset(peer, 0, sizeof(*peer));
	*len = *plen = sizeof(*addr);
	if (getsockname(s->fd, &addr->sa, len))
		test_fail("%s: getsockname: %s", s->name, strerror(errno));
	if (getpeername(s->fd, &peer->sa, plen)) {
		if (errno != ENOTCONN)
			test_fail("%s: getpeername: %s", s->name, strerror(errno));
		*plen = 0;
	}
}

static void check_names(const struct sk *s)
{
	union addr addr, peer;
	socklen_t len, plen;

	get_names(s, &addr, &len, &peer, &plen);
	if (len != s->len || memcmp(&addr, &s->addr, len))
		test_fail("%s: local address changed", s->name);
	if (plen != s->plen || memcmp(&peer, &s->peer, plen))
		test_fail("%s: peer %s", s->name,
			  plen ? (s->plen ? "changed" : "appeared") : "lost");
}

static int new_socket(int family, int flags)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC | flags, 0);

	if (fd < 0)
		test_fail("socket: %s", strerror(errno));
	return fd;
}

/* Wait for a datagram on @s; it must be @msg, from @from, with a pktinfo message if @pktinfo. */
static void expect(const struct sk *s, const char *msg, const struct sk *from, int pktinfo)
{
	struct pollfd p = { .fd = s->fd, .events = POLLIN };
	char buf[64], ctl[256];
	union addr src;
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh = { .msg_name = &src, .msg_namelen = sizeof(src), .msg_iov = &iov,
			     .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl) };
	struct cmsghdr *c;
	ssize_t n;

	memset(&src, 0, sizeof(src));
	if (poll(&p, 1, 5000) != 1)
		test_fail("%s: no datagram from %s", s->name, from->name);
	n = recvmsg(s->fd, &mh, MSG_DONTWAIT);
	if (n != (ssize_t)strlen(msg) + 1 || memcmp(buf, msg, (size_t)n))
		test_fail("%s: did not receive '%s' from %s: %s", s->name, msg, from->name,
			  n < 0 ? strerror(errno) : "other data");
	if (mh.msg_namelen != from->len || memcmp(&src, &from->addr, from->len))
		test_fail("%s: '%s' came from another address than %s'", s->name, msg, from->name);
	for (c = CMSG_FIRSTHDR(&mh); c && pktinfo; c = CMSG_NXTHDR(&mh, c))
		if ((c->cmsg_level == SOL_IP && c->cmsg_type == IP_PKTINFO) ||
		    (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_PKTINFO))
			pktinfo = 0;
	if (pktinfo)
		test_fail("%s: no pktinfo control message", s->name);
}

static void send_to(const struct sk *s, const struct sk *to, const char *msg)
{
	ssize_t n = strlen(msg) + 1;

	if (sendto(s->fd, msg, (size_t)n, 0, to ? &to->addr.sa : NULL, to ? to->len : 0) != n)
		test_fail("%s: send to %s: %s", s->name, to ? to->name : "its peer",
			  strerror(errno));
}

/* Both ways between a connected socket and the bound one it is connected to. */
static void talk(const struct sk *srv, struct sk *cli)
{
	send_to(cli, NULL, "ping");
	expect(srv, "ping", cli, 1);
	send_to(srv, cli, "pong");
	expect(cli, "pong", srv, 0);
}

static void setup(void)
{
	struct sk *s4 = &sks[SRV4], *c4 = &sks[CLI4], *s6 = &sks[SRV6], *c6 = &sks[CLI6];

	s4->fd = new_socket(AF_INET, 0);
	s4->addr.in = (struct sockaddr_in){ .sin_family = AF_INET,
					    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	SET(s4->fd, SOL_SOCKET, SO_BROADCAST, 1);
	SET(s4->fd, SOL_SOCKET, SO_RCVBUF, 65536);
	SET(s4->fd, SOL_IP, IP_PKTINFO, 1);
	SET(s4->fd, SOL_IP, IP_TTL, 33);
	set_timeo(s4->fd, SO_RCVTIMEO);
	if (bind(s4->fd, &s4->addr.sa, sizeof(s4->addr.in)))
		test_fail("%s: bind: %s", s4->name, strerror(errno));
	s6->fd = new_socket(AF_INET6, 0);
	s6->addr.in6 = (struct sockaddr_in6){ .sin6_family = AF_INET6,
					      .sin6_addr = in6addr_loopback };
	SET(s6->fd, SOL_IPV6, IPV6_V6ONLY, 1);
	SET(s6->fd, SOL_IPV6, IPV6_RECVPKTINFO, 1);
	if (bind(s6->fd, &s6->addr.sa, sizeof(s6->addr.in6)))
		test_fail("%s: bind: %s", s6->name, strerror(errno));
	c4->fd = new_socket(AF_INET, SOCK_NONBLOCK);
	SET(c4->fd, SOL_IP, IP_RECVERR, 1);
	SET(c4->fd, SOL_IP, IP_TOS, 0x08);
	c6->fd = new_socket(AF_INET6, 0);
	SET(c6->fd, SOL_IPV6, IPV6_MULTICAST_HOPS, 5);
	set_timeo(c6->fd, SO_SNDTIMEO);
	if (getsockname(s4->fd, &s4->addr.sa, &(socklen_t){ sizeof(s4->addr) }) ||
	    getsockname(s6->fd, &s6->addr.sa, &(socklen_t){ sizeof(s6->addr) }) ||
	    connect(c4->fd, &s4->addr.sa, sizeof(s4->addr.in)) ||
	    connect(c6->fd, &s6->addr.sa, sizeof(s6->addr.in6)))
		test_fail("connect: %s", strerror(errno));
	sks[NONE].fd = new_socket(AF_INET, 0);
	SET(sks[NONE].fd, SOL_IP, IP_MULTICAST_LOOP, 0);
}

int main(int argc, char **argv)
{
	struct test_values was = { 0 }, now = { 0 };
	struct sk *s4 = &sks[SRV4], *c4 = &sks[CLI4], *s6 = &sks[SRV6], *c6 = &sks[CLI6];
	struct sk *none = &sks[NONE];

	test_init(argc, argv);
	setup();
	for (int i = 0; i < NR_SK; i++)
		get_names(&sks[i], &sks[i].addr, &sks[i].len, &sks[i].peer, &sks[i].plen);
	talk(s4, c4);
	talk(s6, c6);
	for (int i = 0; i < NR_SK; i++)
		capture(&sks[i], &was);

	test_ready();
	test_wait();

	for (int i = 0; i < NR_SK; i++) {
		check_names(&sks[i]);
		capture(&sks[i], &now);
	}
	test_values_check(&was, &now);
	talk(s4, c4);
	talk(s6, c6);
	/* A connected socket takes datagrams from its peer only. */
	send_to(none, c4, "stray");
	send_to(s4, c4, "from the peer");
	expect(c4, "from the peer", s4, 0);
	/* Sending bound it to the any address; datagrams to 127.0.0.1 come from 127.0.0.1. */
	get_names(none, &none->addr, &none->len, &none->peer, &none->plen);
	none->addr.in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	send_to(none, s4, "from the unbound socket");
	expect(s4, "from the unbound socket", none, 1);
	test_pass();
}
