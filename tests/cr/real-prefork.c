/* SPDX-License-Identifier: MIT */
/*
 * A small pre-forking TCP server: the root R listens on 127.0.0.1 (ephemeral port, with
 * SO_REUSEADDR as real servers have it: the connections its workers close linger in
 * TIME_WAIT on the port, and the restored listener must bind past them) and forks two
 * workers, which inherit the listener and keep it, as R does: all three hold the one open
 * file description. Each worker loops on accept(), reads one request line per connection,
 * answers "worker <pid> <request>\n" and closes the connection; its SIGTERM handler exits
 * with a status of its own. Before the dump R checks the service as a client (a fresh socket
 * each time, all closed before ready, as is every accepted connection: established TCP
 * connections can't be dumped): a connection held open without a request keeps one worker
 * busy so that the next one must be answered by the other, and then several plain requests.
 * After restore R checks that it has the fds it had and that its listener is the one it was
 * (address, listen state, SO_REUSEADDR and, with kcmp(), the same open file description as
 * each worker's), that both workers answer again with the pids they had (a restored worker
 * also checks its ppid, that its fd is still a listener and its parent death signal), that
 * requests in a row are all answered by them, then sends SIGTERM to both and reaps them with
 * their statuses.
 * CRYO-TEST: cycles=2
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib.h"

#define NR_WORKERS 2
#define WORKER_STATUS 40 /* + index: a worker's exit status from its SIGTERM handler */
#define LINE_MAX_ 128
#define REQUESTS 8
#define IO_TIMEOUT_S 5

static int lfd = -1;
static struct sockaddr_in laddr;
static pid_t root_pid;
static pid_t workers[NR_WORKERS];
static int my_index;

/* ---- Worker */

static void on_term(int sig)
{
	(void)sig;
	_exit(WORKER_STATUS + my_index);
}

/* One request line from fd, without its '\n'; -1 if the connection ended before one. */
static int read_line(int fd, char *buf, size_t len)
{
	size_t n = 0;
	char c;

	for (;;) {
		ssize_t r = read(fd, &c, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		if (c == '\n')
			break;
		if (n + 1 < len)
			buf[n++] = c;
	}
	buf[n] = '\0';
	return 0;
}

static void write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t r = write(fd, buf, len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return;
		buf += r;
		len -= (size_t)r;
	}
}

static __attribute__((noreturn)) void worker(int index)
{
	struct sigaction sa;
	char req[LINE_MAX_], ans[LINE_MAX_ + 64];

	my_index = index;
	/* Not to outlive a root that failed: the runner kills only the root. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != root_pid)
		_exit(5);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL))
		_exit(3);
	for (;;) {
		int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		int accepting = 0, pdeath = 0;
		socklen_t len = sizeof(accepting);

		if (c < 0) {
			if (errno == EINTR)
				continue;
			_exit(4);
		}
		if (read_line(c, req, sizeof(req)) == 0) {
			/* What a restore could get wrong in here: the parent and the listener. */
			if (getppid() != root_pid)
				snprintf(ans, sizeof(ans), "worker %d error: ppid %d, want %d\n",
					 getpid(), getppid(), root_pid);
			else if (getsockopt(lfd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) ||
				 !accepting)
				snprintf(ans, sizeof(ans), "worker %d error: fd %d not a listener\n",
					 getpid(), lfd);
			else if (prctl(PR_GET_PDEATHSIG, &pdeath) || pdeath != SIGKILL)
				snprintf(ans, sizeof(ans), "worker %d error: parent death signal %d\n",
					 getpid(), pdeath);
			else
				snprintf(ans, sizeof(ans), "worker %d %s\n", getpid(), req);
			write_all(c, ans, strlen(ans));
		}
		close(c);
	}
}

/* ---- Root as a client */

static int client_connect(const char *what)
{
	struct timeval tv = { IO_TIMEOUT_S, 0 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		test_fail("%s: socket: %s", what, strerror(errno));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		test_fail("%s: setsockopt: %s", what, strerror(errno));
	if (connect(fd, (struct sockaddr *)&laddr, sizeof(laddr)))
		test_fail("%s: connect to 127.0.0.1:%d: %s", what, ntohs(laddr.sin_port),
			  strerror(errno));
	return fd;
}

static void client_send(int fd, const char *req, const char *what)
{
	char line[LINE_MAX_];
	int n = snprintf(line, sizeof(line), "%s\n", req);

	if (write(fd, line, (size_t)n) != n)
		test_fail("%s: sending '%s': %s", what, req, strerror(errno));
}

/*
 * The whole answer to req (up to the end of file, as the worker closes the connection), which
 * must be "worker <pid> <req>" with the pid of a worker; closes fd, returns the worker's index.
 */
static int client_answer(int fd, const char *req, const char *what)
{
	char buf[LINE_MAX_ + 64], want[LINE_MAX_ + 64], *nl;
	size_t n = 0;
	int pid = 0, end = 0;

	for (;;) {
		ssize_t r = read(fd, buf + n, sizeof(buf) - 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			test_fail("%s: no answer to '%s': %s", what, req,
				  errno == EAGAIN ? "timed out" : strerror(errno));
		if (r == 0)
			break;
		n += (size_t)r;
		if (n == sizeof(buf) - 1)
			test_fail("%s: answer to '%s' too long", what, req);
	}
	close(fd);
	buf[n] = '\0';
	nl = strchr(buf, '\n');
	if (!nl || nl[1] != '\0')
		test_fail("%s: answer to '%s' is not one line: '%s'", what, req, buf);
	*nl = '\0';
	if (sscanf(buf, "worker %d %n", &pid, &end) != 1 || !end)
		test_fail("%s: bad answer to '%s': '%s'", what, req, buf);
	snprintf(want, sizeof(want), "worker %d %s", pid, req);
	if (strcmp(buf, want))
		test_fail("%s: answer to '%s' is '%s'", what, req, buf);
	for (int i = 0; i < NR_WORKERS; i++)
		if (workers[i] == pid)
			return i;
	test_fail("%s: '%s' answered by pid %d, not by a worker (%d, %d)", what, req, pid,
		  workers[0], workers[1]);
}

static int request(const char *req, const char *what)
{
	int fd = client_connect(what);

	client_send(fd, req, what);
	return client_answer(fd, req, what);
}

/*
 * Both workers serve: a connection held open without a request keeps the worker that
 * accepted it (the first in the FIFO accept queue) busy, so the second connection can only
 * be answered by the other worker, before the first gets its request. Then several requests
 * in a row, which any worker may answer.
 */
static void check_service(const char *when)
{
	char req[2][64], what[64];
	int busy, other, a, b, counts[NR_WORKERS] = { 0 };

	snprintf(what, sizeof(what), "%s, both workers", when);
	busy = client_connect(what);
	other = client_connect(what);
	for (int i = 0; i < 2; i++)
		snprintf(req[i], sizeof(req[i]), "%s-hold-%d", when, i);
	client_send(other, req[1], what);
	b = client_answer(other, req[1], what);
	client_send(busy, req[0], what);
	a = client_answer(busy, req[0], what);
	if (a == b)
		test_fail("%s: two connections at once both answered by worker %d", what,
			  workers[a]);
	snprintf(what, sizeof(what), "%s, requests in a row", when);
	for (int i = 0; i < REQUESTS; i++) {
		snprintf(req[0], sizeof(req[0]), "%s-req-%d", when, i);
		counts[request(req[0], what)]++;
	}
	test_msg("%s: worker %d answered %d, worker %d answered %d of %d requests", when,
		 workers[0], counts[0], workers[1], counts[1], REQUESTS);
}

/* The numbers of the open fds, "0 1 2 ...": socket links name inodes, which change. */
static void fd_numbers(char *buf, size_t len)
{
	char list[4096], *p = list, *nl;
	size_t n = 0;

	test_fd_list(list, sizeof(list));
	buf[0] = '\0';
	for (; (nl = strchr(p, '\n')); p = nl + 1) {
		int fd;

		if (sscanf(p, "fd %d ", &fd) == 1 && n < len)
			n += (size_t)snprintf(buf + n, len - n, "%d\n", fd);
	}
}

/* At the root's exit, its workers that are not reaped yet (a failed test) go too. */
static void kill_workers(void)
{
	for (int i = 0; i < NR_WORKERS; i++)
		if (workers[i] > 0)
			kill(workers[i], SIGKILL);
}

/* ---- Root: the listener */

static void check_listener(void)
{
	struct sockaddr_in now;
	socklen_t len = sizeof(now);
	int accepting = 0, reuse = 0;

	memset(&now, 0, sizeof(now));
	if (getsockname(lfd, (struct sockaddr *)&now, &len))
		test_fail("listener fd %d: getsockname: %s", lfd, strerror(errno));
	if (len != sizeof(laddr) || memcmp(&now, &laddr, sizeof(laddr)))
		test_fail("listener fd %d: local address %s:%d, was 127.0.0.1:%d", lfd,
			  inet_ntoa(now.sin_addr), ntohs(now.sin_port), ntohs(laddr.sin_port));
	len = sizeof(accepting);
	if (getsockopt(lfd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) || !accepting)
		test_fail("listener fd %d: not listening", lfd);
	len = sizeof(reuse);
	if (getsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &reuse, &len) || !reuse)
		test_fail("listener fd %d: SO_REUSEADDR is off", lfd);
	for (int i = 0; i < NR_WORKERS; i++) {
		long r = syscall(SYS_kcmp, getpid(), workers[i], KCMP_FILE, lfd, lfd);

		if (r < 0 && (errno == ENOSYS || errno == EPERM)) {
			test_msg("kcmp: %s: not checking the shared listener", strerror(errno));
			return;
		}
		if (r < 0 && errno == EBADF)
			test_fail("worker %d has no fd %d (has it exited?)", workers[i], lfd);
		if (r < 0)
			test_fail("kcmp with worker %d: %s", workers[i], strerror(errno));
		if (r != 0)
			test_fail("worker %d's fd %d is not the open file of the root's listener",
				  workers[i], lfd);
	}
}

int main(int argc, char **argv)
{
	socklen_t len = sizeof(laddr);
	int one = 1;
	char fds[256], now[256];

	test_init(argc, argv);
	root_pid = getpid();
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0)
		test_fail("socket: %s", strerror(errno));
	/*
	 * As real servers do: the workers close their connections first, which linger in
	 * TIME_WAIT on the listener's port, and only a listener with SO_REUSEADDR can be bound
	 * past them (as the restored one must be).
	 */
	if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		test_fail("SO_REUSEADDR: %s", strerror(errno));
	memset(&laddr, 0, sizeof(laddr));
	laddr.sin_family = AF_INET;
	laddr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&laddr, sizeof(laddr)) || listen(lfd, 16))
		test_fail("listener: %s", strerror(errno));
	if (getsockname(lfd, (struct sockaddr *)&laddr, &len))
		test_fail("getsockname: %s", strerror(errno));
	for (int i = 0; i < NR_WORKERS; i++) {
		workers[i] = fork();
		if (workers[i] < 0)
			test_fail("fork: %s", strerror(errno));
		if (workers[i] == 0)
			worker(i);
	}
	atexit(kill_workers);
	test_msg("listening on 127.0.0.1:%d (fd %d), workers %d and %d", ntohs(laddr.sin_port),
		 lfd, workers[0], workers[1]);
	check_listener();
	check_service("before");
	/* Every client socket is closed: only stdio, the state dir and the listener are left. */
	fd_numbers(fds, sizeof(fds));

	test_ready();
	test_wait();

	fd_numbers(now, sizeof(now));
	test_same_lines("open fds", fds, now);
	check_listener();
	check_service("after");
	for (int i = 0; i < NR_WORKERS; i++)
		if (kill(workers[i], SIGTERM))
			test_fail("kill worker %d: %s", workers[i], strerror(errno));
	for (int i = 0; i < NR_WORKERS; i++) {
		int st;
		pid_t p = waitpid(workers[i], &st, 0);

		if (p != workers[i])
			test_fail("waitpid worker %d: %s", workers[i], strerror(errno));
		if (!WIFEXITED(st) || WEXITSTATUS(st) != WORKER_STATUS + i)
			test_fail("worker %d ended with status %#x, want exit %d", workers[i], st,
				  WORKER_STATUS + i);
		workers[i] = 0;
	}
	if (waitpid(-1, NULL, WNOHANG) != -1 || errno != ECHILD)
		test_fail("a child other than the workers");
	test_pass();
}
