/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "engine/cryo.h"
#include "shim/shim.h"

int shim_cmd_check(int argc, char **argv)
{
	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("usage: cryo check\n\nProbe every kernel feature cryo uses and say what is missing.\n");
		return 0;
	}
	if (argc > 1) {
		shim_usage_error("check", "unexpected argument '%s'", argv[1]);
		return 1;
	}
	return cr_check() < 0 ? 1 : 0;
}
