/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>

#include "common/util.h"
#include "engine/proc.h"

/* Bounds for /proc text we read whole. */
#define PROC_SMAPS_MAX (256u << 20)
#define PROC_SMALL_MAX (1u << 20)
#define PROC_MAX_VMAS 1000000

static int proc_read(pid_t pid, const char *what, size_t max, char **ret)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, what);
	return read_file_at(AT_FDCWD, path, max, ret, NULL);
}

static uint32_t vmflag_bit(const char *f)
{
	static const struct {
		char name[3];
		uint32_t bit;
	} map[] = {
		{ "gd", VMF_GROWSDOWN }, { "lo", VMF_LOCKED },	  { "mw", VMF_MAYWRITE },
		{ "dd", VMF_DONTDUMP },	 { "dc", VMF_DONTFORK },  { "wf", VMF_WIPEONFORK },
		{ "hg", VMF_HUGEPAGE },	 { "nh", VMF_NOHUGEPAGE }, { "mg", VMF_MERGEABLE },
		{ "nr", VMF_NORESERVE }, { "io", VMF_IO },	  { "pf", VMF_PFNMAP },
		{ "ac", VMF_ACCOUNT },
	};

	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (f[0] == map[i].name[0] && f[1] == map[i].name[1])
			return map[i].bit;
	return 0;
}

/* "start-end perms offset dev inode   path" */
static int parse_vma_line(char *line, struct proc_vma *v)
{
	unsigned long long start, end, pgoff, ino;
	unsigned int maj, min;
	char perms[5];
	int n = 0;

	if (sscanf(line, "%llx-%llx %4s %llx %x:%x %llu %n", &start, &end, perms, &pgoff, &maj,
		   &min, &ino, &n) < 7 ||
	    start >= end || strlen(perms) != 4)
		return -EINVAL;
	memset(v, 0, sizeof(*v));
	v->start = start;
	v->end = end;
	v->pgoff = pgoff;
	v->dev = makedev(maj, min);
	v->ino = ino;
	v->prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
		  (perms[2] == 'x' ? PROT_EXEC : 0);
	v->shared = perms[3] == 's';
	if (line[n])
		v->path = xstrdup(line + n);
	return 0;
}

void proc_vmas_free(struct proc_vma *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].path);
	free(v);
}

int proc_parse_smaps_buf(char *buf, struct proc_vma **ret, size_t *ret_n)
{
	struct proc_vma *v = NULL;
	size_t n = 0, cap = 0;
	char *save = NULL, *line;

	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "VmFlags:", 8) == 0) {
			char *f, *fs = NULL;

			if (!n)
				goto fail;
			for (f = strtok_r(line + 8, " ", &fs); f; f = strtok_r(NULL, " ", &fs))
				v[n - 1].vmflags |= vmflag_bit(f);
			continue;
		}
		/* Field lines are "Name:   value"; a mapping line starts with "start-end ". */
		if (line[strcspn(line, " ")] == ' ' && strcspn(line, " ") > 0 &&
		    line[strcspn(line, " ") - 1] == ':')
			continue;
		if (n == cap) {
			if (cap >= PROC_MAX_VMAS)
				goto fail;
			cap = cap ? cap * 2 : 64;
			v = xrealloc_array(v, cap, sizeof(*v));
		}
		if (parse_vma_line(line, &v[n]) < 0)
			goto fail;
		n++;
	}
	*ret = v;
	*ret_n = n;
	return 0;
fail:
	proc_vmas_free(v, n);
	return -EINVAL;
}

int proc_parse_smaps(pid_t pid, struct proc_vma **ret, size_t *ret_n)
{
	_cleanup_free_ char *buf = NULL;
	int r = proc_read(pid, "smaps", PROC_SMAPS_MAX, &buf);

	if (r < 0)
		return r;
	return proc_parse_smaps_buf(buf, ret, ret_n);
}

int proc_parse_stat_buf(char *buf, struct proc_stat *ret)
{
	struct proc_stat out, *st = &out;
	unsigned long long f[53] = { 0 };
	char *p = strrchr(buf, ')'), *save = NULL, *tok;
	int i = 3;

	/* comm (field 2) may hold anything, including spaces and ')': skip to the last ')'. */
	if (!p || p[1] != ' ')
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	tok = strtok_r(p + 2, " \n", &save);
	if (!tok)
		return -EINVAL;
	st->state = tok[0];
	for (i = 4, tok = strtok_r(NULL, " \n", &save); tok && i <= 52;
	     i++, tok = strtok_r(NULL, " \n", &save)) {
		char *end;

		/* strtoull takes "-5" (nice) as its two's complement: cast back where signed. */
		f[i] = strtoull(tok, &end, 10);
		if (end == tok || *end)
			return -EINVAL;
	}
	if (i <= 51)
		return -EINVAL;
	st->ppid = (int)f[4];
	st->pgid = (int)f[5];
	st->sid = (int)f[6];
	st->flags = (unsigned int)f[9];
	st->nice = (long)f[19];
	st->num_threads = (long)f[20];
	st->start_code = f[26];
	st->end_code = f[27];
	st->start_stack = f[28];
	st->exit_signal = (int)f[38];
	st->start_data = f[45];
	st->end_data = f[46];
	st->start_brk = f[47];
	st->arg_start = f[48];
	st->arg_end = f[49];
	st->env_start = f[50];
	st->env_end = f[51];
	st->exit_code = (int)f[52];
	*ret = out;
	return 0;
}

int proc_parse_stat(pid_t pid, struct proc_stat *ret)
{
	_cleanup_free_ char *buf = NULL;
	int r = proc_read(pid, "stat", PROC_SMALL_MAX, &buf);

	if (r < 0)
		return r;
	return proc_parse_stat_buf(buf, ret);
}

static int parse_ids(char *s, uint32_t ids[4])
{
	char *save = NULL, *tok = strtok_r(s, " \t", &save);

	for (int i = 0; i < 4; i++, tok = strtok_r(NULL, " \t", &save)) {
		uint64_t v;

		if (!tok || parse_u64(tok, 10, &v) < 0 || v > UINT32_MAX)
			return -EINVAL;
		ids[i] = (uint32_t)v;
	}
	return tok ? -EINVAL : 0;
}

static int parse_groups(char *s, struct proc_status *st)
{
	char *save = NULL, *tok;

	for (tok = strtok_r(s, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		uint64_t g;

		if (st->ngroups >= PROC_MAX_GROUPS || parse_u64(tok, 10, &g) < 0 || g > UINT32_MAX)
			return -EINVAL;
		st->groups = xrealloc_array(st->groups, st->ngroups + 1, sizeof(*st->groups));
		st->groups[st->ngroups++] = (uint32_t)g;
	}
	return 0;
}

static int parse_status_line(char *key, char *val, struct proc_status *st)
{
	uint64_t v;

	if (!strcmp(key, "Uid"))
		return parse_ids(val, st->uids);
	if (!strcmp(key, "Gid"))
		return parse_ids(val, st->gids);
	if (!strcmp(key, "Groups"))
		return parse_groups(val, st);
	if (!strcmp(key, "NSpid")) {
		char *save = NULL;

		st->nspid_depth = 0;
		for (char *s = strtok_r(val, " \t", &save); s; s = strtok_r(NULL, " \t", &save)) {
			uint64_t nspid;

			if (parse_u64(s, 10, &nspid) < 0 || nspid > INT_MAX)
				return -EINVAL;
			st->nspid = (pid_t)nspid;
			st->nspid_depth++;
		}
		return 0;
	}
	if (!strcmp(key, "CapInh"))
		return parse_u64(val, 16, &st->cap_inh);
	if (!strcmp(key, "CapPrm"))
		return parse_u64(val, 16, &st->cap_prm);
	if (!strcmp(key, "CapEff"))
		return parse_u64(val, 16, &st->cap_eff);
	if (!strcmp(key, "CapBnd"))
		return parse_u64(val, 16, &st->cap_bnd);
	if (!strcmp(key, "CapAmb"))
		return parse_u64(val, 16, &st->cap_amb);
	if (parse_u64(val, !strcmp(key, "Umask") ? 8 : 10, &v) < 0)
		return 0;
	if (!strcmp(key, "NoNewPrivs"))
		st->no_new_privs = (int)v;
	else if (!strcmp(key, "Seccomp"))
		st->seccomp = (int)v;
	else if (!strcmp(key, "Umask"))
		st->umask = (uint32_t)v;
	else if (!strcmp(key, "Threads"))
		st->threads = (int)v;
	return 0;
}

int proc_parse_status_buf(char *buf, struct proc_status *ret)
{
	struct proc_status st = { 0 };
	char *save = NULL, *line;
	int seen = 0;

	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *val = strchr(line, ':');

		if (!val)
			continue;
		*val++ = '\0';
		val += strspn(val, " \t");
		if (!strcmp(line, "Uid"))
			seen |= 1;
		else if (!strcmp(line, "Gid"))
			seen |= 2;
		if (parse_status_line(line, val, &st) < 0)
			goto fail;
	}
	/* Ids default to 0, root: status without them is no status. */
	if (seen != 3)
		goto fail;
	*ret = st;
	return 0;
fail:
	proc_status_free(&st);
	return -EINVAL;
}

int proc_parse_status(pid_t pid, struct proc_status *ret)
{
	_cleanup_free_ char *buf = NULL;
	int r = proc_read(pid, "status", PROC_SMALL_MAX, &buf);

	if (r < 0)
		return r;
	return proc_parse_status_buf(buf, ret);
}

void proc_status_free(struct proc_status *st)
{
	free(st->groups);
	st->groups = NULL;
	st->ngroups = 0;
}

int proc_read_fdinfo(pid_t pid, int fd, char **ret_text)
{
	char what[32];

	snprintf(what, sizeof(what), "fdinfo/%d", fd);
	return proc_read(pid, what, PROC_FDINFO_MAX, ret_text);
}

/* Where @key stands in @text: at its start, after a line break, or with @in_line after a blank. */
static const char *find_key(const char *text, const char *key, bool in_line)
{
	size_t n = strlen(key);

	for (const char *p = text; p && (p = strstr(p, key)); p += n)
		if (p == text || p[-1] == '\n' || (in_line && (p[-1] == ' ' || p[-1] == '\t')))
			return p;
	return NULL;
}

static const char *value_at(const char *p, const char *key)
{
	if (!p)
		return NULL;
	p += strlen(key);
	return p + strspn(p, " \t");
}

const char *proc_fdinfo_value(const char *text, const char *key)
{
	return value_at(find_key(text, key, false), key);
}

int proc_fdinfo_u64(const char *text, const char *key, int base, uint64_t *ret)
{
	return parse_u64(proc_fdinfo_value(text, key), base, ret);
}

const char *proc_fdinfo_field(const char *line, const char *key)
{
	return value_at(find_key(line, key, true), key);
}

int proc_fdinfo_field_u64(const char *line, const char *key, int base, uint64_t *ret)
{
	return parse_u64(proc_fdinfo_field(line, key), base, ret);
}

int proc_parse_fdinfo_buf(const char *text, struct proc_fdinfo *ret)
{
	struct proc_fdinfo out = { 0 };
	uint64_t flags;

	if (proc_fdinfo_u64(text, "pos:", 10, &out.pos) < 0 ||
	    proc_fdinfo_u64(text, "flags:", 8, &flags) < 0)
		return -EINVAL;
	out.flags = (uint32_t)flags;
	/* Older kernels show no "ino:": 0 then. */
	if (proc_fdinfo_u64(text, "ino:", 10, &out.ino) < 0)
		out.ino = 0;
	*ret = out;
	return 0;
}

int proc_parse_fdinfo(pid_t pid, int fd, struct proc_fdinfo *ret)
{
	_cleanup_free_ char *text = NULL;
	int r = proc_read_fdinfo(pid, fd, &text);

	if (r < 0)
		return r;
	return proc_parse_fdinfo_buf(text, ret);
}

static int parse_notify(const char *s, struct proc_timer *t)
{
	char kind[16], who[8];
	int pid;

	if (sscanf(s, "%15[a-z]/%7[a-z].%d", kind, who, &pid) != 3)
		return -EINVAL;
	if (!strcmp(kind, "signal"))
		t->notify = SIGEV_SIGNAL;
	else if (!strcmp(kind, "none"))
		t->notify = SIGEV_NONE;
	else if (!strcmp(kind, "thread"))
		t->notify = SIGEV_THREAD;
	else
		return -EINVAL;
	if (!strcmp(who, "tid")) {
		t->notify |= SIGEV_THREAD_ID;
		t->notify_tid = pid;
	}
	return 0;
}

int proc_parse_timers_buf(char *buf, struct proc_timer **ret, size_t *ret_n)
{
	_cleanup_free_ struct proc_timer *t = NULL;
	char *save = NULL, *line;
	size_t n = 0;

	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct proc_timer *c = n ? &t[n - 1] : NULL;
		unsigned long long val;
		int a;

		if (sscanf(line, "ID: %d", &a) == 1) {
			if (n >= PROC_MAX_TIMERS)
				return -E2BIG;
			t = xrealloc_array(t, n + 1, sizeof(*t));
			memset(&t[n], 0, sizeof(*t));
			t[n++].id = a;
		} else if (!c) {
			return -EINVAL;
		} else if (sscanf(line, "signal: %d/%llx", &a, &val) == 2) {
			c->signo = a;
			c->sigval = val;
		} else if (!strncmp(line, "notify: ", 8)) {
			if (parse_notify(line + 8, c) < 0)
				return -EINVAL;
		} else if (sscanf(line, "ClockID: %d", &a) == 1) {
			c->clock = a;
		}
	}
	*ret = TAKE_PTR(t);
	*ret_n = n;
	return 0;
}

int proc_parse_timers(pid_t pid, struct proc_timer **ret, size_t *ret_n)
{
	_cleanup_free_ char *buf = NULL;
	int r = proc_read(pid, "timers", PROC_SMALL_MAX, &buf);

	if (r < 0)
		return r;
	return proc_parse_timers_buf(buf, ret, ret_n);
}
