/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/cryo.h"
#include "shim/shim.h"

static void usage(void)
{
	printf("usage: cryo dump -t PID -D DIR [OPTIONS]\n\n"
	       "Checkpoint the process PID into the images directory DIR, then kill it.\n\n"
	       "  -t, --tree PID          the process to dump\n"
	       "  -D, --images-dir DIR    where the images go (created if missing)\n"
	       "  -R, --leave-running     let the process run on after the dump\n"
	       "  -o, --log-file FILE     log there (a relative name goes into DIR)\n"
	       "  -v[0-4]                 verbosity; each -v adds one\n"
	       "  -h, --help              this text\n");
}

int shim_cmd_dump(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "tree", required_argument, NULL, 't' },
		{ "leave-running", no_argument, NULL, 'R' },
		SHIM_COMMON_LONG,
		{ 0 },
	};
	struct shim_common c = { .verbosity = LOG_LVL_WARN };
	struct cr_dump_opts o = { 0 };
	struct cr_stats st = { 0 };
	uint64_t pid = 0;
	int opt, r;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "t:R" SHIM_COMMON_SHORT, longopts, NULL)) != -1) {
		r = shim_common_opt(&c, opt, optarg);
		if (r > 0)
			continue;
		switch (r < 0 ? '?' : opt) {
		case 't':
			if (parse_u64(optarg, 10, &pid) < 0 || pid == 0 || pid > 1U << 22) {
				shim_usage_error("dump", "bad pid '%s'", optarg);
				return 1;
			}
			break;
		case 'R':
			o.leave_running = true;
			break;
		case 'h':
			usage();
			return 0;
		default:
			shim_usage_error("dump", "unrecognized option '%s'", argv[optind - 1]);
			return 1;
		}
	}
	if (optind < argc || !pid || !c.images_dir) {
		shim_usage_error("dump", optind < argc ? "unexpected argument '%s'" : "%s",
				 optind < argc ? argv[optind] : "-t PID and -D DIR are required");
		return 1;
	}
	o.pid = (pid_t)pid;
	o.images_dir = c.images_dir;
	/* The log may go into the images dir: make it first. */
	if (mkdir(c.images_dir, 0700) < 0 && errno != EEXIST) {
		pr_err_errno(-errno, "images dir '%s': can't create", c.images_dir);
		return 1;
	}
	if (shim_setup_log(&c) < 0)
		return 1;
	r = cr_dump(&o, &st);
	if (r < 0) {
		pr_err("dump of task %d failed", o.pid);
		return 1;
	}
	pr_msg("dumped task %d to '%s' (%llu pages, frozen %llu.%03llu ms)", o.pid, o.images_dir,
	       st.pages_written, st.frozen_us / 1000, st.frozen_us % 1000);
	return 0;
}
