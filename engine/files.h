/* SPDX-License-Identifier: MIT */
/* One ops table per kind of file; files.c only walks fd tables and dispatches. */
#ifndef CRYO_ENGINE_FILES_H
#define CRYO_ENGINE_FILES_H

#include <sys/stat.h>

#include "engine/internal.h"

struct file_ops {
	FileKind kind;
	/* Is the file cryo holds as @fd, statted @st, whose fd link reads @link, of this kind? */
	bool (*match)(int fd, const struct stat *st, const char *link);
	/* Or, without .match: the anon_inode files whose link names this (files_anon_inode_is). */
	const char *anon_inode;
	/* Opened after every other kind: it refers to the task's other fds (epoll). */
	bool late;
	/*
	 * Fill @f for the file cryo holds as @fd (its own copy of the task's fd @tfd, or -1 for a
	 * file reached by path), statted @st, linked @link.
	 */
	int (*dump)(struct dump_ctx *d, FileEntry *f, int fd, int tfd, const struct stat *st,
		    const char *link);
	/* Check the file can be had here, before any process is created. */
	int (*prepare)(struct rst_ctx *r, const FileEntry *f);
	/* Open it in the puppet: the remote fd. */
	int (*open)(struct rst_ctx *r, const FileEntry *f, int flags, int *ret_fd);
};

extern const struct file_ops reg_file_ops;
extern const struct file_ops chr_file_ops;
extern const struct file_ops pipe_file_ops;
extern const struct file_ops fifo_file_ops;
extern const struct file_ops eventfd_file_ops;
extern const struct file_ops signalfd_file_ops;
extern const struct file_ops timerfd_file_ops;
extern const struct file_ops epoll_file_ops;
extern const struct file_ops inotify_file_ops;
extern const struct file_ops memfd_file_ops;
extern const struct file_ops unix_file_ops;
extern const struct file_ops inet_file_ops;

/* Refuse fd @tfd of the task, linked @link: "<what> are not supported yet" style @why. */
int files_refuse(struct dump_ctx *d, int tfd, const char *link, const char *why);
/* True when @link is "anon_inode:NAME" or "anon_inode:[NAME]" for @name. */
bool files_anon_inode_is(const char *link, const char *name);

/* Remote openat(AT_FDCWD, @path, @flags, @mode) in the puppet. */
int files_remote_openat(struct rst_ctx *r, const char *path, int flags, int mode, int *ret_fd);
/* Copy of the puppet's fd @fd in cryo (pidfd_getfd). */
int files_take_remote_fd(struct rst_ctx *r, int fd);
/* Most data a deleted file may carry in its image. */
#define FILES_GHOST_MAX (32u << 20)
/* Max bytes of a pipe's queued data. */
#define FILES_PIPE_MAX (1u << 20)

/* Pipe data collected at dump, restored when the pipe is created. */
int pipe_dump_data(struct dump_ctx *d, const FileEntry *f, int fd);
/* Mark the pipes whose other end is outside the tree as external. */
void pipes_mark_external(struct dump_tree *t);

#endif
