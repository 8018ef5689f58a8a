/* SPDX-License-Identifier: MIT */
/*
 * Unix socketpairs of each type with data queued both ways: a stream pair (5000 and 3000 bytes),
 * a datagram pair (messages of 1, 100, 0, 70000 and 3 bytes one way, 2 the other; the
 * receiving end has SO_PASSCRED, so the messages carry the sender's credentials), a seqpacket
 * pair (messages of 10, 1 and 40000 bytes one way, 5 the other), and a stream pair whose one
 * end sent 100 bytes and shut down writing. Some ends are O_NONBLOCK or FD_CLOEXEC, one has
 * SO_SNDBUF, SO_RCVTIMEO and SO_PEEK_OFF set. A stream pair and a datagram pair lose one end
 * after it sent data (200 bytes; datagrams of 30, 0 and 40 bytes).
 * After restore: the fd and status flags, the type and those options are as before; each end is
 * its partner's peer (UNIX_DIAG); reading gives every byte and message back exactly, with its
 * boundaries and credentials, then EAGAIN (or end of stream after the shutdown); and new data
 * flows both ways. The sockets whose peer closed give their data back, the stream then its end
 * and EPIPE on sending.
 * CRYO-TEST: cycles=2
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "lib.h"

#define MSG_MAX 70000

struct end {
	int fd, fd_flags, fl_flags, type, sndbuf, peek_off;
	struct timeval rcvtimeo;
};

struct pair {
	const char *name;
	struct end a, b;
	/* Message sizes queued a->b and b->a; for a stream one size, the byte count. */
	size_t ab[5], nab, ba[5], nba;
	uint64_t seed;
	bool close_a; /* a closes once it has sent: b is left with the data and a dead peer */
};

static struct pair pairs[] = {
	{ "stream", .ab = { 5000 }, .nab = 1, .ba = { 3000 }, .nba = 1, .seed = 10 },
	{ "dgram", .ab = { 1, 100, 0, 70000, 3 }, .nab = 5, .ba = { 7, 2 }, .nba = 2, .seed = 20 },
	{ "seqpacket", .ab = { 10, 1, 40000 }, .nab = 3, .ba = { 5 }, .nba = 1, .seed = 30 },
	{ "stream-shut", .ab = { 100 }, .nab = 1, .seed = 40 },
	{ "stream-closed", .ab = { 200 }, .nab = 1, .seed = 50, .close_a = true },
	{ "dgram-closed", .ab = { 30, 0, 40 }, .nab = 3, .seed = 60, .close_a = true },
};

static const int types[] = { SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET, SOCK_STREAM, SOCK_STREAM,
			     SOCK_DGRAM };

static void capture(struct end *e)
{
	socklen_t len = sizeof(int);

	e->fd_flags = fcntl(e->fd, F_GETFD);
	e->fl_flags = fcntl(e->fd, F_GETFL);
	if (getsockopt(e->fd, SOL_SOCKET, SO_TYPE, &e->type, &len) ||
	    getsockopt(e->fd, SOL_SOCKET, SO_SNDBUF, &e->sndbuf, &len) ||
	    getsockopt(e->fd, SOL_SOCKET, SO_PEEK_OFF, &e->peek_off, &len))
		test_fail("fd %d: getsockopt: %s", e->fd, strerror(errno));
	len = sizeof(e->rcvtimeo);
	if (getsockopt(e->fd, SOL_SOCKET, SO_RCVTIMEO, &e->rcvtimeo, &len))
		test_fail("fd %d: getsockopt: %s", e->fd, strerror(errno));
}

static void check_end(const char *pair, const struct end *e)
{
	struct end now = { .fd = e->fd };

	capture(&now);
	if (now.fd_flags != e->fd_flags || now.fl_flags != e->fl_flags)
		test_fail("%s fd %d: flags %#x/%#o, were %#x/%#o", pair, e->fd, now.fd_flags,
			  now.fl_flags, e->fd_flags, e->fl_flags);
	if (now.type != e->type || now.sndbuf != e->sndbuf || now.peek_off != e->peek_off)
		test_fail("%s fd %d: type %d SO_SNDBUF %d SO_PEEK_OFF %d, were %d %d %d", pair,
			  e->fd, now.type, now.sndbuf, now.peek_off, e->type, e->sndbuf, e->peek_off);
	if (now.rcvtimeo.tv_sec != e->rcvtimeo.tv_sec || now.rcvtimeo.tv_usec != e->rcvtimeo.tv_usec)
		test_fail("%s fd %d: SO_RCVTIMEO changed", pair, e->fd);
}

/* The peer inode UNIX_DIAG gives for socket inode ino. */
static unsigned peer_of(unsigned ino)
{
	struct {
		struct nlmsghdr nlh;
		struct unix_diag_req req;
	} rq = { .nlh = { .nlmsg_len = sizeof(rq), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			  .nlmsg_flags = NLM_F_REQUEST },
		 .req = { .sdiag_family = AF_UNIX, .udiag_ino = ino, .udiag_show = UDIAG_SHOW_PEER,
			  .udiag_cookie = { ~0u, ~0u } } };
	static char buf[8192];
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	struct rtattr *a;
	int sk = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG), len;
	unsigned peer = 0;

	if (sk < 0 || send(sk, &rq, sizeof(rq), 0) != sizeof(rq))
		test_fail("sock_diag: %s", strerror(errno));
	len = (int)recv(sk, buf, sizeof(buf), 0);
	close(sk);
	if (len < 0 || !NLMSG_OK(h, len) || h->nlmsg_type != SOCK_DIAG_BY_FAMILY)
		test_fail("sock_diag: no answer for socket:[%u]", ino);
	len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(struct unix_diag_msg)));
	a = (struct rtattr *)((char *)NLMSG_DATA(h) + NLMSG_ALIGN(sizeof(struct unix_diag_msg)));
	for (; RTA_OK(a, len); a = RTA_NEXT(a, len))
		if (a->rta_type == UNIX_DIAG_PEER)
			memcpy(&peer, RTA_DATA(a), sizeof(peer));
	return peer;
}

static unsigned ino_of(int fd)
{
	struct stat st;

	if (fstat(fd, &st))
		test_fail("fstat %d: %s", fd, strerror(errno));
	return (unsigned)st.st_ino;
}

static void check_peers(const struct pair *p)
{
	unsigned ia = ino_of(p->a.fd), ib = ino_of(p->b.fd);

	if (peer_of(ia) != ib || peer_of(ib) != ia)
		test_fail("%s: sockets %u and %u are not each other's peers (%u, %u)", p->name, ia, ib,
			  peer_of(ia), peer_of(ib));
}

static void send_all(int fd, const size_t *sizes, size_t n, int type, uint64_t seed)
{
	static unsigned char buf[MSG_MAX];

	for (size_t i = 0; i < n; i++) {
		test_fill(buf, sizes[i], seed + i);
		if (send(fd, buf, sizes[i], MSG_DONTWAIT) != (ssize_t)sizes[i])
			test_fail("fd %d: send %zu bytes (type %d): %s", fd, sizes[i], type,
				  strerror(errno));
	}
}

/* One message (or for a stream, everything up to EAGAIN) with its credentials if any. */
static ssize_t recv_one(int fd, int type, unsigned char *buf, size_t len, struct ucred *cred)
{
	union {
		struct cmsghdr align;
		char b[CMSG_SPACE(sizeof(struct ucred))];
	} cb;
	size_t got = 0;

	for (;;) {
		struct iovec iov = { buf + got, len - got };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cb.b,
				     .msg_controllen = sizeof(cb.b) };
		ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);

		if (n < 0 && errno == EAGAIN && got)
			return (ssize_t)got;
		if (n < 0)
			return -1;
		if (mh.msg_flags & MSG_TRUNC)
			test_fail("fd %d: a message longer than %zu bytes", fd, len);
		if (CMSG_FIRSTHDR(&mh) && CMSG_FIRSTHDR(&mh)->cmsg_type == SCM_CREDENTIALS)
			memcpy(cred, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof(*cred));
		if (type != SOCK_STREAM || n == 0)
			return n + (ssize_t)got;
		got += (size_t)n;
	}
}

static void check_cred(const char *what, const struct ucred *c)
{
	if (c->pid != getpid() || c->uid != getuid() || c->gid != getgid())
		test_fail("%s: credentials %d/%u/%u, want %d/%u/%u", what, c->pid, c->uid, c->gid,
			  getpid(), getuid(), getgid());
}

/*
 * Everything queued in fd must be the messages sizes[] made with seed, then nothing (EAGAIN), or
 * with eof the end of the stream.
 */
static void drain(const char *what, int fd, int type, const size_t *sizes, size_t n, uint64_t seed,
		  bool creds, bool eof)
{
	static unsigned char buf[MSG_MAX + 1], want[MSG_MAX];
	struct ucred cred;
	ssize_t got;

	for (size_t i = 0; i < n; i++) {
		memset(&cred, 0, sizeof(cred));
		got = recv_one(fd, type, buf, sizeof(buf), &cred);
		test_fill(want, sizes[i], seed + i);
		if (got < 0)
			test_fail("%s: message %zu of %zu: %s", what, i + 1, n, strerror(errno));
		if ((size_t)got != sizes[i] || memcmp(buf, want, sizes[i]))
			test_fail("%s: message %zu is %zd bytes, want %zu (or its bytes differ)", what,
				  i + 1, got, sizes[i]);
		if (creds)
			check_cred(what, &cred);
	}
	got = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (eof ? got != 0 : got >= 0 || errno != EAGAIN)
		test_fail("%s: after the queued data recv gives %zd (%s), want %s", what, got,
			  got < 0 ? strerror(errno) : "data", eof ? "the end" : "EAGAIN");
}

static void setup(struct pair *p, int type)
{
	static const struct timeval tmo = { 3, 500000 };
	int sv[2], sz = 65536, off = 7, one = 1;

	if (socketpair(AF_UNIX, type, 0, sv))
		test_fail("socketpair %s: %s", p->name, strerror(errno));
	p->a.fd = sv[0];
	p->b.fd = sv[1];
	/* Credentials travel with what is sent while the receiver has SO_PASSCRED. */
	if (type == SOCK_DGRAM && setsockopt(p->b.fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)))
		test_fail("SO_PASSCRED: %s", strerror(errno));
	send_all(p->a.fd, p->ab, p->nab, type, p->seed);
	send_all(p->b.fd, p->ba, p->nba, type, p->seed + 100);
	if (fcntl(p->a.fd, F_SETFL, O_NONBLOCK) || fcntl(p->b.fd, F_SETFD, FD_CLOEXEC))
		test_fail("fcntl: %s", strerror(errno));
	if (type == SOCK_STREAM && p->nba &&
	    (setsockopt(p->b.fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)) ||
	     setsockopt(p->b.fd, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo)) ||
	     setsockopt(p->a.fd, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof(off))))
		test_fail("setsockopt: %s", strerror(errno));
	if (!p->nba && !p->close_a && shutdown(p->a.fd, SHUT_WR))
		test_fail("shutdown: %s", strerror(errno));
	capture(&p->b);
	if (p->close_a) {
		close(p->a.fd);
		p->a.fd = -1;
		return;
	}
	capture(&p->a);
}

static void verify(struct pair *p, int type)
{
	static const char probe[] = "after restore";
	static const size_t plen[] = { sizeof(probe) };
	char what[64];
	bool creds = type == SOCK_DGRAM;
	int one = 1;

	check_end(p->name, &p->b);
	snprintf(what, sizeof(what), "%s a->b", p->name);
	if (p->close_a) {
		/* The stream ends after the data; the datagrams stay readable. */
		drain(what, p->b.fd, type, p->ab, p->nab, p->seed, false, type == SOCK_STREAM);
		if (type == SOCK_STREAM && (send(p->b.fd, "x", 1, MSG_NOSIGNAL) >= 0 || errno != EPIPE))
			test_fail("%s: sending to the closed peer does not fail with EPIPE", p->name);
		return;
	}
	check_end(p->name, &p->a);
	check_peers(p);
	drain(what, p->b.fd, type, p->ab, p->nab, p->seed, creds, !p->nba);
	snprintf(what, sizeof(what), "%s b->a", p->name);
	drain(what, p->a.fd, type, p->ba, p->nba, p->seed + 100, false, false);
	if (!p->nba) {
		send_all(p->b.fd, plen, 1, type, 77);
		drain("new data b->a", p->a.fd, type, plen, 1, 77, false, false);
		return;
	}
	if (creds && setsockopt(p->a.fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)))
		test_fail("SO_PASSCRED: %s", strerror(errno));
	send_all(p->a.fd, plen, 1, type, 55);
	send_all(p->b.fd, plen, 1, type, 66);
	drain("new data a->b", p->b.fd, type, plen, 1, 55, creds, false);
	drain("new data b->a", p->a.fd, type, plen, 1, 66, creds, false);
}

int main(int argc, char **argv)
{
	test_init(argc, argv);
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
		setup(&pairs[i], types[i]);

	test_ready();
	test_wait();

	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
		verify(&pairs[i], types[i]);
	test_pass();
}
