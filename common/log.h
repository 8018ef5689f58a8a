/* SPDX-License-Identifier: MIT */
#ifndef CRYO_COMMON_LOG_H
#define CRYO_COMMON_LOG_H

#include <errno.h>

/* Verbosity levels follow CRIU's -v0..4. */
enum log_level {
	LOG_LVL_MSG = 0, /* always printed */
	LOG_LVL_ERR = 1,
	LOG_LVL_WARN = 2,
	LOG_LVL_INFO = 3,
	LOG_LVL_DEBUG = 4,
};

void log_set_level(int level);
/* Send log lines to @path as well as stderr errors; returns -errno. */
int log_open_file(const char *path);
void log_close_file(void);
void log_printf(int level, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Monotonic microseconds, for stage timings. */
unsigned long long log_now_us(void);

#define pr_msg(fmt, ...) log_printf(LOG_LVL_MSG, 0, fmt, ##__VA_ARGS__)
#define pr_err(fmt, ...) log_printf(LOG_LVL_ERR, 0, fmt, ##__VA_ARGS__)
#define pr_warn(fmt, ...) log_printf(LOG_LVL_WARN, 0, fmt, ##__VA_ARGS__)
#define pr_info(fmt, ...) log_printf(LOG_LVL_INFO, 0, fmt, ##__VA_ARGS__)
#define pr_debug(fmt, ...) log_printf(LOG_LVL_DEBUG, 0, fmt, ##__VA_ARGS__)

/* Log @fmt with the text of negative errno @r appended; evaluates to @r. */
#define pr_err_errno(r, fmt, ...)                                                                  \
	({                                                                                         \
		int _r = (r);                                                                      \
		log_printf(LOG_LVL_ERR, -_r, fmt, ##__VA_ARGS__);                                  \
		_r;                                                                                \
	})
/* Same, without the errno text: for refusals whose reason is in @fmt. */
#define pr_err_ret(r, fmt, ...)                                                                    \
	({                                                                                         \
		int _r = (r);                                                                      \
		log_printf(LOG_LVL_ERR, 0, fmt, ##__VA_ARGS__);                                    \
		_r;                                                                                \
	})

#endif
