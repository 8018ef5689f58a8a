/* SPDX-License-Identifier: MIT */
/*
 * AF_UNIX sockets whose every peer is in the dumped process: socketpairs, bound sockets,
 * listeners with connections not yet accepted, datagram sockets connected to a bound one, and
 * the data waiting in their receive queues.
 *
 * Dump asks UNIX_DIAG (Linux 3.3, unix-diag.c) for a socket's state, name, peer, pending
 * connections and shutdown state (UNIX_DIAG_SHUTDOWN, Linux 3.19), and copies its receive queue
 * without consuming it (unix-queue.c).
 *
 * Restore rebuilds each socket inside the puppet. Two sockets connected to each other come
 * from one socketpair(). A bound socket is bound, made to listen if it did, and parked; then
 * the sockets that connect to it by name are made (a listener's pending connections in their
 * order, datagram sockets connected to it); then its queue is refilled (unix-queue.c); then
 * shutdown state and options are set. A path that had been unlinked is bound, used and then
 * unlinked again. Connected stream and seqpacket sockets keep no name: an accepted socket
 * shows its listener's name, and after restore it is unnamed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/files.h"
#include "engine/files/unix.h"
#include "img-unix.pb-c.h"

#define UNIX_BACKLOG_MAX 65536u
#define UNIX_TIMEO_MAX (1ULL << 40) /* microseconds, about 12 days */
#define OPEN_DEPTH_MAX 64
#define SCRATCH_ADDR 0
#define SCRATCH_PATH 4096

/* ---- dump ---- */

static bool is_path(const ProtobufCBinaryData *name)
{
	return name->len && name->data[0];
}

/* The peer must be in the tree; a peer that is not connected back must have a name. */
static int check_peer(struct dump_ctx *d, int tfd, const struct usk *s, bool *ret_one_way)
{
	struct usk p;
	bool in;
	int r;

	*ret_one_way = false;
	if (!s->peer)
		return 0;
	r = unix_tree_holds(d, s->peer, &in);
	if (r < 0)
		return r;
	if (!in)
		return REFUSE(d, tfd, s,
			      "its peer socket:[%u] is outside the dumped tree (--ext-unix-sk comes later)",
			      s->peer);
	r = unix_diag_get(s->peer, &p);
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
		r = unix_tree_holds(d, s->icons[i], &in);
		if (r < 0)
			return r;
		if (!in)
			return REFUSE(d, tfd, s,
				      "a connection waiting for accept() comes from socket:[%u], outside the dumped tree (--ext-unix-sk comes later)",
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

	r = unix_diag_walk(1u << TCP_LISTEN, find_listener, &a);
	if (r < 0)
		return pr_err_errno(r, SK_FMT "can't list listening sockets with UNIX_DIAG", d->pid,
				    tfd, s->ino);
	if (!a.listener)
		return 0;
	r = unix_tree_holds(d, a.listener, &in);
	if (r < 0)
		return r;
	if (!in)
		return REFUSE(d, tfd, s,
			      "it waits for accept() on socket:[%u], outside the dumped tree (--ext-unix-sk comes later)",
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
	if (!is_path(&u->name) || !unix_binds_name(u))
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
		r = unix_dump_opts(d, tfd, fd, s, u);
	if (r == 0)
		r = unix_dump_queue(d, tfd, fd, s, u);
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
	r = unix_diag_get((uint32_t)st->st_ino, &s);
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
const FileEntry *unix_target_of(struct rst_ctx *r, const FileEntry *f)
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
	if (pu && pu->peer_ino != u->ino && (u->type != SOCK_DGRAM || !unix_binds_name(pu)))
		return "its peer can't be reached";
	if (pu && pu->peer_ino != u->ino && !u->name.len && u->n_queue)
		return "its queue can't be refilled";
	if (!u->peer_ino && !u->listener_ino && u->type == SOCK_DGRAM && u->n_queue &&
	    u->name.len && !unix_binds_name(u))
		return "its queue can't be refilled";
	lu = l ? l->unix_sk : NULL;
	if (u->listener_ino && (!lu || lu->state != TCP_LISTEN || lu->type != u->type ||
				!in_icons(lu, u->ino) || u->peer_ino || u->n_queue))
		return "its listener is missing";
	if (u->state == TCP_LISTEN && (u->type == SOCK_DGRAM || !unix_binds_name(u)))
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
		why = unix_queue_problem(u);
	if (!why)
		why = links_problem(r, f);
	if (why)
		return pr_err_ret(-EINVAL, "image 'files.img': unix socket file %lu is corrupt: %s",
				  (unsigned long)f->id, why);
	if (!is_path(&u->name) || !unix_binds_name(u))
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
int unix_remote_addr_call(struct rst_ctx *r, long nr, int fd, const ProtobufCBinaryData *name)
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
int unix_remote_socket(struct rst_ctx *r, uint32_t type, bool pair, int sv[2])
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
int unix_cryo_addr(struct rst_ctx *r, const ProtobufCBinaryData *name, struct sockaddr_un *sa,
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

	rr = unix_cryo_addr(r, &f->unix_sk->name, &sa, &len);
	if (rr < 0)
		return rr == -ENAMETOOLONG ? 0 : rr; /* bind() will say if the path is taken */
	if (lstat(sa.sun_path, &st) < 0)
		return errno == ENOENT ? 0 : pr_err_errno(-errno, "can't stat '%s'", sa.sun_path);
	if (!S_ISSOCK(st.st_mode))
		return pr_err_ret(-EEXIST, RST_FMT "can't bind to '%s': a file that is not a socket is there",
				  RST_ARGS(r, f), sa.sun_path);
	a.ino = (uint32_t)st.st_ino;
	a.dev = (uint32_t)(major(st.st_dev) << 20 | minor(st.st_dev));
	rr = unix_diag_walk(~0u, find_vfs, &a);
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

	if (!unix_binds_name(u))
		return 0;
	rr = is_path(&u->name) ? clear_stale(r, f) : 0;
	if (rr == 0)
		rr = unix_remote_addr_call(r, SYS_bind, fd, &u->name);
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
	const FileEntry *t = unix_target_of(r, f);
	char nm[UNIX_NAME_MAX + 1];
	int rr;

	if (!t)
		return 0;
	rr = unix_remote_addr_call(r, SYS_connect, fd, &t->unix_sk->name);
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

	if (!u->name_gone || !unix_binds_name(u))
		return 0;
	a = remote_path_call(r, SYS_unlinkat, &u->name, 0, 0, 0);
	if (a < 0)
		return pr_err_errno((int)a, RST_FMT "can't unlink '%s'", RST_ARGS(r, f),
				    name_str(&u->name, nm, sizeof(nm)));
	return 0;
}

/* ---- restore: sockets ---- */

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
	rr = unix_set_opts(c, f);
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
		    unix_target_of(r, e) == f)
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
	return !unix_binds_name(u) && u->n_queue;
}

static int open_single(struct rst_ctx *r, const FileEntry *f, int *ret_fd)
{
	const UnixSkEntry *u = f->unix_sk;
	int sv[2] = { -1, -1 }, *slot = &r->file_fds[f->id - 1], rr;
	long a;

	rr = unix_remote_socket(r, u->type, needs_partner(u), sv);
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
		rr = unix_refill(r, f, sv[1]);
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

	rr = unix_remote_socket(r, f->unix_sk->type, true, sv);
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
		rr = unix_refill(r, f, *ps);
	if (rr == 0)
		rr = unix_refill(r, p, *fs);
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
	const FileEntry *t = unix_target_of(r, f), *p;
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
