/* SPDX-License-Identifier: MIT */
/* Parsers of /proc/PID text; they never log above debug level. */
#ifndef CRYO_ENGINE_PROC_H
#define CRYO_ENGINE_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* VmFlags of /proc/PID/smaps that matter for restore. */
enum {
	VMF_GROWSDOWN = 1 << 0, /* gd */
	VMF_LOCKED = 1 << 1, /* lo */
	VMF_MAYWRITE = 1 << 2, /* mw */
	VMF_DONTDUMP = 1 << 3, /* dd */
	VMF_DONTFORK = 1 << 4, /* dc */
	VMF_WIPEONFORK = 1 << 5, /* wf */
	VMF_HUGEPAGE = 1 << 6, /* hg */
	VMF_NOHUGEPAGE = 1 << 7, /* nh */
	VMF_MERGEABLE = 1 << 8, /* mg */
	VMF_NORESERVE = 1 << 9, /* nr */
	VMF_IO = 1 << 10, /* io: device memory, never dumpable */
	VMF_PFNMAP = 1 << 11, /* pf */
	VMF_ACCOUNT = 1 << 12, /* ac: charged to the commit limit, i.e. was writable */
};

struct proc_vma {
	uint64_t start, end;
	uint32_t prot; /* PROT_* */
	bool shared;
	uint64_t pgoff;
	uint64_t dev; /* makedev(major, minor) */
	uint64_t ino;
	uint32_t vmflags; /* VMF_* */
	char *path; /* NULL for an anonymous mapping, "[heap]" and friends verbatim */
	int kind; /* left 0 by the parser: the engine's classification (VmaKind) */
};

/* Parse smaps text @buf into a new array. */
int proc_parse_smaps_buf(char *buf, struct proc_vma **ret, size_t *ret_n);
int proc_parse_smaps(pid_t pid, struct proc_vma **ret, size_t *ret_n);
void proc_vmas_free(struct proc_vma *v, size_t n);

/* Fields of /proc/PID/stat (man 5 proc numbering in comments). */
struct proc_stat {
	char state; /* 3 */
	int ppid, pgid, sid; /* 4, 5, 6 */
	unsigned int flags; /* 9 */
	long nice; /* 19 */
	long num_threads; /* 20 */
	uint64_t start_code, end_code, start_stack; /* 26, 27, 28 */
	int exit_signal; /* 38 */
	uint64_t start_data, end_data, start_brk; /* 45, 46, 47 */
	uint64_t arg_start, arg_end, env_start, env_end; /* 48-51 */
	int exit_code; /* 52: wait status of a zombie */
};

int proc_parse_stat_buf(char *buf, struct proc_stat *ret);
int proc_parse_stat(pid_t pid, struct proc_stat *ret);

#define PROC_MAX_GROUPS 65536

struct proc_status {
	uint32_t uids[4], gids[4];
	uint32_t *groups;
	size_t ngroups;
	uint64_t cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
	int no_new_privs;
	int seccomp;
	uint32_t umask;
	int threads;
	uint32_t nspid_depth; /* number of pid namespaces the task is in */
	pid_t nspid; /* its pid in the innermost of them: the last of NSpid */
};

int proc_parse_status_buf(char *buf, struct proc_status *ret);
int proc_parse_status(pid_t pid, struct proc_status *ret);
void proc_status_free(struct proc_status *st);

struct proc_fdinfo {
	uint64_t pos;
	uint32_t flags;
	uint64_t ino;
};

/* pos, flags (octal) and ino of fdinfo text @text; ino is 0 where the kernel shows none. */
int proc_parse_fdinfo_buf(const char *text, struct proc_fdinfo *ret);
int proc_parse_fdinfo(pid_t pid, int fd, struct proc_fdinfo *ret);

/*
 * Most bytes of /proc/PID/fdinfo/FD read: an epoll, inotify or fanotify lists a line of up to
 * a few hundred bytes for each watch, and a process may hold hundreds of thousands of them.
 */
#define PROC_FDINFO_MAX (64u << 20)

/* The text of /proc/@pid/fdinfo/@fd, NUL-terminated. */
int proc_read_fdinfo(pid_t pid, int fd, char **ret_text);
/*
 * The value of the line of fdinfo text @text that starts with @key ("pos:", "eventfd-count:"):
 * what follows @key and its blanks, up to the end of the text. NULL if no line starts so.
 */
const char *proc_fdinfo_value(const char *text, const char *key);
/* The number in @base on the line that starts with @key: -EINVAL if none, or not a number. */
int proc_fdinfo_u64(const char *text, const char *key, int base, uint64_t *ret);
/*
 * The same for one line of "key:value" fields separated by blanks, as epoll and inotify list
 * their watches ("tfd: 5 events: 19 data: 0 pos:0 ino:..."): @key at the start of @line or
 * after a blank.
 */
const char *proc_fdinfo_field(const char *line, const char *key);
int proc_fdinfo_field_u64(const char *line, const char *key, int base, uint64_t *ret);

struct proc_timer {
	int id;
	int signo;
	int notify; /* SIGEV_* */
	int notify_tid;
	uint64_t sigval;
	int clock;
};

#define PROC_MAX_TIMERS 4096

int proc_parse_timers_buf(char *buf, struct proc_timer **ret, size_t *ret_n);
int proc_parse_timers(pid_t pid, struct proc_timer **ret, size_t *ret_n);

#endif
