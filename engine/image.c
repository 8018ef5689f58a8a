/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/image.h"

struct img {
	FILE *f;
	char *name;
	ImgKind kind;
	bool writing;
	uint64_t off;
	uint64_t size; /* file size when opened for reading */
	int err;
};

static struct img *img_new(FILE *f, const char *name, ImgKind kind, bool writing)
{
	struct img *img = xzalloc(sizeof(*img));

	img->f = f;
	img->name = xstrdup(name);
	img->kind = kind;
	img->writing = writing;
	return img;
}

static void img_destroy(struct img *img)
{
	if (img->f)
		fclose(img->f);
	free(img->name);
	free(img);
}

static int img_put(struct img *img, const void *buf, size_t len)
{
	if (img->err)
		return img->err;
	if (fwrite(buf, 1, len, img->f) != len)
		return img->err = pr_err_errno(errno ? -errno : -EIO, "image '%s': can't write",
					       img->name);
	img->off += len;
	return 0;
}

static int img_put_msg(struct img *img, const ProtobufCMessage *msg)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	uint8_t stackbuf[512];
	_cleanup_free_ uint8_t *heap = NULL;
	uint8_t *buf = stackbuf;
	uint32_t len32;
	int r;

	if (len > IMG_ENTRY_MAX)
		return pr_err_ret(-EFBIG, "image '%s': entry of %zu bytes is over the %u limit",
				  img->name, len, IMG_ENTRY_MAX);
	if (len > sizeof(stackbuf))
		buf = heap = xmalloc(len);
	protobuf_c_message_pack(msg, buf);
	len32 = (uint32_t)len;
	r = img_put(img, &len32, sizeof(len32));
	if (r < 0)
		return r;
	return img_put(img, buf, len);
}

int img_create(int dirfd, const char *name, ImgKind kind, struct img **ret)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ImgHeader hdr = IMG_HEADER__INIT;
	uint32_t magic = IMG_MAGIC;
	struct img *img;
	FILE *f;
	int r;

	if (fd < 0)
		return pr_err_errno(-errno, "image '%s': can't create", name);
	f = fdopen(fd, "w");
	if (!f)
		return pr_err_errno(-errno, "image '%s': can't fdopen", name);
	TAKE_FD(fd);
	img = img_new(f, name, kind, true);
	hdr.has_version = hdr.has_kind = true;
	hdr.version = IMG_FORMAT_VERSION;
	hdr.kind = kind;
	r = img_put(img, &magic, sizeof(magic));
	if (r == 0)
		r = img_put_msg(img, &hdr.base);
	if (r < 0) {
		img_destroy(img);
		return r;
	}
	*ret = img;
	return 0;
}

/* Read @len bytes; -EIO with a message naming the file when it ends early. */
static int img_get(struct img *img, void *buf, size_t len, const char *what)
{
	size_t n = fread(buf, 1, len, img->f);

	if (n != len) {
		if (ferror(img->f))
			return pr_err_errno(errno ? -errno : -EIO, "image '%s': can't read %s at offset %llu",
					    img->name, what, (unsigned long long)img->off);
		return pr_err_ret(-EIO, "image '%s': truncated: %s at offset %llu is cut short",
				  img->name, what, (unsigned long long)img->off);
	}
	img->off += len;
	return 0;
}

static int img_check_header(struct img *img)
{
	uint8_t buf[IMG_HEADER_MAX];
	ImgHeader *hdr;
	uint32_t magic, len;
	int r;

	r = img_get(img, &magic, sizeof(magic), "magic");
	if (r < 0)
		return r;
	if (magic != IMG_MAGIC)
		return pr_err_ret(-EINVAL, "image '%s': bad magic 0x%08x: not a cryo image",
				  img->name, magic);
	r = img_get(img, &len, sizeof(len), "header length");
	if (r < 0)
		return r;
	if (len > sizeof(buf))
		return pr_err_ret(-EINVAL, "image '%s': header length %u is corrupt", img->name, len);
	r = img_get(img, buf, len, "header");
	if (r < 0)
		return r;
	hdr = img_header__unpack(NULL, len, buf);
	if (!hdr)
		return pr_err_ret(-EINVAL, "image '%s': header is corrupt", img->name);
	r = 0;
	if (!hdr->has_version || hdr->version != IMG_FORMAT_VERSION)
		r = pr_err_ret(-EINVAL, "image '%s': format version %u, this cryo reads %u",
			       img->name, hdr->version, IMG_FORMAT_VERSION);
	else if (hdr->kind != img->kind)
		r = pr_err_ret(-EINVAL, "image '%s': holds entries of kind %d, expected %d",
			       img->name, hdr->kind, img->kind);
	img_header__free_unpacked(hdr, NULL);
	return r;
}

int img_open(int dirfd, const char *name, ImgKind kind, struct img **ret)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	struct stat st;
	struct img *img;
	FILE *f;
	int r;

	if (fd < 0)
		return pr_err_errno(-errno, "image '%s': can't open", name);
	f = fdopen(fd, "r");
	if (!f) {
		r = -errno;
		close(fd);
		return pr_err_errno(r, "image '%s': can't fdopen", name);
	}
	img = img_new(f, name, kind, false);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		img_destroy(img);
		return pr_err_ret(-EINVAL, "image '%s': is not a regular file", name);
	}
	img->size = (uint64_t)st.st_size;
	r = img_check_header(img);
	if (r < 0) {
		img_destroy(img);
		return r;
	}
	*ret = img;
	return 0;
}

int img_write(struct img *img, const ProtobufCMessage *msg)
{
	return img_put_msg(img, msg);
}

int img_read(struct img *img, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **ret)
{
	_cleanup_free_ uint8_t *buf = NULL;
	ProtobufCMessage *msg;
	uint32_t len;
	size_t n;
	int r;

	n = fread(&len, 1, sizeof(len), img->f);
	if (n == 0 && feof(img->f))
		return 0;
	if (n != sizeof(len))
		return pr_err_ret(-EIO, "image '%s': truncated: entry length at offset %llu is cut short",
				  img->name, (unsigned long long)img->off);
	img->off += n;
	if (len > IMG_ENTRY_MAX)
		return pr_err_ret(-EINVAL, "image '%s': entry length %u at offset %llu is corrupt",
				  img->name, len, (unsigned long long)img->off - n);
	/* Don't allocate for an entry the file can't hold. */
	if (len > img->size - MIN(img->off, img->size))
		return pr_err_ret(-EIO, "image '%s': truncated: entry at offset %llu is cut short",
				  img->name, (unsigned long long)img->off);
	buf = xmalloc(len);
	r = img_get(img, buf, len, "entry");
	if (r < 0)
		return r;
	msg = protobuf_c_message_unpack(desc, NULL, len, buf);
	if (!msg)
		return pr_err_ret(-EINVAL, "image '%s': entry at offset %llu is corrupt", img->name,
				  (unsigned long long)(img->off - len));
	*ret = msg;
	return 1;
}

int img_read_one(int dirfd, const char *name, ImgKind kind, const ProtobufCMessageDescriptor *desc,
		 ProtobufCMessage **ret)
{
	_cleanup_img_ struct img *img = NULL;
	int r;

	r = img_open(dirfd, name, kind, &img);
	if (r < 0)
		return r;
	r = img_read(img, desc, ret);
	if (r == 0)
		return pr_err_ret(-EIO, "image '%s': is empty", name);
	return r < 0 ? r : 0;
}

int img_read_all(int dirfd, const char *name, ImgKind kind, const ProtobufCMessageDescriptor *desc,
		 size_t max, ProtobufCMessage ***ret, size_t *ret_n)
{
	_cleanup_img_ struct img *img = NULL;
	ProtobufCMessage **arr = NULL, *m;
	size_t n = 0;
	int r;

	r = img_open(dirfd, name, kind, &img);
	while (r == 0 && (r = img_read(img, desc, &m)) > 0) {
		if (n == max) {
			img_free(m);
			r = pr_err_ret(-E2BIG, "image '%s': more than %zu entries", name, max);
			break;
		}
		if ((n & (n - 1)) == 0)
			arr = xrealloc_array(arr, n ? n * 2 : 16, sizeof(*arr));
		arr[n++] = m;
		r = 0;
	}
	if (r < 0) {
		while (n)
			img_free(arr[--n]);
		free(arr);
		return r;
	}
	*ret = arr;
	*ret_n = n;
	return 0;
}

int img_write_one(int dirfd, const char *name, ImgKind kind, const ProtobufCMessage *msg)
{
	struct img *img;
	int r;

	r = img_create(dirfd, name, kind, &img);
	if (r < 0)
		return r;
	r = img_write(img, msg);
	if (r < 0) {
		img_destroy(img);
		return r;
	}
	return img_close(img);
}

int img_close(struct img *img)
{
	int r = 0;

	if (!img)
		return 0;
	r = img->err;
	if (img->writing && fflush(img->f) != 0 && !r)
		r = pr_err_errno(-errno, "image '%s': can't write", img->name);
	if (fclose(img->f) != 0 && !r && img->writing)
		r = pr_err_errno(-errno, "image '%s': can't close", img->name);
	img->f = NULL;
	img_destroy(img);
	return r;
}

int img_closep_helper(struct img **img)
{
	return img_close(*img);
}

void img_free(ProtobufCMessage *msg)
{
	if (msg)
		protobuf_c_message_free_unpacked(msg, NULL);
}
