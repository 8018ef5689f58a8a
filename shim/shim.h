/* SPDX-License-Identifier: MIT */
#ifndef CRYO_SHIM_H
#define CRYO_SHIM_H

#include <getopt.h>

/* Options every command takes, as CRIU spells them. */
struct shim_common {
	const char *images_dir;
	const char *log_file;
	int verbosity;
};

#define SHIM_COMMON_SHORT "D:o:v::h"
#define SHIM_COMMON_LONG                                                                           \
	{ "images-dir", required_argument, NULL, 'D' },                                            \
		{ "log-file", required_argument, NULL, 'o' },                                      \
		{ "verbosity", optional_argument, NULL, 'v' }, { "help", no_argument, NULL, 'h' }

/* Handle a common option; 1 if it was one, 0 if not, -1 on a bad value. */
int shim_common_opt(struct shim_common *c, int opt, const char *arg);
/* Open the log file (relative names go into the images dir). */
int shim_setup_log(const struct shim_common *c);
void shim_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int shim_cmd_dump(int argc, char **argv);
int shim_cmd_restore(int argc, char **argv);
int shim_cmd_check(int argc, char **argv);

#endif
