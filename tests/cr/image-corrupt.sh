#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Corrupt images: dump mem-heap-stack once, then restore from damaged copies of the images
# (a pages file one page short, a vmas file cut inside an entry, a task file with a bad
# magic, an fds entry length of 0xffffffff, no mm file, a pagemap entry turned into garbage,
# a pagemap address outside the address space). Each restore must fail with an error that
# names the damaged file and leave no process with the dumped pid. Last, the intact images
# must restore and the test must pass. Reasons are printed as found, then one last line:
# `PASS image-corrupt`, `FAIL image-corrupt: reason` or `SKIP image-corrupt: reason`.
# Env: BUILD (default: build in the repo), CRYO (default $BUILD/cryo).
# The corrupt_* and wait_until callbacks are called by name.
# shellcheck disable=SC2317
set -u

READY_TIMEOUT=10	# the test program until STATEDIR/ready
DUMP_TIMEOUT=120	# cryo dump
GONE_TIMEOUT=20		# the dumped process to disappear
RESTORE_TIMEOUT=60	# one cryo restore
PID_TIMEOUT=5		# a pid to be free after a failed restore
PAGE_SIZE=4096

# shellcheck source=tests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
PROG=$BUILD/tests/cr/mem-heap-stack
STATE=$BUILD/tests/state/image-corrupt
IMG=$STATE/img

# TPID: our child running the test until the dump; RPID: the background restore; PID: the
# pid the test has, before and after restore.
TPID='' RPID='' PID=''
FAILED=''

fail() {
	echo "  $1"
	[[ -n $FAILED ]] || FAILED=$1
}

# ours PID: the process is the test program or a cryo (a restore puppet is a fork of cryo
# until its memory is replaced), not some other process that took the pid meanwhile.
ours() {
	local exe
	exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
	exe=${exe% (deleted)}
	[[ $exe == "$(readlink -f "$PROG")" || $exe == "$(readlink -f "$CRYO")" ]]
}

cleanup() {
	[[ -n $PID ]] && running "$PID" && ours "$PID" && kill -KILL "$PID" 2>/dev/null
	kill_and_reap $TPID $RPID
	TPID='' RPID=''
}

finish() {
	cleanup
	if [[ -n $FAILED ]]; then
		echo "FAIL image-corrupt: $FAILED"
		exit 1
	fi
	echo "PASS image-corrupt"
	exit 0
}

# u32 FILE OFFSET: the little-endian u32 at OFFSET.
u32() {
	local v
	v=$(od -An -tu4 -j "$2" -N4 "$1") || return 1
	v=${v//[[:space:]]/}
	[[ -n $v ]] && echo "$v"
}

file_size() {
	stat -c %s "$1"
}

# entries FILE: "OFFSET LENGTH" of every entry (its u32 length prefix) after the header.
entries() {
	local size off len
	size=$(file_size "$1") && off=$(u32 "$1" 4) || return 1
	off=$((8 + off))
	while ((off + 4 <= size)); do
		len=$(u32 "$1" "$off") || return 1
		echo "$off $len"
		off=$((off + 4 + len))
	done
}

# put FILE OFFSET PRINTF-BYTES: overwrite bytes in place.
put() {
	# shellcheck disable=SC2059
	printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# The corruptions: each gets the copy of the images and damages one file in it.

corrupt_pages_short() {
	local f=$1/pages-$PID.img size
	size=$(file_size "$f") && ((size >= PAGE_SIZE)) || return 1
	truncate -s $((size - PAGE_SIZE)) "$f"
}

corrupt_vmas_cut() {
	local f=$1/vmas-$PID.img off len
	read -r off len < <(entries "$f" | tail -n 1)
	[[ -n $len ]] && ((len >= 2)) || return 1
	truncate -s $((off + 4 + len / 2)) "$f"
}

corrupt_task_magic() {
	put "$1/task-$PID.img" 0 'JUNK'
}

corrupt_fds_len() {
	local off len
	read -r off len < <(entries "$1/fds-$PID.img")
	[[ -n $len ]] || return 1
	put "$1/fds-$PID.img" "$off" '\377\377\377\377'
}

corrupt_mm_missing() {
	rm "$1/mm-$PID.img"
}

# The first pagemap entry's bytes all 0xff: not a protobuf message.
corrupt_pagemap_garbage() {
	local f=$1/pagemap-$PID.img off len
	read -r off len < <(entries "$f")
	[[ -n $len ]] && ((len > 0)) || return 1
	head -c "$len" /dev/zero | tr '\0' '\377' |
		dd of="$f" bs=1 seek=$((off + 4)) conv=notrunc status=none
}

# The first pagemap entry's vaddr (field 1, fixed64, first in the entry) gets the top byte
# 0x7f: far above the user address space and inside no dumped VMA.
corrupt_pagemap_addr() {
	local f=$1/pagemap-$PID.img off len tag
	read -r off len < <(entries "$f")
	[[ -n $len ]] && ((len >= 9)) || return 1
	tag=$(od -An -tx1 -j $((off + 4)) -N1 "$f")
	[[ ${tag// /} == 09 ]] || return 1
	put "$f" $((off + 4 + 8)) '\177'
}

# try NAME FILE: restore from a copy of the images with corruption NAME applied to FILE.
try() {
	local name=$1 file=$2 copy=$STATE/img.$1 st
	local out=$STATE/$1.out

	rm -rf "$copy" && cp -a "$IMG" "$copy" && rm -f "$copy"/*.log ||
		{ fail "$name: can't copy the images"; return; }
	"corrupt_${name//-/_}" "$copy" ||
		{ fail "$name: can't corrupt '$file' (unexpected image layout)"; return; }
	timeout -k 5 $RESTORE_TIMEOUT "$CRYO" restore -d -D "$copy" -o restore.log -v4 \
		</dev/null >"$out" 2>&1
	st=$?
	if ((st == 0)); then
		fail "$name: restore succeeded"
	elif ((st >= 124)); then
		fail "$name: restore timed out or crashed (status $st)"
	elif ! grep -q '^Error: ' "$out"; then
		fail "$name: restore failed without an 'Error: ' line"
	elif ! grep '^Error: ' "$out" | grep -qF "$file"; then
		fail "$name: the error does not name '$file': $(grep -m1 '^Error: ' "$out")"
	fi
	if ! wait_until $PID_TIMEOUT pid_free "$PID"; then
		fail "$name: a process $PID exists after the failed restore"
		ours "$PID" && kill -KILL "$PID" 2>/dev/null
		wait_until $PID_TIMEOUT pid_free "$PID"
	fi
}

ready_or_exited() {
	[[ -e $STATE/ready ]] || not_running "$TPID"
}

# start_and_dump: run the test, dump it into $IMG and wait until it is gone.
start_and_dump() {
	"$PROG" "$STATE" </dev/null >"$STATE/out" 2>&1 &
	TPID=$! PID=$!
	wait_until $READY_TIMEOUT ready_or_exited && [[ -e $STATE/ready ]] ||
		{ fail "mem-heap-stack not ready after $READY_TIMEOUT s"; return 1; }
	timeout -k 5 $DUMP_TIMEOUT "$CRYO" dump -t "$PID" -D "$IMG" -o dump.log -v4 \
		</dev/null >"$STATE/dump.out" 2>&1 ||
		{ fail "dump failed: $(grep -m1 '^Error: ' "$STATE/dump.out")"; return 1; }
	wait_until $GONE_TIMEOUT not_running "$TPID" ||
		{ fail "dumped process $PID still running"; return 1; }
	wait "$TPID" 2>/dev/null
	TPID=''
	wait_until $GONE_TIMEOUT pid_free "$PID" || { fail "pid $PID still taken"; return 1; }
}

pidfile_or_exited() {
	[[ -s $STATE/pidfile ]] || not_running "$RPID"
}

# restore_intact: the undamaged images restore, and the test verifies its state and passes.
restore_intact() {
	local st pid last

	"$CRYO" restore -D "$IMG" --pidfile "$STATE/pidfile" -o restore.log -v4 \
		</dev/null >"$STATE/restore.out" 2>&1 &
	RPID=$!
	if ! wait_until $RESTORE_TIMEOUT pidfile_or_exited || [[ ! -s $STATE/pidfile ]]; then
		fail "intact restore: no pidfile: $(grep -m1 '^Error: ' "$STATE/restore.out")"
		return
	fi
	wait_until 2 grep -qx '[0-9][0-9]*' "$STATE/pidfile"
	read -r pid <"$STATE/pidfile"
	[[ $pid == "$PID" ]] || { fail "intact restore: restored as pid '$pid', not $PID"; return; }
	kill -USR2 "$PID" || { fail "intact restore: can't signal $PID"; return; }
	wait_until $RESTORE_TIMEOUT not_running "$RPID" ||
		{ fail "intact restore: the test did not exit after SIGUSR2"; return; }
	wait "$RPID"
	st=$?
	RPID=''
	last=$(tail -n 1 "$STATE/out")
	[[ $last == PASS && $st == 0 ]] ||
		fail "intact restore: status $st, last line of output '$last'"
}

main() {
	if [[ ! -x $PROG ]]; then
		echo "SKIP image-corrupt: '$PROG' is not built"
		exit 0
	fi
	trap 'cleanup; exit 130' INT TERM
	rm -rf "$STATE" && mkdir -p "$STATE" || {
		echo "FAIL image-corrupt: can't create '$STATE'"
		exit 1
	}
	# bash reports the test process that the dump kills; keep that out of the output.
	exec 2>>"$STATE/shell.err"
	start_and_dump || finish

	try pages-short "pages-$PID.img"
	try vmas-cut "vmas-$PID.img"
	try task-magic "task-$PID.img"
	try fds-len "fds-$PID.img"
	try mm-missing "mm-$PID.img"
	try pagemap-garbage "pagemap-$PID.img"
	try pagemap-addr "pagemap-$PID.img"

	restore_intact
	finish
}

main "$@"
