/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/cryo.h"
#include "shim/shim.h"

enum { OPT_PIDFILE = 256, OPT_NEW_PIDNS, OPT_INHERIT_FD };

/* Most --inherit-fd options of one restore. */
#define INHERIT_MAX 64

static void usage(void)
{
	printf("usage: cryo restore -D DIR [OPTIONS]\n\n"
	       "Restore the process dumped in DIR with its pid; without -d, stay its parent\n"
	       "and exit with its exit status.\n\n"
	       "  -D, --images-dir DIR       the images\n"
	       "  -d, --restore-detached     return as soon as the process runs\n"
	       "      --pidfile FILE         write the restored pid there\n"
	       "      --new-pidns            into a new pid namespace, where the tree's pids are\n"
	       "                             free even if taken here; cryo's init is its pid 1\n"
	       "      --inherit-fd fd[N]:KEY the dumped file KEY (pipe:[INO], as its fd link\n"
	       "                             read) is cryo's fd N; needed for a pipe that led\n"
	       "                             outside the dumped tree\n"
	       "  -o, --log-file FILE        log there (a relative name goes into DIR)\n"
	       "  -v[0-4]                    verbosity; each -v adds one\n"
	       "  -h, --help                 this text\n");
}

static int write_pidfile(const char *path, pid_t pid)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d", pid);

	if (fd < 0 || write_full(fd, buf, (size_t)n) < 0)
		return pr_err_errno(-errno, "pidfile '%s': can't write", path);
	return 0;
}

/* "fd[N]:KEY", N an fd cryo has open. */
static int parse_inherit(const char *arg, struct cr_inherit_fd *ret)
{
	const char *p = arg + 3;
	long n = 0;

	if (strncmp(arg, "fd[", 3) || *p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9' && n <= INT_MAX; p++)
		n = n * 10 + (*p - '0');
	if (n > INT_MAX || strncmp(p, "]:", 2) || !p[2])
		return -EINVAL;
	if (fcntl((int)n, F_GETFD) < 0)
		return -EBADF;
	ret->fd = (int)n;
	ret->key = p + 2;
	return 0;
}

int shim_cmd_restore(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "restore-detached", no_argument, NULL, 'd' },
		{ "pidfile", required_argument, NULL, OPT_PIDFILE },
		{ "new-pidns", no_argument, NULL, OPT_NEW_PIDNS },
		{ "inherit-fd", required_argument, NULL, OPT_INHERIT_FD },
		SHIM_COMMON_LONG,
		{ 0 },
	};
	struct shim_common c = { .verbosity = LOG_LVL_WARN };
	static struct cr_inherit_fd inherit[INHERIT_MAX];
	struct cr_restore_opts o = { .inherit_fds = inherit };
	struct cr_stats st = { 0 };
	const char *pidfile = NULL;
	bool detach = false;
	int opt, r, status;
	pid_t pid, child;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "d" SHIM_COMMON_SHORT, longopts, NULL)) != -1) {
		r = shim_common_opt(&c, opt, optarg);
		if (r > 0)
			continue;
		switch (r < 0 ? '?' : opt) {
		case 'd':
			detach = true;
			break;
		case OPT_PIDFILE:
			pidfile = optarg;
			break;
		case OPT_NEW_PIDNS:
			o.new_pidns = true;
			break;
		case OPT_INHERIT_FD:
			r = o.nr_inherit_fds < INHERIT_MAX ? parse_inherit(optarg, &inherit[o.nr_inherit_fds])
							   : -E2BIG;
			if (r < 0) {
				shim_usage_error("restore", "--inherit-fd '%s': %s", optarg,
						 r == -EBADF  ? "cryo has no such fd open" :
						 r == -E2BIG ? "too many --inherit-fd options" :
							       "want fd[N]:KEY, as fd[3]:pipe:[1234]");
				return 1;
			}
			o.nr_inherit_fds++;
			break;
		case 'h':
			usage();
			return 0;
		default:
			shim_usage_error("restore", "unrecognized option '%s'", argv[optind - 1]);
			return 1;
		}
	}
	if (optind < argc || !c.images_dir) {
		shim_usage_error("restore", optind < argc ? "unexpected argument '%s'" : "%s",
				 optind < argc ? argv[optind] : "-D DIR is required");
		return 1;
	}
	o.images_dir = c.images_dir;
	if (shim_setup_log(&c) < 0)
		return 1;
	r = cr_restore(&o, &pid, &child, &st);
	if (r < 0) {
		pr_err("restore from '%s' failed", o.images_dir);
		return 1;
	}
	pr_info("restored task %d (%llu pages)", pid, st.pages_restored);
	if (pidfile && write_pidfile(pidfile, pid) < 0)
		return 1;
	if (detach)
		return 0;
	log_close_file();
	/* The init of a new pid namespace leaves with the root's status. */
	if (waitpid(child, &status, 0) < 0)
		return 1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
