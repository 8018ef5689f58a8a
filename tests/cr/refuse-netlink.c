/* SPDX-License-Identifier: MIT */
/*
 * A bound NETLINK_ROUTE socket, which the engine does not dump: the dump must fail with an
 * error and leave the process running as it was. After SIGUSR2 the socket must have the same
 * port id and still answer a request (RTM_GETLINK for the loopback device), memory must hold
 * the same data, and the memory map, signal masks and dispositions and open fds must be those
 * from before the dump.
 * CRYO-TEST: expect=dump-fail
 */
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib.h"

#define MEM_SIZE (1024 * 1024)

/* Ask for the loopback link; the answer must be an RTM_NEWLINK for it. */
static void check_answers(int sk)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} req = {
		.nh = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETLINK,
			.nlmsg_flags = NLM_F_REQUEST, .nlmsg_seq = 1 },
		.ifi = { .ifi_family = AF_UNSPEC, .ifi_index = (int)if_nametoindex("lo") },
	};
	char buf[8192];
	const struct nlmsghdr *nh = (const struct nlmsghdr *)buf;
	const struct ifinfomsg *ifi = NLMSG_DATA(nh);
	ssize_t n;

	if (!req.ifi.ifi_index)
		test_fail("if_nametoindex(lo): %s", strerror(errno));
	if (send(sk, &req, sizeof(req), 0) != (ssize_t)sizeof(req))
		test_fail("send to the netlink socket: %s", strerror(errno));
	n = recv(sk, buf, sizeof(buf), 0);
	if (n < 0)
		test_fail("recv from the netlink socket: %s", strerror(errno));
	if (!NLMSG_OK(nh, (size_t)n) || nh->nlmsg_type != RTM_NEWLINK || nh->nlmsg_seq != 1 ||
	    ifi->ifi_index != req.ifi.ifi_index)
		test_fail("netlink answer: type %d seq %u, want RTM_NEWLINK (%d) seq 1 for lo",
			  nh->nlmsg_type, nh->nlmsg_seq, RTM_NEWLINK);
}

static unsigned int port_id(int sk)
{
	struct sockaddr_nl a;
	socklen_t len = sizeof(a);

	if (getsockname(sk, (struct sockaddr *)&a, &len) || len != sizeof(a) ||
	    a.nl_family != AF_NETLINK)
		test_fail("getsockname of the netlink socket: %s", strerror(errno));
	return a.nl_pid;
}

int main(int argc, char **argv)
{
	static unsigned char mem[MEM_SIZE];
	struct sockaddr_nl addr = { .nl_family = AF_NETLINK };
	const struct test_snapshot *before;
	unsigned int port;
	uint64_t hash;
	int sk;

	test_init(argc, argv);
	test_fill(mem, MEM_SIZE, 1);
	hash = test_hash(mem, MEM_SIZE);
	sk = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
	if (sk < 0 || bind(sk, (struct sockaddr *)&addr, sizeof(addr)))
		test_fail("netlink socket: %s", strerror(errno));
	port = port_id(sk);
	before = test_snapshot_take();

	test_ready();
	test_wait();

	test_snapshot_check(before);
	if (port_id(sk) != port)
		test_fail("netlink port id %u, was %u", port_id(sk), port);
	check_answers(sk);
	if (test_hash(mem, MEM_SIZE) != hash)
		test_fail("memory contents changed");
	test_pass();
}
