/* SPDX-License-Identifier: MIT */
/*
 * The UNIX_DIAG client of the unix socket kind: what the kernel says of a socket (Linux 3.3):
 * its state, name, peer, pending connections, queue lengths and shutdown state
 * (UNIX_DIAG_SHUTDOWN, Linux 3.19), asked over a NETLINK_SOCK_DIAG socket in cryo's network
 * namespace; and which sockets an fd of the dumped task holds, from /proc/PID/fd.
 */
#include <dirent.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/files/unix.h"

#define DIAG_BUF (64u << 10)

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
int unix_diag_get(uint32_t ino, struct usk *s)
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
int unix_diag_walk(uint32_t states, int (*fn)(const struct usk *s, void *arg), void *arg)
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

/* ---- sockets the task holds ---- */

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

int unix_tree_holds(const struct dump_ctx *d, uint64_t ino, bool *ret)
{
	const struct dump_tree *t = d->tree;
	int r = task_holds(d->pid, ino, ret);

	/* Its own process first: a peer is there most often, and its fd list is loaded. */
	for (size_t i = 0; r == 0 && !*ret && i < t->nr_procs; i++)
		if (t->procs[i] != d && !t->procs[i]->zombie)
			r = task_holds(t->procs[i]->pid, ino, ret);
	return r;
}
