/* SPDX-License-Identifier: MIT */
/*
 * TAP output of the unit tests: CHECK(cond, fmt, ...) prints "ok N - what" or "not ok N - what"
 * and, for a failure, the file and line of the check; tap_done() prints the plan after the last
 * check and gives main's exit status. The counts are static: one test program per file.
 */
#ifndef CRYO_TESTS_UNIT_TAP_H
#define CRYO_TESTS_UNIT_TAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

static int tap_tests, tap_failed;

static inline void __attribute__((format(printf, 4, 5)))
tap_check(bool ok, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	tap_tests++;
	printf("%sok %d - ", ok ? "" : "not ", tap_tests);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (ok)
		return;
	printf("#   failed at %s:%d\n", file, line);
	tap_failed++;
}

#define CHECK(cond, ...) tap_check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

/* The plan "1..N" and a count of the failures; 1 if a check failed, else 0. */
static inline int tap_done(void)
{
	printf("1..%d\n", tap_tests);
	if (tap_failed)
		printf("# %d of %d failed\n", tap_failed, tap_tests);
	return tap_failed ? 1 : 0;
}

#endif
