/* SPDX-License-Identifier: MIT */
/*
 * Replays fuzz inputs through a libFuzzer harness without libFuzzer, so `make test` runs every
 * corpus under gcc's sanitizers and the harnesses never rot:
 *   fuzz-NAME FILE|DIR...
 * Each input runs in a child of its own (a crash names its input, and a harness's state can't
 * leak into the next). A failed input is run once more with CRYO_FUZZ_VERBOSE=1 so harnesses
 * that silence stderr let the whole sanitizer report through. Exit 0 if every input ran clean.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Bounds one input: libFuzzer's own inputs are far smaller. */
#define REPLAY_INPUT_MAX (64u << 20)

static int replay_read(const char *path, uint8_t **ret, size_t *ret_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	uint8_t *buf;
	size_t len = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || st.st_size < 0 || (uint64_t)st.st_size > REPLAY_INPUT_MAX) {
		close(fd);
		return -EFBIG;
	}
	/* Exactly st_size bytes, so ASan sees a read past the input's end. */
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	while (buf && len < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (!buf || len != (size_t)st.st_size) {
		free(buf);
		return buf ? -EIO : -ENOMEM;
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}

/* Run one input in a child; 0 if it returned cleanly. */
static int replay_one(const char *path, int *argc, char ***argv, int verbose)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		uint8_t *data = NULL;
		size_t len = 0;
		int r;

		if (verbose)
			setenv("CRYO_FUZZ_VERBOSE", "1", 1);
		if (LLVMFuzzerInitialize)
			LLVMFuzzerInitialize(argc, argv);
		r = replay_read(path, &data, &len);
		if (r < 0) {
			fprintf(stderr, "replay: can't read '%s': %s\n", path, strerror(-r));
			_exit(2);
		}
		LLVMFuzzerTestOneInput(data, len);
		free(data);
		/* exit(), not _exit(): LeakSanitizer checks at exit. */
		exit(0);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFSIGNALED(status))
		fprintf(stderr, "replay: '%s' killed by signal %d\n", path, WTERMSIG(status));
	else
		fprintf(stderr, "replay: '%s' exited with %d\n", path, WEXITSTATUS(status));
	return -ECHILD;
}

static int replay_path(const char *path, int *argc, char ***argv, int *ran)
{
	int r = replay_one(path, argc, argv, 0);

	(*ran)++;
	if (r == -ECHILD && !getenv("CRYO_FUZZ_VERBOSE")) {
		fprintf(stderr, "replay: running '%s' again, verbosely\n", path);
		replay_one(path, argc, argv, 1);
	}
	return r;
}

static int replay_dir(const char *dir, int *argc, char ***argv, int *ran)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort), failed = 0;

	if (n < 0) {
		fprintf(stderr, "replay: can't list '%s': %s\n", dir, strerror(errno));
		return -errno;
	}
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		char path[4096];
		struct stat st;

		if (name[0] != '.' &&
		    snprintf(path, sizeof(path), "%s/%s", dir, name) < (int)sizeof(path) &&
		    stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
		    replay_path(path, argc, argv, ran) < 0)
			failed++;
		free(names[i]);
	}
	free(names);
	return failed ? -ECHILD : 0;
}

int main(int argc, char **argv)
{
	int ran = 0, failed = 0;
	char **args = argv;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;
		int r;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "replay: '%s': %s\n", argv[i], strerror(errno));
			failed++;
			continue;
		}
		if (S_ISDIR(st.st_mode))
			r = replay_dir(argv[i], &argc, &args, &ran);
		else
			r = replay_path(argv[i], &argc, &args, &ran);
		if (r < 0)
			failed++;
	}
	printf("%s: %d input(s) replayed%s\n", argv[0], ran, failed ? ", some FAILED" : "");
	return failed ? 1 : 0;
}
