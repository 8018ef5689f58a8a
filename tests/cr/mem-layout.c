/* SPDX-License-Identifier: MIT */
/*
 * State: the address-space layout and the mm fields the kernel reports. /proc/self/maps,
 * cmdline, environ and auxv and the /proc/self/exe link are byte-identical after two
 * dump/restore cycles; [vvar], [vvar_vclock] and [vdso] keep their addresses, AT_SYSINFO_EHDR
 * still points at the vdso, and the vdso's own clock_gettime and gettimeofday, called
 * directly, give the same times as the system calls.
 * Nothing may allocate between the reads of maps: buffers are static, I/O is read(2).
 *
 * CRYO-TEST: cycles=2
 */
#include <elf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "lib.h"

#define BUF_SIZE (1 << 20)

struct proc_text {
	const char *path;
	char before[BUF_SIZE], after[BUF_SIZE];
	size_t before_len, after_len;
};

static struct proc_text texts[] = {{.path = "/proc/self/maps"},
				   {.path = "/proc/self/cmdline"},
				   {.path = "/proc/self/environ"},
				   {.path = "/proc/self/auxv"}};

static const char *const special[] = {"[vvar]", "[vvar_vclock]", "[vdso]"};

static char exe_before[4096], exe_after[4096];

typedef int (*clock_gettime_fn)(clockid_t clk, struct timespec *ts);
typedef int (*gettimeofday_fn)(struct timeval *tv, void *tz);

static void read_exe(char *buf, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", buf, size - 1);

	if (n < 0)
		test_fail("readlink /proc/self/exe: %s", strerror(errno));
	buf[n] = '\0';
}

/* The address range of the maps line ending in @name; 0 if there is none. */
static int find_special(const char *maps, const char *name, uintptr_t *start, uintptr_t *end)
{
	size_t nlen = strlen(name);

	for (const char *line = maps; *line; line = strchr(line, '\n') + 1) {
		const char *eol = strchr(line, '\n');

		if (!eol)
			test_fail("maps text does not end in a newline");
		if ((size_t)(eol - line) > nlen && !memcmp(eol - nlen, name, nlen) &&
		    eol[-(long)nlen - 1] == ' ') {
			if (sscanf(line, "%lx-%lx", start, end) != 2)
				test_fail("bad maps line: %.*s", (int)(eol - line), line);
			return 1;
		}
	}
	return 0;
}

static int has_line(const char *text, const char *line, size_t len)
{
	for (const char *l = text; *l; l = strchr(l, '\n') + 1)
		if ((size_t)(strchr(l, '\n') - l) == len && !memcmp(l, line, len))
			return 1;
	return 0;
}

/* Print the lines of @a missing from @b, each after @mark. */
static void print_missing(const char *a, const char *b, const char *mark)
{
	for (const char *l = a; *l; l = strchr(l, '\n') + 1) {
		size_t len = (size_t)(strchr(l, '\n') - l);

		if (!has_line(b, l, len))
			test_msg("%s %.*s", mark, (int)len, l);
	}
}

static void check_maps(struct proc_text *maps)
{
	uintptr_t s0, e0, s1, e1;

	for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++) {
		if (!find_special(maps->before, special[i], &s0, &e0))
			continue;
		if (!find_special(maps->after, special[i], &s1, &e1))
			test_fail("%s is gone from maps", special[i]);
		if (s0 != s1 || e0 != e1)
			test_fail("%s moved from %lx-%lx to %lx-%lx", special[i], s0, e0, s1, e1);
	}
	if (maps->before_len == maps->after_len &&
	    !memcmp(maps->before, maps->after, maps->before_len))
		return;
	test_msg("/proc/self/maps changed (- before, + after):");
	print_missing(maps->before, maps->after, "-");
	print_missing(maps->after, maps->before, "+");
	test_fail("/proc/self/maps changed");
}

static void *vdso_sym(const char *name)
{
	uintptr_t base = getauxval(AT_SYSINFO_EHDR), bias = 0;
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)base;
	const Elf64_Dyn *dyn = NULL;
	const Elf64_Sym *sym = NULL;
	const Elf64_Word *hash = NULL;
	const char *str = NULL;

	if (!base)
		test_fail("no AT_SYSINFO_EHDR");
	for (int i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *ph = (const Elf64_Phdr *)(base + eh->e_phoff) + i;

		if (ph->p_type == PT_LOAD && !bias)
			bias = base + ph->p_offset - ph->p_vaddr;
		else if (ph->p_type == PT_DYNAMIC)
			dyn = (const Elf64_Dyn *)(base + ph->p_offset);
	}
	for (; dyn && dyn->d_tag != DT_NULL; dyn++) {
		if (dyn->d_tag == DT_SYMTAB)
			sym = (const Elf64_Sym *)(bias + dyn->d_un.d_ptr);
		else if (dyn->d_tag == DT_STRTAB)
			str = (const char *)(bias + dyn->d_un.d_ptr);
		else if (dyn->d_tag == DT_HASH)
			hash = (const Elf64_Word *)(bias + dyn->d_un.d_ptr);
	}
	if (!bias || !sym || !str || !hash)
		test_fail("vdso has no symbol table with DT_HASH");
	for (Elf64_Word i = 0; i < hash[1]; i++)
		if (sym[i].st_shndx != SHN_UNDEF && !strcmp(str + sym[i].st_name, name))
			return (void *)(bias + sym[i].st_value);
	test_fail("vdso has no '%s'", name);
}

static long long ts_ns(const struct timespec *ts)
{
	return ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

/* The vdso's clocks, called directly, against the system calls; returns vdso monotonic. */
static long long check_vdso_clocks(long long mono_min)
{
	clock_gettime_fn vdso_cgt = (clock_gettime_fn)vdso_sym("__vdso_clock_gettime");
	gettimeofday_fn vdso_gtod = (gettimeofday_fn)vdso_sym("__vdso_gettimeofday");
	struct timespec v_real, v_mono, s_real, s_mono;
	struct timeval v_tv, s_tv;

	if (vdso_cgt(CLOCK_REALTIME, &v_real) || vdso_cgt(CLOCK_MONOTONIC, &v_mono) ||
	    vdso_gtod(&v_tv, NULL))
		test_fail("vdso clock call failed");
	if (syscall(SYS_clock_gettime, CLOCK_REALTIME, &s_real) ||
	    syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &s_mono) ||
	    syscall(SYS_gettimeofday, &s_tv, NULL))
		test_fail("clock system call failed");
	if (ts_ns(&s_real) - ts_ns(&v_real) < 0 || ts_ns(&s_real) - ts_ns(&v_real) > 1000000000LL)
		test_fail("vdso realtime %lld ns, system call %lld ns", ts_ns(&v_real),
			  ts_ns(&s_real));
	if (ts_ns(&v_mono) < mono_min || ts_ns(&s_mono) - ts_ns(&v_mono) < 0 ||
	    ts_ns(&s_mono) - ts_ns(&v_mono) > 1000000000LL)
		test_fail("vdso monotonic %lld ns, system call %lld ns, earlier %lld ns",
			  ts_ns(&v_mono), ts_ns(&s_mono), mono_min);
	if (s_tv.tv_sec - v_tv.tv_sec < 0 || s_tv.tv_sec - v_tv.tv_sec > 1)
		test_fail("vdso gettimeofday %ld s, system call %ld s", (long)v_tv.tv_sec,
			  (long)s_tv.tv_sec);
	return ts_ns(&v_mono);
}

int main(int argc, char **argv)
{
	const size_t ntexts = sizeof(texts) / sizeof(texts[0]);
	uintptr_t vdso_start, vdso_end;
	long long mono;

	test_init(argc, argv);
	mono = check_vdso_clocks(0);
	read_exe(exe_before, sizeof(exe_before));
	for (size_t i = 0; i < ntexts; i++)
		texts[i].before_len = test_read_file(texts[i].path, texts[i].before, BUF_SIZE);

	test_ready();
	test_wait();

	for (size_t i = 0; i < ntexts; i++)
		texts[i].after_len = test_read_file(texts[i].path, texts[i].after, BUF_SIZE);
	read_exe(exe_after, sizeof(exe_after));
	check_maps(&texts[0]);
	for (size_t i = 1; i < ntexts; i++)
		if (texts[i].before_len != texts[i].after_len ||
		    memcmp(texts[i].before, texts[i].after, texts[i].before_len))
			test_fail("%s changed (%zu bytes, was %zu)", texts[i].path,
				  texts[i].after_len, texts[i].before_len);
	if (strcmp(exe_before, exe_after))
		test_fail("/proc/self/exe is '%s', was '%s'", exe_after, exe_before);
	if (!find_special(texts[0].after, "[vdso]", &vdso_start, &vdso_end))
		test_fail("no [vdso] in maps");
	if (getauxval(AT_SYSINFO_EHDR) != vdso_start)
		test_fail("AT_SYSINFO_EHDR %#lx is not the vdso at %#lx",
			  getauxval(AT_SYSINFO_EHDR), vdso_start);
	check_vdso_clocks(mono);
	test_pass();
}
