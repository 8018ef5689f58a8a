/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>

#include "common/util.h"

static void *oom_check(void *p)
{
	if (!p) {
		static const char msg[] = "cryo: out of memory\n";

		(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
		abort();
	}
	return p;
}

void *xmalloc(size_t size)
{
	return oom_check(malloc(size ? size : 1));
}

void *xzalloc(size_t size)
{
	return oom_check(calloc(1, size ? size : 1));
}

void *xcalloc(size_t nmemb, size_t size)
{
	return oom_check(calloc(nmemb ? nmemb : 1, size ? size : 1));
}

void *xrealloc_array(void *p, size_t nmemb, size_t size)
{
	size_t bytes;

	if (__builtin_mul_overflow(nmemb, size, &bytes))
		oom_check(NULL);
	return oom_check(realloc(p, bytes ? bytes : 1));
}

char *xstrdup(const char *s)
{
	return oom_check(strdup(s));
}

char *xasprintf(const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	return oom_check(r < 0 ? NULL : s);
}

/* Loop pread(2) until @len bytes came: 0, -errno, or -EIO at the end of the file. */
int pread_full(int fd, void *buf, size_t len, off_t off)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = pread(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/* Loop write(2) (@off < 0) or pwrite(2) until all of @len bytes went. */
static int write_loop(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = off < 0 ? write(fd, p, len) : pwrite(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		if (off >= 0)
			off += n;
	}
	return 0;
}

int write_full(int fd, const void *buf, size_t len)
{
	return write_loop(fd, buf, len, -1);
}

int pwrite_full(int fd, const void *buf, size_t len, off_t off)
{
	return write_loop(fd, buf, len, off);
}

int read_file_at(int dirfd, const char *path, size_t max, char **ret_buf, size_t *ret_len)
{
	_cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = MIN(4096, max);

	if (fd < 0)
		return -errno;
	/* One byte past @max is read, to tell "exactly max" from "more than max". */
	buf = xmalloc(cap + 2);
	for (;;) {
		ssize_t n;

		if (len >= cap && cap < max) {
			cap = MIN(cap * 2, max);
			buf = xrealloc_array(buf, cap + 2, 1);
		} else if (len == cap + 1) {
			return -EFBIG;
		}
		n = read(fd, buf + len, cap + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (ret_len)
		*ret_len = len;
	*ret_buf = TAKE_PTR(buf);
	return 0;
}

int readlink_alloc(const char *path, char **ret)
{
	char buf[PATH_MAX + 1];
	ssize_t n = readlink(path, buf, sizeof(buf) - 1);

	if (n < 0)
		return -errno;
	if ((size_t)n >= sizeof(buf) - 1)
		return -ENAMETOOLONG;
	buf[n] = '\0';
	*ret = xstrdup(buf);
	return 0;
}

int parse_u64(const char *s, int base, uint64_t *ret)
{
	unsigned long long v;
	char *end;

	errno = 0;
	/* strtoull would skip blanks and take a sign: only digits are a number here. */
	if (!s || !isxdigit((unsigned char)*s))
		return -EINVAL;
	v = strtoull(s, &end, base);
	if (errno)
		return -errno;
	if (end == s || (*end && *end != ' ' && *end != '\n' && *end != '\t'))
		return -EINVAL;
	*ret = v;
	return 0;
}
