/* SPDX-License-Identifier: MIT */
/*
 * Credentials, set up as root and then partly dropped: supplementary groups {10,20,30},
 * real/effective/saved gids 1001/1002/1003 and uids 2001/2002/2003 (so fsuid/fsgid follow the
 * effective ids), securebits SECBIT_NO_SETUID_FIXUP plus keepcaps, capabilities permitted =
 * effective = {CAP_NET_BIND_SERVICE, CAP_KILL} and inheritable = {CAP_KILL}, CAP_SYS_BOOT
 * dropped from the bounding set, CAP_KILL raised into the ambient set, and the dumpable flag
 * that the uid change cleared. All must read the same after restore.
 */
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <stdio.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib.h"

#define MAX_GROUPS 16

static int cap_last;

static int read_cap_last(void)
{
	char buf[32];
	int last;

	test_read_file("/proc/sys/kernel/cap_last_cap", buf, sizeof(buf));
	if (sscanf(buf, "%d", &last) != 1 || last < 0 || last > 63)
		test_fail("/proc/sys/kernel/cap_last_cap holds '%s'", buf);
	return last;
}

static void read_ids(struct test_values *s)
{
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid, groups[MAX_GROUPS];
	int n;

	if (getresuid(&ruid, &euid, &suid) || getresgid(&rgid, &egid, &sgid))
		test_fail("getresuid/getresgid: %m");
	test_values_add(s, ruid, "ruid");
	test_values_add(s, euid, "euid");
	test_values_add(s, suid, "suid");
	/* setfsuid() with an invalid id changes nothing and returns the current one. */
	test_values_add(s, setfsuid(-1), "fsuid");
	test_values_add(s, rgid, "rgid");
	test_values_add(s, egid, "egid");
	test_values_add(s, sgid, "sgid");
	test_values_add(s, setfsgid(-1), "fsgid");
	n = getgroups(MAX_GROUPS, groups);
	if (n < 0)
		test_fail("getgroups: %m");
	test_values_add(s, n, "number of groups");
	for (int i = 0; i < n; i++)
		test_values_add(s, groups[i], "group %d", i);
}

static void read_caps(struct test_values *s)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &hdr, data))
		test_fail("capget: %m");
	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
		test_values_add(s, data[i].effective, "effective caps word %d", i);
		test_values_add(s, data[i].permitted, "permitted caps word %d", i);
		test_values_add(s, data[i].inheritable, "inheritable caps word %d", i);
	}
	for (int cap = 0; cap <= cap_last; cap++) {
		int bnd = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
		int amb = prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0);

		if (bnd < 0 || amb < 0)
			test_fail("cap %d: bounding/ambient read: %m", cap);
		test_values_add(s, bnd, "bounding cap %d", cap);
		test_values_add(s, amb, "ambient cap %d", cap);
	}
	test_values_add(s, prctl(PR_GET_SECUREBITS, 0, 0, 0, 0), "securebits");
	test_values_add(s, prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0), "keepcaps");
	test_values_add(s, prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), "dumpable");
}

static void read_attrs(struct test_values *s)
{
	s->n = 0;
	read_ids(s);
	read_caps(s);
}

static void set_caps(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	const __u32 kept = (1U << CAP_NET_BIND_SERVICE) | (1U << CAP_KILL);

	memset(data, 0, sizeof(data));
	data[0].effective = kept;
	data[0].permitted = kept;
	data[0].inheritable = 1U << CAP_KILL;
	if (syscall(SYS_capset, &hdr, data))
		test_fail("capset: %m");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_KILL, 0, 0))
		test_fail("PR_CAP_AMBIENT_RAISE: %m");
}

/* Bounding set and securebits need CAP_SETPCAP, so they come before the ids change. */
static void set_creds(void)
{
	static const gid_t groups[] = { 10, 20, 30 };

	if (geteuid() != 0)
		test_fail("must start as root");
	if (prctl(PR_CAPBSET_DROP, CAP_SYS_BOOT, 0, 0, 0))
		test_fail("PR_CAPBSET_DROP: %m");
	if (prctl(PR_SET_SECUREBITS, SECBIT_NO_SETUID_FIXUP, 0, 0, 0))
		test_fail("PR_SET_SECUREBITS: %m");
	if (setgroups(3, groups) || setresgid(1001, 1002, 1003))
		test_fail("setgroups/setresgid: %m");
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0))
		test_fail("PR_SET_KEEPCAPS: %m");
	if (setresuid(2001, 2002, 2003))
		test_fail("setresuid: %m");
	set_caps();
}

int main(int argc, char **argv)
{
	static struct test_values before, after;

	test_init(argc, argv);
	cap_last = read_cap_last();
	set_creds();
	read_attrs(&before);

	test_ready();
	test_wait();

	read_attrs(&after);
	test_values_check(&before, &after);
	test_pass();
}
