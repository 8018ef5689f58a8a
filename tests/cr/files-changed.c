/* SPDX-License-Identifier: MIT */
/*
 * A regular file held open (STATEDIR/data, known contents, offset moved by a read) that is
 * changed between dump and restore: the restore must refuse rather than hand the process a
 * file that is not the one it had. Run without checkpointing, the test checks that the fd
 * still reads the data on from its offset.
 * CRYO-TEST: expect=restore-fail between=echo changed >> $STATE/data
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib.h"

#define DATA_SIZE 6000
#define DATA_POS 1000

int main(int argc, char **argv)
{
	static unsigned char data[DATA_SIZE], buf[DATA_SIZE];
	char path[4096];
	struct stat st;
	int fd;

	test_init(argc, argv);
	test_fill(data, DATA_SIZE, 1);
	close(test_create_file("data", data, sizeof(data), O_WRONLY | O_CLOEXEC));
	test_path(path, sizeof(path), "data");
	fd = open(path, O_RDONLY);
	if (fd < 0 || read(fd, buf, DATA_POS) != DATA_POS)
		test_fail("open/read '%s': %s", path, strerror(errno));

	test_ready();
	test_wait();

	if (fstat(fd, &st) || st.st_size != DATA_SIZE)
		test_fail("fd %d: size %lld, want %d", fd, (long long)st.st_size, DATA_SIZE);
	if (lseek(fd, 0, SEEK_CUR) != DATA_POS)
		test_fail("fd %d: offset %lld, want %d", fd, (long long)lseek(fd, 0, SEEK_CUR),
			  DATA_POS);
	if (read(fd, buf, DATA_SIZE - DATA_POS) != DATA_SIZE - DATA_POS ||
	    memcmp(buf, data + DATA_POS, DATA_SIZE - DATA_POS))
		test_fail("fd %d: reading on from offset %d does not give the data", fd, DATA_POS);
	test_pass();
}
