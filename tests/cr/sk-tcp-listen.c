/* SPDX-License-Identifier: MIT */
/*
 * TCP sockets that need no TCP repair: a listener on 127.0.0.1 (ephemeral port, SO_REUSEADDR,
 * O_NONBLOCK, backlog 7, keepalive, buffer, linger, timeout, TOS and fast-open options; a
 * connection it accepted and closed first lingers in TIME_WAIT on its port, which the
 * restored listener can bind past only with SO_REUSEADDR set again), a listener on [::1] with
 * IPV6_V6ONLY, TCP_DEFER_ACCEPT, the reno congestion control and traffic-class options, a
 * socket bound to 127.0.0.1 and to the lo device but not listening, and one never bound.
 * After restore each socket has the same local address, fd and status flags, listen state,
 * backlog and options; a client connecting to either listener is accepted and exchanges data
 * both ways; the bound socket can still listen on its port and the unbound one can connect.
 * CRYO-TEST: cycles=2
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "lib.h"

#define STR_MAX 32

union addr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

struct sk {
	const char *name;
	int fd;
	union addr addr; /* getsockname */
	socklen_t len;
	char strs[2][STR_MAX]; /* TCP_CONGESTION, SO_BINDTODEVICE */
};

enum { SK_V4, SK_V6, SK_BOUND, SK_UNBOUND, NR_SK };
static struct sk sks[NR_SK] = {
	[SK_V4] = { .name = "listener 127.0.0.1" },
	[SK_V6] = { .name = "listener [::1]" },
	[SK_BOUND] = { .name = "bound socket" },
	[SK_UNBOUND] = { .name = "unbound socket" },
};

#define O TEST_SOCKOPT
static const struct test_sockopt opts[] = {
	O(SOL_SOCKET, SO_DOMAIN),	  O(SOL_SOCKET, SO_TYPE),
	O(SOL_SOCKET, SO_PROTOCOL),	  O(SOL_SOCKET, SO_ACCEPTCONN),
	O(SOL_SOCKET, SO_REUSEADDR),	  O(SOL_SOCKET, SO_REUSEPORT),
	O(SOL_SOCKET, SO_KEEPALIVE),	  O(SOL_SOCKET, SO_RCVBUF),
	O(SOL_SOCKET, SO_SNDBUF),	  O(SOL_SOCKET, SO_PRIORITY),
	O(SOL_SOCKET, SO_RCVLOWAT),	  O(SOL_SOCKET, SO_OOBINLINE),
	O(IPPROTO_TCP, TCP_NODELAY),	  O(IPPROTO_TCP, TCP_KEEPIDLE),
	O(IPPROTO_TCP, TCP_KEEPINTVL),	  O(IPPROTO_TCP, TCP_KEEPCNT),
	O(IPPROTO_TCP, TCP_DEFER_ACCEPT), O(IPPROTO_TCP, TCP_FASTOPEN),
	O(IPPROTO_TCP, TCP_MAXSEG),	  O(IPPROTO_TCP, TCP_USER_TIMEOUT),
	O(IPPROTO_TCP, TCP_SYNCNT),	  O(IPPROTO_TCP, TCP_CORK),
	O(SOL_IP, IP_TOS),		  O(SOL_IP, IP_TTL),
	O(SOL_IP, IP_FREEBIND),		  O(SOL_IPV6, IPV6_V6ONLY),
	O(SOL_IPV6, IPV6_TCLASS),	  O(SOL_IPV6, IPV6_UNICAST_HOPS),
};

#define SET(fd, l, n, v) test_setsockopt_int(fd, l, n, v, #n)

/* The string options: congestion control and device. */
static void get_strs(const struct sk *s, char (*buf)[STR_MAX])
{
	socklen_t len = STR_MAX - 1;

	memset(buf, 0, 2 * STR_MAX);
	if (getsockopt(s->fd, IPPROTO_TCP, TCP_CONGESTION, buf[0], &len))
		test_fail("%s: TCP_CONGESTION: %s", s->name, strerror(errno));
	len = STR_MAX - 1;
	if (getsockopt(s->fd, SOL_SOCKET, SO_BINDTODEVICE, buf[1], &len))
		test_fail("%s: SO_BINDTODEVICE: %s", s->name, strerror(errno));
}

static void check_strs(const struct sk *s)
{
	char now[2][STR_MAX];

	get_strs(s, now);
	if (strcmp(now[0], s->strs[0]))
		test_fail("%s: TCP_CONGESTION '%s', was '%s'", s->name, now[0], s->strs[0]);
	if (strcmp(now[1], s->strs[1]))
		test_fail("%s: SO_BINDTODEVICE '%s', was '%s'", s->name, now[1], s->strs[1]);
}

/* Everything about a socket that must come back: addresses, flags, state and options. */
static void capture(const struct sk *s, struct test_values *v)
{
	struct tcp_info ti;
	struct linger lg;
	struct timeval tv;
	socklen_t len;

	test_sockopts_add(v, s->fd, s->name, opts, sizeof(opts) / sizeof(opts[0]));
	len = sizeof(lg);
	if (getsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, &len))
		test_fail("%s: SO_LINGER: %s", s->name, strerror(errno));
	test_values_add(v, lg.l_onoff * 100000LL + lg.l_linger, "%s: SO_LINGER", s->name);
	len = sizeof(tv);
	if (getsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &len))
		test_fail("%s: SO_RCVTIMEO: %s", s->name, strerror(errno));
	test_values_add(v, tv.tv_sec * 1000000LL + tv.tv_usec, "%s: SO_RCVTIMEO", s->name);
	len = sizeof(ti);
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(s->fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
		test_fail("%s: TCP_INFO: %s", s->name, strerror(errno));
	test_values_add(v, ti.tcpi_state, "%s: tcpi_state", s->name);
	/* For a listener: the backlog. */
	test_values_add(v, ti.tcpi_sacked, "%s: tcpi_sacked", s->name);
}

static void check_name(const struct sk *s)
{
	union addr now;
	socklen_t len = sizeof(now);

	memset(&now, 0, sizeof(now));
	if (getsockname(s->fd, &now.sa, &len))
		test_fail("%s: getsockname: %s", s->name, strerror(errno));
	if (len != s->len || memcmp(&now, &s->addr, len))
		test_fail("%s: local address changed", s->name);
}

static void record_name(struct sk *s)
{
	s->len = sizeof(s->addr);
	memset(&s->addr, 0, sizeof(s->addr));
	if (getsockname(s->fd, &s->addr.sa, &s->len))
		test_fail("%s: getsockname: %s", s->name, strerror(errno));
}

static int new_socket(int family, const char *what)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		test_fail("%s: socket: %s", what, strerror(errno));
	return fd;
}

static void expect(int fd, const char *msg, const char *what)
{
	char buf[64];
	size_t n = strlen(msg) + 1;

	if (read(fd, buf, sizeof(buf)) != (ssize_t)n || memcmp(buf, msg, n))
		test_fail("%s: did not read '%s': %s", what, msg, strerror(errno));
}

/*
 * Connect @csk (a new socket if -1) to listener @l, send first (TCP_DEFER_ACCEPT holds the
 * connection back until data comes), accept, talk both ways, and close the accepted end
 * first: it lingers in TIME_WAIT on the listener's port.
 */
static void exchange(const struct sk *l, int csk)
{
	struct pollfd p = { .fd = l->fd, .events = POLLIN };
	union addr peer, cname;
	socklen_t plen = sizeof(peer), clen = sizeof(cname);
	char c;
	int ask;

	if (csk < 0)
		csk = new_socket(l->addr.sa.sa_family, l->name);
	if (connect(csk, &l->addr.sa, l->len))
		test_fail("%s: connect: %s", l->name, strerror(errno));
	if (write(csk, "ping", 5) != 5)
		test_fail("%s: write: %s", l->name, strerror(errno));
	if (poll(&p, 1, 5000) != 1)
		test_fail("%s: no connection to accept", l->name);
	memset(&peer, 0, sizeof(peer));
	memset(&cname, 0, sizeof(cname));
	ask = accept4(l->fd, &peer.sa, &plen, SOCK_CLOEXEC);
	if (ask < 0)
		test_fail("%s: accept: %s", l->name, strerror(errno));
	if (getsockname(csk, &cname.sa, &clen) || clen != plen || memcmp(&cname, &peer, plen))
		test_fail("%s: accepted a connection from another address", l->name);
	expect(ask, "ping", l->name);
	if (write(ask, "pong", 5) != 5)
		test_fail("%s: write: %s", l->name, strerror(errno));
	expect(csk, "pong", l->name);
	close(ask);
	if (read(csk, &c, 1) != 0)
		test_fail("%s: no end of file after the server closed", l->name);
	close(csk);
}

static void setup_v4(struct sk *s)
{
	struct linger lg = { 1, 7 };
	struct timeval tv = { 1, 500000 };

	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (s->fd < 0)
		test_fail("socket: %s", strerror(errno));
	s->addr.in = (struct sockaddr_in){ .sin_family = AF_INET,
					   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	SET(s->fd, SOL_SOCKET, SO_REUSEADDR, 1);
	SET(s->fd, SOL_SOCKET, SO_KEEPALIVE, 1);
	SET(s->fd, SOL_SOCKET, SO_RCVBUF, 100000);
	SET(s->fd, SOL_SOCKET, SO_SNDBUF, 50000);
	SET(s->fd, SOL_IP, IP_TOS, 0x10);
	SET(s->fd, IPPROTO_TCP, TCP_NODELAY, 1);
	SET(s->fd, IPPROTO_TCP, TCP_KEEPIDLE, 77);
	SET(s->fd, IPPROTO_TCP, TCP_KEEPINTVL, 11);
	SET(s->fd, IPPROTO_TCP, TCP_KEEPCNT, 5);
	SET(s->fd, IPPROTO_TCP, TCP_FASTOPEN, 16);
	SET(s->fd, IPPROTO_TCP, TCP_USER_TIMEOUT, 12345);
	if (setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) ||
	    setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)))
		test_fail("setsockopt: %s", strerror(errno));
	if (bind(s->fd, &s->addr.sa, sizeof(s->addr.in)) || listen(s->fd, 7))
		test_fail("%s: %s", s->name, strerror(errno));
}

static void setup_v6(struct sk *s)
{
	s->fd = new_socket(AF_INET6, s->name);
	s->addr.in6 = (struct sockaddr_in6){ .sin6_family = AF_INET6,
					     .sin6_addr = in6addr_loopback };
	SET(s->fd, SOL_IPV6, IPV6_V6ONLY, 1);
	SET(s->fd, SOL_IPV6, IPV6_TCLASS, 0x20);
	SET(s->fd, SOL_IPV6, IPV6_UNICAST_HOPS, 9);
	SET(s->fd, SOL_SOCKET, SO_PRIORITY, 3);
	SET(s->fd, SOL_SOCKET, SO_OOBINLINE, 1);
	SET(s->fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, 5);
	SET(s->fd, IPPROTO_TCP, TCP_MAXSEG, 1000);
	if (setsockopt(s->fd, IPPROTO_TCP, TCP_CONGESTION, "reno", 4))
		test_fail("TCP_CONGESTION: %s", strerror(errno));
	if (bind(s->fd, &s->addr.sa, sizeof(s->addr.in6)) || listen(s->fd, 3))
		test_fail("%s: %s", s->name, strerror(errno));
}

static void setup_others(void)
{
	struct sk *b = &sks[SK_BOUND], *u = &sks[SK_UNBOUND];

	b->fd = new_socket(AF_INET, b->name);
	b->addr.in = (struct sockaddr_in){ .sin_family = AF_INET,
					   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	SET(b->fd, SOL_IP, IP_FREEBIND, 1);
	SET(b->fd, SOL_IP, IP_TTL, 42);
	if (setsockopt(b->fd, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3))
		test_fail("SO_BINDTODEVICE: %s", strerror(errno));
	if (bind(b->fd, &b->addr.sa, sizeof(b->addr.in)))
		test_fail("%s: bind: %s", b->name, strerror(errno));
	u->fd = new_socket(AF_INET, u->name);
	SET(u->fd, IPPROTO_TCP, TCP_SYNCNT, 3);
	SET(u->fd, IPPROTO_TCP, TCP_CORK, 1);
	SET(u->fd, SOL_SOCKET, SO_RCVLOWAT, 4);
}

int main(int argc, char **argv)
{
	struct test_values was = { 0 }, now = { 0 };
	int one = 1;

	test_init(argc, argv);
	setup_v4(&sks[SK_V4]);
	setup_v6(&sks[SK_V6]);
	setup_others();
	for (int i = 0; i < NR_SK; i++)
		record_name(&sks[i]);
	exchange(&sks[SK_V4], -1);
	for (int i = 0; i < NR_SK; i++) {
		capture(&sks[i], &was);
		get_strs(&sks[i], sks[i].strs);
	}

	test_ready();
	test_wait();

	for (int i = 0; i < NR_SK; i++) {
		check_name(&sks[i]);
		check_strs(&sks[i]);
		capture(&sks[i], &now);
	}
	test_values_check(&was, &now);
	if (accept(sks[SK_V4].fd, NULL, NULL) >= 0 || errno != EAGAIN)
		test_fail("%s: accept with nothing queued did not fail with EAGAIN",
			  sks[SK_V4].name);
	exchange(&sks[SK_V4], -1);
	exchange(&sks[SK_V6], -1);
	exchange(&sks[SK_V4], sks[SK_UNBOUND].fd);
	if (setsockopt(sks[SK_BOUND].fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    listen(sks[SK_BOUND].fd, 1))
		test_fail("%s: listen: %s", sks[SK_BOUND].name, strerror(errno));
	exchange(&sks[SK_BOUND], -1);
	test_pass();
}
