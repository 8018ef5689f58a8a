#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Pipes that lead outside the dumped tree, and --inherit-fd.
#  stdout: a shell loop counts into a pipe that this script reads. It is dumped; a restore
#    without --inherit-fd must fail, name the pipe and the option, and leave no process; a
#    restore with --inherit-fd fd[N]:pipe:[INO], N the write end of a new pipe, must go on
#    counting into the new pipe from the number after the last one read from the old.
#  stdin: a shell loop reads lines from a pipe that this script writes. It reads "a", is
#    dumped, and is restored (cryo waits for it) with its stdin the read end of a new pipe
#    holding "b" and "c": it must read both, see the end of input and exit 0.
#  usage: --inherit-fd with bad syntax or an fd cryo does not have is a usage error.
# Prints `PASS NAME` or `FAIL NAME: reason` for each.
# Env: BUILD (default: build in the repo), CRYO (default $BUILD/cryo).
set -u

# shellcheck source=tests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
STATE=$BUILD/tests/state/ext-pipe
TIMEOUT=60

# pipe_ino PID FD: the inode of the pipe that fd FD of PID is.
pipe_ino() {
	local l
	l=$(readlink "/proc/$1/fd/$2") || return 1
	[[ $l =~ ^pipe:\[([0-9]+)\]$ ]] || return 1
	echo "${BASH_REMATCH[1]}"
}

gone() { [[ ! -e /proc/$1 ]]; }

# all_gone IMG: every process of the images in IMG is gone (orphans reaped too).
all_gone() {
	local f p
	for f in "$1"/task-*.img; do
		p=${f##*/task-}
		gone "${p%.img}" || return 1
	done
}

lines_at_least() { [[ -f $1 ]] && (($(wc -l <"$1") >= $2)); }

# consecutive FILE: every line of FILE is the number after the line before it.
consecutive() {
	awk 'NR > 1 && $1 != prev + 1 { bad = 1 } { prev = $1 } END { exit bad }' "$1"
}

test_stdout() {
	local dir=$STATE/stdout pid ino rd w last first rpid
	mkdir -p "$dir/img" || return 1
	exec {rd}< <(exec sh -c 'i=0; while :; do i=$((i + 1)); echo $i; sleep 0.02; done' \
		</dev/null 2>/dev/null)
	pid=$!
	cat <&$rd >"$dir/before.out" &
	exec {rd}<&-
	wait_until 10 lines_at_least "$dir/before.out" 5 || { echo "the counter did not start"; return 1; }
	ino=$(pipe_ino "$pid" 1) || { echo "fd 1 of $pid is not a pipe"; return 1; }
	timeout $TIMEOUT "$CRYO" dump -t "$pid" -D "$dir/img" >"$dir/dump.out" 2>&1 ||
		{ echo "dump failed: $(tail -n 2 "$dir/dump.out")"; return 1; }
	wait_until 20 all_gone "$dir/img" || { echo "the dumped counter $pid is still there"; return 1; }
	wait # for cat: the old pipe has no writer left
	timeout $TIMEOUT "$CRYO" restore -D "$dir/img" -d >"$dir/restore-bare.out" 2>&1 &&
		{ echo "restore without --inherit-fd succeeded"; kill -9 "$pid"; return 1; }
	grep -qF -- "--inherit-fd fd[N]:pipe:[$ino]" "$dir/restore-bare.out" ||
		{ echo "the failed restore does not suggest --inherit-fd fd[N]:pipe:[$ino]"; return 1; }
	gone "$pid" || { echo "the failed restore left a process $pid"; return 1; }
	exec {w}> >(exec cat >"$dir/after.out")
	timeout $TIMEOUT "$CRYO" restore -D "$dir/img" -d --pidfile "$dir/pidfile" \
		--inherit-fd "fd[$w]:pipe:[$ino]" >"$dir/restore.out" 2>&1
	local st=$?
	exec {w}>&-
	((st == 0)) || { echo "restore with --inherit-fd failed: $(tail -n 2 "$dir/restore.out")"; return 1; }
	rpid=$(cat "$dir/pidfile")
	wait_until 10 lines_at_least "$dir/after.out" 5
	kill -9 "$rpid"
	wait_until 10 gone "$rpid"
	last=$(tail -n 1 "$dir/before.out") first=$(head -n 1 "$dir/after.out")
	[[ -n $first ]] || { echo "nothing came through the inherited pipe"; return 1; }
	((first == last + 1)) || { echo "the count went on at $first after $last"; return 1; }
	consecutive "$dir/after.out" || { echo "the count in the new pipe skips"; return 1; }
}

test_stdin() {
	local dir=$STATE/stdin pid ino wr rd st
	mkdir -p "$dir/img" || return 1
	: >"$dir/out"
	exec {wr}> >(exec sh -c 'while read -r l; do echo "got $l" >>"$0"; done; echo end >>"$0"' \
		"$dir/out" >/dev/null 2>&1)
	pid=$!
	echo a >&$wr
	wait_until 10 lines_at_least "$dir/out" 1 || { echo "the reader did not read"; return 1; }
	ino=$(pipe_ino "$pid" 0) || { echo "fd 0 of $pid is not a pipe"; return 1; }
	timeout $TIMEOUT "$CRYO" dump -t "$pid" -D "$dir/img" >"$dir/dump.out" 2>&1 ||
		{ echo "dump failed: $(tail -n 2 "$dir/dump.out")"; return 1; }
	exec {wr}>&-
	wait_until 20 all_gone "$dir/img" || { echo "the dumped reader $pid is still there"; return 1; }
	exec {rd}< <(printf 'b\nc\n')
	timeout $TIMEOUT "$CRYO" restore -D "$dir/img" --inherit-fd "fd[$rd]:pipe:[$ino]" \
		>"$dir/restore.out" 2>&1
	st=$?
	exec {rd}<&-
	((st == 0)) || { echo "restore: $(describe_status $st): $(tail -n 2 "$dir/restore.out")"; return 1; }
	[[ $(tr '\n' ' ' <"$dir/out") == "got a got b got c end " ]] ||
		{ echo "the reader wrote '$(tr '\n' ' ' <"$dir/out")'"; return 1; }
}

test_usage() {
	local out=$STATE/usage.out
	"$CRYO" restore -D "$STATE" --inherit-fd 'fd[x]:pipe:[1]' >"$out" 2>&1 &&
		{ echo "bad syntax accepted"; return 1; }
	grep -qF 'fd[N]:KEY' "$out" || { echo "bad syntax: '$(head -n 1 "$out")'"; return 1; }
	"$CRYO" restore -D "$STATE" --inherit-fd 'fd[987]:pipe:[1]' >"$out" 2>&1 &&
		{ echo "an fd cryo does not have accepted"; return 1; }
	grep -qF 'no such fd' "$out" || { echo "missing fd: '$(head -n 1 "$out")'"; return 1; }
}

# The workloads inherit this shell's fds: other pipes to outside (make's jobserver, a caller's)
# would be more external pipes than the restores give.
for fd in /proc/$$/fd/*; do
	fd=${fd##*/}
	((fd > 2 && fd != 255)) && eval "exec $fd>&-"
done 2>/dev/null
rm -rf "$STATE" && mkdir -p "$STATE" || { echo "FAIL ext-pipe: can't create '$STATE'"; exit 1; }
for t in stdout stdin usage; do
	if why=$("test_$t" 2>&1); then
		result pass "ext-pipe-$t"
	else
		result fail "ext-pipe-$t" "${why:-failed}"
	fi
done
((failed == 0))
