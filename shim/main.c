/* SPDX-License-Identifier: MIT */
/* The cryo binary: a thin CLI over the engine, one file per command. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "shim/shim.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} commands[] = {
	{ "dump", shim_cmd_dump, "checkpoint a process to a directory of images" },
	{ "restore", shim_cmd_restore, "restore a process from a directory of images" },
	{ "check", shim_cmd_check, "check that this kernel has what cryo needs" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: cryo COMMAND [OPTIONS]\n\ncommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\n'cryo COMMAND --help' shows a command's options; 'cryo --version' the version.\n");
}

void shim_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "cryo %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'cryo %s --help'.\n", cmd);
}

int shim_common_opt(struct shim_common *c, int opt, const char *arg)
{
	switch (opt) {
	case 'D':
		c->images_dir = arg;
		return 1;
	case 'o':
		c->log_file = arg;
		return 1;
	case 'v':
		if (!arg) {
			c->verbosity++;
			return 1;
		}
		/* -vvv arrives as "vv": count them; -v4 as "4". */
		if (strspn(arg, "v") == strlen(arg)) {
			c->verbosity += 1 + (int)strlen(arg);
			return 1;
		}
		if (strlen(arg) != 1 || arg[0] < '0' || arg[0] > '4')
			return -1;
		c->verbosity = arg[0] - '0';
		return 1;
	}
	return 0;
}

int shim_setup_log(const struct shim_common *c)
{
	_cleanup_free_ char *path = NULL;
	int r;

	log_set_level(c->verbosity > LOG_LVL_DEBUG ? LOG_LVL_DEBUG : c->verbosity);
	if (!c->log_file)
		return 0;
	if (c->log_file[0] != '/' && c->images_dir)
		path = xasprintf("%s/%s", c->images_dir, c->log_file);
	else
		path = xstrdup(c->log_file);
	r = log_open_file(path);
	if (r < 0)
		return pr_err_errno(r, "log file '%s': can't open", path);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 1;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		/* "Version: X.Y" is what LXC-style callers of criu parse. */
		printf("Version: %s\n", CRYO_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "cryo: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 1;
}
