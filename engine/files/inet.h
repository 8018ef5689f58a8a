/* SPDX-License-Identifier: MIT */
/*
 * Internal to the AF_INET/AF_INET6 socket kind: inet.c (dump, prepare and open of the sockets),
 * inet-opts.c (their socket options: which differ from a new socket's, and setting them again).
 */
#ifndef CRYO_ENGINE_FILES_INET_H
#define CRYO_ENGINE_FILES_INET_H

#include "engine/files.h"

/* The options of socket @fd (the task's fd @tfd) that differ from a new socket's, into @e. */
int inet_dump_opts(struct dump_ctx *d, int tfd, int fd, InetSkEntry *e);
/* Whether the options of file @f's image entry can be set again; an error if not. */
int inet_check_opts(const FileEntry *f, const InetSkOpts *opts);
/* Set @opts on the puppet's socket @fd, described as @desc in messages. */
int inet_restore_opts(struct rst_ctx *r, int fd, const InetSkOpts *opts, const char *desc);

#endif
