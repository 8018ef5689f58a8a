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
#include <stdint.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

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
unsigned long test_counting(const unsigned long *counter, unsigned long since, const char *who);

/* ---- Signals and time */

/* Block (how = SIG_BLOCK) or unblock (SIG_UNBLOCK) SIGUSR2 in the calling thread. */
void test_mask_usr2(int how);
/* Install a malloc'ed alternate signal stack of size bytes; returns its base. */
char *test_altstack(size_t size);
/* CLOCK_MONOTONIC in nanoseconds. */
long long test_mono_ns(void);
/*
 * A nanosleep() of ns nanoseconds with a remaining-time pointer: it must return 0, and at
 * least ns of CLOCK_MONOTONIC must have passed.
 */
void test_nanosleep(long long ns);

#endif
