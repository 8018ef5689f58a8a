/* SPDX-License-Identifier: MIT */
/*
 * AF_UNIX sockets whose every peer is in the dumped process: socketpairs, bound sockets,
 * listeners with connections not yet accepted, datagram sockets connected to a bound one, and
 * the data waiting in their receive queues.
 *
 * Dump asks UNIX_DIAG (Linux 3.3) for a socket's state, name, peer, pending connections and
 * shutdown state (UNIX_DIAG_SHUTDOWN, Linux 3.19), and copies its receive queue without
 * consuming it: MSG_PEEK at successive offsets set with SO_PEEK_OFF (Linux 3.4), one entry per
 * datagram, with the sender's credentials (SCM_CREDENTIALS, SO_PASSCRED on while peeking).
 *
 * Restore rebuilds each socket inside the puppet. Two sockets connected to each other come
 * from one socketpair(). A bound socket is bound, made to listen if it did, and parked; then
 * the sockets that connect to it by name are made (a listener's pending connections in their
 * order, datagram sockets connected to it); then its queue is refilled, each message sent with
 * its credentials from the socket it must come from (the peer, or a temporary client); then
 * shutdown state and options are set. A path that had been unlinked is bound, used and then
 * unlinked again. Connected stream and seqpacket sockets keep no name: an accepted socket
 * shows its listener's name, and after restore it is unnamed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/files.h"
#include "img-unix.pb-c.h"

#ifndef SCM_PIDFD
#define SCM_PIDFD 0x04 /* Linux 6.5: a pidfd of the sender, with SO_PASSPIDFD */
#endif

/* Most bytes and messages one socket's receive queue may hold in an image. */
#define UNIX_QUEUE_MAX (16u << 20)
#define UNIX_MSGS_MAX (1u << 20)
#define UNIX_ICONS_MAX 65536u
#define UNIX_BACKLOG_MAX 65536u
#define UNIX_TIMEO_MAX (1ULL << 40) /* microseconds, about 12 days */
#define UNIX_NAME_MAX sizeof(((struct sockaddr_un *)NULL)->sun_path)
#define PEEK_CHUNK (64u << 10)
#define DIAG_BUF (64u << 10)
#define OPEN_DEPTH_MAX 64
#define SCRATCH_ADDR 0
#define SCRATCH_PATH 4096

#define SK_FMT "task %d: fd %d: unix socket:[%u]: "
#define REFUSE(d, tfd, s, fmt, ...)                                                                \
	pr_err_ret(-EOPNOTSUPP, SK_FMT fmt, (d)->pid, (tfd), (s)->ino, ##__VA_ARGS__)
#define RST_FMT "task %d: unix socket file %lu: "
#define RST_ARGS(r, f) (r)->pup.pid, (unsigned long)(f)->id

/* ---- UNIX_DIAG ---- */

/* What UNIX_DIAG says of one socket. */
struct usk {
	uint32_t ino, peer, vfs_ino, vfs_dev, rqueue, wqueue;
	uint8_t type, state, shutdown;
	bool has_vfs;
	size_t name_len;
	uint8_t name[UNIX_NAME_MAX + 2]; /* a path of the full length comes with its NUL */
	uint32_t *icons;
	size_t n_icons;
};

static void usk_free(struct usk *s)
{
	free(s->icons);
	s->icons = NULL;
}

static int parse_attr(const struct rtattr *a, struct usk *s)
{
	size_t n = RTA_PAYLOAD(a);
	const void *p = RTA_DATA(a);
	struct unix_diag_vfs v;
	struct unix_diag_rqlen q;

	switch (a->rta_type) {
	case UNIX_DIAG_NAME:
		if (n > sizeof(s->name))
			return -EBADMSG;
		memcpy(s->name, p, n);
		s->name_len = n;
		return 0;
	case UNIX_DIAG_VFS:
		if (n < sizeof(v))
			return -EBADMSG;
		memcpy(&v, p, sizeof(v));
		s->vfs_ino = v.udiag_vfs_ino;
		s->vfs_dev = v.udiag_vfs_dev;
		s->has_vfs = true;
		return 0;
	case UNIX_DIAG_PEER:
		return n < sizeof(s->peer) ? -EBADMSG : (memcpy(&s->peer, p, sizeof(s->peer)), 0);
	case UNIX_DIAG_ICONS:
		if (n / 4 > UNIX_ICONS_MAX)
			return -E2BIG;
		free(s->icons);
		s->n_icons = n / 4;
		s->icons = xcalloc(s->n_icons + 1, sizeof(*s->icons));
		memcpy(s->icons, p, s->n_icons * 4);
		return 0;
	case UNIX_DIAG_RQLEN:
		if (n < sizeof(q))
			return -EBADMSG;
		memcpy(&q, p, sizeof(q));
		s->rqueue = q.udiag_rqueue;
		s->wqueue = q.udiag_wqueue;
		return 0;
	case UNIX_DIAG_SHUTDOWN:
		return n < 1 ? -EBADMSG : (s->shutdown = *(const uint8_t *)p, 0);
	}
	return 0;
}

static int parse_msg(const struct nlmsghdr *h, struct usk *s)
{
	const struct unix_diag_msg *m = NLMSG_DATA(h);
	const struct rtattr *a;
	int len, r = 0;

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
		return -EBADMSG;
	memset(s, 0, sizeof(*s));
	s->ino = m->udiag_ino;
	s->type = m->udiag_type;
	s->state = m->udiag_state;
	len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*m)));
	a = (const struct rtattr *)((const char *)m + NLMSG_ALIGN(sizeof(*m)));
	for (; r == 0 && RTA_OK(a, len); a = RTA_NEXT(a, len))
		r = parse_attr(a, s);
	if (r < 0)
		usk_free(s);
	return r;
}

/* A request for socket @ino, or with @dump for every socket in @states: the netlink socket. */
static int diag_request(uint32_t ino, uint32_t states, bool dump)
{
	struct {
		struct nlmsghdr nlh;
		struct unix_diag_req req;
	} msg;
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK };
	int sk = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG), e;

	if (sk < 0)
		return -errno;
	memset(&msg, 0, sizeof(msg));
	msg.nlh.nlmsg_len = sizeof(msg);
	msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	msg.nlh.nlmsg_flags = NLM_F_REQUEST | (dump ? NLM_F_DUMP : 0);
	msg.nlh.nlmsg_seq = 1;
	msg.req.sdiag_family = AF_UNIX;
	msg.req.udiag_states = states;
	msg.req.udiag_ino = ino;
	msg.req.udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_PEER |
			     UDIAG_SHOW_ICONS | UDIAG_SHOW_RQLEN;
	msg.req.udiag_cookie[0] = msg.req.udiag_cookie[1] = ~0u; /* INET_DIAG_NOCOOKIE */
	if (sendto(sk, &msg, sizeof(msg), 0, (struct sockaddr *)&nl, sizeof(nl)) != sizeof(msg)) {
		e = -errno;
		close(sk);
		return e;
	}
	return sk;
}

struct diag_reader {
	int sk;
	bool dump, done;
	char *buf;
	size_t off, len;
};

/* The next socket of the answer: 1 with *s filled, 0 at its end, or -errno. */
static int diag_next(struct diag_reader *dr, struct usk *s)
{
	while (!dr->done) {
		const struct nlmsghdr *h;
		ssize_t n;

		if (dr->off >= dr->len) {
			n = recv(dr->sk, dr->buf, DIAG_BUF, MSG_TRUNC);
			if (n < 0)
				return -errno;
			if (n == 0 || n > DIAG_BUF)
				return -EMSGSIZE;
			dr->len = (size_t)n;
			dr->off = 0;
		}
		h = (const struct nlmsghdr *)(dr->buf + dr->off);
		if (!NLMSG_OK(h, (int)(dr->len - dr->off)))
			return -EBADMSG;
		dr->off += NLMSG_ALIGN(h->nlmsg_len);
		if (h->nlmsg_type == NLMSG_DONE)
			break;
		if (h->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(h);

			if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) && e->error < 0)
				return e->error;
			return -EBADMSG;
		}
		if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY)
			continue;
		dr->done = !dr->dump;
		return parse_msg(h, s) < 0 ? -EBADMSG : 1;
	}
	dr->done = true;
	return 0;
}

/* UNIX_DIAG of socket @ino, in cryo's network namespace. */
static int diag_get(uint32_t ino, struct usk *s)
{
	_cleanup_free_ char *buf = xmalloc(DIAG_BUF);
	struct diag_reader dr = { .buf = buf };
	int r;

	dr.sk = diag_request(ino, ~0u, false);
	if (dr.sk < 0)
		return dr.sk;
	r = diag_next(&dr, s);
	close(dr.sk);
	return r == 1 ? 0 : r == 0 ? -ENOENT : r;
}

/* Call @fn with every unix socket in @states until it returns non-zero; returns that. */
static int diag_walk(uint32_t states, int (*fn)(const struct usk *s, void *arg), void *arg)
{
	_cleanup_free_ char *buf = xmalloc(DIAG_BUF);
	struct diag_reader dr = { .buf = buf, .dump = true };
	struct usk s;
	int r;

	dr.sk = diag_request(0, states, true);
	if (dr.sk < 0)
		return dr.sk;
	while ((r = diag_next(&dr, &s)) == 1) {
		r = fn(&s, arg);
		usk_free(&s);
		if (r)
			break;
	}
	close(dr.sk);
	return r;
}

/* ---- dump ---- */

/* Socket inodes of the dumped task's fds: a hint, each hit checked again against /proc. */
static struct {
	pid_t pid;
	size_t n;
	uint64_t *inos;
	int *fds;
} held;

static bool link_socket_ino(const char *link, uint64_t *ret)
{
	size_t l = strlen(link);
	char num[32];

	if (l < 10 || strncmp(link, "socket:[", 8) || link[l - 1] != ']' || l - 9 >= sizeof(num))
		return false;
	memcpy(num, link + 8, l - 9);
	num[l - 9] = '\0';
	return parse_u64(num, 10, ret) == 0;
}

static bool fd_socket_ino(pid_t pid, const char *fd, uint64_t *ret)
{
	char path[64], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/fd/%s", pid, fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return false;
	link[n] = '\0';
	return link_socket_ino(link, ret);
}

static int held_reload(pid_t pid)
{
	_cleanup_closedir_ DIR *dir = NULL;
	struct dirent *de;
	char path[64];

	held.n = 0;
	held.pid = 0;
	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		uint64_t fd, ino;

		if (parse_u64(de->d_name, 10, &fd) < 0 || !fd_socket_ino(pid, de->d_name, &ino))
			continue;
		held.inos = xrealloc_array(held.inos, held.n + 1, sizeof(*held.inos));
		held.fds = xrealloc_array(held.fds, held.n + 1, sizeof(*held.fds));
		held.inos[held.n] = ino;
		held.fds[held.n++] = (int)fd;
	}
	held.pid = pid;
	return 0;
}

/* Does an fd of task @pid hold socket @ino? */
static int task_holds(pid_t pid, uint64_t ino, bool *ret)
{
	for (int pass = 0; pass < 2; pass++) {
		if (pass || held.pid != pid) {
			int r = held_reload(pid);

			if (r < 0)
				return pr_err_errno(r, "task %d: can't list its fds", pid);
		}
		for (size_t i = 0; i < held.n; i++) {
			char fd[16];
			uint64_t now;

			snprintf(fd, sizeof(fd), "%d", held.fds[i]);
			if (held.inos[i] == ino && fd_socket_ino(pid, fd, &now) && now == ino) {
				*ret = true;
				return 0;
			}
		}
	}
	*ret = false;
	return 0;
}

/* Connected stream and seqpacket sockets keep no name: see the top of the file. */
static bool binds_name(const UnixSkEntry *u)
{
	return u->name.len &&
	       !(u->type != SOCK_DGRAM && u->state == TCP_ESTABLISHED && !u->listener_ino);
}

static bool is_path(const ProtobufCBinaryData *name)
{
	return name->len && name->data[0];
}

/* The peer must be in the process; a peer that is not connected back must have a name. */
static int check_peer(struct dump_ctx *d, int tfd, const struct usk *s, bool *ret_one_way)
{
	struct usk p;
	bool in;
	int r;

	*ret_one_way = false;
	if (!s->peer)
		return 0;
	r = task_holds(d->pid, s->peer, &in);
	if (r < 0)
		return r;
	if (!in)
		return REFUSE(d, tfd, s,
			      "its peer socket:[%u] is outside the dumped process (--ext-unix-sk comes later)",
			      s->peer);
	r = diag_get(s->peer, &p);
	if (r < 0)
		return pr_err_errno(r, SK_FMT "can't query its peer socket:[%u] with UNIX_DIAG",
				    d->pid, tfd, s->ino, s->peer);
	*ret_one_way = p.peer != s->ino;
	usk_free(&p);
	if (*ret_one_way && (s->type != SOCK_DGRAM || !p.name_len))
		return REFUSE(d, tfd, s, "its peer socket:[%u] is connected elsewhere and has no name",
			      s->peer);
	return 0;
}

static int check_icons(struct dump_ctx *d, int tfd, const struct usk *s, UnixSkEntry *u)
{
	if (!s->name_len)
		return REFUSE(d, tfd, s, "it listens without a name");
	for (size_t i = 0; i < s->n_icons; i++) {
		bool in;
		int r;

		if (!s->icons[i])
			return REFUSE(d, tfd, s,
				      "a connection waiting for accept() comes from a socket that is closed, whose data can't be read");
		r = task_holds(d->pid, s->icons[i], &in);
		if (r < 0)
			return r;
		if (!in)
			return REFUSE(d, tfd, s,
				      "a connection waiting for accept() comes from socket:[%u], outside the dumped process (--ext-unix-sk comes later)",
				      s->icons[i]);
	}
	u->n_icons = s->n_icons;
	u->icons = xcalloc(s->n_icons + 1, sizeof(*u->icons));
	for (size_t i = 0; i < s->n_icons; i++)
		u->icons[i] = s->icons[i];
	return 0;
}

struct icon_search {
	uint32_t ino, listener;
};

static int find_listener(const struct usk *l, void *arg)
{
	struct icon_search *a = arg;

	for (size_t i = 0; i < l->n_icons; i++)
		if (l->icons[i] == a->ino) {
			a->listener = l->ino;
			return 1;
		}
	return 0;
}

/*
 * A connected stream socket without a peer inode either waits for accept() (its peer is the
 * listener's embryo socket, which has no inode yet) or its peer has closed.
 */
static int check_unpeered(struct dump_ctx *d, int tfd, const struct usk *s, UnixSkEntry *u)
{
	struct icon_search a = { .ino = s->ino };
	bool in;
	int r;

	r = diag_walk(1u << TCP_LISTEN, find_listener, &a);
	if (r < 0)
		return pr_err_errno(r, SK_FMT "can't list listening sockets with UNIX_DIAG", d->pid,
				    tfd, s->ino);
	if (!a.listener)
		return 0;
	r = task_holds(d->pid, a.listener, &in);
	if (r < 0)
		return r;
	if (!in)
		return REFUSE(d, tfd, s,
			      "it waits for accept() on socket:[%u], outside the dumped process (--ext-unix-sk comes later)",
			      a.listener);
	/* The embryo socket holding that data has no fd: nothing reads it short of accept(). */
	if (s->wqueue)
		return REFUSE(d, tfd, s,
			      "data it sent waits on a connection that socket:[%u] has not accepted yet, which can't be read without accepting it",
			      a.listener);
	u->has_listener_ino = true;
	u->listener_ino = a.listener;
	return 0;
}

/* The name, and whether its path still leads to this socket (UDIAG_SHOW_VFS). */
static int dump_name(struct dump_ctx *d, int tfd, const struct usk *s, UnixSkEntry *u)
{
	size_t len = s->name_len;
	char path[PATH_MAX];
	struct stat st;

	if (!len)
		return 0;
	if (s->name[0])
		len = strnlen((const char *)s->name, len);
	if (len > UNIX_NAME_MAX || (!s->name[0] && len < 1))
		return REFUSE(d, tfd, s, "its name of %zu bytes is too long", len);
	u->has_name = true;
	u->name.len = len;
	u->name.data = xmalloc(len);
	memcpy(u->name.data, s->name, len);
	if (!is_path(&u->name) || !binds_name(u))
		return 0;
	snprintf(path, sizeof(path), s->name[0] == '/' ? "/proc/%d/root%.*s" : "/proc/%d/cwd/%.*s",
		 d->pid, (int)len, (const char *)s->name);
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) && s->has_vfs && st.st_ino == s->vfs_ino &&
	    major(st.st_dev) == s->vfs_dev >> 20 && minor(st.st_dev) == (s->vfs_dev & 0xfffff)) {
		u->has_file_mode = u->has_file_uid = u->has_file_gid = true;
		u->file_mode = st.st_mode & 07777;
		u->file_uid = st.st_uid;
		u->file_gid = st.st_gid;
		return 0;
	}
	if (s->name[0] != '/')
		return REFUSE(d, tfd, s,
			      "its relative name '%.*s' is not found from the task's working directory",
			      (int)len, (const char *)s->name);
	u->has_name_gone = u->name_gone = true;
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

static int dump_opts(struct dump_ctx *d, int tfd, int fd, const struct usk *s, UnixSkEntry *u)
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
static int dump_queue(struct dump_ctx *d, int tfd, int fd, const struct usk *s, UnixSkEntry *u)
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

static int dump_sock(struct dump_ctx *d, int tfd, int fd, const struct usk *s, UnixSkEntry *u)
{
	bool one_way;
	int r;

	u->has_ino = u->has_type = u->has_state = u->has_shutdown = true;
	u->ino = s->ino;
	u->type = s->type;
	u->state = s->state;
	u->shutdown = s->shutdown & 3;
	if (s->type != SOCK_STREAM && s->type != SOCK_DGRAM && s->type != SOCK_SEQPACKET)
		return REFUSE(d, tfd, s, "socket type %u not supported", s->type);
	if (s->state != TCP_LISTEN && s->state != TCP_ESTABLISHED && s->state != TCP_CLOSE)
		return REFUSE(d, tfd, s, "state %u not supported", s->state);
	r = check_peer(d, tfd, s, &one_way);
	u->has_peer_ino = true;
	u->peer_ino = s->peer;
	if (r == 0 && s->state == TCP_LISTEN) {
		u->has_backlog = true;
		u->backlog = s->wqueue; /* a listener's wqueue is its backlog */
		r = check_icons(d, tfd, s, u);
	}
	if (r == 0 && s->type != SOCK_DGRAM && s->state == TCP_ESTABLISHED && !s->peer)
		r = check_unpeered(d, tfd, s, u);
	if (r == 0)
		r = dump_name(d, tfd, s, u);
	if (r == 0)
		r = dump_opts(d, tfd, fd, s, u);
	if (r == 0)
		r = dump_queue(d, tfd, fd, s, u);
	/* Restore refills a queue before connecting: an unnamed one-way socket can't be reached. */
	if (r == 0 && one_way && !u->name.len && u->n_queue)
		r = REFUSE(d, tfd, s, "it has no name, is connected to socket:[%u] and data waits in it",
			   s->peer);
	return r;
}

static bool unix_match(int fd, const struct stat *st, const char *link)
{
	int domain = -1;
	socklen_t len = sizeof(domain);

	(void)link;
	return S_ISSOCK(st->st_mode) &&
	       getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && domain == AF_UNIX;
}

static int unix_dump(struct dump_ctx *d, FileEntry *f, int fd, int tfd, const struct stat *st,
		     const char *link)
{
	UnixSkEntry *u = f->unix_sk = xzalloc(sizeof(*u));
	struct usk s;
	int r;

	(void)link;
	unix_sk_entry__init(u);
	r = diag_get((uint32_t)st->st_ino, &s);
	if (r < 0)
		return pr_err_errno(r, "task %d: fd %d: unix socket:[%lu]: can't query UNIX_DIAG (is it in another network namespace?)",
				    d->pid, tfd, (unsigned long)st->st_ino);
	r = dump_sock(d, tfd, fd, &s, u);
	usk_free(&s);
	return r;
}

/* ---- restore: image checks ---- */

static const FileEntry *find_sk(struct rst_ctx *r, uint64_t ino)
{
	if (!ino)
		return NULL;
	for (size_t i = 0; i < r->nr_files; i++) {
		const FileEntry *e = r->files[i];

		if (e->kind == FILE_KIND__FILE_UNIX && e->unix_sk && e->unix_sk->ino == ino)
			return e;
	}
	return NULL;
}

/* The socket connected back to @f, if any (never @f itself). */
static const FileEntry *mutual_peer(struct rst_ctx *r, const FileEntry *f)
{
	const FileEntry *p = find_sk(r, f->unix_sk->peer_ino);

	return p && p != f && p->unix_sk->peer_ino == f->unix_sk->ino ? p : NULL;
}

/* The socket @f connects to by name: its listener, or the datagram socket it sends to. */
static const FileEntry *target_of(struct rst_ctx *r, const FileEntry *f)
{
	const UnixSkEntry *u = f->unix_sk;

	if (u->listener_ino)
		return find_sk(r, u->listener_ino);
	if (u->peer_ino && !mutual_peer(r, f))
		return find_sk(r, u->peer_ino);
	return NULL;
}

static const char *basic_problem(const UnixSkEntry *u)
{
	if (u->type != SOCK_STREAM && u->type != SOCK_DGRAM && u->type != SOCK_SEQPACKET)
		return "bad type";
	if (u->state != TCP_LISTEN && u->state != TCP_ESTABLISHED && u->state != TCP_CLOSE)
		return "bad state";
	if (u->name.len > UNIX_NAME_MAX || (is_path(&u->name) && memchr(u->name.data, 0, u->name.len)))
		return "bad name";
	if ((u->name_gone && !is_path(&u->name)) || u->shutdown > 3 || u->backlog > UNIX_BACKLOG_MAX)
		return "bad name, shutdown or backlog";
	if (u->has_peek_off && u->peek_off < -1)
		return "bad SO_PEEK_OFF";
	if (u->sndbuf > INT_MAX || u->rcvbuf > INT_MAX || u->rcvtimeo_us > UNIX_TIMEO_MAX ||
	    u->sndtimeo_us > UNIX_TIMEO_MAX)
		return "bad options";
	if (u->n_icons > UNIX_ICONS_MAX || (u->n_icons && u->state != TCP_LISTEN))
		return "bad pending connections";
	return NULL;
}

static const char *queue_problem(const UnixSkEntry *u)
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

static bool in_icons(const UnixSkEntry *l, uint64_t ino)
{
	for (size_t i = 0; i < l->n_icons; i++)
		if (l->icons[i] == ino)
			return true;
	return false;
}

static const char *links_problem(struct rst_ctx *r, const FileEntry *f)
{
	const UnixSkEntry *u = f->unix_sk, *pu, *lu;
	const FileEntry *p = find_sk(r, u->peer_ino), *l = find_sk(r, u->listener_ino);

	if (find_sk(r, u->ino) != f)
		return "its inode is not unique";
	if (u->peer_ino && (!p || p->unix_sk->type != u->type))
		return "its peer is missing";
	pu = p ? p->unix_sk : NULL;
	if (pu && pu->peer_ino != u->ino && (u->type != SOCK_DGRAM || !binds_name(pu)))
		return "its peer can't be reached";
	if (pu && pu->peer_ino != u->ino && !u->name.len && u->n_queue)
		return "its queue can't be refilled";
	if (!u->peer_ino && !u->listener_ino && u->type == SOCK_DGRAM && u->n_queue &&
	    u->name.len && !binds_name(u))
		return "its queue can't be refilled";
	lu = l ? l->unix_sk : NULL;
	if (u->listener_ino && (!lu || lu->state != TCP_LISTEN || lu->type != u->type ||
				!in_icons(lu, u->ino) || u->peer_ino || u->n_queue))
		return "its listener is missing";
	if (u->state == TCP_LISTEN && (u->type == SOCK_DGRAM || !binds_name(u)))
		return "a listener without a name";
	for (size_t i = 0; i < u->n_icons; i++) {
		const FileEntry *c = find_sk(r, u->icons[i]);

		if (!c || c->unix_sk->listener_ino != u->ino)
			return "a pending connection is missing";
	}
	return NULL;
}

static const char *task_path(struct rst_ctx *r, uint64_t id)
{
	const FileEntry *e = files_find(r, id);

	return e && e->reg && e->reg->path ? e->reg->path : NULL;
}

static int unix_prepare(struct rst_ctx *r, const FileEntry *f)
{
	const UnixSkEntry *u = f->unix_sk;
	const char *why = u ? basic_problem(u) : "it has no socket data", *root;

	if (!why)
		why = queue_problem(u);
	if (!why)
		why = links_problem(r, f);
	if (why)
		return pr_err_ret(-EINVAL, "image 'files.img': unix socket file %lu is corrupt: %s",
				  (unsigned long)f->id, why);
	if (!is_path(&u->name) || !binds_name(u))
		return 0;
	/* Paths are bound in the puppet before it takes the task's root and directory. */
	root = task_path(r, r->task->root_file);
	if (!root || strcmp(root, "/"))
		return pr_err_ret(-EOPNOTSUPP,
				  "image 'files.img': unix socket file %lu: bound to a path in a chrooted task (not supported yet)",
				  (unsigned long)f->id);
	if (u->name.data[0] != '/' && !task_path(r, r->task->cwd_file))
		return pr_err_ret(-EINVAL, "image: task %u: no working directory for a relative socket name",
				  r->task->pid);
	return 0;
}

/* ---- restore: remote socket calls ---- */

static const char *name_str(const ProtobufCBinaryData *n, char *buf, size_t len)
{
	size_t k = 0;

	for (size_t i = 0; i < n->len && k + 1 < len; i++)
		buf[k++] = n->data[i] ? (char)n->data[i] : '@';
	buf[k] = '\0';
	return buf;
}

static socklen_t make_addr(const ProtobufCBinaryData *name, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, name->data, name->len);
	/* A path goes NUL-terminated when it fits, as bind() keeps it; an abstract name exactly. */
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + name->len +
			   (is_path(name) && name->len < sizeof(sa->sun_path)));
}

/* The puppet resolves relative names from the task's directory, which it takes later anyway. */
static int enter_cwd(struct rst_ctx *r)
{
	const char *cwd = task_path(r, r->task->cwd_file);
	uint64_t addr;
	long a;
	int rr;

	rr = puppet_put(&r->pup, SCRATCH_PATH, cwd, strlen(cwd) + 1, &addr);
	if (rr < 0)
		return rr;
	a = puppet_sys(&r->pup, SYS_chdir, addr);
	if (a < 0)
		return pr_err_errno((int)a, "task %d: can't enter '%s'", r->pup.pid, cwd);
	return 0;
}

/* bind() or connect() of remote socket @fd with @name: 0 or -errno, not logged. */
static int remote_addr_call(struct rst_ctx *r, long nr, int fd, const ProtobufCBinaryData *name)
{
	struct sockaddr_un sa;
	socklen_t len = make_addr(name, &sa);
	uint64_t addr;
	int rr = is_path(name) && name->data[0] != '/' ? enter_cwd(r) : 0;

	if (rr == 0)
		rr = puppet_put(&r->pup, SCRATCH_ADDR, &sa, len, &addr);
	if (rr < 0)
		return rr;
	return (int)puppet_sys(&r->pup, nr, (uint64_t)fd, addr, (uint64_t)len);
}

/* Remote path syscall @nr(AT_FDCWD, @name, a2, a3, a4) for a path name. */
static long remote_path_call(struct rst_ctx *r, long nr, const ProtobufCBinaryData *name,
			     uint64_t a2, uint64_t a3, uint64_t a4)
{
	char path[UNIX_NAME_MAX + 1];
	uint64_t addr;
	int rr;

	memcpy(path, name->data, name->len);
	path[name->len] = '\0';
	rr = puppet_put(&r->pup, SCRATCH_PATH, path, name->len + 1, &addr);
	if (rr < 0)
		return rr;
	return puppet_sys(&r->pup, nr, (uint64_t)AT_FDCWD, addr, a2, a3, a4);
}

/* A socket of @type in the puppet, or with @pair a connected pair; non-blocking for now. */
static int remote_socket(struct rst_ctx *r, uint32_t type, bool pair, int sv[2])
{
	uint64_t st = type | SOCK_NONBLOCK | SOCK_CLOEXEC, addr;
	long a;
	int rr;

	if (!pair) {
		a = puppet_sys(&r->pup, SYS_socket, AF_UNIX, st, 0);
		sv[0] = (int)a;
		sv[1] = -1;
	} else {
		rr = puppet_put(&r->pup, SCRATCH_ADDR, sv, 2 * sizeof(int), &addr);
		if (rr < 0)
			return rr;
		a = puppet_sys(&r->pup, SYS_socketpair, AF_UNIX, st, 0, addr);
		if (a == 0)
			return puppet_get(&r->pup, SCRATCH_ADDR, sv, 2 * sizeof(int));
	}
	if (a < 0)
		return pr_err_errno((int)a, "task %d: can't create a unix socket", r->pup.pid);
	return 0;
}

/* Where cryo reaches a name the puppet bound: paths through /proc/PID/{root,cwd}. */
static int cryo_addr(struct rst_ctx *r, const ProtobufCBinaryData *name, struct sockaddr_un *sa,
		     socklen_t *ret_len)
{
	char buf[PATH_MAX];
	int n;

	if (!is_path(name)) {
		*ret_len = make_addr(name, sa);
		return name->len ? 0 : -EDESTADDRREQ;
	}
	n = snprintf(buf, sizeof(buf), name->data[0] == '/' ? "/proc/%d/root%.*s" : "/proc/%d/cwd/%.*s",
		     r->pup.pid, (int)name->len, (const char *)name->data);
	if (n < 0 || (size_t)n >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, buf, (size_t)n + 1);
	*ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n + 1);
	return 0;
}

struct vfs_search {
	uint32_t ino, dev;
	bool found;
};

static int find_vfs(const struct usk *s, void *arg)
{
	struct vfs_search *a = arg;

	a->found = s->has_vfs && s->vfs_ino == a->ino && s->vfs_dev == a->dev;
	return a->found;
}

/* A socket file at the path, left by a socket that is gone (the dumped one), is removed. */
static int clear_stale(struct rst_ctx *r, const FileEntry *f)
{
	struct vfs_search a = { 0 };
	struct sockaddr_un sa;
	socklen_t len;
	struct stat st;
	int rr;

	rr = cryo_addr(r, &f->unix_sk->name, &sa, &len);
	if (rr < 0)
		return rr == -ENAMETOOLONG ? 0 : rr; /* bind() will say if the path is taken */
	if (lstat(sa.sun_path, &st) < 0)
		return errno == ENOENT ? 0 : pr_err_errno(-errno, "can't stat '%s'", sa.sun_path);
	if (!S_ISSOCK(st.st_mode))
		return pr_err_ret(-EEXIST, RST_FMT "can't bind to '%s': a file that is not a socket is there",
				  RST_ARGS(r, f), sa.sun_path);
	a.ino = (uint32_t)st.st_ino;
	a.dev = (uint32_t)(major(st.st_dev) << 20 | minor(st.st_dev));
	rr = diag_walk(~0u, find_vfs, &a);
	if (rr < 0)
		return pr_err_errno(rr, "can't list unix sockets with UNIX_DIAG");
	if (a.found)
		return pr_err_ret(-EADDRINUSE, RST_FMT "can't bind to '%s': a live socket is bound there",
				  RST_ARGS(r, f), sa.sun_path);
	if (unlink(sa.sun_path) < 0 && errno != ENOENT)
		return pr_err_errno(-errno, "can't remove the stale socket file '%s'", sa.sun_path);
	return 0;
}

static int bind_sock(struct rst_ctx *r, const FileEntry *f, int fd)
{
	const UnixSkEntry *u = f->unix_sk;
	char nm[UNIX_NAME_MAX + 1];
	long a;
	int rr;

	if (!binds_name(u))
		return 0;
	rr = is_path(&u->name) ? clear_stale(r, f) : 0;
	if (rr == 0)
		rr = remote_addr_call(r, SYS_bind, fd, &u->name);
	if (rr < 0)
		return pr_err_errno(rr, RST_FMT "can't bind to '%s'", RST_ARGS(r, f),
				    name_str(&u->name, nm, sizeof(nm)));
	if (!is_path(&u->name) || !u->has_file_mode)
		return 0;
	a = remote_path_call(r, SYS_fchownat, &u->name, u->file_uid, u->file_gid,
			     AT_SYMLINK_NOFOLLOW);
	if (a == 0)
		a = remote_path_call(r, SYS_fchmodat, &u->name, u->file_mode, 0, 0);
	if (a < 0)
		return pr_err_errno((int)a, RST_FMT "can't set the owner and mode of '%s'",
				    RST_ARGS(r, f), name_str(&u->name, nm, sizeof(nm)));
	return 0;
}

static int connect_sock(struct rst_ctx *r, const FileEntry *f, int fd)
{
	const FileEntry *t = target_of(r, f);
	char nm[UNIX_NAME_MAX + 1];
	int rr;

	if (!t)
		return 0;
	rr = remote_addr_call(r, SYS_connect, fd, &t->unix_sk->name);
	if (rr < 0)
		return pr_err_errno(rr, RST_FMT "can't connect to '%s'", RST_ARGS(r, f),
				    name_str(&t->unix_sk->name, nm, sizeof(nm)));
	return 0;
}

/* A path that was unlinked at dump goes again, once everything that needed it is connected. */
static int unlink_gone(struct rst_ctx *r, const FileEntry *f)
{
	const UnixSkEntry *u = f->unix_sk;
	char nm[UNIX_NAME_MAX + 1];
	long a;

	if (!u->name_gone || !binds_name(u))
		return 0;
	a = remote_path_call(r, SYS_unlinkat, &u->name, 0, 0, 0);
	if (a < 0)
		return pr_err_errno((int)a, RST_FMT "can't unlink '%s'", RST_ARGS(r, f),
				    name_str(&u->name, nm, sizeof(nm)));
	return 0;
}

/* ---- restore: queues ---- */

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

static int set_int(int fd, int opt, int v)
{
	return setsockopt(fd, SOL_SOCKET, opt, &v, sizeof(v)) < 0 ? -errno : 0;
}

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
	rr = remote_socket(c->r, c->f->unix_sk->type, false, sv);
	if (rr < 0)
		return rr;
	rr = remote_addr_call(c->r, SYS_connect, sv[0], &c->f->unix_sk->name);
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

		if (e->kind == FILE_KIND__FILE_UNIX && u && u->type == type && binds_name(u) &&
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
static int refill(struct rst_ctx *r, const FileEntry *f, int pfd)
{
	const UnixSkEntry *u = f->unix_sk;
	const FileEntry *t = target_of(r, f);
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
	if (rr == 0 && pfd < 0 && cryo_addr(r, &u->name, &c.to, &c.tolen) < 0)
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

/* ---- restore: sockets ---- */

static int set_opts(int fd, const FileEntry *f)
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

/* Shutdown state, options and status flags, once the queues are full. */
static int finish_sock(struct rst_ctx *r, const FileEntry *f, int fd)
{
	_cleanup_close_ int c = files_take_remote_fd(r, fd);
	int rr;

	if (c < 0)
		return c;
	/* RCV_SHUTDOWN 1, SEND_SHUTDOWN 2 are SHUT_RD + 1, SHUT_WR + 1, SHUT_RDWR + 1. */
	if (f->unix_sk->shutdown && shutdown(c, (int)f->unix_sk->shutdown - 1) < 0 &&
	    errno != ENOTCONN)
		return pr_err_errno(-errno, RST_FMT "can't shut it down", RST_ARGS(r, f));
	rr = set_opts(c, f);
	if (rr < 0)
		return pr_err_errno(rr, RST_FMT "can't set its options", RST_ARGS(r, f));
	return 0;
}

static int open_depth;

/* Open socket @e, which other sockets need now, and park it. */
static int open_and_park(struct rst_ctx *r, const FileEntry *e)
{
	int fd, rr;

	if (r->file_fds[e->id - 1] >= 0)
		return 0;
	if (open_depth >= OPEN_DEPTH_MAX)
		return pr_err_ret(-ELOOP, "task %d: unix sockets connect in a chain or cycle too long to restore",
				  r->pup.pid);
	open_depth++;
	rr = files_open_remote(r, e->id, (int)e->flags, &fd);
	open_depth--;
	if (rr == 0)
		rr = files_park(r, fd, &r->file_fds[e->id - 1]);
	return rr;
}

/* The sockets that connect to bound socket @f by name: its pending connections in order, datagram clients. */
static int open_dependents(struct rst_ctx *r, const FileEntry *f)
{
	const UnixSkEntry *u = f->unix_sk;
	int rr = 0;

	for (size_t i = 0; rr == 0 && i < u->n_icons; i++)
		rr = open_and_park(r, find_sk(r, u->icons[i]));
	for (size_t i = 0; rr == 0 && u->type == SOCK_DGRAM && i < r->nr_files; i++) {
		const FileEntry *e = r->files[i];

		if (e != f && e->kind == FILE_KIND__FILE_UNIX && e->unix_sk->peer_ino == u->ino &&
		    target_of(r, e) == f)
			rr = open_and_park(r, e);
	}
	return rr;
}

/*
 * A socket whose peer closed is made with a partner that sends its queue and closes: a
 * connected stream socket then sees the end of the stream, an unnamed datagram socket its data.
 */
static bool needs_partner(const UnixSkEntry *u)
{
	if (u->peer_ino || u->listener_ino || u->state == TCP_LISTEN)
		return false;
	if (u->type != SOCK_DGRAM)
		return u->state == TCP_ESTABLISHED;
	return !binds_name(u) && u->n_queue;
}

static int open_single(struct rst_ctx *r, const FileEntry *f, int *ret_fd)
{
	const UnixSkEntry *u = f->unix_sk;
	int sv[2] = { -1, -1 }, *slot = &r->file_fds[f->id - 1], rr;
	long a;

	rr = remote_socket(r, u->type, needs_partner(u), sv);
	if (rr == 0)
		rr = bind_sock(r, f, sv[0]);
	if (rr == 0 && u->state == TCP_LISTEN) {
		a = puppet_sys(&r->pup, SYS_listen, (uint64_t)sv[0], u->backlog);
		if (a < 0)
			rr = pr_err_errno((int)a, RST_FMT "can't listen", RST_ARGS(r, f));
	}
	/* Parked, it is open for the sockets that connect to it. */
	if (rr == 0)
		rr = files_park(r, sv[0], slot);
	else if (sv[0] >= 0)
		puppet_sys(&r->pup, SYS_close, (uint64_t)sv[0]);
	if (rr == 0)
		rr = open_dependents(r, f);
	if (rr == 0)
		rr = connect_sock(r, f, *slot);
	if (rr == 0)
		rr = refill(r, f, sv[1]);
	if (sv[1] >= 0)
		puppet_sys(&r->pup, SYS_close, (uint64_t)sv[1]);
	if (rr == 0)
		rr = finish_sock(r, f, *slot);
	if (rr == 0)
		rr = unlink_gone(r, f);
	if (rr == 0) {
		*ret_fd = *slot;
		*slot = -1;
	}
	return rr;
}

/* Two sockets connected to each other: one socketpair(), each queue refilled from the other end. */
static int open_pair(struct rst_ctx *r, const FileEntry *f, const FileEntry *p, int *ret_fd)
{
	int sv[2] = { -1, -1 }, *fs = &r->file_fds[f->id - 1], *ps = &r->file_fds[p->id - 1], rr;

	rr = remote_socket(r, f->unix_sk->type, true, sv);
	if (rr == 0)
		rr = bind_sock(r, f, sv[0]);
	if (rr == 0)
		rr = bind_sock(r, p, sv[1]);
	if (rr == 0)
		rr = files_park(r, sv[0], fs);
	if (rr == 0)
		rr = files_park(r, sv[1], ps);
	if (rr == 0)
		rr = open_dependents(r, f);
	if (rr == 0)
		rr = open_dependents(r, p);
	if (rr == 0)
		rr = refill(r, f, *ps);
	if (rr == 0)
		rr = refill(r, p, *fs);
	if (rr == 0)
		rr = finish_sock(r, f, *fs);
	if (rr == 0)
		rr = finish_sock(r, p, *ps);
	if (rr == 0)
		rr = unlink_gone(r, f);
	if (rr == 0)
		rr = unlink_gone(r, p);
	if (rr == 0) {
		*ret_fd = *fs;
		*fs = -1;
	}
	return rr;
}

static int unix_open(struct rst_ctx *r, const FileEntry *f, int flags, int *ret_fd)
{
	const FileEntry *t = target_of(r, f), *p;
	int *slot = &r->file_fds[f->id - 1], rr;

	(void)flags;
	/* A socket that connects by name is made by its target, right after the target is bound. */
	if (t && t != f && r->file_fds[t->id - 1] < 0) {
		rr = open_and_park(r, t);
		if (rr < 0)
			return rr;
	}
	if (*slot >= 0) {
		*ret_fd = *slot;
		*slot = -1;
		return 0;
	}
	p = mutual_peer(r, f);
	return p ? open_pair(r, f, p, ret_fd) : open_single(r, f, ret_fd);
}

const struct file_ops unix_file_ops = {
	.kind = FILE_KIND__FILE_UNIX,
	.match = unix_match,
	.dump = unix_dump,
	.prepare = unix_prepare,
	.open = unix_open,
};
