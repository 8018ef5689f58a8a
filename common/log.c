/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

static int log_level = LOG_LVL_WARN;
static int log_fd = -1;
static unsigned long long log_start_us;

void log_set_level(int level)
{
	log_level = level;
}

unsigned long long log_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000;
}

int log_open_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0)
		return -errno;
	log_close_file();
	log_fd = fd;
	return 0;
}

void log_close_file(void)
{
	if (log_fd >= 0)
		close(log_fd);
	log_fd = -1;
}

static void log_write(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

void log_printf(int level, int err, const char *fmt, ...)
{
	char ts[32], msg[2048];
	int saved = errno, n = 0;
	unsigned long long now;
	va_list ap;

	if (level > log_level && level > LOG_LVL_ERR)
		return;
	now = log_now_us();
	if (!log_start_us)
		log_start_us = now;
	snprintf(ts, sizeof(ts), "(%02llu.%06llu) ", (now - log_start_us) / 1000000,
		 (now - log_start_us) % 1000000);
	if (level == LOG_LVL_ERR)
		n = snprintf(msg, sizeof(msg), "Error: ");
	else if (level == LOG_LVL_WARN)
		n = snprintf(msg, sizeof(msg), "Warn: ");
	va_start(ap, fmt);
	n += vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(msg) - 128)
		n = (int)sizeof(msg) - 128;
	if (err)
		n += snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", strerror(err));
	msg[n++] = '\n';
	if (log_fd >= 0 && level <= log_level) {
		log_write(log_fd, ts, strlen(ts));
		log_write(log_fd, msg, (size_t)n);
	}
	/* Errors always reach the terminal; the rest only without a log file. */
	if (level <= LOG_LVL_ERR || log_fd < 0) {
		if (level >= LOG_LVL_INFO)
			log_write(STDERR_FILENO, ts, strlen(ts));
		log_write(STDERR_FILENO, msg, (size_t)n);
	}
	errno = saved;
}
