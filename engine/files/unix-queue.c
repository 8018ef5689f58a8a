/* SPDX-License-Identifier: MIT */
/*
 * The receive queues of unix sockets, and the options around them (buffer sizes, SO_PEEK_OFF,
 * SO_PASSCRED, timeouts, O_NONBLOCK).
 *
 * Dump copies a socket's receive queue without consuming it: MSG_PEEK at successive offsets
 * set with SO_PEEK_OFF (Linux 3.4), one entry per datagram, with the sender's credentials
 * (SCM_CREDENTIALS, SO_PASSCRED on while peeking). Restore refills it before the task runs,
 * each message sent with its credentials from the socket it must come from: the peer, the
 * bound socket that sent a datagram, or a temporary client.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/files.h"
#include "engine/files/unix.h"
#include "img-unix.pb-c.h"

#ifndef SCM_PIDFD
#define SCM_PIDFD 0x04 /* Linux 6.5: a pidfd of the sender, with SO_PASSPIDFD */
#endif

/* Most bytes and messages one socket's receive queue may hold in an image. */
#define UNIX_QUEUE_MAX (16u << 20)
#define UNIX_MSGS_MAX (1u << 20)
#define PEEK_CHUNK (64u << 10)

/* ---- options ---- */

static int getopt_int(int fd, int opt, int *ret)
{
	socklen_t len = sizeof(*ret);

	return getsockopt(fd, SOL_SOCKET, opt, ret, &len) < 0 ? -errno : 0;
}

static int getopt_us(int fd, int opt, uint64_t *ret)
{
	struct timeval tv;
	socklen_t len = sizeof(tv);

	if (getsockopt(fd, SOL_SOCKET, opt, &tv, &len) < 0)
		return -errno;
	*ret = (uint64_t)tv.tv_sec * 1000000 + (uint64_t)tv.tv_usec;
	return 0;
}

static int read_default(const char *path, int *cache)
{
	_cleanup_free_ char *buf = NULL;
	uint64_t v;
	size_t len;

	if (*cache >= 0)
		return *cache;
	if (read_file_at(AT_FDCWD, path, 64, &buf, &len) < 0 || parse_u64(buf, 10, &v) < 0 ||
	    v > INT_MAX)
		return -1;
	*cache = (int)v;
	return *cache;
}

int unix_dump_opts(struct dump_ctx *d, int tfd, int fd, const struct usk *s, UnixSkEntry *u)
{
	static int wmem_default = -1, rmem_default = -1;
	int cred, snd, rcv, off, r;

	r = getopt_int(fd, SO_PASSCRED, &cred);
	if (r == 0)
		r = getopt_int(fd, SO_SNDBUF, &snd);
	if (r == 0)
		r = getopt_int(fd, SO_RCVBUF, &rcv);
	if (r == 0)
		r = getopt_int(fd, SO_PEEK_OFF, &off);
	if (r == 0)
		r = getopt_us(fd, SO_RCVTIMEO, &u->rcvtimeo_us);
	if (r == 0)
		r = getopt_us(fd, SO_SNDTIMEO, &u->sndtimeo_us);
	if (r < 0)
		return pr_err_errno(r, SK_FMT "can't read its options", d->pid, tfd, s->ino);
	u->has_passcred = u->has_sndbuf = u->has_rcvbuf = u->has_peek_off = true;
	u->has_rcvtimeo_us = u->has_sndtimeo_us = true;
	u->passcred = cred;
	/* The defaults are left to the kernel of the restore; values set by the task are kept. */
	if (snd != read_default("/proc/sys/net/core/wmem_default", &wmem_default))
		u->sndbuf = (uint32_t)snd;
	if (rcv != read_default("/proc/sys/net/core/rmem_default", &rmem_default))
		u->rcvbuf = (uint32_t)rcv;
	u->peek_off = off;
	return 0;
}

static int set_int(int fd, int opt, int v)
{
	return setsockopt(fd, SOL_SOCKET, opt, &v, sizeof(v)) < 0 ? -errno : 0;
}

int unix_set_opts(int fd, const FileEntry *f)
{
	const UnixSkEntry *u = f->unix_sk;
	struct timeval rt = { (time_t)(u->rcvtimeo_us / 1000000), (suseconds_t)(u->rcvtimeo_us % 1000000) };
	struct timeval st = { (time_t)(u->sndtimeo_us / 1000000), (suseconds_t)(u->sndtimeo_us % 1000000) };
	int r = 0;

	if (u->passcred)
		r = set_int(fd, SO_PASSCRED, 1);
	if (r == 0 && u->sndbuf)
		r = set_int(fd, SO_SNDBUFFORCE, (int)u->sndbuf / 2);
	if (r == 0 && u->rcvbuf)
		r = set_int(fd, SO_RCVBUFFORCE, (int)u->rcvbuf / 2);
	if (r == 0 && u->has_peek_off && u->peek_off >= 0)
		r = set_int(fd, SO_PEEK_OFF, u->peek_off);
	if (r == 0 && u->rcvtimeo_us && setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rt, sizeof(rt)) < 0)
		r = -errno;
	if (r == 0 && u->sndtimeo_us && setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &st, sizeof(st)) < 0)
		r = -errno;
	if (r == 0 && fcntl(fd, F_SETFL, (int)(f->flags & O_NONBLOCK)) < 0)
		r = -errno;
	return r;
}

/* ---- dump: peeking ---- */

/* What one MSG_PEEK gave. */
struct peeked {
	ssize_t len;
	int flags;
	bool has_cred, rights;
	struct ucred cred;
	struct sockaddr_un from;
	socklen_t fromlen;
};

/* Control data a peek may bring: credentials, a security label, passed fds (closed at once). */
union peek_cmsg {
	struct cmsghdr align;
	char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(256) + CMSG_SPACE(32 * sizeof(int))];
};

static void take_cmsgs(struct msghdr *mh, struct peeked *p)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET)
			continue;
		if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(p->cred))) {
			memcpy(&p->cred, CMSG_DATA(c), sizeof(p->cred));
			p->has_cred = true;
		} else if (c->cmsg_type == SCM_RIGHTS || c->cmsg_type == SCM_PIDFD) {
			/* A peek installs passed fds in cryo too: close them. */
			size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (size_t i = 0; i < n; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
				close(fd);
			}
			p->rights |= c->cmsg_type == SCM_RIGHTS;
		}
	}
}

/* Peek the message (or bytes) at offset @off of @fd's receive queue into @buf. */
static int peek_one(int fd, int type, size_t off, void *buf, size_t cap, struct peeked *p)
{
	union peek_cmsg cb;
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr mh = {
		.msg_name = &p->from,
		.msg_namelen = sizeof(p->from),
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cb.buf,
		.msg_controllen = sizeof(cb.buf),
	};
	int o = (int)off;

	memset(p, 0, sizeof(*p));
	if (setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &o, sizeof(o)) < 0)
		return -errno;
	/* MSG_TRUNC gives a datagram's full length even when it does not fit. */
	p->len = recvmsg(fd, &mh, MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC |
					  (type == SOCK_STREAM ? 0 : MSG_TRUNC));
	if (p->len < 0)
		return -errno;
	p->flags = mh.msg_flags;
	p->fromlen = mh.msg_namelen;
	take_cmsgs(&mh, p);
	return 0;
}

static void add_msg(UnixSkEntry *u, const uint8_t *buf, const struct peeked *p, int type)
{
	UnixSkMsg *m = xzalloc(sizeof(*m));
	size_t base = offsetof(struct sockaddr_un, sun_path), n;

	unix_sk_msg__init(m);
	m->has_data = true;
	m->data.len = (size_t)p->len;
	m->data.data = xmalloc(m->data.len + 1);
	memcpy(m->data.data, buf, m->data.len);
	if (p->has_cred && p->cred.pid > 0) {
		m->has_pid = m->has_uid = m->has_gid = true;
		m->pid = (uint32_t)p->cred.pid;
		m->uid = p->cred.uid;
		m->gid = p->cred.gid;
	}
	if (type != SOCK_STREAM && p->fromlen > base && p->fromlen <= sizeof(p->from)) {
		n = p->fromlen - base;
		if (p->from.sun_path[0])
			n = strnlen(p->from.sun_path, n);
		m->has_sender = true;
		m->sender.len = n;
		m->sender.data = xmalloc(n);
		memcpy(m->sender.data, p->from.sun_path, n);
	}
	u->queue = xrealloc_array(u->queue, u->n_queue + 1, sizeof(*u->queue));
	u->queue[u->n_queue++] = m;
}

static int peek_queue(struct dump_ctx *d, int tfd, int fd, const struct usk *s, UnixSkEntry *u)
{
	_cleanup_free_ uint8_t *buf = xmalloc(PEEK_CHUNK);
	size_t cap = PEEK_CHUNK, total = 0;
	struct peeked p;
	char oob;
	int r;

	/* An urgent byte (MSG_OOB, Linux 5.15) is peeked in line: it would come back in line. */
	if (s->type == SOCK_STREAM && recv(fd, &oob, 1, MSG_OOB | MSG_PEEK | MSG_DONTWAIT) == 1)
		return REFUSE(d, tfd, s, "urgent data (MSG_OOB) waits in it (not supported yet)");
	for (;;) {
		r = peek_one(fd, s->type, total, buf, cap, &p);
		if (r == -EAGAIN)
			break;
		if (r < 0)
			return pr_err_errno(r, SK_FMT "can't peek its receive queue", d->pid, tfd, s->ino);
		if (p.rights || (p.flags & MSG_CTRUNC))
			return REFUSE(d, tfd, s,
				      "file descriptors passed with SCM_RIGHTS wait in its receive queue (not supported yet)");
		if (s->type == SOCK_STREAM && p.len == 0)
			break;
		if ((size_t)p.len > cap && (size_t)p.len <= UNIX_QUEUE_MAX) {
			/* A datagram longer than the buffer: peek it again whole. */
			cap = (size_t)p.len;
			buf = xrealloc_array(buf, cap, 1);
			continue;
		}
		if (total + (size_t)p.len > UNIX_QUEUE_MAX || u->n_queue >= UNIX_MSGS_MAX)
			return REFUSE(d, tfd, s, "its receive queue holds over %u bytes or %u messages",
				      UNIX_QUEUE_MAX, UNIX_MSGS_MAX);
		add_msg(u, buf, &p, s->type);
		total += (size_t)p.len;
	}
	/* For a stream the kernel counts every queued byte: MSG_OOB data is not peeked. */
	if (s->type != SOCK_DGRAM && total != s->rqueue)
		return REFUSE(d, tfd, s, "%zu of the %u bytes in its receive queue could be peeked (MSG_OOB data?)",
			      total, s->rqueue);
	return 0;
}

/* SO_PEEK_OFF and SO_PASSCRED belong to the task's socket: set for the peeks, then put back. */
int unix_dump_queue(struct dump_ctx *d, int tfd, int fd, const struct usk *s, UnixSkEntry *u)
{
	int old_off = -1, old_cred = 0, one = 1, r;

	if (s->state == TCP_LISTEN)
		return 0;
	r = getopt_int(fd, SO_PEEK_OFF, &old_off);
	if (r == 0)
		r = getopt_int(fd, SO_PASSCRED, &old_cred);
	if (r == 0 && !old_cred && setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0)
		r = -errno;
	if (r < 0)
		return pr_err_errno(r, SK_FMT "can't set up peeking", d->pid, tfd, s->ino);
	r = peek_queue(d, tfd, fd, s, u);
	if (setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &old_off, sizeof(old_off)) < 0 ||
	    (!old_cred && setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &old_cred, sizeof(old_cred)) < 0))
		r = r ? r : pr_err_errno(-errno, SK_FMT "can't put its options back", d->pid, tfd,
					 s->ino);
	return r;
}

/* ---- restore: refilling ---- */

const char *unix_queue_problem(const UnixSkEntry *u)
{
	uint64_t total = 0;

	if (u->n_queue > UNIX_MSGS_MAX || (u->n_queue && u->state == TCP_LISTEN))
		return "bad receive queue";
	for (size_t i = 0; i < u->n_queue; i++) {
		const UnixSkMsg *m = u->queue[i];

		total += m->data.len;
		if (total > UNIX_QUEUE_MAX || m->sender.len > UNIX_NAME_MAX)
			return "bad receive queue";
		if (m->pid > INT_MAX)
			return "bad credentials";
	}
	return NULL;
}

/* How a refill sends into the socket @f. */
struct refill {
	struct rst_ctx *r;
	const FileEntry *f;
	int fixed; /* cryo's copy of the one socket f takes data from (peer, target), or -1 */
	bool fixed_to; /* fixed sends with f's address: it is not connected to f */
	int tmp; /* cryo's copy of a temporary client connected to f by name, or -1 */
	int need; /* send buffer that holds the whole queue */
	struct sockaddr_un to; /* f's address as cryo reaches it; tolen 0 if none */
	socklen_t tolen;
	bool lost_sender;
};

/* Let sender @fd queue everything at once (SO_SNDBUFFORCE: cryo is privileged); *ret_old: its size. */
static int raise_sndbuf(int fd, int need, int *ret_old)
{
	int r = getopt_int(fd, SO_SNDBUF, ret_old);

	return r < 0 ? r : set_int(fd, SO_SNDBUFFORCE, need / 2);
}

static int send_msg(int fd, const UnixSkMsg *m, const struct sockaddr_un *to, socklen_t tolen,
		    pid_t stand_in)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(struct ucred))];
	} cb;
	struct ucred cr = { .pid = (pid_t)m->pid, .uid = m->uid, .gid = m->gid };
	size_t done = 0;

	for (;;) {
		struct iovec iov = { .iov_base = m->data.data + done, .iov_len = m->data.len - done };
		struct msghdr mh = { .msg_name = (void *)to, .msg_namelen = tolen, .msg_iov = &iov,
				     .msg_iovlen = 1 };
		ssize_t n;

		if (m->pid) {
			/* The sender's credentials as the task saw them (root may give any). */
			mh.msg_control = cb.buf;
			mh.msg_controllen = sizeof(cb.buf);
			CMSG_FIRSTHDR(&mh)->cmsg_level = SOL_SOCKET;
			CMSG_FIRSTHDR(&mh)->cmsg_type = SCM_CREDENTIALS;
			CMSG_FIRSTHDR(&mh)->cmsg_len = CMSG_LEN(sizeof(cr));
			memcpy(CMSG_DATA(CMSG_FIRSTHDR(&mh)), &cr, sizeof(cr));
		}
		n = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == ESRCH && cr.pid != stand_in) {
			/* The sending process is gone: the restored task stands in for it. */
			cr.pid = stand_in;
			continue;
		}
		if (n < 0)
			return -errno;
		done += (size_t)n;
		if (done >= m->data.len)
			return 0;
	}
}

/* A temporary client, connected to f by name in the puppet, sends what has no other sender. */
static int tmp_client(struct refill *c)
{
	int sv[2], old, rr;

	if (c->tmp >= 0)
		return 0;
	rr = unix_remote_socket(c->r, c->f->unix_sk->type, false, sv);
	if (rr < 0)
		return rr;
	rr = unix_remote_addr_call(c->r, SYS_connect, sv[0], &c->f->unix_sk->name);
	if (rr == 0) {
		c->tmp = files_take_remote_fd(c->r, sv[0]);
		rr = c->tmp < 0 ? c->tmp : raise_sndbuf(c->tmp, c->need, &old);
	}
	puppet_sys(&c->r->pup, SYS_close, (uint64_t)sv[0]);
	if (rr < 0)
		return pr_err_errno(rr, RST_FMT "can't make a client to refill it",
				    RST_ARGS(c->r, c->f));
	return 0;
}

static const FileEntry *find_named(struct rst_ctx *r, const ProtobufCBinaryData *name, uint32_t type)
{
	for (size_t i = 0; i < r->nr_files; i++) {
		const FileEntry *e = r->files[i];
		const UnixSkEntry *u = e->unix_sk;

		if (e->kind == FILE_KIND__FILE_UNIX && u && u->type == type && unix_binds_name(u) &&
		    u->name.len == name->len && !memcmp(u->name.data, name->data, name->len))
			return e;
	}
	return NULL;
}

static int refill_one(struct refill *c, const UnixSkMsg *m)
{
	const FileEntry *s = NULL;
	_cleanup_close_ int own = -1;
	int fd = c->fixed, old = 0, rr;
	bool to = c->fixed_to;

	if (fd < 0 && m->sender.len && c->tolen)
		s = find_named(c->r, &m->sender, c->f->unix_sk->type);
	if (fd < 0 && s && c->r->file_fds[s->id - 1] >= 0) {
		/* The datagram comes from the socket that sent it, so recvfrom() names it. */
		own = files_take_remote_fd(c->r, c->r->file_fds[s->id - 1]);
		rr = own < 0 ? own : raise_sndbuf(own, c->need, &old);
		if (rr < 0)
			return rr;
		fd = own;
		to = true;
	} else if (fd < 0) {
		rr = tmp_client(c);
		if (rr < 0)
			return rr;
		fd = c->tmp;
		c->lost_sender |= m->sender.len > 0;
	}
	rr = send_msg(fd, m, to ? &c->to : NULL, to ? c->tolen : 0, c->r->pup.pid);
	if (own >= 0)
		set_int(own, SO_SNDBUFFORCE, old / 2);
	if (rr < 0)
		return pr_err_errno(rr, RST_FMT "can't refill its receive queue", RST_ARGS(c->r, c->f));
	return 0;
}

static int refill_need(const UnixSkEntry *u)
{
	uint64_t need = 65536;

	/* Room for the data and each message's overhead in the sender's SO_SNDBUF accounting. */
	for (size_t i = 0; i < u->n_queue; i++)
		need += 2 * u->queue[i]->data.len + 2048;
	return (int)MIN(need, (uint64_t)INT_MAX - 1);
}

/* Refill @f's queue: from @pfd (its peer, or a partner that then closes) or as refill picks. */
int unix_refill(struct rst_ctx *r, const FileEntry *f, int pfd)
{
	const UnixSkEntry *u = f->unix_sk;
	const FileEntry *t = unix_target_of(r, f);
	struct refill c = { .r = r, .f = f, .fixed = -1, .tmp = -1, .need = refill_need(u) };
	int rr = 0, old = 0;

	if (!u->n_queue)
		return 0;
	if (pfd >= 0 || t) {
		/* A connected socket takes data from its peer only. */
		c.fixed = files_take_remote_fd(r, pfd >= 0 ? pfd : r->file_fds[t->id - 1]);
		c.fixed_to = pfd < 0;
		rr = c.fixed < 0 ? c.fixed : raise_sndbuf(c.fixed, c.need, &old);
	}
	if (rr == 0 && pfd < 0 && unix_cryo_addr(r, &u->name, &c.to, &c.tolen) < 0)
		c.tolen = 0;
	if (rr == 0 && c.fixed_to && !c.tolen)
		rr = pr_err_ret(-ENAMETOOLONG, RST_FMT "its name is too long to refill it",
				RST_ARGS(r, f));
	for (size_t i = 0; rr == 0 && i < u->n_queue; i++)
		rr = refill_one(&c, u->queue[i]);
	if (c.fixed >= 0 && rr == 0)
		set_int(c.fixed, SO_SNDBUFFORCE, old / 2);
	closep(&c.fixed);
	closep(&c.tmp);
	if (c.lost_sender)
		pr_warn(RST_FMT "datagrams from senders that are gone now come from an unnamed socket",
			RST_ARGS(r, f));
	return rr;
}
