/* SPDX-License-Identifier: MIT */
/*
 * Socket options of AF_INET and AF_INET6 sockets: the options a socket has that differ from
 * those of a new socket of its kind in its network namespace are dumped, checked at prepare
 * and set again at restore, before bind(), listen() or connect().
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/files.h"
#include "engine/files/inet.h"

/* ---- socket options */

/* Longest congestion control name (TCP_CA_NAME_MAX in include/net/tcp.h). */
#define TCP_CA_NAME_MAX 16

enum opt_kind {
	OPT_INT,    /* an int, stored as it is */
	OPT_BUF,    /* SO_RCVBUF/SO_SNDBUF: the kernel doubles what is set */
	OPT_TIMEO,  /* struct timeval, stored in microseconds */
	OPT_LINGER, /* struct linger, stored as l_linger when l_onoff */
};

struct inet_opt {
	const char *name;
	int level, optname;
	enum opt_kind kind;
	int64_t min, max; /* the values an image may carry */
	size_t has_off, val_off; /* of the has_ flag and the value in InetSkOpts */
	bool listener_only; /* of other sockets, getsockopt() may give another value */
};

#define OPT_(lvl, nm, str, field, kd, lo, hi, ...)                                                 \
	{ str, lvl, nm, kd, lo, hi, offsetof(InetSkOpts, has_##field), offsetof(InetSkOpts, field), \
	  __VA_ARGS__ }
#define OPT(lvl, nm, field, kd, lo, hi, ...) OPT_(lvl, nm, #nm, field, kd, lo, hi, __VA_ARGS__)
#define OPT_BOOL(lvl, nm, field) OPT_(lvl, nm, #nm, field, OPT_INT, 0, 1, false)
#define USEC_MAX (INT32_MAX * 1000000LL)

/*
 * In the order they are set again. SOL_IP comes before SO_PRIORITY, which IP_TOS rewrites;
 * everything comes before bind(), which IPV6_V6ONLY, SO_REUSE*, IP_FREEBIND and
 * IP_TRANSPARENT must precede, and before listen(), which TCP_FASTOPEN must.
 */
static const struct inet_opt inet_opts[] = {
	OPT(SOL_IP, IP_TOS, ip_tos, OPT_INT, 0, 255, false),
	OPT(SOL_IP, IP_TTL, ip_ttl, OPT_INT, 1, 255, false),
	OPT(SOL_IP, IP_MTU_DISCOVER, ip_mtu_discover, OPT_INT, 0, IP_PMTUDISC_OMIT, false),
	OPT_BOOL(SOL_IP, IP_RECVERR, ip_recverr),
	OPT_BOOL(SOL_IP, IP_PKTINFO, ip_pktinfo),
	OPT_BOOL(SOL_IP, IP_RECVTOS, ip_recvtos),
	OPT_BOOL(SOL_IP, IP_RECVTTL, ip_recvttl),
	OPT_BOOL(SOL_IP, IP_FREEBIND, ip_freebind),
	OPT_BOOL(SOL_IP, IP_TRANSPARENT, ip_transparent),
	OPT_BOOL(SOL_IP, IP_BIND_ADDRESS_NO_PORT, ip_bind_address_no_port),
	OPT(SOL_IP, IP_MULTICAST_TTL, ip_multicast_ttl, OPT_INT, 0, 255, false),
	OPT_BOOL(SOL_IP, IP_MULTICAST_LOOP, ip_multicast_loop),
	OPT_BOOL(SOL_IP, IP_MULTICAST_ALL, ip_multicast_all),
	OPT_BOOL(SOL_IP, IP_RECVORIGDSTADDR, ip_recvorigdstaddr),
	OPT_BOOL(SOL_IPV6, IPV6_V6ONLY, ipv6_v6only),
	OPT(SOL_IPV6, IPV6_UNICAST_HOPS, ipv6_unicast_hops, OPT_INT, -1, 255, false),
	OPT(SOL_IPV6, IPV6_MULTICAST_HOPS, ipv6_multicast_hops, OPT_INT, -1, 255, false),
	OPT_BOOL(SOL_IPV6, IPV6_MULTICAST_LOOP, ipv6_multicast_loop),
	OPT(SOL_IPV6, IPV6_TCLASS, ipv6_tclass, OPT_INT, -1, 255, false),
	OPT_BOOL(SOL_IPV6, IPV6_RECVPKTINFO, ipv6_recvpktinfo),
	OPT_BOOL(SOL_IPV6, IPV6_RECVERR, ipv6_recverr),
	OPT(SOL_IPV6, IPV6_MTU_DISCOVER, ipv6_mtu_discover, OPT_INT, 0, IPV6_PMTUDISC_OMIT, false),
	OPT_BOOL(SOL_IPV6, IPV6_RECVTCLASS, ipv6_recvtclass),
	OPT_BOOL(SOL_IPV6, IPV6_RECVHOPLIMIT, ipv6_recvhoplimit),
	OPT_BOOL(SOL_SOCKET, SO_REUSEADDR, so_reuseaddr),
	OPT_BOOL(SOL_SOCKET, SO_REUSEPORT, so_reuseport),
	OPT_BOOL(SOL_SOCKET, SO_KEEPALIVE, so_keepalive),
	OPT_BOOL(SOL_SOCKET, SO_BROADCAST, so_broadcast),
	OPT_BOOL(SOL_SOCKET, SO_DONTROUTE, so_dontroute),
	OPT_BOOL(SOL_SOCKET, SO_OOBINLINE, so_oobinline),
	OPT(SOL_SOCKET, SO_PRIORITY, so_priority, OPT_INT, 0, INT32_MAX, false),
	OPT(SOL_SOCKET, SO_MARK, so_mark, OPT_INT, INT32_MIN, INT32_MAX, false),
	OPT(SOL_SOCKET, SO_RCVLOWAT, so_rcvlowat, OPT_INT, 0, INT32_MAX, false),
	OPT_BOOL(SOL_SOCKET, SO_TIMESTAMP, so_timestamp),
	OPT_BOOL(SOL_SOCKET, SO_TIMESTAMPNS, so_timestampns),
	OPT(SOL_SOCKET, SO_RCVBUF, so_rcvbuf, OPT_BUF, 2, INT32_MAX, false),
	OPT(SOL_SOCKET, SO_SNDBUF, so_sndbuf, OPT_BUF, 2, INT32_MAX, false),
	OPT(SOL_SOCKET, SO_RCVTIMEO, so_rcvtimeo_us, OPT_TIMEO, 0, USEC_MAX, false),
	OPT(SOL_SOCKET, SO_SNDTIMEO, so_sndtimeo_us, OPT_TIMEO, 0, USEC_MAX, false),
	OPT(SOL_SOCKET, SO_LINGER, so_linger_s, OPT_LINGER, 0, INT32_MAX, false),
	OPT_BOOL(IPPROTO_TCP, TCP_NODELAY, tcp_nodelay),
	OPT_BOOL(IPPROTO_TCP, TCP_CORK, tcp_cork),
	/*
	 * A socket that is not listening gives the MSS of its last connection attempt, even one
	 * undone by connect(AF_UNSPEC), when TCP_MAXSEG was not set: only a listener's is sure.
	 */
	OPT(IPPROTO_TCP, TCP_MAXSEG, tcp_maxseg, OPT_INT, 0, 65535, true),
	OPT(IPPROTO_TCP, TCP_KEEPIDLE, tcp_keepidle, OPT_INT, 1, INT32_MAX, false),
	OPT(IPPROTO_TCP, TCP_KEEPINTVL, tcp_keepintvl, OPT_INT, 1, INT32_MAX, false),
	OPT(IPPROTO_TCP, TCP_KEEPCNT, tcp_keepcnt, OPT_INT, 1, INT32_MAX, false),
	OPT(IPPROTO_TCP, TCP_SYNCNT, tcp_syncnt, OPT_INT, 1, INT32_MAX, false),
	OPT(IPPROTO_TCP, TCP_LINGER2, tcp_linger2, OPT_INT, -1, INT32_MAX, false),
	OPT(IPPROTO_TCP, TCP_DEFER_ACCEPT, tcp_defer_accept, OPT_INT, 0, INT32_MAX, false),
	OPT(IPPROTO_TCP, TCP_WINDOW_CLAMP, tcp_window_clamp, OPT_INT, 0, INT32_MAX, false),
	OPT(IPPROTO_TCP, TCP_USER_TIMEOUT, tcp_user_timeout, OPT_INT, 0, INT32_MAX, false),
	OPT(IPPROTO_TCP, TCP_FASTOPEN, tcp_fastopen, OPT_INT, 0, INT32_MAX, false),
	OPT_BOOL(IPPROTO_TCP, TCP_FASTOPEN_CONNECT, tcp_fastopen_connect),
	OPT(IPPROTO_TCP, TCP_NOTSENT_LOWAT, tcp_notsent_lowat, OPT_INT, 0, INT32_MAX, false),
	OPT_BOOL(IPPROTO_UDP, UDP_CORK, udp_cork),
	OPT(IPPROTO_UDP, UDP_SEGMENT, udp_segment, OPT_INT, 0, 65535, false),
	OPT_BOOL(IPPROTO_UDP, UDP_GRO, udp_gro),
};

/* Options whose value is a string. */
struct inet_str_opt {
	const char *name;
	int level, optname;
	size_t max; /* longest value, without the NUL */
	size_t off; /* of the char * in InetSkOpts */
};

static const struct inet_str_opt inet_str_opts[] = {
	{ "SO_BINDTODEVICE", SOL_SOCKET, SO_BINDTODEVICE, IFNAMSIZ - 1,
	  offsetof(InetSkOpts, so_bindtodevice) },
	{ "TCP_CONGESTION", IPPROTO_TCP, TCP_CONGESTION, TCP_CA_NAME_MAX - 1,
	  offsetof(InetSkOpts, tcp_congestion) },
};

union opt_val {
	int i;
	struct timeval tv;
	struct linger l;
};

static socklen_t opt_len(const struct inet_opt *o)
{
	return o->kind == OPT_TIMEO ? sizeof(struct timeval) :
	       o->kind == OPT_LINGER ? sizeof(struct linger) : sizeof(int);
}

/* Option @o of socket @fd as the image stores it (-1 for a linger that is off). */
static int get_opt(int fd, const struct inet_opt *o, int64_t *ret)
{
	union opt_val v = { 0 };
	socklen_t len = opt_len(o);

	if (getsockopt(fd, o->level, o->optname, &v, &len) < 0)
		return -errno;
	if (o->kind == OPT_TIMEO)
		*ret = (int64_t)v.tv.tv_sec * 1000000 + v.tv.tv_usec;
	else if (o->kind == OPT_LINGER)
		*ret = v.l.l_onoff ? v.l.l_linger : -1;
	else
		*ret = v.i;
	return 0;
}

static int64_t opt_value(const InetSkOpts *opts, const struct inet_opt *o)
{
	const char *p = (const char *)opts + o->val_off;

	if (o->kind == OPT_TIMEO)
		return (int64_t) * (const uint64_t *)(const void *)p;
	return *(const int32_t *)(const void *)p;
}

static void opt_store(InetSkOpts *opts, const struct inet_opt *o, int64_t v)
{
	char *p = (char *)opts + o->val_off;

	*(protobuf_c_boolean *)(void *)((char *)opts + o->has_off) = 1;
	if (o->kind == OPT_TIMEO)
		*(uint64_t *)(void *)p = (uint64_t)v;
	else
		*(int32_t *)(void *)p = (int32_t)v;
}

static bool opt_present(const InetSkOpts *opts, const struct inet_opt *o)
{
	return *(const protobuf_c_boolean *)(const void *)((const char *)opts + o->has_off);
}

static char **str_opt_field(InetSkOpts *opts, const struct inet_str_opt *o)
{
	return (char **)(void *)((char *)opts + o->off);
}

static const char *str_opt_value(const InetSkOpts *opts, const struct inet_str_opt *o)
{
	return *(char *const *)(const void *)((const char *)opts + o->off);
}

/* ---- dump */

struct ref_req {
	int nsfd, family, type, protocol;
	int fd; /* the socket, or -errno */
};

static void *ref_socket_thread(void *arg)
{
	struct ref_req *q = arg;

	/* A thread may move to another network namespace on its own (setns(2), Linux 3.0). */
	if (setns(q->nsfd, CLONE_NEWNET) < 0)
		q->fd = -errno;
	else if ((q->fd = socket(q->family, q->type | SOCK_CLOEXEC, q->protocol)) < 0)
		q->fd = -errno;
	return NULL;
}

/*
 * A new socket of the kind of @e in the dumped task's network namespace, whose defaults
 * (sysctls are per namespace) tell which options the task changed.
 */
static int ref_socket(struct dump_ctx *d, const InetSkEntry *e)
{
	struct ref_req q = { .family = (int)e->family, .type = (int)e->type,
			     .protocol = (int)e->protocol, .fd = -EINVAL };
	_cleanup_close_ int nsfd = -1;
	struct stat self, task;
	char path[64];
	pthread_t th;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", d->pid);
	nsfd = open(path, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0 || fstat(nsfd, &task) < 0 || stat("/proc/self/ns/net", &self) < 0)
		return pr_err_errno(-errno, "task %d: can't look at its network namespace '%s'",
				    d->pid, path);
	q.nsfd = nsfd;
	if (self.st_ino == task.st_ino && self.st_dev == task.st_dev) {
		q.fd = socket(q.family, q.type | SOCK_CLOEXEC, q.protocol);
		q.fd = q.fd < 0 ? -errno : q.fd;
	} else {
		r = pthread_create(&th, NULL, ref_socket_thread, &q);
		if (r == 0)
			pthread_join(th, NULL);
		else
			q.fd = -r;
	}
	if (q.fd < 0)
		return pr_err_errno(q.fd, "task %d: can't create a socket to compare options with",
				    d->pid);
	return q.fd;
}

/* A string option into @buf (of TCP_CA_NAME_MAX + IFNAMSIZ bytes), NUL-terminated. */
#define STR_OPT_BUF (TCP_CA_NAME_MAX + IFNAMSIZ)
static int get_str_opt(int fd, const struct inet_str_opt *o, char *buf)
{
	socklen_t len = STR_OPT_BUF - 1;

	memset(buf, 0, STR_OPT_BUF);
	if (getsockopt(fd, o->level, o->optname, buf, &len) < 0)
		return -errno;
	return 0;
}

static int dump_str_opts(struct dump_ctx *d, int tfd, int fd, int ref, InetSkOpts *opts)
{
	for (size_t i = 0; i < ARRAY_SIZE(inet_str_opts); i++) {
		const struct inet_str_opt *o = &inet_str_opts[i];
		char def[STR_OPT_BUF], val[STR_OPT_BUF];
		int r;

		if (get_str_opt(ref, o, def) < 0)
			continue;
		r = get_str_opt(fd, o, val);
		if (r < 0)
			return pr_err_errno(r, "task %d: fd %d: can't read %s", d->pid, tfd,
					    o->name);
		if (!strcmp(val, def))
			continue;
		if (strlen(val) > o->max)
			return pr_err_ret(-EOPNOTSUPP, "task %d: fd %d: %s '%s' is too long",
					  d->pid, tfd, o->name, val);
		*str_opt_field(opts, o) = xstrdup(val);
		pr_debug("task %d: fd %d: %s '%s'", d->pid, tfd, o->name, val);
	}
	return 0;
}

/* The options that differ from a new socket's: only those are set again at restore. */
int inet_dump_opts(struct dump_ctx *d, int tfd, int fd, InetSkEntry *e)
{
	_cleanup_close_ int ref = ref_socket(d, e);
	InetSkOpts *opts;
	int r;

	if (ref < 0)
		return ref;
	opts = e->opts = xzalloc(sizeof(*opts));
	inet_sk_opts__init(opts);
	for (size_t i = 0; i < ARRAY_SIZE(inet_opts); i++) {
		const struct inet_opt *o = &inet_opts[i];
		int64_t def, val;

		/* What a new socket of this kind lacks is not an option of this kind. */
		if (get_opt(ref, o, &def) < 0 ||
		    (o->listener_only && e->state != INET_SK_STATE__INET_SK_LISTEN))
			continue;
		r = get_opt(fd, o, &val);
		if (r < 0)
			return pr_err_errno(r, "task %d: fd %d: can't read %s", d->pid, tfd,
					    o->name);
		if (val == def)
			continue;
		if (val < o->min || val > o->max)
			return pr_err_ret(-EOPNOTSUPP,
					  "task %d: fd %d: %s is %lld, which can't be set again",
					  d->pid, tfd, o->name, (long long)val);
		opt_store(opts, o, val);
		pr_debug("task %d: fd %d: %s %lld", d->pid, tfd, o->name, (long long)val);
	}
	return dump_str_opts(d, tfd, fd, ref, opts);
}

/* ---- restore */

int inet_check_opts(const FileEntry *f, const InetSkOpts *opts)
{
	if (!opts)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(inet_opts); i++) {
		const struct inet_opt *o = &inet_opts[i];
		int64_t v = opt_value(opts, o);

		if (opt_present(opts, o) && (v < o->min || v > o->max))
			return pr_err_ret(-EINVAL,
					  "image 'files.img': file %lu: socket option %s is out of range",
					  (unsigned long)f->id, o->name);
	}
	for (size_t i = 0; i < ARRAY_SIZE(inet_str_opts); i++) {
		const struct inet_str_opt *o = &inet_str_opts[i];
		const char *s = str_opt_value(opts, o);

		if (s && strlen(s) > o->max)
			return pr_err_ret(-EINVAL,
					  "image 'files.img': file %lu: socket option %s is too long",
					  (unsigned long)f->id, o->name);
	}
	return 0;
}

/* setsockopt() in the puppet; the value goes through the scratch area. */
static int remote_setsockopt(struct rst_ctx *r, int fd, int level, int optname, const void *val,
			     socklen_t len)
{
	uint64_t addr;
	int rr = puppet_put(&r->pup, 0, val, len, &addr);

	if (rr < 0)
		return rr;
	return (int)puppet_sys(&r->pup, SYS_setsockopt, (uint64_t)fd, (uint64_t)level,
			       (uint64_t)optname, addr, len);
}

static int restore_opt(struct rst_ctx *r, int fd, const struct inet_opt *o, int64_t v,
		       const char *desc)
{
	union opt_val val;
	int optname = o->optname, a;

	memset(&val, 0, sizeof(val));
	if (o->kind == OPT_BUF) {
		/*
		 * getsockopt() gave twice the value set. The FORCE variant (CAP_NET_ADMIN) is
		 * not capped by net.core.[rw]mem_max, which the original may have got past too.
		 */
		val.i = (int)(v / 2);
		optname = o->optname == SO_RCVBUF ? SO_RCVBUFFORCE : SO_SNDBUFFORCE;
	} else if (o->kind == OPT_TIMEO) {
		val.tv.tv_sec = (time_t)(v / 1000000);
		val.tv.tv_usec = (suseconds_t)(v % 1000000);
	} else if (o->kind == OPT_LINGER) {
		val.l.l_onoff = 1;
		val.l.l_linger = (int)v;
	} else {
		val.i = (int)v;
	}
	a = remote_setsockopt(r, fd, o->level, optname, &val, opt_len(o));
	if (a == -EPERM && o->kind == OPT_BUF)
		a = remote_setsockopt(r, fd, o->level, o->optname, &val, opt_len(o));
	if (a < 0)
		return pr_err_errno(a, "task %d: %s: can't set %s to %lld", r->pup.pid, desc,
				    o->name, (long long)v);
	return 0;
}

int inet_restore_opts(struct rst_ctx *r, int fd, const InetSkOpts *opts, const char *desc)
{
	int rr;

	if (!opts)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(inet_opts); i++) {
		if (!opt_present(opts, &inet_opts[i]))
			continue;
		rr = restore_opt(r, fd, &inet_opts[i], opt_value(opts, &inet_opts[i]), desc);
		if (rr < 0)
			return rr;
	}
	for (size_t i = 0; i < ARRAY_SIZE(inet_str_opts); i++) {
		const struct inet_str_opt *o = &inet_str_opts[i];
		const char *s = str_opt_value(opts, o);

		if (!s)
			continue;
		/* An interface name is taken with its NUL, an algorithm name without. */
		rr = remote_setsockopt(r, fd, o->level, o->optname, s,
				       (socklen_t)(strlen(s) + (o->optname == SO_BINDTODEVICE)));
		if (rr < 0)
			return pr_err_errno(rr, "task %d: %s: can't set %s to '%s'", r->pup.pid,
					    desc, o->name, s);
	}
	return 0;
}
