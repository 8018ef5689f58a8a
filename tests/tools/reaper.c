/* SPDX-License-Identifier: MIT */
/*
 * `reaper CMD [ARGS...]`: run CMD as a child subreaper (PR_SET_CHILD_SUBREAPER, Linux 3.4)
 * that reaps every orphan of the test suite, and exit with CMD's status. A dumped tree is
 * killed whole: its children become orphans, and a pid 1 that does not reap (as in some
 * containers and VMs) would keep their pids taken, so the restore could not have them.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int status, code = 1;
	pid_t cmd, w;

	if (argc < 2) {
		fprintf(stderr, "usage: reaper CMD [ARGS...]\n");
		return 2;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
		fprintf(stderr, "reaper: PR_SET_CHILD_SUBREAPER: %s\n", strerror(errno));
		return 1;
	}
	cmd = fork();
	if (cmd < 0) {
		fprintf(stderr, "reaper: fork: %s\n", strerror(errno));
		return 1;
	}
	if (cmd == 0) {
		execvp(argv[1], argv + 1);
		fprintf(stderr, "reaper: can't run '%s': %s\n", argv[1], strerror(errno));
		_exit(127);
	}
	while ((w = wait(&status)) != -1 || errno == EINTR)
		if (w == cmd)
			code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	return code;
}
