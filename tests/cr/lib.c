/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/kcmp.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "lib.h"

static const char *state_dir;
static int state_fd = -1; /* the state dir, still reachable after chdir or chroot */
static volatile sig_atomic_t got_usr2;

static void on_usr2(int sig)
{
	(void)sig;
	got_usr2 = 1;
}

void test_init(int argc, char **argv)
{
	struct sigaction sa;

	if (argc < 2) {
		fprintf(stderr, "usage: %s STATEDIR\n", argv[0]);
		exit(2);
	}
	state_dir = argv[1];
	/* Whatever the caller leaked to us is not part of the state under test. */
	close_range(3, ~0U, 0);
	state_fd = open(state_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (state_fd < 0) {
		fprintf(stderr, "can't open '%s': %s\n", state_dir, strerror(errno));
		exit(2);
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr2;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);
}

const char *test_dir(void)
{
	return state_dir;
}

void test_ready(void)
{
	int fd = openat(state_fd, "ready", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		test_fail("can't create '%s/ready': %s", state_dir, strerror(errno));
	close(fd);
}

int test_signalled(void)
{
	return got_usr2;
}

void test_wait(void)
{
	while (!got_usr2)
		pause();
}

void test_pass(void)
{
	printf("PASS\n");
	exit(0);
}

void test_fail(const char *fmt, ...)
{
	va_list ap;

	printf("FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	exit(1);
}

void test_msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

uint64_t test_hash(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

void test_fill(void *buf, size_t len, uint64_t seed)
{
	unsigned char *p = buf;
	uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)x;
	}
}

void test_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", state_dir, name);
}

int test_create_file(const char *name, const void *data, size_t len, int oflags)
{
	int fd = openat(state_fd, name, oflags | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || write(fd, data, len) != (ssize_t)len)
		test_fail("can't create '%s/%s': %s", state_dir, name, strerror(errno));
	return fd;
}

size_t test_read_file(const char *path, char *buf, size_t len)
{
	size_t used = 0;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		test_fail("can't open '%s': %s", path, strerror(errno));
	while ((n = read(fd, buf + used, len - used)) > 0) {
		used += (size_t)n;
		if (used == len)
			test_fail("'%s' does not fit in %zu bytes", path, len - 1);
	}
	if (n < 0)
		test_fail("can't read '%s': %s", path, strerror(errno));
	close(fd);
	buf[used] = '\0';
	return used;
}

void test_fd_link(int fd, char *buf, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, buf, len - 1);
	if (n < 0)
		test_fail("readlink '%s': %s", path, strerror(errno));
	buf[n] = '\0';
}

static DIR *open_dir(const char *path)
{
	DIR *d = opendir(path);

	if (!d)
		test_fail("opendir '%s': %s", path, strerror(errno));
	return d;
}

/* The number that the next entry of d is named by, skipping "." and ".."; -1 at the end. */
static int next_number(DIR *d)
{
	struct dirent *de;

	do
		de = readdir(d);
	while (de && de->d_name[0] == '.');
	return de ? atoi(de->d_name) : -1;
}

size_t test_fd_list(char *buf, size_t len)
{
	DIR *d = open_dir("/proc/self/fd");
	char target[PATH_MAX];
	size_t used = 0;
	int fd;

	buf[0] = '\0';
	while ((fd = next_number(d)) >= 0) {
		if (fd == dirfd(d))
			continue;
		test_fd_link(fd, target, sizeof(target));
		used += snprintf(buf + used, len - used, "fd %d -> %s\n", fd, target);
		if (used >= len)
			test_fail("the list of open fds does not fit in %zu bytes", len);
	}
	closedir(d);
	return used;
}

void test_fd_state(int fd, struct test_fd_state *ret)
{
	ret->fd_flags = fcntl(fd, F_GETFD);
	ret->fl_flags = fcntl(fd, F_GETFL);
	if (ret->fd_flags < 0 || ret->fl_flags < 0)
		test_fail("fd %d: fcntl: %s", fd, strerror(errno));
	ret->pos = lseek(fd, 0, SEEK_CUR);
	test_fd_link(fd, ret->link, sizeof(ret->link));
	if (fstat(fd, &ret->st))
		test_fail("fstat %d: %s", fd, strerror(errno));
}

void test_fd_check(int fd, const struct test_fd_state *was)
{
	struct test_fd_state now;
	const struct stat *w = &was->st, *n = &now.st;

	test_fd_state(fd, &now);
	if (now.fd_flags != was->fd_flags)
		test_fail("fd %d: F_GETFD %#x, was %#x", fd, now.fd_flags, was->fd_flags);
	if (now.fl_flags != was->fl_flags)
		test_fail("fd %d: F_GETFL %#o, was %#o", fd, now.fl_flags, was->fl_flags);
	if (now.pos != was->pos)
		test_fail("fd %d: offset %lld, was %lld", fd, (long long)now.pos, (long long)was->pos);
	if (strcmp(now.link, was->link))
		test_fail("fd %d: link '%s', was '%s'", fd, now.link, was->link);
	if (w->st_dev != n->st_dev || w->st_ino != n->st_ino || w->st_mode != n->st_mode ||
	    w->st_rdev != n->st_rdev)
		test_fail("fd %d: dev %#llx ino %llu mode %#o rdev %#llx, was %#llx %llu %#o %#llx",
			  fd, (unsigned long long)n->st_dev, (unsigned long long)n->st_ino,
			  n->st_mode, (unsigned long long)n->st_rdev, (unsigned long long)w->st_dev,
			  (unsigned long long)w->st_ino, w->st_mode, (unsigned long long)w->st_rdev);
}

void test_find_vma(const void *addr, struct test_vma *ret)
{
	static char maps[1 << 20];
	const char *line, *eol, *path;
	int n;

	test_read_file("/proc/self/maps", maps, sizeof(maps));
	for (line = maps; *line; line = eol + 1) {
		eol = strchr(line, '\n');
		n = 0;
		if (!eol || sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %4s %llx %*s %*s%n", &ret->start,
				   &ret->end, ret->perms, &ret->off, &n) != 4 || !n || line + n > eol)
			test_fail("bad line in /proc/self/maps: %.80s", line);
		if ((uintptr_t)addr < ret->start || (uintptr_t)addr >= ret->end)
			continue;
		for (path = line + n; path < eol && *path == ' '; path++)
			;
		snprintf(ret->path, sizeof(ret->path), "%.*s", (int)(eol - path), path);
		return;
	}
	test_fail("no mapping at %p in /proc/self/maps", addr);
}

size_t test_status_lines(const char *path, const char *prefix, const char *const *keys,
			 size_t nkeys, char *buf, size_t len)
{
	char status[8192];
	size_t used = 0;

	test_read_file(path, status, sizeof(status));
	for (size_t i = 0; i < nkeys; i++) {
		size_t klen = strlen(keys[i]);
		const char *line = status;

		while (strncmp(line, keys[i], klen)) {
			line = strchr(line, '\n');
			if (!line++)
				test_fail("no '%s' in '%s'", keys[i], path);
		}
		used += snprintf(buf + used, len - used, "%s%.*s\n", prefix,
				 (int)strcspn(line, "\n"), line);
		if (used >= len)
			test_fail("lines of '%s' do not fit in %zu bytes", path, len);
	}
	return used;
}

void test_same_lines(const char *what, const char *was, const char *now)
{
	size_t i = 0, line = 0;

	if (!strcmp(was, now))
		return;
	while (was[i] == now[i]) {
		if (was[i] == '\n')
			line = i + 1;
		i++;
	}
	test_fail("%s changed: '%.*s' became '%.*s'", what, (int)strcspn(was + line, "\n"),
		  was + line, (int)strcspn(now + line, "\n"), now + line);
}

void test_values_add(struct test_values *s, long long value, const char *fmt, ...)
{
	va_list ap;

	if (s->n >= TEST_VALUES_MAX)
		test_fail("more than %d values", TEST_VALUES_MAX);
	va_start(ap, fmt);
	vsnprintf(s->v[s->n].name, sizeof(s->v[s->n].name), fmt, ap);
	va_end(ap);
	s->v[s->n++].value = value;
}

void test_values_check(const struct test_values *was, const struct test_values *now)
{
	for (int i = 0; i < was->n; i++)
		if (i >= now->n || strcmp(was->v[i].name, now->v[i].name))
			test_fail("%s: missing", was->v[i].name);
		else if (was->v[i].value != now->v[i].value)
			test_fail("%s: %lld, was %lld", was->v[i].name, now->v[i].value,
				  was->v[i].value);
	if (now->n != was->n)
		test_fail("%d values, was %d", now->n, was->n);
}

#define SNAPSHOT_MAX (64 * 1024)

struct test_snapshot {
	char text[SNAPSHOT_MAX];
};

/* Append the signal lines of every thread, each after its tid. */
static size_t snapshot_signals(char *buf, size_t len)
{
	static const char *const keys[] = { "SigBlk:", "SigIgn:", "SigCgt:" };
	DIR *d = open_dir("/proc/self/task");
	char path[64], prefix[32];
	size_t used = 0;
	int tid;

	while ((tid = next_number(d)) >= 0) {
		snprintf(path, sizeof(path), "/proc/self/task/%d/status", tid);
		snprintf(prefix, sizeof(prefix), "%d ", tid);
		used += test_status_lines(path, prefix, keys, sizeof(keys) / sizeof(keys[0]),
					  buf + used, len - used);
	}
	closedir(d);
	return used;
}

/* The map is read last, once opendir() has made the heap exist. */
static void snapshot(struct test_snapshot *s)
{
	size_t used;

	used = snapshot_signals(s->text, sizeof(s->text));
	used += test_fd_list(s->text + used, sizeof(s->text) - used);
	test_read_file("/proc/self/maps", s->text + used, sizeof(s->text) - used);
}

const struct test_snapshot *test_snapshot_take(void)
{
	static struct test_snapshot taken[TEST_SNAPSHOTS];
	static int nr_taken;

	if (nr_taken == TEST_SNAPSHOTS)
		test_fail("more than %d snapshots", TEST_SNAPSHOTS);
	snapshot(&taken[nr_taken]);
	return &taken[nr_taken++];
}

void test_snapshot_check(const struct test_snapshot *was)
{
	static struct test_snapshot now;

	snapshot(&now);
	test_same_lines("process state", was->text, now.text);
}

unsigned long test_counting(const unsigned long *counter, unsigned long since, const char *who)
{
	const struct timespec tick = { 0, 10000000 };
	unsigned long now;

	for (int i = 0; i < 100; i++) {
		now = __atomic_load_n(counter, __ATOMIC_RELAXED);
		if (now > since)
			return now;
		nanosleep(&tick, NULL);
	}
	test_fail("%s stopped counting at %lu", who, since);
}

void test_mask_usr2(int how)
{
	sigset_t usr2;
	int r;

	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	r = pthread_sigmask(how, &usr2, NULL);
	if (r)
		test_fail("pthread_sigmask: %s", strerror(r));
}

char *test_altstack(size_t size)
{
	char *stack = malloc(size);
	stack_t ss = { .ss_sp = stack, .ss_size = size };

	if (!stack)
		test_fail("malloc of a %zu-byte alternate stack failed", size);
	if (sigaltstack(&ss, NULL))
		test_fail("sigaltstack: %s", strerror(errno));
	return stack;
}

long long test_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void test_nanosleep(long long ns)
{
	struct timespec req = { ns / 1000000000, ns % 1000000000 }, rem = { 0, 0 };
	long long start = test_mono_ns(), elapsed;
	int r;

	r = nanosleep(&req, &rem);
	elapsed = test_mono_ns() - start;
	if (r)
		test_fail("nanosleep returned %d (%s), %ld.%09ld s left", r, strerror(errno),
			  (long)rem.tv_sec, rem.tv_nsec);
	if (elapsed < ns)
		test_fail("nanosleep of %lld ms returned after %lld ms", ns / 1000000,
			  elapsed / 1000000);
}

/* "pipe:[N]" becomes "pipe:[]" throughout s. */
static void mask_pipes(char *s)
{
	while ((s = strstr(s, "pipe:["))) {
		char *end = strchr(s += 6, ']');

		if (end)
			memmove(s, end, strlen(end) + 1);
	}
}

void test_wait_same_fds(void)
{
	static char before[16384], after[16384];

	test_fd_list(before, sizeof(before));
	mask_pipes(before);
	test_ready();
	test_wait();
	test_fd_list(after, sizeof(after));
	mask_pipes(after);
	test_same_lines("open fds", before, after);
}

/* The checker child: commands from the parent on child_cmd, a failure's reason on child_rep. */
static int child_cmd[2], child_rep[2];

void test_child_fail(const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (write(child_rep[1], why, strlen(why)) < 0)
		_exit(2);
	_exit(1);
}

pid_t test_child_fork(void (*prepare)(void *), void (*check)(void *), void *arg)
{
	pid_t pid;
	char c;

	if (pipe(child_cmd) || pipe(child_rep))
		test_fail("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		test_fail("fork: %s", strerror(errno));
	if (pid == 0) {
		close(child_cmd[1]);
		close(child_rep[0]);
		prepare(arg);
		if (write(child_rep[1], "r", 1) != 1 || read(child_cmd[0], &c, 1) != 1)
			test_child_fail("talking to the parent: %s", strerror(errno));
		check(arg);
		_exit(0);
	}
	close(child_cmd[0]);
	close(child_rep[1]);
	if (read(child_rep[0], &c, 1) != 1)
		test_fail("the child did not get ready");
	return pid;
}

void test_child_verify(pid_t pid)
{
	char why[256];
	ssize_t n;
	int status;

	if (write(child_cmd[1], "v", 1) != 1)
		test_fail("can't talk to the child: %s", strerror(errno));
	n = read(child_rep[0], why, sizeof(why) - 1);
	if (waitpid(pid, &status, 0) != pid)
		test_fail("waitpid: %s", strerror(errno));
	if (n > 0)
		test_fail("child: %.*s", (int)n, why);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		test_fail("child: wait status %#x", status);
}

void test_note(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (why[0])
		return;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

void test_fail_killing(const pid_t *pids, size_t n, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (size_t i = 0; i < n; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGKILL);
	test_fail("%s", msg);
}

const char *test_read_msg(int fd, void *buf, size_t len, int timeout_ms)
{
	static char why[128];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;
	int pr;

	do
		pr = poll(&p, 1, timeout_ms);
	while (pr < 0 && errno == EINTR);
	if (pr == 0) {
		snprintf(why, sizeof(why), "nothing in %d ms", timeout_ms);
		return why;
	}
	n = read(fd, buf, len);
	if (n == (ssize_t)len)
		return NULL;
	snprintf(why, sizeof(why), "read %zd bytes (%s)", n, n < 0 ? strerror(errno) : "EOF");
	return why;
}

void test_unix_path_addr(struct test_unix_addr *a, const char *name)
{
	memset(a, 0, sizeof(*a));
	a->sa.sun_family = AF_UNIX;
	test_path(a->sa.sun_path, sizeof(a->sa.sun_path), name);
	a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(a->sa.sun_path) + 1);
}

void test_unix_abstract_addr(struct test_unix_addr *a, const char *name)
{
	memset(a, 0, sizeof(*a));
	a->sa.sun_family = AF_UNIX;
	snprintf(a->sa.sun_path + 1, sizeof(a->sa.sun_path) - 1, "cryo-test-%s-%d", name, getpid());
	a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(a->sa.sun_path + 1));
}

void test_setsockopt_int(int fd, int level, int name, int val, const char *what)
{
	if (setsockopt(fd, level, name, &val, sizeof(val)))
		test_fail("setsockopt %s: %s", what, strerror(errno));
}

void test_sockopts_add(struct test_values *v, int fd, const char *who,
		       const struct test_sockopt *opts, size_t n)
{
	socklen_t len;
	int val;

	test_values_add(v, fcntl(fd, F_GETFL), "%s: F_GETFL", who);
	test_values_add(v, fcntl(fd, F_GETFD), "%s: F_GETFD", who);
	for (size_t i = 0; i < n; i++) {
		len = sizeof(val);
		val = getsockopt(fd, opts[i].level, opts[i].name, &val, &len) ? -errno : val;
		test_values_add(v, val, "%s: %s", who, opts[i].label);
	}
}

uint64_t test_splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

int test_tasks(int *tids, int max)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0;

	if (!d)
		test_fail("opendir /proc/self/task: %s", strerror(errno));
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == max)
			test_fail("more than %d threads", max);
		tids[n++] = atoi(de->d_name);
	}
	closedir(d);
	qsort(tids, n, sizeof(*tids), cmp_int);
	return n;
}

void test_none_pending(void)
{
	sigset_t pending;

	sigemptyset(&pending);
	sigpending(&pending);
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(&pending, sig))
			test_fail("signal %d still pending after delivery", sig);
}

int test_timedjoin(pthread_t thread, int secs)
{
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += secs;
	return pthread_timedjoin_np(thread, NULL, &deadline);
}

void test_end_children(const pid_t *pids, const int (*cmd)[2], const char *const *names, size_t n,
		       const void *msg, size_t len)
{
	int status;

	for (size_t i = 0; i < n; i++) {
		if (write(cmd[i][1], msg, len) != (ssize_t)len)
			test_fail_killing(pids, n, "command to %s: %s", names[i], strerror(errno));
		if (waitpid(pids[i], &status, 0) != pids[i])
			test_fail_killing(pids, n, "waitpid(%s %d): %s", names[i], pids[i],
					  strerror(errno));
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			test_fail_killing(pids, n, "%s ended with status %#x", names[i], status);
	}
}

void test_send_recv(int out, const void *msg, size_t len, int in, void *reply, size_t reply_len)
{
	ssize_t n;

	if (write(out, msg, len) != (ssize_t)len)
		_exit(3);
	do
		n = read(in, reply, reply_len);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)reply_len)
		_exit(3);
}

pid_t test_stat_ppid(pid_t pid)
{
	char path[64], buf[1024], state;
	const char *p;
	ssize_t n;
	int fd, ppid;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* The comm in parentheses may hold anything: the state follows the last ')'. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %c %d", &state, &ppid) != 2)
		return -1;
	return ppid;
}

void test_child_shares(int fd, const char *what)
{
	if (syscall(SYS_kcmp, getpid(), getppid(), KCMP_FILE, fd, fd))
		test_child_fail("%s (fd %d) is not the parent's open file description", what, fd);
}
