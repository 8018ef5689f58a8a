/* SPDX-License-Identifier: MIT */
/* The engine's public API: all the shim knows of it. */
#ifndef CRYO_ENGINE_CRYO_H
#define CRYO_ENGINE_CRYO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct cr_dump_opts {
	pid_t pid; /* root of the tree to dump */
	const char *images_dir;
	bool leave_running; /* resume the tree after the dump instead of killing it */
};

/* --inherit-fd fd[N]:KEY: the dumped file named KEY ("pipe:[INO]") is the caller's fd N. */
struct cr_inherit_fd {
	int fd;
	const char *key;
};

struct cr_restore_opts {
	const char *images_dir;
	const struct cr_inherit_fd *inherit_fds;
	size_t nr_inherit_fds;
	bool new_pidns; /* into a new pid namespace, its init cryo's, where the pids are free */
};

struct cr_stats {
	unsigned long long frozen_us; /* from freeze to kill or resume */
	unsigned long long pages_written;
	unsigned long long pages_restored;
};

/* Dump the tree; on failure it is left running as it was. */
int cr_dump(const struct cr_dump_opts *opts, struct cr_stats *stats);
/*
 * Restore the tree; returns once it runs, with its root's pid in the caller's namespace and
 * the caller's child that ends with the root's exit status: the root itself, or with
 * new_pidns the init of its namespace. On failure nothing restored is left behind.
 */
int cr_restore(const struct cr_restore_opts *opts, pid_t *ret_pid, pid_t *ret_child,
	       struct cr_stats *stats);

/* Probe every kernel feature the engine uses; prints one line each. 0 when all are there. */
int cr_check(void);

#endif
