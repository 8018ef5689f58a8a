/* SPDX-License-Identifier: MIT */
/*
 * AF_INET and AF_INET6 sockets: TCP listeners, TCP sockets that are neither listening nor
 * connected (bound or not), and UDP sockets (bound, connected or neither), with the socket
 * options that differ from those of a new socket. Established TCP connections need TCP repair
 * and are refused, as is whatever the kernel holds that cannot be read back or rebuilt:
 * connections waiting to be accepted, queued datagrams, socket filters, multicast memberships.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/files.h"
#include "engine/files/inet.h"

/* TCP states as tcp_info's tcpi_state gives them (include/net/tcp_states.h, a stable ABI). */
enum {
	TCPS_ESTABLISHED = 1,
	TCPS_SYN_SENT,
	TCPS_SYN_RECV,
	TCPS_FIN_WAIT1,
	TCPS_FIN_WAIT2,
	TCPS_TIME_WAIT,
	TCPS_CLOSE,
	TCPS_CLOSE_WAIT,
	TCPS_LAST_ACK,
	TCPS_LISTEN,
	TCPS_CLOSING,
};

static const char *const tcp_state_names[] = {
	[TCPS_ESTABLISHED] = "ESTABLISHED", [TCPS_SYN_SENT] = "SYN_SENT",
	[TCPS_SYN_RECV] = "SYN_RECV",	    [TCPS_FIN_WAIT1] = "FIN_WAIT1",
	[TCPS_FIN_WAIT2] = "FIN_WAIT2",	    [TCPS_TIME_WAIT] = "TIME_WAIT",
	[TCPS_CLOSE] = "CLOSE",		    [TCPS_CLOSE_WAIT] = "CLOSE_WAIT",
	[TCPS_LAST_ACK] = "LAST_ACK",	    [TCPS_LISTEN] = "LISTEN",
	[TCPS_CLOSING] = "CLOSING",
};

/* Longest "[address]:port" text. */
#define ADDR_TEXT_MAX (INET6_ADDRSTRLEN + 24)
/* Longest "TCP socket <address>" description. */
#define DESC_MAX (ADDR_TEXT_MAX + 32)

union inet_sa {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

/* ---- addresses */

static size_t addr_len(uint32_t family)
{
	return family == AF_INET ? sizeof(struct in_addr) : sizeof(struct in6_addr);
}

/* "127.0.0.1:80" or "[::1]:80" into @buf (ADDR_TEXT_MAX bytes). */
static const char *addr_text(char *buf, uint32_t family, const void *addr, uint32_t port)
{
	char a[INET6_ADDRSTRLEN];

	if (!inet_ntop((int)family, addr, a, sizeof(a)))
		snprintf(a, sizeof(a), "?");
	snprintf(buf, ADDR_TEXT_MAX, family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, port);
	return buf;
}

/* The sockaddr for an image address (validated by inet_prepare()); returns its length. */
static socklen_t sa_join(uint32_t family, const ProtobufCBinaryData *addr, uint32_t port,
			 uint32_t scope, union inet_sa *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (family == AF_INET) {
		ret->in.sin_family = AF_INET;
		ret->in.sin_port = htons((uint16_t)port);
		memcpy(&ret->in.sin_addr, addr->data, sizeof(ret->in.sin_addr));
		return sizeof(ret->in);
	}
	ret->in6.sin6_family = AF_INET6;
	ret->in6.sin6_port = htons((uint16_t)port);
	ret->in6.sin6_scope_id = scope;
	memcpy(&ret->in6.sin6_addr, addr->data, sizeof(ret->in6.sin6_addr));
	return sizeof(ret->in6);
}

/* "TCP socket 127.0.0.1:80", "UDP socket (not bound)": how messages name a socket. */
static const char *describe(char *buf, const InetSkEntry *e)
{
	const char *proto = e->protocol == IPPROTO_TCP ? "TCP" : "UDP";
	char a[ADDR_TEXT_MAX];

	if (!e->has_addr)
		snprintf(buf, DESC_MAX, "%s socket (not bound)", proto);
	else
		snprintf(buf, DESC_MAX, "%s socket %s", proto,
			 addr_text(a, e->family, e->addr.data, e->port));
	return buf;
}

/* ---- dump */

static int socket_domain(int fd)
{
	int domain = -1;
	socklen_t len = sizeof(domain);

	return getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 ? -1 : domain;
}

static bool inet_match(int fd, const struct stat *st, const char *link)
{
	int domain;

	(void)link;
	if (!S_ISSOCK(st->st_mode))
		return false;
	domain = socket_domain(fd);
	return domain == AF_INET || domain == AF_INET6;
}

static const char *proto_name(int protocol)
{
	switch (protocol) {
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return "ICMP (ping)";
	case IPPROTO_SCTP:
		return "SCTP";
	case IPPROTO_UDPLITE:
		return "UDP-Lite";
	case IPPROTO_MPTCP:
		return "MPTCP";
	default:
		return NULL;
	}
}

/* Family, type and protocol: only TCP and UDP are taken. */
static int dump_kind(struct dump_ctx *d, int tfd, int fd, const char *link, InetSkEntry *e)
{
	static const int names[] = { SO_DOMAIN, SO_TYPE, SO_PROTOCOL };
	int v[ARRAY_SIZE(names)];
	char why[96];

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		socklen_t len = sizeof(v[i]);

		if (getsockopt(fd, SOL_SOCKET, names[i], &v[i], &len) < 0)
			return pr_err_errno(-errno, "task %d: fd %d: can't read the socket's kind",
					    d->pid, tfd);
	}
	e->has_family = e->has_type = e->has_protocol = true;
	e->family = (uint32_t)v[0];
	e->type = (uint32_t)v[1];
	e->protocol = (uint32_t)v[2];
	if ((v[1] == SOCK_STREAM && v[2] == IPPROTO_TCP) ||
	    (v[1] == SOCK_DGRAM && v[2] == IPPROTO_UDP))
		return 0;
	if (v[1] == SOCK_RAW)
		snprintf(why, sizeof(why), "raw sockets are not supported");
	else if (proto_name(v[2]))
		snprintf(why, sizeof(why), "%s sockets are not supported yet", proto_name(v[2]));
	else
		snprintf(why, sizeof(why), "sockets of type %d, protocol %d are not supported yet",
			 v[1], v[2]);
	return files_refuse(d, tfd, link, why);
}

static void set_bytes(ProtobufCBinaryData *b, const void *data, size_t len)
{
	b->data = xmalloc(len);
	b->len = len;
	memcpy(b->data, data, len);
}

/* The address and port in @sa, which is of @family. */
static const void *sa_addr(const union inet_sa *sa, uint32_t family, uint32_t *ret_port)
{
	*ret_port = ntohs(family == AF_INET ? sa->in.sin_port : sa->in6.sin6_port);
	if (family == AF_INET)
		return &sa->in.sin_addr;
	return &sa->in6.sin6_addr;
}

/* The local address, if the socket has one: a port, or an address other than the any one. */
static int dump_local(struct dump_ctx *d, int tfd, int fd, InetSkEntry *e)
{
	static const uint8_t any[sizeof(struct in6_addr)];
	union inet_sa sa;
	socklen_t len = sizeof(sa);
	const void *a;
	uint32_t port;
	int r;

	memset(&sa, 0, sizeof(sa));
	r = getsockname(fd, &sa.sa, &len) < 0 ? -errno : 0;
	if (r < 0 || sa.sa.sa_family != e->family)
		return pr_err_errno(r ? r : -EAFNOSUPPORT,
				    "task %d: fd %d: can't read the socket's address", d->pid, tfd);
	a = sa_addr(&sa, e->family, &port);
	if (port == 0 && !memcmp(a, any, addr_len(e->family)))
		return 0;
	e->has_addr = e->has_port = true;
	set_bytes(&e->addr, a, addr_len(e->family));
	e->port = port;
	if (e->family == AF_INET6 && sa.in6.sin6_scope_id) {
		e->has_scope_id = true;
		e->scope_id = sa.in6.sin6_scope_id;
	}
	return 0;
}

/* Any TCP state but LISTEN and CLOSE: a connection, which needs TCP repair. */
static int refuse_connection(struct dump_ctx *d, int tfd, int fd, const InetSkEntry *e,
			     unsigned state)
{
	char local[ADDR_TEXT_MAX] = "?", peer[ADDR_TEXT_MAX] = "?";
	union inet_sa sa;
	socklen_t len = sizeof(sa);
	uint32_t port;

	if (e->has_addr)
		addr_text(local, e->family, e->addr.data, e->port);
	if (getpeername(fd, &sa.sa, &len) == 0 && sa.sa.sa_family == e->family) {
		const void *a = sa_addr(&sa, e->family, &port);

		addr_text(peer, e->family, a, port);
	}
	if (state == TCPS_ESTABLISHED)
		return pr_err_ret(-EOPNOTSUPP,
				  "task %d: fd %d: TCP connection %s -> %s: established TCP connections need --tcp-established (not supported yet)",
				  d->pid, tfd, local, peer);
	return pr_err_ret(-EOPNOTSUPP,
			  "task %d: fd %d: TCP connection %s -> %s in state %s: TCP connections are not supported yet",
			  d->pid, tfd, local, peer,
			  state < ARRAY_SIZE(tcp_state_names) && tcp_state_names[state] ?
				  tcp_state_names[state] : "?");
}

static int dump_tcp_state(struct dump_ctx *d, int tfd, int fd, InetSkEntry *e)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	char desc[DESC_MAX];

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return pr_err_errno(-errno, "task %d: fd %d: can't read TCP_INFO", d->pid, tfd);
	describe(desc, e);
	e->has_state = true;
	if (ti.tcpi_state == TCPS_LISTEN) {
		/*
		 * For a listener, tcp_get_info() puts the accept queue's length and limit in
		 * these two (long before Linux 5.6, which cryo needs for pidfd_getfd).
		 */
		if (ti.tcpi_unacked)
			return pr_err_ret(-EOPNOTSUPP,
					  "task %d: fd %d: %s: %u connections wait to be accepted, which can't be rebuilt without TCP repair (not supported yet)",
					  d->pid, tfd, desc, ti.tcpi_unacked);
		e->state = INET_SK_STATE__INET_SK_LISTEN;
		e->has_backlog = true;
		e->backlog = ti.tcpi_sacked;
		return 0;
	}
	if (ti.tcpi_state != TCPS_CLOSE)
		return refuse_connection(d, tfd, fd, e, ti.tcpi_state);
	/*
	 * Segment counts (Linux 4.2) stay zero until a connection is tried and are zeroed when
	 * it fails or is undone (tcp_disconnect()): a socket that had a connection and lost it
	 * to a reset or a close keeps them, and reads and writes differently from a new one.
	 */
	if (ti.tcpi_segs_out || ti.tcpi_segs_in)
		return pr_err_ret(-EOPNOTSUPP,
				  "task %d: fd %d: %s: its connection failed or was closed; such sockets are not supported yet",
				  d->pid, tfd, desc);
	e->state = INET_SK_STATE__INET_SK_CLOSED;
	return 0;
}

/*
 * bind() to an IPv6 address other than the any or a v4-mapped one sets IPV6_V6ONLY
 * (inet6_bind()); connect() choosing the local address does not. A connected socket with such
 * an address but without IPV6_V6ONLY got it from connect(): keep only the port to bind, and
 * let connect() choose the address again at restore.
 */
static void drop_implicit_v6_addr(int fd, InetSkEntry *e)
{
	const struct in6_addr *a = (const struct in6_addr *)(const void *)e->addr.data;
	socklen_t len = sizeof(int);
	int v6only = 1;

	if (e->family != AF_INET6 || !e->has_addr || IN6_IS_ADDR_V4MAPPED(a) ||
	    IN6_IS_ADDR_UNSPECIFIED(a))
		return;
	if (getsockopt(fd, SOL_IPV6, IPV6_V6ONLY, &v6only, &len) < 0 || v6only)
		return;
	memset(e->addr.data, 0, e->addr.len);
	e->has_scope_id = false;
	e->scope_id = 0;
}

static int dump_udp_state(struct dump_ctx *d, int tfd, int fd, InetSkEntry *e)
{
	union inet_sa sa;
	socklen_t len = sizeof(sa);
	const void *a;
	int r;

	e->has_state = true;
	e->state = INET_SK_STATE__INET_SK_CLOSED;
	memset(&sa, 0, sizeof(sa));
	r = getpeername(fd, &sa.sa, &len) < 0 ? -errno : 0;
	if (r == -ENOTCONN)
		return 0;
	if (r < 0 || sa.sa.sa_family != e->family)
		return pr_err_errno(r ? r : -EAFNOSUPPORT,
				    "task %d: fd %d: can't read the peer's address", d->pid, tfd);
	e->state = INET_SK_STATE__INET_SK_CONNECTED;
	e->has_peer_port = true;
	a = sa_addr(&sa, e->family, &e->peer_port);
	set_bytes(&e->peer_addr, a, addr_len(e->family));
	e->has_peer_addr = true;
	if (e->family == AF_INET6 && sa.in6.sin6_scope_id) {
		e->has_peer_scope_id = true;
		e->peer_scope_id = sa.in6.sin6_scope_id;
	}
	drop_implicit_v6_addr(fd, e);
	return 0;
}

/*
 * What the kernel holds for the socket that getsockopt() can't give back: a filter, queued
 * data (datagrams, errors, corked data) and option memory (multicast memberships, IP
 * options, TCP MD5 keys). A new socket has none, so any of it is refused.
 */
static int check_unreadable(struct dump_ctx *d, int tfd, int fd, const InetSkEntry *e)
{
	uint32_t mem[SK_MEMINFO_VARS];
	socklen_t len = 0;
	char desc[DESC_MAX];
	int r;

	describe(desc, e);
	/* SO_GET_FILTER (Linux 3.8) with no room gives a classic filter's length; eBPF: EACCES. */
	r = getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, NULL, &len);
	if ((r < 0 && errno == EACCES) || (r == 0 && len))
		return pr_err_ret(-EOPNOTSUPP,
				  "task %d: fd %d: %s: socket filters are not supported yet", d->pid,
				  tfd, desc);
	memset(mem, 0, sizeof(mem));
	len = sizeof(mem);
	/* SO_MEMINFO: Linux 4.12. */
	if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &len) < 0)
		return pr_err_errno(-errno, "task %d: fd %d: can't read SO_MEMINFO", d->pid, tfd);
	if (mem[SK_MEMINFO_RMEM_ALLOC])
		return pr_err_ret(-EOPNOTSUPP,
				  "task %d: fd %d: %s: received datagrams or errors are queued (%u bytes); queued data is not supported yet",
				  d->pid, tfd, desc, mem[SK_MEMINFO_RMEM_ALLOC]);
	if (mem[SK_MEMINFO_WMEM_ALLOC] || mem[SK_MEMINFO_WMEM_QUEUED])
		return pr_err_ret(-EOPNOTSUPP,
				  "task %d: fd %d: %s: data waits to be sent (%u bytes); queued data is not supported yet",
				  d->pid, tfd, desc,
				  mem[SK_MEMINFO_WMEM_ALLOC] + mem[SK_MEMINFO_WMEM_QUEUED]);
	if (mem[SK_MEMINFO_OPTMEM])
		return pr_err_ret(-EOPNOTSUPP,
				  "task %d: fd %d: %s: holds %u bytes of option state that can't be read back (multicast memberships, IP options, TCP MD5 keys); not supported yet",
				  d->pid, tfd, desc, mem[SK_MEMINFO_OPTMEM]);
	return 0;
}

static int inet_dump(struct dump_ctx *d, FileEntry *f, int fd, int tfd, const struct stat *st,
		     const char *link)
{
	InetSkEntry *e = f->inet_sk = xzalloc(sizeof(*e));
	char desc[DESC_MAX];
	int r;

	(void)st;
	inet_sk_entry__init(e);
	r = dump_kind(d, tfd, fd, link, e);
	if (r == 0)
		r = dump_local(d, tfd, fd, e);
	if (r == 0)
		r = e->protocol == IPPROTO_TCP ? dump_tcp_state(d, tfd, fd, e) :
						 dump_udp_state(d, tfd, fd, e);
	if (r == 0)
		r = check_unreadable(d, tfd, fd, e);
	if (r == 0)
		r = inet_dump_opts(d, tfd, fd, e);
	if (r == 0 && e->state == INET_SK_STATE__INET_SK_LISTEN)
		pr_debug("task %d: fd %d: %s, listening, backlog %u", d->pid, tfd,
			 describe(desc, e), e->backlog);
	else if (r == 0)
		pr_debug("task %d: fd %d: %s%s", d->pid, tfd, describe(desc, e),
			 e->state == INET_SK_STATE__INET_SK_CONNECTED ? ", connected" : "");
	return r;
}

/* ---- restore */

static const char *check_addr(uint32_t family, bool has_addr, const ProtobufCBinaryData *addr,
			      bool has_port, uint32_t port)
{
	if (!has_addr || !has_port || addr->len != addr_len(family) || port > 65535)
		return "bad address";
	return NULL;
}

static const char *check_entry(const InetSkEntry *e)
{
	if (!e->has_family || (e->family != AF_INET && e->family != AF_INET6))
		return "bad family";
	if (!e->has_type || !e->has_protocol ||
	    !((e->type == SOCK_STREAM && e->protocol == IPPROTO_TCP) ||
	      (e->type == SOCK_DGRAM && e->protocol == IPPROTO_UDP)))
		return "bad type or protocol";
	if (e->has_addr && check_addr(e->family, e->has_addr, &e->addr, e->has_port, e->port))
		return "bad address";
	switch (e->state) {
	case INET_SK_STATE__INET_SK_CLOSED:
		return NULL;
	case INET_SK_STATE__INET_SK_LISTEN:
		if (e->protocol != IPPROTO_TCP || !e->has_backlog || e->backlog > INT32_MAX)
			return "bad listener";
		return NULL;
	case INET_SK_STATE__INET_SK_CONNECTED:
		if (e->protocol != IPPROTO_UDP || !e->has_addr || !e->peer_port ||
		    check_addr(e->family, e->has_peer_addr, &e->peer_addr, e->has_peer_port,
			       e->peer_port))
			return "bad peer";
		return NULL;
	default:
		return "bad state";
	}
}

static int inet_prepare(struct rst_ctx *r, const FileEntry *f)
{
	const char *why = f->inet_sk ? check_entry(f->inet_sk) : "no socket entry";

	(void)r;
	if (why)
		return pr_err_ret(-EINVAL,
				  "image 'files.img': file %lu: inet socket is corrupt (%s)",
				  (unsigned long)f->id, why);
	return inet_check_opts(f, f->inet_sk->opts);
}

/* bind(), listen() or connect() in the puppet with the image's address. */
static int remote_addr_call(struct rst_ctx *r, long nr, int fd, uint32_t family,
			    const ProtobufCBinaryData *addr, uint32_t port, uint32_t scope)
{
	union inet_sa sa;
	socklen_t len = sa_join(family, addr, port, scope, &sa);
	uint64_t raddr;
	int rr = puppet_put(&r->pup, 0, &sa, len, &raddr);

	if (rr < 0)
		return rr;
	return (int)puppet_sys(&r->pup, nr, (uint64_t)fd, raddr, len);
}

/* Bind, then listen or connect as the socket did. */
static int restore_state(struct rst_ctx *r, int fd, const InetSkEntry *e, const char *desc)
{
	char peer[ADDR_TEXT_MAX];
	int a;

	if (e->has_addr) {
		a = remote_addr_call(r, SYS_bind, fd, e->family, &e->addr, e->port, e->scope_id);
		/* TIME_WAIT connections hold a port against a listener without SO_REUSEADDR. */
		if (a == -EADDRINUSE && e->protocol == IPPROTO_TCP)
			return pr_err_errno(a, "task %d: %s: can't bind: another socket has the address, or connections of the dumped process linger in TIME_WAIT on it",
					    r->pup.pid, desc);
		if (a < 0)
			return pr_err_errno(a, "task %d: %s: can't bind", r->pup.pid, desc);
	}
	if (e->state == INET_SK_STATE__INET_SK_LISTEN) {
		a = (int)puppet_sys(&r->pup, SYS_listen, (uint64_t)fd, e->backlog);
		if (a < 0)
			return pr_err_errno(a, "task %d: %s: can't listen", r->pup.pid, desc);
	}
	if (e->state == INET_SK_STATE__INET_SK_CONNECTED) {
		a = remote_addr_call(r, SYS_connect, fd, e->family, &e->peer_addr, e->peer_port,
				     e->peer_scope_id);
		if (a < 0)
			return pr_err_errno(a, "task %d: %s: can't connect to %s", r->pup.pid, desc,
					    addr_text(peer, e->family, e->peer_addr.data,
						      e->peer_port));
	}
	return 0;
}

static int inet_open(struct rst_ctx *r, const FileEntry *f, int flags, int *ret_fd)
{
	const InetSkEntry *e = f->inet_sk;
	char desc[DESC_MAX];
	long fd;
	int rr;

	describe(desc, e);
	fd = puppet_sys(&r->pup, SYS_socket, e->family,
			e->type | ((flags & O_NONBLOCK) ? SOCK_NONBLOCK : 0), e->protocol);
	if (fd < 0)
		return pr_err_errno((int)fd, "task %d: %s: can't create the socket", r->pup.pid,
				    desc);
	/* Options first: some (IPV6_V6ONLY, SO_REUSE*, IP_FREEBIND) must precede bind(). */
	rr = inet_restore_opts(r, (int)fd, e->opts, desc);
	if (rr == 0)
		rr = restore_state(r, (int)fd, e, desc);
	if (rr < 0) {
		puppet_sys(&r->pup, SYS_close, (uint64_t)fd);
		return rr;
	}
	*ret_fd = (int)fd;
	return 0;
}

const struct file_ops inet_file_ops = {
	.kind = FILE_KIND__FILE_INET,
	.match = inet_match,
	.dump = inet_dump,
	.prepare = inet_prepare,
	.open = inet_open,
};
