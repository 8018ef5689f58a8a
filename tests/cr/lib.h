/* SPDX-License-Identifier: MIT */
/*
 * State-test protocol. A test is started by tests/cr/run.sh as `TEST STATEDIR` with stdout and
 * stderr sent to STATEDIR/out. It sets up its state, calls test_ready() (which creates
 * STATEDIR/ready), then test_wait(), which returns once SIGUSR2 has arrived; meanwhile the
 * runner dumps it (killing it), restores it from the images and sends SIGUSR2 to the restored
 * process. The test then verifies its state and calls test_pass() or test_fail(), which print
 * PASS or "FAIL: reason" as the last line of STATEDIR/out and exit 0 or 1.
 * The runner takes options from a line in the source:  CRYO-TEST: key=value ...
 */
#ifndef CRYO_TEST_LIB_H
#define CRYO_TEST_LIB_H

#include <stdint.h>
#include <stddef.h>

void test_init(int argc, char **argv);
void test_ready(void);
void test_wait(void);
/* Has SIGUSR2 arrived? For tests that keep working while they wait. */
int test_signalled(void);
__attribute__((noreturn)) void test_pass(void);
__attribute__((noreturn, format(printf, 1, 2))) void test_fail(const char *fmt, ...);
/* Note a message in the output without ending the test. */
void test_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A checksum of memory for contents checks. */
uint64_t test_hash(const void *buf, size_t len);
/* The state directory, for tests that keep files there. */
const char *test_dir(void);

#endif
