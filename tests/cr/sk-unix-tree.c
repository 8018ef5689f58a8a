/* SPDX-License-Identifier: MIT */
/*
 * Unix sockets between two processes of a tree. The root R makes a stream, a datagram and a
 * seqpacket socketpair and a stream listener bound to a path, then forks C; each keeps one
 * end of every pair. C sends 3000 bytes, two datagrams and a packet to R, R sends 2000 bytes,
 * a datagram and a packet to C, and C connects to R's listener without being accepted.
 * After restore: R reads everything C sent, exactly and in its boundaries, accepts C's
 * connection and writes on it; C reads everything R sent and what R wrote on the accepted
 * connection, then sends on the stream pair once more, which R reads after C has exited.
 * CRYO-TEST: cycles=2
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib.h"

#define C_STREAM_LEN 3000
#define R_STREAM_LEN 2000

enum { STREAM, DGRAM, SEQ, NR_PAIRS };
static const int types[NR_PAIRS] = { SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET };
static int sv[NR_PAIRS][2]; /* R keeps [0], C keeps [1] */
static int listener, client = -1;
static struct test_unix_addr laddr;

static const char *send_all(int fd, const void *buf, size_t len)
{
	ssize_t n = send(fd, buf, len, 0);

	return n == (ssize_t)len ? NULL : n < 0 ? strerror(errno) : "short send";
}

/* Receive exactly @len bytes (one message for a message socket) equal to @want. */
static const char *recv_same(int fd, const void *want, size_t len, bool stream)
{
	static char buf[4096];
	size_t got = 0;

	do {
		ssize_t n = recv(fd, buf + got, sizeof(buf) - got, MSG_DONTWAIT);

		if (n <= 0)
			return n < 0 ? strerror(errno) : "end of stream";
		got += (size_t)n;
	} while (stream && got < len);
	if (got != len || memcmp(buf, want, len))
		return "data differs";
	return NULL;
}

static void child_prepare(void *arg)
{
	char data[C_STREAM_LEN];
	const char *err;

	(void)arg;
	for (int i = 0; i < NR_PAIRS; i++)
		close(sv[i][0]);
	close(listener);
	test_fill(data, sizeof(data), 1);
	err = send_all(sv[STREAM][1], data, sizeof(data));
	if (!err)
		err = send_all(sv[DGRAM][1], "c1", 2);
	if (!err)
		err = send_all(sv[DGRAM][1], "c22", 3);
	if (!err)
		err = send_all(sv[SEQ][1], "s1", 2);
	if (err)
		test_child_fail("sending to R: %s", err);
	client = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (client < 0 || connect(client, (const struct sockaddr *)&laddr.sa, laddr.len))
		test_child_fail("connecting to R's listener: %s", strerror(errno));
}

static void child_check(void *arg)
{
	char data[R_STREAM_LEN];
	const char *err, *what = "stream pair";

	(void)arg;
	test_fill(data, sizeof(data), 2);
	err = recv_same(sv[STREAM][1], data, sizeof(data), true);
	if (!err && (what = "datagram pair"))
		err = recv_same(sv[DGRAM][1], "r1", 2, false);
	if (!err && (what = "seqpacket pair"))
		err = recv_same(sv[SEQ][1], "rs1", 3, false);
	if (!err && (what = "connection to the listener"))
		err = recv_same(client, "accepted", 8, true);
	if (!err && (what = "stream pair, sending"))
		err = send_all(sv[STREAM][1], "after", 5);
	if (err)
		test_child_fail("%s: %s", what, err);
}

static void setup(void)
{
	for (int i = 0; i < NR_PAIRS; i++)
		if (socketpair(AF_UNIX, types[i] | SOCK_CLOEXEC, 0, sv[i]))
			test_fail("socketpair: %s", strerror(errno));
	test_unix_path_addr(&laddr, "listener.sock");
	listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listener < 0 || bind(listener, (const struct sockaddr *)&laddr.sa, laddr.len) ||
	    listen(listener, 4))
		test_fail("listener: %s", strerror(errno));
}

static void send_to_child(void)
{
	char data[R_STREAM_LEN];
	const char *err;

	for (int i = 0; i < NR_PAIRS; i++)
		close(sv[i][1]);
	test_fill(data, sizeof(data), 2);
	err = send_all(sv[STREAM][0], data, sizeof(data));
	if (!err)
		err = send_all(sv[DGRAM][0], "r1", 2);
	if (!err)
		err = send_all(sv[SEQ][0], "rs1", 3);
	if (err)
		test_fail("sending to C: %s", err);
}

static void check_root(pid_t child)
{
	char data[C_STREAM_LEN];
	const char *err, *what = "stream pair";
	int conn;

	test_fill(data, sizeof(data), 1);
	err = recv_same(sv[STREAM][0], data, sizeof(data), true);
	if (!err && (what = "first datagram"))
		err = recv_same(sv[DGRAM][0], "c1", 2, false);
	if (!err && (what = "second datagram"))
		err = recv_same(sv[DGRAM][0], "c22", 3, false);
	if (!err && (what = "seqpacket pair"))
		err = recv_same(sv[SEQ][0], "s1", 2, false);
	if (err)
		test_fail_killing(&child, 1, "R: %s: %s", what, err);
	conn = accept4(listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (conn < 0)
		test_fail_killing(&child, 1, "R: accept of C's connection: %s", strerror(errno));
	err = send_all(conn, "accepted", 8);
	if (err)
		test_fail_killing(&child, 1, "R: the accepted connection: %s", err);
	close(conn);
}

int main(int argc, char **argv)
{
	const char *err;
	pid_t child;

	test_init(argc, argv);
	setup();
	child = test_child_fork(child_prepare, child_check, NULL);
	send_to_child();
	test_ready();
	test_wait();
	check_root(child);
	test_child_verify(child);
	err = recv_same(sv[STREAM][0], "after", 5, true);
	if (err)
		test_fail("R: the stream pair after restore: %s", err);
	test_pass();
}
