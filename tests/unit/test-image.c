/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of image files (engine/image.c): entries written with img_write come back equal
 * from img_read, and every kind of damage to a copy of the file is refused with a negative
 * errno, logged naming the file, without a crash or a leak under ASan. Output is TAP.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/image.h"
#include "img-files.pb-c.h"
#include "img-header.pb-c.h"
#include "img-mm.pb-c.h"
#include "tap.h"

#define N_VMAS 6
#define LONG_NAME_LEN 3000 /* over img_put_msg's 512-byte stack buffer */

static int dfd = -1;
static char long_name[LONG_NAME_LEN + 1];

/* Entry @i of the test file: a full one, an empty one, a long one, extreme values. */
static void make_vma(int i, VmaEntry *e)
{
	*e = (VmaEntry)VMA_ENTRY__INIT;
	switch (i) {
	case 0:
		e->has_start = e->has_end = e->has_kind = e->has_prot = e->has_flags = true;
		e->has_pgoff = e->has_file_id = e->has_shmid = e->has_madv = true;
		e->start = 0x55d0c9b1e000ull;
		e->end = 0x55d0c9b3f000ull;
		e->kind = VMA_KIND__VMA_ANON_PRIVATE;
		e->prot = 3;
		e->flags = 0x100;
		e->pgoff = 0;
		e->file_id = 7;
		e->shmid = 9;
		e->madv = 1u << 31;
		e->name = (char *)"[heap]";
		break;
	case 1: /* no field at all: an entry of 0 bytes */
		break;
	case 2:
		e->has_start = true;
		e->start = 0x1000;
		e->name = long_name;
		break;
	case 3:
		e->has_start = e->has_end = e->has_pgoff = e->has_prot = true;
		e->start = UINT64_MAX - 0xfff;
		e->end = UINT64_MAX;
		e->pgoff = UINT64_MAX;
		e->prot = UINT32_MAX;
		break;
	case 4:
		e->has_kind = true;
		e->kind = VMA_KIND__VMA_FILE_SHARED;
		e->name = (char *)"/tmp/dir with spaces/f";
		break;
	default:
		e->has_kind = e->has_start = e->has_end = true;
		e->kind = VMA_KIND__VMA_VDSO;
		e->start = 0x7ffd7e939000ull;
		e->end = 0x7ffd7e93b000ull;
		e->name = (char *)"";
		break;
	}
}

static bool vma_equal(const VmaEntry *a, const VmaEntry *b)
{
#define SAME(f) (a->has_##f == b->has_##f && (!a->has_##f || a->f == b->f))
	if (!SAME(start) || !SAME(end) || !SAME(kind) || !SAME(prot) || !SAME(flags) ||
	    !SAME(pgoff) || !SAME(file_id) || !SAME(shmid) || !SAME(madv))
		return false;
#undef SAME
	if (!a->name || !b->name)
		return !a->name && !b->name;
	return !strcmp(a->name, b->name);
}

static int write_vmas(const char *name)
{
	struct img *img;
	int r = img_create(dfd, name, IMG_KIND__IMG_VMAS, &img);

	if (r < 0)
		return r;
	for (int i = 0; i < N_VMAS && r == 0; i++) {
		VmaEntry e;

		make_vma(i, &e);
		r = img_write(img, &e.base);
	}
	if (r < 0) {
		img_close(img);
		return r;
	}
	return img_close(img);
}

/* Read every entry of @name as @kind; the count read goes to *nread, the last result out. */
static int read_all(const char *name, ImgKind kind, const ProtobufCMessageDescriptor *desc,
		    int *nread)
{
	_cleanup_img_ struct img *img = NULL;
	ProtobufCMessage *msg;
	int r;

	*nread = 0;
	r = img_open(dfd, name, kind, &img);
	if (r < 0)
		return r;
	while ((r = img_read(img, desc, &msg)) > 0) {
		img_free(msg);
		(*nread)++;
	}
	return r;
}

static void test_roundtrip(void)
{
	_cleanup_img_ struct img *img = NULL;
	ProtobufCMessage *msg;
	int r, i;

	r = write_vmas("vmas.img");
	CHECK(r == 0, "roundtrip: %d vma entries written and closed (r=%d)", N_VMAS, r);
	r = img_open(dfd, "vmas.img", IMG_KIND__IMG_VMAS, &img);
	CHECK(r == 0 && img, "roundtrip: opened");
	if (r < 0)
		return;
	for (i = 0; (r = img_read(img, &vma_entry__descriptor, &msg)) > 0; i++) {
		VmaEntry want;

		make_vma(i, &want);
		CHECK(i < N_VMAS && vma_equal((VmaEntry *)msg, &want),
		      "roundtrip: entry %d equal to what was written", i);
		img_free(msg);
	}
	CHECK(r == 0 && i == N_VMAS, "roundtrip: end after %d entries (r=%d)", i, r);
	CHECK(img_read(img, &vma_entry__descriptor, &msg) == 0, "roundtrip: end stays the end");
}

static void test_many(void)
{
	struct img *img;
	int r, n;

	r = img_create(dfd, "pagemap.img", IMG_KIND__IMG_PAGEMAP, &img);
	CHECK(r == 0, "many: pagemap image created");
	if (r < 0)
		return;
	for (int i = 0; i < 5000 && r == 0; i++) {
		PagemapEntry pe = PAGEMAP_ENTRY__INIT;

		pe.has_vaddr = pe.has_nr_pages = true;
		pe.vaddr = (uint64_t)i << 12;
		pe.nr_pages = (uint64_t)i + 1;
		r = img_write(img, &pe.base);
	}
	r = img_close(img) ?: r;
	CHECK(r == 0, "many: 5000 pagemap entries written");
	r = read_all("pagemap.img", IMG_KIND__IMG_PAGEMAP, &pagemap_entry__descriptor, &n);
	CHECK(r == 0 && n == 5000, "many: 5000 entries read back (r=%d n=%d)", r, n);
}

static void test_one(void)
{
	PagemapEntry pe = PAGEMAP_ENTRY__INIT, *got;
	ProtobufCMessage *msg = NULL;
	struct img *img;
	int r;

	pe.has_vaddr = true;
	pe.vaddr = 0x7f0000000000ull;
	r = img_write_one(dfd, "one.img", IMG_KIND__IMG_PAGEMAP, &pe.base);
	CHECK(r == 0, "one: img_write_one");
	r = img_read_one(dfd, "one.img", IMG_KIND__IMG_PAGEMAP, &pagemap_entry__descriptor, &msg);
	got = (PagemapEntry *)msg;
	CHECK(r == 0 && got && got->has_vaddr && got->vaddr == pe.vaddr && !got->has_nr_pages,
	      "one: img_read_one gives it back");
	img_free(msg);
	r = img_create(dfd, "empty.img", IMG_KIND__IMG_PAGEMAP, &img);
	if (r == 0)
		r = img_close(img);
	msg = NULL;
	r = r ?: img_read_one(dfd, "empty.img", IMG_KIND__IMG_PAGEMAP, &pagemap_entry__descriptor,
			      &msg);
	CHECK(r == -EIO && !msg, "one: img_read_one of a header-only image is -EIO (r=%d)", r);
}

static void test_open_errors(void)
{
	struct img *img = (struct img *)&img;
	int r, n;

	r = img_open(dfd, "missing.img", IMG_KIND__IMG_VMAS, &img);
	CHECK(r == -ENOENT, "open: a missing image is -ENOENT (r=%d)", r);
	CHECK(img_close(NULL) == 0, "open: img_close(NULL) is 0");
	r = read_all("vmas.img", IMG_KIND__IMG_PAGEMAP, &pagemap_entry__descriptor, &n);
	CHECK(r == -EINVAL, "open: an image of another kind is -EINVAL (r=%d)", r);
	mkdirat(dfd, "dir.img", 0700);
	r = read_all("dir.img", IMG_KIND__IMG_VMAS, &vma_entry__descriptor, &n);
	CHECK(r < 0, "open: a directory is refused (r=%d)", r);
	unlinkat(dfd, "dir.img", AT_REMOVEDIR);
	r = img_create(dfd, "no/such/dir.img", IMG_KIND__IMG_VMAS, &img);
	CHECK(r == -ENOENT, "create: in a missing directory is -ENOENT (r=%d)", r);
}

static void test_write_errors(void)
{
	PipeDataEntry big = PIPE_DATA_ENTRY__INIT;
	VmaEntry e;
	struct img *img;
	int r;

	r = img_create(dfd, "big.img", IMG_KIND__IMG_PIPE_DATA, &img);
	CHECK(r == 0, "write: pipe data image created");
	if (r == 0) {
		big.has_data = true;
		big.data.len = IMG_ENTRY_MAX + 1;
		big.data.data = xzalloc(big.data.len);
		r = img_write(img, &big.base);
		CHECK(r == -EFBIG, "write: an entry over IMG_ENTRY_MAX is -EFBIG (r=%d)", r);
		free(big.data.data);
		r = img_close(img);
		CHECK(r == 0, "write: the image stays usable after a refused entry (r=%d)", r);
	}
	/* /dev/full takes the buffered header, then fails the first real write with ENOSPC. */
	r = img_create(AT_FDCWD, "/dev/full", IMG_KIND__IMG_VMAS, &img);
	if (r < 0) {
		CHECK(true, "write: # SKIP no /dev/full (r=%d)", r);
		return;
	}
	make_vma(2, &e);
	r = img_write(img, &e.base);
	r = img_write(img, &e.base) ?: r;
	r = img_close(img) ?: r;
	CHECK(r == -ENOSPC, "write: a full disk is -ENOSPC from img_write or img_close (r=%d)", r);
}

/* ------------------------------------------------------------ corruptions */

static uint8_t *orig;
static size_t orig_len;

static int put_bytes(const char *name, const void *buf, size_t len)
{
	_cleanup_close_ int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0)
		return -errno;
	return write_full(fd, buf, len);
}

static void put_u32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

static uint32_t get_u32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Offset of the first entry's length word in the original file. */
static size_t first_entry(void)
{
	return 8 + get_u32(orig + 4);
}

/* A copy of the good file with @len bytes at @off replaced by @patch, cut at @cut bytes. */
static int damaged(const char *what, size_t off, const void *patch, size_t len, size_t cut,
		   int *nread)
{
	_cleanup_free_ uint8_t *copy = xmalloc(orig_len + 64);

	memcpy(copy, orig, orig_len);
	if (len)
		memcpy(copy + off, patch, len);
	if (put_bytes("bad.img", copy, MIN(cut, orig_len)) < 0) {
		CHECK(false, "corrupt: can't write the copy for %s", what);
		return 0;
	}
	return read_all("bad.img", IMG_KIND__IMG_VMAS, &vma_entry__descriptor, nread);
}

static void test_header_damage(void)
{
	static const uint8_t ff[4] = { 0xff, 0xff, 0xff, 0xff };
	uint8_t b[4];
	int r, n;

	r = damaged("magic", 0, "CRY1", 4, SIZE_MAX, &n);
	CHECK(r == -EINVAL, "corrupt: bad magic is -EINVAL (r=%d)", r);
	put_u32(b, IMG_HEADER_MAX + 1);
	r = damaged("hlen", 4, b, 4, SIZE_MAX, &n);
	CHECK(r == -EINVAL, "corrupt: header length over IMG_HEADER_MAX is -EINVAL (r=%d)", r);
	r = damaged("hlen", 4, ff, 4, SIZE_MAX, &n);
	CHECK(r == -EINVAL, "corrupt: header length 0xffffffff is -EINVAL (r=%d)", r);
	put_u32(b, IMG_HEADER_MAX);
	r = damaged("hlen", 4, b, 4, SIZE_MAX, &n);
	CHECK(r == -EIO, "corrupt: header length past the end of the file is -EIO (r=%d)", r);
	put_u32(b, 0);
	r = damaged("hlen", 4, b, 4, SIZE_MAX, &n);
	CHECK(r == -EINVAL, "corrupt: empty header (no version) is -EINVAL (r=%d)", r);
	r = damaged("header", 8, ff, MIN(4, get_u32(orig + 4)), SIZE_MAX, &n);
	CHECK(r == -EINVAL, "corrupt: garbage header bytes are -EINVAL (r=%d)", r);
	for (size_t cut = 0; cut < first_entry(); cut++) {
		r = damaged("cut", 0, NULL, 0, cut, &n);
		if (r != -EIO)
			break;
	}
	CHECK(r == -EIO, "corrupt: a file cut anywhere before the first entry is -EIO (r=%d)", r);
}

static int header_with(uint32_t version, bool has_version, ImgKind kind)
{
	ImgHeader hdr = IMG_HEADER__INIT;
	uint8_t buf[64];
	uint32_t magic = IMG_MAGIC, len;
	int n;

	hdr.has_version = has_version;
	hdr.version = version;
	hdr.has_kind = true;
	hdr.kind = kind;
	len = (uint32_t)img_header__pack(&hdr, buf + 8);
	memcpy(buf, &magic, 4);
	put_u32(buf + 4, len);
	if (put_bytes("hdr.img", buf, 8 + len) < 0)
		return -EBADF;
	return read_all("hdr.img", IMG_KIND__IMG_VMAS, &vma_entry__descriptor, &n);
}

static void test_header_fields(void)
{
	int r;

	r = header_with(IMG_FORMAT_VERSION, true, IMG_KIND__IMG_VMAS);
	CHECK(r == 0, "header: a handmade good header is read (r=%d)", r);
	r = header_with(IMG_FORMAT_VERSION + 1, true, IMG_KIND__IMG_VMAS);
	CHECK(r == -EINVAL, "header: a newer format version is -EINVAL (r=%d)", r);
	r = header_with(0, false, IMG_KIND__IMG_VMAS);
	CHECK(r == -EINVAL, "header: no version is -EINVAL (r=%d)", r);
	r = header_with(IMG_FORMAT_VERSION, true, (ImgKind)99);
	CHECK(r == -EINVAL, "header: an unknown kind is -EINVAL (r=%d)", r);
}

static void test_entry_damage(void)
{
	static const uint8_t ff[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	/* Field 1 (fixed64 start) sent as a varint: the wrong wire type. */
	static const uint8_t wire[] = { 0x08, 0x01 };
	size_t e0 = first_entry();
	uint8_t b[4];
	int r, n;

	r = damaged("none", 0, NULL, 0, SIZE_MAX, &n);
	CHECK(r == 0 && n == N_VMAS, "corrupt: the undamaged copy reads whole (r=%d)", r);
	put_u32(b, IMG_ENTRY_MAX + 1);
	r = damaged("elen", e0, b, 4, SIZE_MAX, &n);
	CHECK(r == -EINVAL && n == 0, "corrupt: entry length over IMG_ENTRY_MAX is -EINVAL (r=%d)",
	      r);
	r = damaged("elen", e0, ff, 4, SIZE_MAX, &n);
	CHECK(r == -EINVAL, "corrupt: entry length 0xffffffff is -EINVAL (r=%d)", r);
	put_u32(b, IMG_ENTRY_MAX);
	r = damaged("elen", e0, b, 4, SIZE_MAX, &n);
	CHECK(r == -EIO, "corrupt: entry length IMG_ENTRY_MAX past the end is -EIO (r=%d)", r);
	CHECK(get_u32(orig + e0) >= sizeof(ff), "corrupt: first entry has room for the patches");
	r = damaged("body", e0 + 4, ff, sizeof(ff), SIZE_MAX, &n);
	CHECK(r == -EINVAL && n == 0, "corrupt: garbage entry bytes are -EINVAL (r=%d)", r);
	r = damaged("wire", e0 + 4, wire, sizeof(wire), SIZE_MAX, &n);
	CHECK(r == -EINVAL, "corrupt: a field of the wrong wire type is -EINVAL (r=%d)", r);
	r = damaged("cut", 0, NULL, 0, orig_len - 1, &n);
	CHECK(r == -EIO && n == N_VMAS - 1, "corrupt: last entry cut short is -EIO after %d (r=%d)",
	      n, r);
	r = damaged("cut", 0, NULL, 0, e0 + 2, &n);
	CHECK(r == -EIO && n == 0, "corrupt: cut inside an entry length is -EIO (r=%d)", r);
	r = damaged("cut", 0, NULL, 0, e0 + 4 + 1, &n);
	CHECK(r == -EIO && n == 0, "corrupt: cut one byte into an entry is -EIO (r=%d)", r);
}

static void test_trailing(void)
{
	_cleanup_free_ uint8_t *copy = xmalloc(orig_len + 2);
	int r, n;

	memcpy(copy, orig, orig_len);
	copy[orig_len] = 0x01;
	copy[orig_len + 1] = 0x00;
	r = put_bytes("bad.img", copy, orig_len + 2);
	r = r ?: read_all("bad.img", IMG_KIND__IMG_VMAS, &vma_entry__descriptor, &n);
	CHECK(r == -EIO && n == N_VMAS, "corrupt: 2 stray bytes at the end are -EIO (r=%d)", r);
}

static bool log_names(const char *logname, const char *what)
{
	_cleanup_free_ char *text = NULL;

	if (read_file_at(dfd, logname, 1 << 20, &text, NULL) < 0)
		return false;
	return strstr(text, what) != NULL;
}

static void test_corruptions(void)
{
	char *text = NULL;
	int r = read_file_at(dfd, "vmas.img", 1 << 20, &text, &orig_len);

	orig = (uint8_t *)text;
	CHECK(r == 0 && orig_len > 12 && get_u32(orig) == IMG_MAGIC,
	      "corrupt: the good image read, starts with the magic");
	if (r < 0)
		return;
	test_header_damage();
	test_header_fields();
	test_entry_damage();
	test_trailing();
	free(orig);
}

static void remove_tree(const char *dir)
{
	static const char *const names[] = { "vmas.img", "pagemap.img", "one.img", "empty.img",
					     "big.img",	 "bad.img",	"hdr.img", "log" };

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		unlinkat(dfd, names[i], 0);
	if (rmdir(dir) < 0)
		printf("# can't remove '%s': %s\n", dir, strerror(errno));
}

int main(void)
{
	char dir[] = "/tmp/cryo-test-image.XXXXXX", logpath[64];

	memset(long_name, 'n', LONG_NAME_LEN);
	if (!mkdtemp(dir) || (dfd = open(dir, O_DIRECTORY | O_CLOEXEC)) < 0) {
		CHECK(false, "temp dir: %s", strerror(errno));
		return tap_done();
	}
	snprintf(logpath, sizeof(logpath), "%s/log", dir);
	CHECK(log_open_file(logpath) == 0, "log file opened");
	test_roundtrip();
	test_many();
	test_one();
	test_open_errors();
	test_write_errors();
	test_corruptions();
	CHECK(log_names("log", "'bad.img'") && log_names("log", "'missing.img'"),
	      "errors are logged naming the file");
	log_close_file();
	remove_tree(dir);
	close(dfd);
	return tap_done();
}
