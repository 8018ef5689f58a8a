/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the /proc text parsers (engine/proc.c) and the helpers they rest on: literal
 * samples as the kernel prints them, malformed text that must be refused with -EINVAL, and the
 * live /proc/self files. Output is TAP: "ok N - what" or "not ok N - what"; exit 1 on a failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "engine/proc.h"
#include "tap.h"

/* ------------------------------------------------------------------ smaps */

/* A process with an executable, a heap, a shared file mapping whose path has spaces, anonymous
 * mappings with flags, a guard page, the vdso unit, the stack and the vsyscall page. */
static const char smaps_sample[] =
	"55d0c8a00000-55d0c8a02000 r--p 00000000 fe:00 247498                     /usr/bin/cat\n"
	"Size:                  8 kB\n"
	"KernelPageSize:        4 kB\n"
	"MMUPageSize:           4 kB\n"
	"Rss:                   8 kB\n"
	"Pss:                   8 kB\n"
	"Pss_Dirty:             0 kB\n"
	"Shared_Clean:          0 kB\n"
	"Shared_Dirty:          0 kB\n"
	"Private_Clean:         8 kB\n"
	"Private_Dirty:         0 kB\n"
	"Referenced:            8 kB\n"
	"Anonymous:             0 kB\n"
	"KSM:                   0 kB\n"
	"LazyFree:              0 kB\n"
	"AnonHugePages:         0 kB\n"
	"ShmemPmdMapped:        0 kB\n"
	"FilePmdMapped:         0 kB\n"
	"Shared_Hugetlb:        0 kB\n"
	"Private_Hugetlb:       0 kB\n"
	"Swap:                  0 kB\n"
	"SwapPss:               0 kB\n"
	"Locked:                0 kB\n"
	"THPeligible:           0\n"
	"ProtectionKey:         0\n"
	"VmFlags: rd mr mw me sd \n"
	"55d0c8a02000-55d0c8a07000 r-xp 00002000 fe:00 247498                     /usr/bin/cat\n"
	"Size:                 20 kB\n"
	"Rss:                  20 kB\n"
	"VmFlags: rd ex mr mw me sd \n"
	"55d0c9b1e000-55d0c9b3f000 rw-p 00000000 00:00 0                          [heap]\n"
	"Size:                132 kB\n"
	"Anonymous:             8 kB\n"
	"VmFlags: rd wr mr mw me ac sd \n"
	"7f1c2a000000-7f1c2a021000 rw-s 7fff0001000 08:11 1311                    "
	"/tmp/dir with spaces/shm file (1).dat\n"
	"Size:                132 kB\n"
	"VmFlags: rd wr sh mr mw me ms sd \n"
	"7f1c2a100000-7f1c2a200000 rw-p 00000000 00:00 0 \n"
	"Size:               1024 kB\n"
	"VmFlags: rd wr mr mw me nr hg dd wf dc lo mg sd \n"
	"7f1c2a200000-7f1c2a201000 ---p 00000000 00:00 0 \n"
	"Size:                  4 kB\n"
	"VmFlags: mr mw me nh sd \n"
	"7ffd7e8f5000-7ffd7e916000 rw-p 00000000 00:00 0                          [stack]\n"
	"Size:                132 kB\n"
	"VmFlags: rd wr mr mw me gd ac \n"
	"7ffd7e933000-7ffd7e937000 r--p 00000000 00:00 0                          [vvar]\n"
	"Size:                 16 kB\n"
	"VmFlags: rd mr pf io de dd sd \n"
	"7ffd7e937000-7ffd7e939000 r--p 00000000 00:00 0                          [vvar_vclock]\n"
	"Size:                  8 kB\n"
	"VmFlags: rd mr pf io de dd sd \n"
	"7ffd7e939000-7ffd7e93b000 r-xp 00000000 00:00 0                          [vdso]\n"
	"Size:                  8 kB\n"
	"VmFlags: rd ex mr mw me de sd \n"
	"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n"
	"Size:                  4 kB\n"
	"VmFlags: ex \n";

static int parse_smaps_text(const char *text, struct proc_vma **v, size_t *n)
{
	_cleanup_free_ char *buf = xstrdup(text);

	*v = NULL;
	*n = 0;
	return proc_parse_smaps_buf(buf, v, n);
}

static void test_smaps_mappings(const struct proc_vma *v)
{
	CHECK(v[0].start == 0x55d0c8a00000ull && v[0].end == 0x55d0c8a02000ull,
	      "smaps: start and end of the first mapping");
	CHECK(v[0].prot == PROT_READ && !v[0].shared, "smaps: r--p is read-only and private");
	CHECK(v[0].dev == makedev(0xfe, 0x00) && v[0].ino == 247498, "smaps: dev fe:00 and inode");
	CHECK(v[0].path && !strcmp(v[0].path, "/usr/bin/cat"), "smaps: executable path");
	CHECK(v[0].kind == 0, "smaps: kind is left 0 for the engine");
	CHECK(v[1].prot == (PROT_READ | PROT_EXEC) && v[1].pgoff == 0x2000,
	      "smaps: r-xp with offset 0x2000");
	CHECK(v[2].path && !strcmp(v[2].path, "[heap]") && v[2].prot == (PROT_READ | PROT_WRITE),
	      "smaps: [heap] verbatim, rw");
	CHECK(v[3].path && !strcmp(v[3].path, "/tmp/dir with spaces/shm file (1).dat"),
	      "smaps: path with spaces kept whole");
	CHECK(v[3].shared && v[3].pgoff == 0x7fff0001000ull && v[3].dev == makedev(8, 0x11) &&
		      v[3].ino == 1311,
	      "smaps: shared file mapping: rw-s, large offset, dev 08:11");
	CHECK(v[4].path == NULL && v[5].path == NULL, "smaps: anonymous mappings have no path");
	CHECK(v[5].prot == 0, "smaps: ---p guard page has no protection");
	CHECK(v[6].path && !strcmp(v[6].path, "[stack]"), "smaps: [stack]");
	CHECK(v[7].path && !strcmp(v[7].path, "[vvar]"), "smaps: [vvar]");
	CHECK(v[8].path && !strcmp(v[8].path, "[vvar_vclock]"), "smaps: [vvar_vclock]");
	CHECK(v[9].path && !strcmp(v[9].path, "[vdso]") && v[9].prot == (PROT_READ | PROT_EXEC),
	      "smaps: [vdso] r-x");
	CHECK(v[10].path && !strcmp(v[10].path, "[vsyscall]") && v[10].prot == PROT_EXEC &&
		      v[10].start == 0xffffffffff600000ull,
	      "smaps: [vsyscall] --x at the top of the address space");
}

static void test_smaps_vmflags(const struct proc_vma *v)
{
	const uint32_t anon_flags = VMF_NORESERVE | VMF_HUGEPAGE | VMF_DONTDUMP | VMF_WIPEONFORK |
				    VMF_DONTFORK | VMF_LOCKED | VMF_MERGEABLE | VMF_MAYWRITE;

	CHECK(v[0].vmflags == VMF_MAYWRITE, "smaps: VmFlags 'rd mr mw me sd' is just mw");
	CHECK(v[4].vmflags == anon_flags, "smaps: VmFlags nr hg dd wf dc lo mg mw all seen");
	CHECK(v[5].vmflags == (VMF_NOHUGEPAGE | VMF_MAYWRITE), "smaps: VmFlags nh");
	CHECK(v[2].vmflags == (VMF_MAYWRITE | VMF_ACCOUNT), "smaps: [heap] has mw ac");
	CHECK(v[6].vmflags == (VMF_GROWSDOWN | VMF_MAYWRITE | VMF_ACCOUNT), "smaps: [stack] has gd ac");
	CHECK(v[7].vmflags == (VMF_PFNMAP | VMF_IO | VMF_DONTDUMP), "smaps: [vvar] has pf io dd");
	CHECK(v[10].vmflags == 0, "smaps: [vsyscall] 'ex' maps to no flag");
}

static void test_smaps_sample(void)
{
	struct proc_vma *v;
	size_t n;
	int r = parse_smaps_text(smaps_sample, &v, &n);

	CHECK(r == 0 && n == 11, "smaps: sample parses into 11 mappings (r=%d n=%zu)", r, n);
	if (r == 0 && n == 11) {
		test_smaps_mappings(v);
		test_smaps_vmflags(v);
	}
	if (r == 0)
		proc_vmas_free(v, n);
}

static void test_smaps_edge(void)
{
	struct proc_vma *v;
	size_t n;
	int r;

	r = parse_smaps_text("", &v, &n);
	CHECK(r == 0 && n == 0, "smaps: empty text is no mappings");
	proc_vmas_free(v, n);
	/* No trailing newline, no fields, no VmFlags: as /proc/PID/maps prints it. */
	r = parse_smaps_text("1000-2000 rwxs 00000000 00:00 0", &v, &n);
	CHECK(r == 0 && n == 1 && v[0].prot == (PROT_READ | PROT_WRITE | PROT_EXEC) &&
		      v[0].shared && !v[0].path,
	      "smaps: a maps-style line without newline");
	if (r == 0)
		proc_vmas_free(v, n);
	r = parse_smaps_text("1000-2000 r--p 00000000 00:00 0 [anon:my name]\nVmFlags:\n", &v, &n);
	CHECK(r == 0 && n == 1 && v[0].path && !strcmp(v[0].path, "[anon:my name]") &&
		      v[0].vmflags == 0,
	      "smaps: named anonymous mapping, empty VmFlags");
	if (r == 0)
		proc_vmas_free(v, n);
}

static void test_smaps_many(void)
{
	const size_t count = 3000;
	size_t len = count * 80, off = 0;
	_cleanup_free_ char *buf = xmalloc(len);
	struct proc_vma *v = NULL;
	size_t n = 0;
	int r;

	for (size_t i = 0; i < count; i++)
		off += (size_t)snprintf(buf + off, len - off,
					"%zx-%zx rw-p 00000000 00:00 0 \nVmFlags: rd wr lo\n",
					(i + 1) << 12, (i + 2) << 12);
	r = proc_parse_smaps_buf(buf, &v, &n);
	CHECK(r == 0 && n == count && v[count - 1].start == count << 12 &&
		      v[count - 1].vmflags == VMF_LOCKED,
	      "smaps: %zu mappings, the array grows", count);
	if (r == 0)
		proc_vmas_free(v, n);
}

static void test_smaps_malformed(void)
{
	static const struct {
		const char *text, *what;
	} bad[] = {
		{ "garbage\n", "a line that is neither a mapping nor a field" },
		{ "VmFlags: rd wr\n1000-2000 rw-p 00000000 00:00 0\n",
		  "VmFlags before any mapping" },
		{ "2000-1000 rw-p 00000000 00:00 0\n", "start above end" },
		{ "1000-1000 rw-p 00000000 00:00 0\n", "empty range" },
		{ "1000-2000 rw 00000000 00:00 0\n", "perms of 2 characters" },
		{ "1000-2000 rw-p zz 00:00 0\n", "offset not hex" },
		{ "1000-2000 rw-p 00000000 0000 0\n", "dev without ':'" },
		{ "1000-2000 rw-p 00000000 00:00\n", "inode missing" },
		{ "1000-2000 rw-p 00000000 00:00 x\n", "inode not a number" },
		{ "1000-\n", "cut after start-" },
		{ "1000-2000\n", "only the range" },
		{ "-1000 rw-p 00000000 00:00 0\n", "start missing" },
		{ "1000-2000 rw-p 00000000 00:00 0\nSize 4 kB\n", "a field line without ':'" },
		{ "1000-2000 rw-p 00000000 00:00 0\n\t\n", "a line of a tab" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct proc_vma *v = NULL;
		size_t n = 0;
		int r = parse_smaps_text(bad[i].text, &v, &n);

		CHECK(r == -EINVAL, "smaps: refused with -EINVAL: %s (r=%d)", bad[i].what, r);
		if (r == 0)
			proc_vmas_free(v, n);
	}
}

/* ------------------------------------------------------------------- stat */

/* comm "a) b) c" shows why the parser must skip to the last ')'; nice is -5. */
static const char stat_sample[] =
	"4793 (a) b) c) S 4789 4790 2642 34816 -1 4194560 101 0 0 0 1 2 0 0 15 -5 3 0 63513 "
	"3133440 383 18446744073709551615 94178035269632 94178035289513 140726683097184 0 0 0 0 "
	"0 0 0 0 0 17 1 0 0 0 0 0 94178035305520 94178035307136 94178779049984 140726683101836 "
	"140726683101856 140726683101856 140726683103211 0\n";

static int parse_stat_text(const char *text, struct proc_stat *st)
{
	_cleanup_free_ char *buf = xstrdup(text);

	return proc_parse_stat_buf(buf, st);
}

static void test_stat_sample(void)
{
	struct proc_stat st;
	int r = parse_stat_text(stat_sample, &st);

	CHECK(r == 0, "stat: sample with ')' and spaces in comm parses (r=%d)", r);
	if (r < 0)
		return;
	CHECK(st.state == 'S', "stat: state");
	CHECK(st.ppid == 4789 && st.pgid == 4790 && st.sid == 2642, "stat: ppid, pgid, sid");
	CHECK(st.flags == 4194560, "stat: flags");
	CHECK(st.nice == -5, "stat: negative nice (%ld)", st.nice);
	CHECK(st.num_threads == 3, "stat: num_threads");
	CHECK(st.start_code == 94178035269632ull && st.end_code == 94178035289513ull &&
		      st.start_stack == 140726683097184ull,
	      "stat: start_code, end_code, start_stack");
	CHECK(st.exit_signal == 17, "stat: exit_signal");
	CHECK(st.start_data == 94178035305520ull && st.end_data == 94178035307136ull &&
		      st.start_brk == 94178779049984ull,
	      "stat: start_data, end_data, start_brk");
	CHECK(st.arg_start == 140726683101836ull && st.arg_end == 140726683101856ull &&
		      st.env_start == 140726683101856ull && st.env_end == 140726683103211ull,
	      "stat: arg and env ranges");
}

static void test_stat_malformed(void)
{
	static const struct {
		const char *text, *what;
	} bad[] = {
		{ "", "empty" },
		{ "4793 cat S 1 1 1\n", "no parentheses" },
		{ "4793 (cat)", "nothing after comm" },
		{ "4793 (cat)S 1\n", "no space after ')'" },
		{ "4793 (cat) ", "no state" },
		{ "4793 (cat) S 4789 4789 2642 0 -1 4194304\n", "only 9 fields" },
		/* 50 fields: field 51 (env_end) is missing. */
		{ "1 (x) S 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 "
		  "30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50\n",
		  "50 fields" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct proc_stat st;
		int r = parse_stat_text(bad[i].text, &st);

		CHECK(r == -EINVAL, "stat: refused with -EINVAL: %s (r=%d)", bad[i].what, r);
	}
}

static void test_stat_fields(void)
{
	struct proc_stat st;
	int r;

	/* 51 fields, as kernels before 3.5 print; numbered so each lands where it belongs. */
	r = parse_stat_text("1 (x) R 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 "
			    "26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 "
			    "48 49 50 51",
			    &st);
	CHECK(r == 0 && st.ppid == 4 && st.flags == 9 && st.nice == 19 && st.num_threads == 20 &&
		      st.start_code == 26 && st.start_stack == 28 && st.exit_signal == 38 &&
		      st.start_data == 45 && st.start_brk == 47 && st.env_end == 51,
	      "stat: each field number lands in its member");
	/* Numeric fields that are not numbers: the kernel never prints this. */
	r = parse_stat_text("1 (x) S a b c d e f g h i j k l m n o p q r s t u v w x y z a b c d e "
			    "f g h i j k l m n o p q r s t u v w\n",
			    &st);
	CHECK(r == -EINVAL, "stat: letters in numeric fields are refused (r=%d)", r);
}

/* ----------------------------------------------------------------- status */

static const char status_sample[] =
	"Name:\tmy prog: x\n"
	"Umask:\t0027\n"
	"State:\tS (sleeping)\n"
	"Tgid:\t4794\n"
	"Ngid:\t0\n"
	"Pid:\t4794\n"
	"PPid:\t4789\n"
	"TracerPid:\t0\n"
	"Uid:\t1000\t1001\t1002\t1003\n"
	"Gid:\t100\t101\t102\t4294967294\n"
	"FDSize:\t256\n"
	"Groups:\t4 24 27 30 46 100 1000 4294967295 \n"
	"NStgid:\t4794\t12\t1\n"
	"NSpid:\t4794\t12\t1\n"
	"NSpgid:\t4789\t10\t0\n"
	"NSsid:\t2642\t0\t0\n"
	"Kthread:\t0\n"
	"VmPeak:\t    3060 kB\n"
	"VmRSS:\t    1736 kB\n"
	"untag_mask:\t0xffffffffffffffff\n"
	"Threads:\t7\n"
	"SigQ:\t0/96365\n"
	"SigPnd:\t0000000000000000\n"
	"SigBlk:\t0000000000010000\n"
	"CapInh:\t0000000000000400\n"
	"CapPrm:\t000001fffeffffff\n"
	"CapEff:\t000001fffeffffff\n"
	"CapBnd:\t000001ffffffffff\n"
	"CapAmb:\t0000000000000400\n"
	"NoNewPrivs:\t1\n"
	"Seccomp:\t2\n"
	"Seccomp_filters:\t1\n"
	"Speculation_Store_Bypass:\tthread vulnerable\n"
	"Cpus_allowed:\t3\n"
	"Cpus_allowed_list:\t0-1\n"
	"Mems_allowed:\t00000000,00000001\n"
	"voluntary_ctxt_switches:\t12\n"
	"nonvoluntary_ctxt_switches:\t0\n";

static int parse_status_text(const char *text, struct proc_status *st)
{
	_cleanup_free_ char *buf = xstrdup(text);

	return proc_parse_status_buf(buf, st);
}

static void test_status_sample(void)
{
	static const uint32_t groups[] = { 4, 24, 27, 30, 46, 100, 1000, 4294967295u };
	struct proc_status st;
	int r = parse_status_text(status_sample, &st);

	CHECK(r == 0, "status: sample parses (r=%d)", r);
	if (r < 0)
		return;
	CHECK(st.uids[0] == 1000 && st.uids[1] == 1001 && st.uids[2] == 1002 && st.uids[3] == 1003,
	      "status: real, effective, saved, fs uid");
	CHECK(st.gids[0] == 100 && st.gids[3] == 4294967294u, "status: gids");
	CHECK(st.ngroups == ARRAY_SIZE(groups) &&
		      !memcmp(st.groups, groups, sizeof(groups)),
	      "status: %zu supplementary groups, trailing space ignored", st.ngroups);
	CHECK(st.cap_inh == 0x400 && st.cap_prm == 0x1fffeffffffull &&
		      st.cap_eff == 0x1fffeffffffull && st.cap_bnd == 0x1ffffffffffull &&
		      st.cap_amb == 0x400,
	      "status: capability sets in hex");
	CHECK(st.no_new_privs == 1 && st.seccomp == 2, "status: NoNewPrivs and Seccomp");
	CHECK(st.umask == 027, "status: Umask is octal (%o)", st.umask);
	CHECK(st.threads == 7, "status: Threads");
	CHECK(st.nspid_depth == 3 && st.nspid == 1, "status: NSpid depth 3, innermost pid 1");
	proc_status_free(&st);
	CHECK(st.groups == NULL && st.ngroups == 0, "status: proc_status_free resets groups");
}

static void test_status_groups(void)
{
	/* Uid and Gid must be there: status without them is refused. */
#define IDS "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n"
	static const char *const empty[] = {
		IDS "Groups:\n",
		IDS "Groups:\t\n",
		IDS "Groups:\t \n",
		IDS "Groups:",
	};
	struct proc_status st;
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(empty); i++) {
		r = parse_status_text(empty[i], &st);
		CHECK(r == 0 && st.ngroups == 0 && st.groups == NULL,
		      "status: empty Groups form %zu is no groups", i);
		if (r == 0)
			proc_status_free(&st);
	}
	r = parse_status_text(IDS "Groups:\t0\nNSpid:\t1\n", &st);
#undef IDS
	CHECK(r == 0 && st.ngroups == 1 && st.groups[0] == 0 && st.nspid_depth == 1,
	      "status: one group 0, NSpid depth 1");
	if (r == 0)
		proc_status_free(&st);
}

static void test_status_malformed(void)
{
	static const struct {
		const char *text, *what;
	} bad[] = {
		{ "Uid:\t0\t0\t0\n", "3 uids" },
		{ "Uid:\tx\t0\t0\t0\n", "uid not a number" },
		{ "Gid:\t\n", "no gids" },
		{ "Groups:\t1 2 x\n", "a group not a number" },
		{ "Groups:\t1 -2\n", "a negative group" },
		{ "Groups:\t4294967296\n", "a group over 32 bits" },
		{ "Groups:\t99999999999999999999999\n", "a group over 64 bits" },
		{ "Groups:\t1,2\n", "groups separated by ','" },
		{ "CapEff:\tzz\n", "CapEff not hex" },
		{ "CapEff:\t\n", "CapEff empty" },
		{ "CapPrm:\t10000000000000000\n", "CapPrm over 64 bits" },
		{ "CapBnd:\t-1\n", "CapBnd negative" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct proc_status st;
		int r = parse_status_text(bad[i].text, &st);

		CHECK(r == -EINVAL, "status: refused with -EINVAL: %s (r=%d)", bad[i].what, r);
		if (r == 0)
			proc_status_free(&st);
	}
}

static void test_status_lenient(void)
{
	struct proc_status st;
	int r;

	/* Whitespace that strspn(" \t") does not skip lets a '-' through to strtoull. */
	r = parse_status_text("CapEff:\t\v-1\n", &st);
	CHECK(r == -EINVAL, "status: CapEff '\\v-1' is refused, not read as ~0 (r=%d)", r);
	if (r == 0)
		proc_status_free(&st);
	/* A status without Uid/Gid would leave every id 0: root. */
	r = parse_status_text("Name:\tcat\n", &st);
	CHECK(r == -EINVAL, "status: text without Uid and Gid lines is refused (r=%d)", r);
	if (r == 0)
		proc_status_free(&st);
}

/* ----------------------------------------------------------------- timers */

static const char timers_sample[] = "ID: 2\n"
				    "signal: 36/00000000deadbeef\n"
				    "notify: signal/tid.4859\n"
				    "ClockID: 7\n"
				    "ID: 1\n"
				    "signal: 10/0000000000000000\n"
				    "notify: none/pid.4859\n"
				    "ClockID: 0\n"
				    "ID: 0\n"
				    "signal: 14/00007ffd12345678\n"
				    "notify: thread/pid.4859\n"
				    "ClockID: 1\n";

static int parse_timers_text(const char *text, struct proc_timer **t, size_t *n)
{
	_cleanup_free_ char *buf = xstrdup(text);

	*t = NULL;
	*n = 0;
	return proc_parse_timers_buf(buf, t, n);
}

static void test_timers_sample(void)
{
	struct proc_timer *t;
	size_t n;
	int r = parse_timers_text(timers_sample, &t, &n);

	CHECK(r == 0 && n == 3, "timers: sample parses into 3 timers (r=%d n=%zu)", r, n);
	if (r < 0 || n != 3) {
		free(t);
		return;
	}
	CHECK(t[0].id == 2 && t[0].signo == 36 && t[0].sigval == 0xdeadbeefull && t[0].clock == 7,
	      "timers: id, signal, sigval, clock of the first");
	CHECK(t[0].notify == (SIGEV_SIGNAL | SIGEV_THREAD_ID) && t[0].notify_tid == 4859,
	      "timers: signal/tid is SIGEV_THREAD_ID with its tid");
	CHECK(t[1].id == 1 && t[1].notify == SIGEV_NONE && t[1].notify_tid == 0 &&
		      t[1].sigval == 0 && t[1].clock == 0,
	      "timers: none/pid is SIGEV_NONE without a tid");
	CHECK(t[2].id == 0 && t[2].notify == SIGEV_THREAD && t[2].signo == 14 &&
		      t[2].sigval == 0x7ffd12345678ull && t[2].clock == 1,
	      "timers: thread/pid is SIGEV_THREAD");
	free(t);
}

static void test_timers_edge(void)
{
	const size_t len = (PROC_MAX_TIMERS + 1) * 16;
	_cleanup_free_ char *buf = xmalloc(len);
	struct proc_timer *t;
	size_t n, off = 0;
	int r;

	r = parse_timers_text("", &t, &n);
	CHECK(r == 0 && n == 0, "timers: empty text is no timers");
	free(t);
	for (int i = 0; i <= PROC_MAX_TIMERS; i++)
		off += (size_t)snprintf(buf + off, len - off, "ID: %d\n", i);
	t = NULL;
	r = proc_parse_timers_buf(buf, &t, &n);
	CHECK(r == -E2BIG, "timers: more than PROC_MAX_TIMERS is -E2BIG (r=%d)", r);
	if (r == 0)
		free(t);
}

static void test_timers_malformed(void)
{
	static const struct {
		const char *text, *what;
	} bad[] = {
		{ "signal: 10/0\nID: 1\n", "a field before any ID" },
		{ "ID: x\n", "ID not a number" },
		{ "ID: 1\nnotify: bogus/pid.1\n", "unknown notify kind" },
		{ "ID: 1\nnotify: signal\n", "notify without target" },
		{ "ID: 1\nnotify: signal/pid.x\n", "notify pid not a number" },
		{ "ID: 1\nnotify: \n", "empty notify" },
		{ "ID: 1\nnotify: signalsignalsignal/pid.1\n", "notify kind too long" },
		{ "ID: 1\nsignal: 10/0\nnotify: SIGNAL/pid.1\n", "notify kind in capitals" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct proc_timer *t;
		size_t n;
		int r = parse_timers_text(bad[i].text, &t, &n);

		CHECK(r == -EINVAL, "timers: refused with -EINVAL: %s (r=%d)", bad[i].what, r);
		if (r == 0)
			free(t);
	}
}

/* ----------------------------------------------------------------- fdinfo */

/* A timerfd's fdinfo: "settime flags:" must not pass for "flags:", nor the other way round. */
static const char fdinfo_timerfd[] =
	"settime flags:\t01\n"
	"pos:\t0\n"
	"flags:\t02004002\n"
	"mnt_id:\t15\n"
	"ino:\t1057\n"
	"clockid: 1\n"
	"ticks: 0\n"
	"it_value: (0, 499999000)\n"
	"it_interval: (1, 0)\n";

static void test_fdinfo_lines(void)
{
	struct proc_fdinfo fi;
	uint64_t v = 7;
	const char *s;

	CHECK(proc_fdinfo_u64(fdinfo_timerfd, "flags:", 8, &v) == 0 && v == 02004002,
	      "fdinfo: \"flags:\" is the line that starts with it, in octal");
	CHECK(proc_fdinfo_u64(fdinfo_timerfd, "settime flags:", 8, &v) == 0 && v == 1,
	      "fdinfo: a key with a blank in it, on the first line");
	s = proc_fdinfo_value(fdinfo_timerfd, "it_value:");
	CHECK(s && !strncmp(s, "(0, 499999000)\n", 15), "fdinfo: a value's text, blanks skipped");
	v = 7;
	CHECK(proc_fdinfo_u64(fdinfo_timerfd, "value:", 10, &v) == -EINVAL && v == 7,
	      "fdinfo: a key inside a line is not a line's key, result untouched");
	CHECK(proc_fdinfo_u64(fdinfo_timerfd, "eventfd-count:", 16, &v) == -EINVAL &&
		      !proc_fdinfo_value(fdinfo_timerfd, "sigmask:"),
	      "fdinfo: a missing key");
	CHECK(proc_fdinfo_u64("ticks: x\n", "ticks:", 10, &v) == -EINVAL, "fdinfo: not a number");
	CHECK(proc_parse_fdinfo_buf(fdinfo_timerfd, &fi) == 0 && fi.pos == 0 &&
		      fi.flags == 02004002 && fi.ino == 1057,
	      "fdinfo: pos, flags and ino");
	CHECK(proc_parse_fdinfo_buf("pos:\t5\nflags:\t02\n", &fi) == 0 && fi.pos == 5 &&
		      fi.ino == 0,
	      "fdinfo: no ino line is ino 0");
	CHECK(proc_parse_fdinfo_buf("pos:\t5\n", &fi) == -EINVAL, "fdinfo: no flags is -EINVAL");
}

static void test_fdinfo_fields(void)
{
	static const char epoll[] = "tfd:        5 events:       19 data: ffffffffffffffff  pos:0 "
				    "ino:1a sdev:d";
	static const char inotify[] = "inotify wd:3 ino:4c0 sdev:800003 mask:800afce "
				      "ignored_mask:0 fhandle-bytes:8 fhandle-type:1 "
				      "f_handle:c004000000000000";
	uint64_t tfd = 0, events = 0, data = 0, ino = 0, mask = 0;
	const char *h = proc_fdinfo_field(inotify, "f_handle:");

	CHECK(proc_fdinfo_field_u64(epoll, "tfd:", 10, &tfd) == 0 && tfd == 5 &&
		      proc_fdinfo_field_u64(epoll, "events:", 16, &events) == 0 && events == 0x19 &&
		      proc_fdinfo_field_u64(epoll, "data:", 16, &data) == 0 && data == UINT64_MAX &&
		      proc_fdinfo_field_u64(epoll, "ino:", 16, &ino) == 0 && ino == 0x1a,
	      "fdinfo fields: an epoll watch, the first field and ones after blanks");
	CHECK(proc_fdinfo_field_u64(inotify, "mask:", 16, &mask) == 0 && mask == 0x800afce,
	      "fdinfo fields: \"mask:\" is not the end of \"ignored_mask:\"");
	CHECK(h && !strcmp(h, "c004000000000000"), "fdinfo fields: a field's text");
	CHECK(proc_fdinfo_field_u64(inotify, "wd:", 16, &tfd) == 0 && tfd == 3,
	      "fdinfo fields: a field after the line's first word");
	CHECK(proc_fdinfo_field_u64(epoll, "counter:", 10, &tfd) == -EINVAL &&
		      !proc_fdinfo_field(epoll, "f_handle:"),
	      "fdinfo fields: a missing field");
}

/* ------------------------------------------------------------------- util */

static void test_parse_u64(void)
{
	uint64_t v = 0;

	CHECK(parse_u64("12", 10, &v) == 0 && v == 12, "parse_u64: '12'");
	CHECK(parse_u64("12 kB", 10, &v) == 0 && v == 12, "parse_u64: ends at a space");
	CHECK(parse_u64("ff\n", 16, &v) == 0 && v == 255, "parse_u64: hex ending at newline");
	CHECK(parse_u64("18446744073709551615", 10, &v) == 0 && v == UINT64_MAX,
	      "parse_u64: UINT64_MAX");
	v = 7;
	CHECK(parse_u64("18446744073709551616", 10, &v) == -ERANGE && v == 7,
	      "parse_u64: 2^64 is -ERANGE, result untouched");
	CHECK(parse_u64("", 10, &v) == -EINVAL, "parse_u64: empty");
	CHECK(parse_u64(NULL, 10, &v) == -EINVAL, "parse_u64: NULL");
	CHECK(parse_u64("-1", 10, &v) == -EINVAL, "parse_u64: '-1'");
	CHECK(parse_u64("12x", 10, &v) == -EINVAL, "parse_u64: '12x'");
	CHECK(parse_u64("0x10", 10, &v) == -EINVAL, "parse_u64: '0x10' in base 10");
	CHECK(parse_u64("x", 16, &v) == -EINVAL, "parse_u64: 'x'");
	CHECK(parse_u64(" -1", 10, &v) == -EINVAL, "parse_u64: ' -1' is refused");
}

static int write_file(int dirfd, const char *name, size_t len)
{
	_cleanup_close_ int fd =
		openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	_cleanup_free_ char *buf = xmalloc(len);

	if (fd < 0)
		return -errno;
	memset(buf, 'a', len);
	return write_full(fd, buf, len);
}

static void test_read_file_at(void)
{
	char dir[] = "/tmp/cryo-test-proc.XXXXXX";
	_cleanup_close_ int dfd = -1;
	char *buf = NULL;
	size_t len = 0;
	int r;

	if (!mkdtemp(dir) || (dfd = open(dir, O_DIRECTORY | O_CLOEXEC)) < 0) {
		CHECK(false, "read_file_at: temp dir: %s", strerror(errno));
		return;
	}
	r = write_file(dfd, "f10000", 10000);
	if (r == 0)
		r = write_file(dfd, "f100", 100);
	CHECK(r == 0, "read_file_at: test files written");
	r = read_file_at(dfd, "f10000", 20000, &buf, &len);
	CHECK(r == 0 && len == 10000 && buf[len] == '\0', "read_file_at: 10000 bytes, NUL-ended");
	free(TAKE_PTR(buf));
	r = read_file_at(dfd, "f10000", 9999, &buf, &len);
	CHECK(r == -EFBIG && !buf, "read_file_at: over max is -EFBIG (r=%d)", r);
	r = read_file_at(dfd, "nope", 10, &buf, &len);
	CHECK(r == -ENOENT, "read_file_at: missing file is -ENOENT");
	r = read_file_at(dfd, "f10000", 10000, &buf, &len);
	CHECK(r == 0, "read_file_at: a file of exactly max bytes is read (r=%d)", r);
	free(TAKE_PTR(buf));
	r = read_file_at(dfd, "f100", 50, &buf, &len);
	CHECK(r == -EFBIG, "read_file_at: max below 4096 is enforced (r=%d)", r);
	free(TAKE_PTR(buf));
	unlinkat(dfd, "f10000", 0);
	unlinkat(dfd, "f100", 0);
	rmdir(dir);
}

/* ------------------------------------------------------------------- live */

static const struct proc_vma *find_vma(const struct proc_vma *v, size_t n, uintptr_t addr)
{
	for (size_t i = 0; i < n; i++)
		if (addr >= v[i].start && addr < v[i].end)
			return &v[i];
	return NULL;
}

static const struct proc_vma *find_named(const struct proc_vma *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].path && !strcmp(v[i].path, name))
			return &v[i];
	return NULL;
}

static void test_live_smaps(void)
{
	const struct proc_vma *stack, *code, *vdso, *vsys;
	struct proc_vma *v = NULL;
	size_t n = 0;
	bool sorted = true;
	int local = 0;
	int r = proc_parse_smaps(getpid(), &v, &n);

	CHECK(r == 0 && n > 5, "live smaps: /proc/self/smaps parses (r=%d n=%zu)", r, n);
	if (r < 0)
		return;
	for (size_t i = 1; i < n; i++)
		sorted &= v[i - 1].end <= v[i].start;
	CHECK(sorted, "live smaps: mappings sorted, not overlapping");
	stack = find_vma(v, n, (uintptr_t)&local);
	CHECK(stack && stack->path && !strcmp(stack->path, "[stack]") &&
		      (stack->prot & PROT_WRITE) && (stack->vmflags & VMF_GROWSDOWN),
	      "live smaps: a local variable lies in the rw, growsdown [stack]");
	code = find_vma(v, n, (uintptr_t)&test_live_smaps);
	CHECK(code && (code->prot & PROT_EXEC) && code->path && code->path[0] == '/' && code->ino,
	      "live smaps: this function lies in an executable file mapping");
	vdso = find_named(v, n, "[vdso]");
	CHECK(vdso && (vdso->prot & PROT_EXEC) && !vdso->shared, "live smaps: [vdso] found, r-x");
	CHECK(vdso && find_named(v, n, "[vvar]"), "live smaps: [vvar] found");
	vsys = find_named(v, n, "[vsyscall]");
	CHECK(!vsys || (vsys->start == 0xffffffffff600000ull && !(vsys->prot & PROT_WRITE)),
	      "live smaps: [vsyscall], where present, at its fixed address");
	proc_vmas_free(v, n);
}

static void test_live_stat(char **argv)
{
	struct proc_stat st;
	int r = proc_parse_stat(getpid(), &st);

	CHECK(r == 0, "live stat: /proc/self/stat parses (r=%d)", r);
	if (r < 0)
		return;
	CHECK(st.state == 'R', "live stat: running (%c)", st.state);
	CHECK(st.ppid == getppid() && st.pgid == getpgrp() && st.sid == getsid(0),
	      "live stat: ppid, pgid, sid match the syscalls");
	CHECK(st.num_threads >= 1 && st.exit_signal == SIGCHLD, "live stat: threads, exit signal");
	CHECK(st.start_code < st.end_code && st.start_brk != 0, "live stat: code range and brk");
	CHECK(st.arg_start < st.arg_end && (uintptr_t)argv[0] == st.arg_start &&
		      !strcmp((const char *)(uintptr_t)st.arg_start, argv[0]),
	      "live stat: arg_start points at argv[0]");
	CHECK(st.env_start <= st.env_end && st.arg_end <= st.env_start, "live stat: env range");
}

static void test_live_status(void)
{
	struct proc_status st;
	gid_t groups[256];
	int ng = getgroups(ARRAY_SIZE(groups), groups);
	mode_t old = umask(0037);
	int r = proc_parse_status(getpid(), &st);

	umask(old);
	CHECK(r == 0, "live status: /proc/self/status parses (r=%d)", r);
	if (r < 0)
		return;
	CHECK(st.uids[0] == getuid() && st.uids[1] == geteuid() && st.gids[0] == getgid() &&
		      st.gids[1] == getegid(),
	      "live status: uids and gids match the syscalls");
	CHECK(ng >= 0 && st.ngroups == (size_t)ng, "live status: %zu groups, getgroups says %d",
	      st.ngroups, ng);
	CHECK(st.umask == 0037, "live status: umask 037 (%o)", st.umask);
	CHECK(st.no_new_privs == prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), "live status: NoNewPrivs");
	CHECK(st.threads >= 1 && st.nspid_depth >= 1, "live status: threads, NSpid depth");
	CHECK((st.cap_eff & ~st.cap_prm) == 0, "live status: effective caps within permitted");
	proc_status_free(&st);
}

static void test_live_timers(void)
{
	struct sigevent se = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGRTMIN + 3 };
	struct proc_timer *t = NULL;
	timer_t id;
	size_t n = 0;
	int r;

	se.sigev_value.sival_ptr = (void *)(uintptr_t)0x1234abcd;
	if (timer_create(CLOCK_MONOTONIC, &se, &id) < 0) {
		CHECK(false, "live timers: timer_create: %s", strerror(errno));
		return;
	}
	r = proc_parse_timers(getpid(), &t, &n);
	if (r == -ENOENT) {
		CHECK(true, "live timers: # SKIP no /proc/self/timers (CONFIG_CHECKPOINT_RESTORE)");
	} else {
		CHECK(r == 0 && n == 1 && t[0].id == (int)(intptr_t)id &&
			      t[0].signo == SIGRTMIN + 3 && t[0].sigval == 0x1234abcd &&
			      t[0].notify == SIGEV_SIGNAL && t[0].clock == CLOCK_MONOTONIC,
		      "live timers: our timer is seen (r=%d n=%zu)", r, n);
		free(t);
	}
	timer_delete(id);
}

static void test_live_fdinfo(void)
{
	struct proc_fdinfo fi;
	struct stat sb;
	_cleanup_close_ int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	int r;

	if (fd < 0 || lseek(fd, 123, SEEK_SET) != 123 || fstat(fd, &sb) < 0) {
		CHECK(false, "live fdinfo: open /proc/self/exe: %s", strerror(errno));
		return;
	}
	r = proc_parse_fdinfo(getpid(), fd, &fi);
	CHECK(r == 0 && fi.pos == 123, "live fdinfo: pos 123 (r=%d)", r);
	CHECK(r == 0 && (fi.flags & O_NONBLOCK) && (fi.flags & O_CLOEXEC) &&
		      (fi.flags & O_ACCMODE) == O_RDONLY,
	      "live fdinfo: flags are octal, with O_NONBLOCK and O_CLOEXEC");
	CHECK(r == 0 && (fi.ino == 0 || fi.ino == sb.st_ino), "live fdinfo: ino, where shown");
	r = proc_parse_fdinfo(getpid(), 1 << 20, &fi);
	CHECK(r == -ENOENT, "live fdinfo: a closed fd is -ENOENT (r=%d)", r);
}

static void test_live_fdinfo_eventfd(void)
{
	_cleanup_close_ int fd = eventfd(0x2a, EFD_CLOEXEC | EFD_SEMAPHORE);
	_cleanup_free_ char *text = NULL;
	uint64_t count = 0, sem = 0;
	int r;

	if (fd < 0) {
		CHECK(false, "live fdinfo: eventfd: %s", strerror(errno));
		return;
	}
	r = proc_read_fdinfo(getpid(), fd, &text);
	CHECK(r == 0 && proc_fdinfo_u64(text, "eventfd-count:", 16, &count) == 0 && count == 0x2a,
	      "live fdinfo: an eventfd's counter (r=%d)", r);
	if (r == 0 && proc_fdinfo_u64(text, "eventfd-semaphore:", 10, &sem) == 0)
		CHECK(sem == 1, "live fdinfo: an eventfd's semaphore mode");
	else
		CHECK(true, "live fdinfo: # SKIP no eventfd-semaphore before Linux 6.5");
}

int main(int argc, char **argv)
{
	(void)argc;
	test_smaps_sample();
	test_smaps_edge();
	test_smaps_many();
	test_smaps_malformed();
	test_stat_sample();
	test_stat_fields();
	test_stat_malformed();
	test_status_sample();
	test_status_groups();
	test_status_malformed();
	test_status_lenient();
	test_timers_sample();
	test_timers_edge();
	test_timers_malformed();
	test_fdinfo_lines();
	test_fdinfo_fields();
	test_parse_u64();
	test_read_file_at();
	test_live_smaps();
	test_live_stat(argv);
	test_live_status();
	test_live_timers();
	test_live_fdinfo();
	test_live_fdinfo_eventfd();
	return tap_done();
}
