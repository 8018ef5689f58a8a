/* SPDX-License-Identifier: MIT */
/*
 * A listening TCP socket on 127.0.0.1, which the engine does not dump: the dump must fail with
 * an error and leave the process running as it was. After SIGUSR2 the socket must have the
 * same address and still be listening (a new connection is queued, accepted and carries data),
 * memory must hold the same data, and the memory map, signal masks and dispositions and open
 * fds must be those from before the dump.
 * CRYO-TEST: expect=dump-fail
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib.h"

#define MEM_SIZE (1024 * 1024)

/* Connect to the listener, accept the connection and pass a message over it. */
static void check_listening(int lsk, const struct sockaddr_in *addr)
{
	static const char msg[] = "hello";
	char buf[sizeof(msg)];
	int csk, ask;

	csk = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (csk < 0)
		test_fail("socket: %s", strerror(errno));
	if (connect(csk, (const struct sockaddr *)addr, sizeof(*addr)))
		test_fail("connect to the listener: %s", strerror(errno));
	ask = accept4(lsk, NULL, NULL, SOCK_CLOEXEC);
	if (ask < 0)
		test_fail("accept: %s", strerror(errno));
	if (write(csk, msg, sizeof(msg)) != (ssize_t)sizeof(msg) ||
	    read(ask, buf, sizeof(buf)) != (ssize_t)sizeof(buf) || memcmp(buf, msg, sizeof(msg)))
		test_fail("data over the accepted connection: %s", strerror(errno));
	close(ask);
	close(csk);
}

int main(int argc, char **argv)
{
	static unsigned char mem[MEM_SIZE];
	const struct test_snapshot *before;
	struct sockaddr_in addr = { .sin_family = AF_INET }, now;
	socklen_t len = sizeof(addr);
	int lsk, on = 0;
	uint64_t hash;

	test_init(argc, argv);
	test_fill(mem, MEM_SIZE, 1);
	hash = test_hash(mem, MEM_SIZE);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lsk = socket(AF_INET, SOCK_STREAM, 0);
	if (lsk < 0 || bind(lsk, (struct sockaddr *)&addr, sizeof(addr)) || listen(lsk, 8) ||
	    getsockname(lsk, (struct sockaddr *)&addr, &len))
		test_fail("listening socket: %s", strerror(errno));
	before = test_snapshot_take();

	test_ready();
	test_wait();

	test_snapshot_check(before);
	len = sizeof(now);
	if (getsockname(lsk, (struct sockaddr *)&now, &len) || len != sizeof(now) ||
	    now.sin_port != addr.sin_port || now.sin_addr.s_addr != addr.sin_addr.s_addr)
		test_fail("the socket is no longer bound to %s:%d", inet_ntoa(addr.sin_addr),
			  ntohs(addr.sin_port));
	len = sizeof(on);
	if (getsockopt(lsk, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) || !on)
		test_fail("the socket is no longer listening");
	check_listening(lsk, &addr);
	if (test_hash(mem, MEM_SIZE) != hash)
		test_fail("memory contents changed");
	test_pass();
}
