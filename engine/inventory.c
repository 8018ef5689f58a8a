/* SPDX-License-Identifier: MIT */
/* The inventory: what was dumped, by which cryo, on which kernel and CPU. */
#include <errno.h>
#include <string.h>
#include <sys/time.h>
#include <sys/utsname.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/internal.h"

int inventory_dump(struct dump_tree *t)
{
	InventoryEntry inv = INVENTORY_ENTRY__INIT;
	uint64_t vstart, vlen;
	struct utsname u;
	struct timeval tv;
	uint64_t xfeat;
	uint32_t xsize;

	uname(&u);
	gettimeofday(&tv, NULL);
	arch_xsave_info(&xfeat, &xsize);
	if (mm_vdso_unit(t->procs[0]->vmas, t->procs[0]->nr_vmas, &vstart, &vlen, NULL) < 0)
		vlen = 0;
	inv.has_format_version = inv.has_xsave_features = inv.has_xsave_size = true;
	inv.has_root_pid = inv.has_leave_running = inv.has_vdso_unit_size = true;
	inv.has_dump_time_us = true;
	inv.format_version = IMG_FORMAT_VERSION;
	inv.cryo_version = (char *)CRYO_VERSION;
	inv.kernel_release = u.release;
	inv.xsave_features = xfeat;
	inv.xsave_size = xsize;
	inv.root_pid = (uint32_t)t->procs[0]->pid;
	inv.leave_running = t->opts->leave_running;
	inv.vdso_unit_size = vlen;
	inv.dump_time_us = (uint64_t)tv.tv_sec * 1000000 + (uint64_t)tv.tv_usec;
	return img_write_one(t->dirfd, INVENTORY_IMG, IMG_KIND__IMG_INVENTORY, &inv.base);
}

int inventory_check(struct rst_tree *t)
{
	ProtobufCMessage *m;
	int rr;

	rr = img_read_one(t->dirfd, INVENTORY_IMG, IMG_KIND__IMG_INVENTORY,
			  &inventory_entry__descriptor, &m);
	if (rr < 0)
		return rr;
	t->inv = (InventoryEntry *)m;
	if (t->inv->format_version != IMG_FORMAT_VERSION)
		return pr_err_ret(-EINVAL, "image '%s': format version %u, this cryo reads %d",
				  INVENTORY_IMG, t->inv->format_version, IMG_FORMAT_VERSION);
	if (!t->inv->has_root_pid || t->inv->root_pid < 1 || t->inv->root_pid > (1u << 22))
		return pr_err_ret(-EINVAL, "image '%s': root pid is corrupt", INVENTORY_IMG);
	return arch_check_xsave(t->inv->xsave_features);
}
