/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness of the /proc text parsers (engine/proc.c): the input, NUL-terminated, is
 * given to each *_buf parser in a fresh copy (they cut it up in place), and to the fdinfo key
 * lookups whole and line by line. What a parser accepts must hold its invariants; anything
 * else must be a clean negative errno.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "engine/proc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A NUL-terminated copy of exactly size + 1 bytes, so ASan sees a read past the end. */
static char *text(const uint8_t *data, size_t size)
{
	char *s = xmalloc(size + 1);

	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/*
 * Is r a refusal? Then it must be -EINVAL or the errno also (0 for none): anything else is a
 * bug that aborts.
 */
static bool refused(int r, int also)
{
	if (r >= 0)
		return false;
	if (r != -EINVAL && r != also)
		abort();
	return true;
}

static void fuzz_smaps(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *buf = text(data, size);
	struct proc_vma *v = NULL;
	size_t n = 0;

	if (refused(proc_parse_smaps_buf(buf, &v, &n), 0))
		return;
	for (size_t i = 0; i < n; i++)
		if (v[i].start >= v[i].end || v[i].kind != 0 || (v[i].path && !v[i].path[0]) ||
		    (v[i].prot & ~7u))
			abort();
	proc_vmas_free(v, n);
}

static void fuzz_stat(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *buf = text(data, size);
	struct proc_stat st;

	refused(proc_parse_stat_buf(buf, &st), 0);
}

static void fuzz_status(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *buf = text(data, size);
	struct proc_status st;

	if (refused(proc_parse_status_buf(buf, &st), 0))
		return;
	if (st.ngroups > PROC_MAX_GROUPS || (st.ngroups && !st.groups))
		abort();
	proc_status_free(&st);
}

static void fuzz_timers(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *buf = text(data, size);
	struct proc_timer *t = NULL;
	size_t n = 0;

	if (refused(proc_parse_timers_buf(buf, &t, &n), -E2BIG))
		return;
	if (n > PROC_MAX_TIMERS || (n && !t))
		abort();
	free(t);
}

/* Each line as a line of watch fields too, as epoll and inotify read theirs. */
static void fuzz_fdinfo(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *buf = text(data, size);
	static const char *const keys[] = { "pos:", "flags:", "tfd:", "f_handle:",
					    "settime flags:" };
	struct proc_fdinfo fi;
	char *save = NULL;
	uint64_t v;

	refused(proc_parse_fdinfo_buf(buf, &fi), 0);
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		const char *s = proc_fdinfo_value(buf, keys[i]);

		if (s && (s < buf || s > buf + size))
			abort();
		refused(proc_fdinfo_u64(buf, keys[i], 16, &v), -ERANGE);
	}
	for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
			const char *s = proc_fdinfo_field(l, keys[i]);

			if (s && (s < l || s > l + strlen(l)))
				abort();
			refused(proc_fdinfo_field_u64(l, keys[i], 10, &v), -ERANGE);
		}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_smaps(data, size);
	fuzz_stat(data, size);
	fuzz_status(data, size);
	fuzz_timers(data, size);
	fuzz_fdinfo(data, size);
	return 0;
}
