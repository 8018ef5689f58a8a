/* SPDX-License-Identifier: MIT */
/*
 * An established TCP connection on 127.0.0.1 (a listener in the process, a client socket
 * connected to it and the accepted end), which the engine refuses without TCP repair: the dump
 * must fail with an error that names the connection and --tcp-established, and leave the
 * process running as it was. After SIGUSR2 the memory map, signal masks and dispositions and
 * open fds must be those from before the dump, memory must hold the same data, the connection
 * must carry data both ways as before, and the listener must still accept new connections.
 * The runner keeps cryo's output in STATEDIR/dump.1.out, where the message is looked for.
 * CRYO-TEST: expect=dump-fail
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib.h"

#define MEM_SIZE (1024 * 1024)

/* Send msg from one end and read it at the other. */
static void pass_msg(int from, int to, const char *msg, const char *what)
{
	char buf[64];
	size_t n = strlen(msg) + 1;

	if (write(from, msg, n) != (ssize_t)n)
		test_fail("%s: write: %s", what, strerror(errno));
	if (read(to, buf, sizeof(buf)) != (ssize_t)n || memcmp(buf, msg, n))
		test_fail("%s: did not read '%s': %s", what, msg, strerror(errno));
}

/* Connect to the listener and accept: ret[0] is the client end, ret[1] the accepted one. */
static void connect_pair(int lsk, const struct sockaddr_in *addr, int ret[2])
{
	ret[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ret[0] < 0)
		test_fail("socket: %s", strerror(errno));
	if (connect(ret[0], (const struct sockaddr *)addr, sizeof(*addr)))
		test_fail("connect to the listener: %s", strerror(errno));
	ret[1] = accept4(lsk, NULL, NULL, SOCK_CLOEXEC);
	if (ret[1] < 0)
		test_fail("accept: %s", strerror(errno));
}

/* cryo's error must name the connection and the option it needs. */
static void check_message(const struct sockaddr_in *laddr, const struct sockaddr_in *caddr)
{
	char path[PATH_MAX], out[8192], want[128];

	test_path(path, sizeof(path), "dump.1.out");
	if (access(path, F_OK))
		return; /* no dump was tried (CRYO_NOCR) */
	test_read_file(path, out, sizeof(out));
	snprintf(want, sizeof(want), "TCP connection 127.0.0.1:%d -> 127.0.0.1:%d",
		 ntohs(caddr->sin_port), ntohs(laddr->sin_port));
	if (!strstr(out, want) || !strstr(out, "--tcp-established")) {
		out[strcspn(out, "\n")] = '\0';
		test_fail("the dump's error does not name '%s' and --tcp-established: '%s'", want,
			  out);
	}
}

int main(int argc, char **argv)
{
	static unsigned char mem[MEM_SIZE];
	const struct test_snapshot *before;
	struct sockaddr_in addr = { .sin_family = AF_INET }, caddr;
	socklen_t len = sizeof(addr);
	int lsk, conn[2], other[2];
	uint64_t hash;

	test_init(argc, argv);
	test_fill(mem, MEM_SIZE, 1);
	hash = test_hash(mem, MEM_SIZE);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lsk = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lsk < 0 || bind(lsk, (struct sockaddr *)&addr, sizeof(addr)) || listen(lsk, 8) ||
	    getsockname(lsk, (struct sockaddr *)&addr, &len))
		test_fail("listening socket: %s", strerror(errno));
	connect_pair(lsk, &addr, conn);
	len = sizeof(caddr);
	if (getsockname(conn[0], (struct sockaddr *)&caddr, &len))
		test_fail("getsockname: %s", strerror(errno));
	pass_msg(conn[0], conn[1], "before", "client to server");
	before = test_snapshot_take();

	test_ready();
	test_wait();

	test_snapshot_check(before);
	check_message(&addr, &caddr);
	pass_msg(conn[0], conn[1], "after the dump", "client to server");
	pass_msg(conn[1], conn[0], "reply", "server to client");
	connect_pair(lsk, &addr, other);
	pass_msg(other[0], other[1], "new connection", "new connection");
	if (test_hash(mem, MEM_SIZE) != hash)
		test_fail("memory contents changed");
	test_pass();
}
