/* SPDX-License-Identifier: MIT */
/*
 * State-test protocol. A test is started by tests/cr/run.sh as `TEST STATEDIR` with stdout and
 * stderr sent to STATEDIR/out. It sets up its state, calls test_ready() (which creates
 * STATEDIR/ready), then test_wait(), which returns once SIGUSR2 has arrived; meanwhile the
 * runner dumps it (killing it), restores it from the images and sends SIGUSR2 to the restored
 * process. The test then verifies its state and calls test_pass() or test_fail(), which print
 * PASS or "FAIL: reason" as the last line of STATEDIR/out and exit 0 or 1.
 * The runner takes options from a line in the source:  CRYO-TEST: key=value ...
 *
 * The helpers below the protocol fail the test themselves (test_fail() with the path or fd
 * and the errno text) instead of returning errors. Their buffers are the caller's or static,
 * and only test_altstack() keeps memory allocated.
 */
#ifndef CRYO_TEST_LIB_H
#define CRYO_TEST_LIB_H

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>

void test_init(int argc, char **argv);
void test_ready(void);
void test_wait(void);
/* Has SIGUSR2 arrived? For tests that keep working while they wait. */
int test_signalled(void);
__attribute__((noreturn)) void test_pass(void);
__attribute__((noreturn, format(printf, 1, 2))) void test_fail(const char *fmt, ...);
/* Note a message in the output without ending the test. */
void test_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The state directory, for tests that keep files there. */
const char *test_dir(void);

/* ---- Memory contents */

/* A checksum of memory for contents checks. */
uint64_t test_hash(const void *buf, size_t len);
/* Fill buf with pseudo-random bytes; the same seed gives the same bytes. */
void test_fill(void *buf, size_t len, uint64_t seed);
/* The next value of the splitmix64 sequence whose state is *x. */
uint64_t test_splitmix(uint64_t *x);

/* ---- Files and /proc */

/* "STATEDIR/NAME" into buf. */
void test_path(char *buf, size_t len, const char *name);
/*
 * Create STATEDIR/NAME (mode 0644, truncated if it exists) holding the len bytes of data,
 * through an fd opened with oflags (an access mode, and O_CLOEXEC etc. as the test needs),
 * which is returned at offset len. Works after a chdir() or chroot() too.
 */
int test_create_file(const char *name, const void *data, size_t len, int oflags);
/*
 * The whole of the file at path, read with read(2) from offset 0, into buf, NUL-terminated;
 * returns its length. A file of len bytes or more does not fit and fails the test.
 */
size_t test_read_file(const char *path, char *buf, size_t len);
/* The target of /proc/self/fd/FD, NUL-terminated. */
void test_fd_link(int fd, char *buf, size_t len);
/* A line "fd N -> TARGET" for each open fd, in /proc/self/fd order; returns the length. */
size_t test_fd_list(char *buf, size_t len);

/* What an fd is and how it is open, to check that it comes back the same. */
struct test_fd_state {
	int fd_flags;	    /* F_GETFD */
	int fl_flags;	    /* F_GETFL */
	off_t pos;	    /* lseek(fd, 0, SEEK_CUR) */
	char link[PATH_MAX]; /* /proc/self/fd/N */
	struct stat st;
};
void test_fd_state(int fd, struct test_fd_state *ret);
/*
 * fd must have the state was records: the same fd and status flags, offset, link text, and
 * the same file (device, inode, mode and, for devices, rdev). Not for files that the restore
 * recreates (pipes, unlinked files), whose inode and link change.
 */
void test_fd_check(int fd, const struct test_fd_state *was);

/* A line of /proc/self/maps. */
struct test_vma {
	uintptr_t start, end;
	char perms[5];
	unsigned long long off;
	char path[PATH_MAX]; /* "" for an anonymous mapping */
};
/* The mapping that contains addr; fails the test if there is none. */
void test_find_vma(const void *addr, struct test_vma *ret);
/*
 * For each of the nkeys keys ("SigBlk:"), the line of the /proc status file at path that
 * starts with it, into buf after prefix (which may be ""); returns the length. A missing key
 * fails the test.
 */
size_t test_status_lines(const char *path, const char *prefix, const char *const *keys,
			 size_t nkeys, char *buf, size_t len);
/*
 * test_ready() and test_wait(), then the test_fd_list() must be as before, but for the inodes
 * of pipes ("pipe:[]"), which the restore makes anew.
 */
void test_wait_same_fds(void);

/* ---- Trees of processes */

/*
 * A child that checks what it shares with the parent after the restore. test_child_fork()
 * forks it, with a pair of pipes to talk over, to run prepare(arg) and returns once that is
 * done; the child then waits for test_child_verify() to have it run check(arg) and exit 0.
 * In the child, test_child_fail() sends the reason back and exits; test_child_verify() reaps
 * the child and fails the test with the reason, or with a wait status other than exit 0.
 * One such child per process.
 */
pid_t test_child_fork(void (*prepare)(void *), void (*check)(void *), void *arg);
__attribute__((noreturn, format(printf, 1, 2))) void test_child_fail(const char *fmt, ...);
void test_child_verify(pid_t pid);

/*
 * For a child that reports and then waits for its next command: write the len bytes of msg
 * to fd out, then read the reply_len bytes of the reply from fd in (again on EINTR). The child
 * leaves with _exit(3) if either fails, as when the parent is gone.
 */
void test_send_recv(int out, const void *msg, size_t len, int in, void *reply, size_t reply_len);
/* The ppid field of /proc/PID/stat, or -1 if it can't be read (the process is gone). */
pid_t test_stat_ppid(pid_t pid);
/* In the checker child: fd must be the parent's fd of the same number (kcmp KCMP_FILE). */
void test_child_shares(int fd, const char *what);
/* The first problem found: the message into why (of len bytes) if why is still "". */
void test_note(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* SIGKILL each of the n pids that is > 0, then test_fail(). */
__attribute__((noreturn, format(printf, 3, 4))) void test_fail_killing(const pid_t *pids, size_t n,
								       const char *fmt, ...);
/*
 * End n children: to each, write the len bytes of msg (its command to exit) on its command
 * pipe cmd[i][1], and reap it; if that fails or it exits other than with 0, fail the test,
 * killing the children first. names[i] names pids[i] in the failure.
 */
void test_end_children(const pid_t *pids, const int (*cmd)[2], const char *const *names, size_t n,
		       const void *msg, size_t len);
/*
 * Read a message of len bytes from fd (a pipe that writers write whole messages to), waiting
 * at most timeout_ms for it; returns NULL, or why not ("nothing in N ms", "read N bytes
 * (EOF)") in a static buffer, for the caller to fail with once it has cleaned up.
 */
const char *test_read_msg(int fd, void *buf, size_t len, int timeout_ms);

/* ---- Comparisons */

/*
 * Texts of lines (each ending in '\n') that must be equal: on a difference the test fails
 * with "WHAT changed: 'LINE' became 'LINE'", naming the first line that differs.
 */
void test_same_lines(const char *what, const char *was, const char *now);

/* A list of named values (ids, limits, flags) to read before the dump and again after it. */
#define TEST_VALUES_MAX 256
#define TEST_VALUE_NAME_MAX 48
struct test_values {
	int n;
	struct {
		char name[TEST_VALUE_NAME_MAX];
		long long value;
	} v[TEST_VALUES_MAX];
};
/* Append a value named by the format; to read again, start from an empty list (n = 0). */
void test_values_add(struct test_values *s, long long value, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* now must hold the values of was, in the same order; fails naming the first difference. */
void test_values_check(const struct test_values *was, const struct test_values *now);

/* ---- Sockets */

/* An AF_UNIX address and its length, for bind(), connect() and comparisons. */
struct test_unix_addr {
	struct sockaddr_un sa;
	socklen_t len;
};
/* The path "STATEDIR/NAME". */
void test_unix_path_addr(struct test_unix_addr *a, const char *name);
/* The abstract name "cryo-test-NAME-PID". */
void test_unix_abstract_addr(struct test_unix_addr *a, const char *name);

/* setsockopt() of an int option; what names it in the failure. */
void test_setsockopt_int(int fd, int level, int name, int val, const char *what);
/* A socket option for test_sockopts_add(): TEST_SOCKOPT(SOL_SOCKET, SO_TYPE). */
struct test_sockopt {
	int level, name;
	const char *label;
};
#define TEST_SOCKOPT(l, n) { l, n, #n }
/*
 * Append to v, named "WHO: NAME", the F_GETFL and F_GETFD flags of socket fd and the int
 * value of each of its n options, or -errno where getsockopt() fails.
 */
void test_sockopts_add(struct test_values *v, int fd, const char *who,
		       const struct test_sockopt *opts, size_t n);

/* ---- Process state */

/*
 * A snapshot of what a failed dump must leave as it found it (tests with expect=dump-fail):
 * the blocked, ignored and caught signals of every thread (SigBlk, SigIgn and SigCgt in
 * /proc/self/task/TID/status), the open fds with their targets, and /proc/self/maps, which
 * shows any mapping the dumper left behind. test_snapshot_take() records them (up to
 * TEST_SNAPSHOTS per process, in static memory so that taking one does not move the heap it
 * records); test_snapshot_check() takes them again and fails the test with the first line
 * that differs.
 */
#define TEST_SNAPSHOTS 2
struct test_snapshot;
const struct test_snapshot *test_snapshot_take(void);
void test_snapshot_check(const struct test_snapshot *was);

/*
 * A counter that another thread or process bumps every millisecond must move on past since
 * within a second; returns the value it moved to. Fails the test naming who otherwise.
 */
/* pthread_join() waiting no more than secs seconds; returns 0 or the error (ETIMEDOUT). */
int test_timedjoin(pthread_t thread, int secs);
/* The tids of /proc/self/task, sorted, into tids (room for max); returns how many. */
int test_tasks(int *tids, int max);

unsigned long test_counting(const unsigned long *counter, unsigned long since, const char *who);

/* ---- Signals and time */

/* Block (how = SIG_BLOCK) or unblock (SIG_UNBLOCK) SIGUSR2 in the calling thread. */
void test_mask_usr2(int how);
/* Install a malloc'ed alternate signal stack of size bytes; returns its base. */
char *test_altstack(size_t size);
/* No signal may be pending for the calling thread or the process. */
void test_none_pending(void);
/* CLOCK_MONOTONIC in nanoseconds. */
long long test_mono_ns(void);
/*
 * A nanosleep() of ns nanoseconds with a remaining-time pointer: it must return 0, and at
 * least ns of CLOCK_MONOTONIC must have passed.
 */
void test_nanosleep(long long ns);

/* ---- Registers (x86-64), for asm that fills them with a pattern and stores them back */

/*
 * With rdi pointing at a struct whose gpr arrays are at asm operands gi (in) and go (out):
 * GPRS(GPR_LOAD) loads rax..r15 from gi[0..13], GPRS(GPR_STORE) stores them to go[0..13].
 * IRPn opens a .irp over 0..n-1 for the vector registers (close it with ".endr").
 */
#define TEST_GPR_LOAD(reg, i) "mov %c[gi]+" #i "*8(%%rdi), %%" #reg "\n\t"
#define TEST_GPR_STORE(reg, i) "mov %%" #reg ", %c[go]+" #i "*8(%%rdi)\n\t"
#define TEST_GPRS(op)                                                                              \
	op(rax, 0) op(rbx, 1) op(rcx, 2) op(rdx, 3) op(rsi, 4) op(rbp, 5) op(r8, 6) op(r9, 7)      \
	    op(r10, 8) op(r11, 9) op(r12, 10) op(r13, 11) op(r14, 12) op(r15, 13)
#define TEST_IRP16 ".irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n\t"

#endif
