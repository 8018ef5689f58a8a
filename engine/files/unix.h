/* SPDX-License-Identifier: MIT */
/*
 * Internal to the AF_UNIX socket kind: unix.c (dump, prepare and open of the sockets),
 * unix-diag.c (what UNIX_DIAG says of them, and which ones a task holds), unix-queue.c (their
 * receive queues and the options around them).
 */
#ifndef CRYO_ENGINE_FILES_UNIX_H
#define CRYO_ENGINE_FILES_UNIX_H

#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "common/log.h"
#include "engine/files.h"
#include "img-unix.pb-c.h"

#define UNIX_ICONS_MAX 65536u
#define UNIX_NAME_MAX sizeof(((struct sockaddr_un *)NULL)->sun_path)

/* Messages about the task's fd @tfd holding socket @s at dump, and about file @f at restore. */
#define SK_FMT "task %d: fd %d: unix socket:[%u]: "
#define REFUSE(d, tfd, s, fmt, ...)                                                                \
	pr_err_ret(-EOPNOTSUPP, SK_FMT fmt, (d)->pid, (tfd), (s)->ino, ##__VA_ARGS__)
#define RST_FMT "task %d: unix socket file %lu: "
#define RST_ARGS(r, f) (r)->pup.pid, (unsigned long)(f)->id

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

static inline void usk_free(struct usk *s)
{
	free(s->icons);
	s->icons = NULL;
}

/* Connected stream and seqpacket sockets keep no name: see the top of unix.c. */
static inline bool unix_binds_name(const UnixSkEntry *u)
{
	return u->name.len &&
	       !(u->type != SOCK_DGRAM && u->state == TCP_ESTABLISHED && !u->listener_ino);
}

/* ---- unix-diag.c ---- */

/* UNIX_DIAG of socket @ino, in cryo's network namespace. */
int unix_diag_get(uint32_t ino, struct usk *s);
/* Call @fn with every unix socket in @states until it returns non-zero; returns that. */
int unix_diag_walk(uint32_t states, int (*fn)(const struct usk *s, void *arg), void *arg);
/* Does an fd of a process of @d's tree hold socket @ino? */
int unix_tree_holds(const struct dump_ctx *d, uint64_t ino, bool *ret);

/* ---- unix-queue.c ---- */

/* The options of the task's socket @fd (its fd @tfd): buffers, SO_PEEK_OFF, timeouts. */
int unix_dump_opts(struct dump_ctx *d, int tfd, int fd, const struct usk *s, UnixSkEntry *u);
/* Copy the receive queue of the task's socket @fd into @u without consuming it. */
int unix_dump_queue(struct dump_ctx *d, int tfd, int fd, const struct usk *s, UnixSkEntry *u);
/* What is wrong with the receive queue of image entry @u, or NULL. */
const char *unix_queue_problem(const UnixSkEntry *u);
/* Refill @f's queue: from @pfd (its peer, or a partner that then closes) or as refill picks. */
int unix_refill(struct rst_ctx *r, const FileEntry *f, int pfd);
/* Options and status flags of @f on cryo's copy @fd of the restored socket. */
int unix_set_opts(int fd, const FileEntry *f);

/* ---- unix.c ---- */

/* The socket @f connects to by name: its listener, or the datagram socket it sends to. */
const FileEntry *unix_target_of(struct rst_ctx *r, const FileEntry *f);
/* A socket of @type in the puppet, or with @pair a connected pair; non-blocking for now. */
int unix_remote_socket(struct rst_ctx *r, uint32_t type, bool pair, int sv[2]);
/* bind() or connect() of remote socket @fd with @name: 0 or -errno, not logged. */
int unix_remote_addr_call(struct rst_ctx *r, long nr, int fd, const ProtobufCBinaryData *name);
/* Where cryo reaches a name the puppet bound: paths through /proc/PID/{root,cwd}. */
int unix_cryo_addr(struct rst_ctx *r, const ProtobufCBinaryData *name, struct sockaddr_un *sa,
		   socklen_t *ret_len);

#endif
