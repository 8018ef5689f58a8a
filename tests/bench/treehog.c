/*
 * `treehog PROCS MIB THREADS READYFILE`: a benchmark workload. The root starts PROCS - 1
 * children; every process fills MIB MiB of private memory with data of its own (every page
 * dirty), holds a few fds (a pipe to the root, /dev/null, the ready file's directory) and
 * starts THREADS - 1 threads that sleep. When all are set the root writes its pid into
 * READYFILE, then everyone waits.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void *sleeper(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

static void fill(size_t mib, unsigned seed, int nthreads)
{
	size_t len = mib << 20;
	unsigned char *p = len ? mmap(NULL, len, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) : NULL;

	if (p == MAP_FAILED) {
		perror("treehog: mmap");
		exit(1);
	}
	for (size_t i = 0; i < len; i += sizeof(unsigned))
		*(unsigned *)(p + i) = (unsigned)i * 2654435761u + seed;
	for (int t = 1; t < nthreads; t++) {
		pthread_t th;

		if (pthread_create(&th, NULL, sleeper, NULL)) {
			fprintf(stderr, "treehog: can't start a thread\n");
			exit(1);
		}
	}
}

int main(int argc, char **argv)
{
	int procs, threads, ready[2], nul;
	size_t mib;
	char c = 'r';
	FILE *f;

	if (argc != 5) {
		fprintf(stderr, "usage: treehog PROCS MIB THREADS READYFILE\n");
		return 2;
	}
	close_range(3, ~0U, 0);
	procs = atoi(argv[1]);
	mib = (size_t)atol(argv[2]);
	threads = atoi(argv[3]);
	nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (nul < 0 || pipe(ready) < 0) {
		perror("treehog");
		return 1;
	}
	for (int i = 1; i < procs; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("treehog: fork");
			return 1;
		}
		if (pid == 0) {
			close(ready[0]);
			fill(mib, (unsigned)i, threads);
			if (write(ready[1], &c, 1) != 1)
				_exit(1);
			close(ready[1]);
			for (;;)
				pause();
		}
	}
	close(ready[1]);
	fill(mib, 0, threads);
	for (int i = 1; i < procs; i++)
		if (read(ready[0], &c, 1) != 1) {
			fprintf(stderr, "treehog: a child failed\n");
			return 1;
		}
	close(ready[0]);
	f = fopen(argv[4], "w");
	if (!f || fprintf(f, "%d\n", getpid()) < 0 || fclose(f)) {
		perror("treehog: ready file");
		return 1;
	}
	for (;;)
		pause();
}
