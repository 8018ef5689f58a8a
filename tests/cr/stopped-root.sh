#!/bin/bash
# SPDX-License-Identifier: MIT
#
# A stopped root: `sleep 4` stopped by SIGSTOP is dumped with --leave-running (it must stay
# stopped, untraced), dumped again (killed) and restored detached: it must be stopped
# (state T, untraced) and stay so, then run on after SIGCONT and exit once its sleep is
# over. A stopped `sleep` whose stdin is a pipe from outside the tree must be refused and
# left stopped, untraced. Prints one `PASS stopped-root` or `FAIL stopped-root: reason`.
# Env: BUILD (default: build in the repo), CRYO (default $BUILD/cryo). Run under the
# subreaper (make test does): the restored process is an orphan once cryo has left.
set -u

# shellcheck source=tests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
STATE=$BUILD/tests/state/stopped-root
TIMEOUT=60
PIDS=()

finish() {
	local p

	for p in "${PIDS[@]}"; do
		running "$p" && kill -KILL "$p" 2>/dev/null
	done
	if [[ -n ${1:-} ]]; then
		echo "FAIL stopped-root: $1"
		exit 1
	fi
	echo "PASS stopped-root"
	exit 0
}

tracer() {
	local k v
	while read -r k v; do
		[[ $k == TracerPid: ]] && echo "$v" && return
	done <"/proc/$1/status"
}

in_state() {
	[[ $(proc_state "$1") == "$2" ]]
}

# stopped PID WHAT: PID must be in a job-control stop (T), traced by nobody, and stay so.
stopped() {
	local s t
	s=$(proc_state "$1") || finish "$2: process $1 is gone"
	[[ $s == T ]] || finish "$2: process $1 is in state $s, not stopped (T)"
	t=$(tracer "$1")
	[[ $t == 0 ]] || finish "$2: process $1 is traced by $t"
	sleep 0.3
	s=$(proc_state "$1") || finish "$2: process $1 is gone"
	[[ $s == T ]] || finish "$2: process $1 went on to state $s without SIGCONT"
}

# start_stopped SECONDS STDIN: a `sleep SECONDS` reading file STDIN, stopped, in PID.
start_stopped() {
	# Whatever the caller leaked to us (a pipe, say) would lead outside the tree: close it.
	(
		for fd in /proc/$BASHPID/fd/*; do
			fd=${fd##*/}
			((fd > 2)) && eval "exec $fd>&-"
		done
		exec sleep "$1"
	) <"$2" >/dev/null 2>&1 &
	PID=$!
	PIDS+=("$PID")
	# Stopped as sleep, not as the subshell before its exec.
	wait_until 10 grep -qx sleep "/proc/$PID/comm" || finish "sleep $PID did not start"
	kill -STOP "$PID"
	wait_until 10 in_state "$PID" T || finish "sleep $PID did not stop"
}

# dump PID NAME ARGS...: cryo dump of PID into $STATE/img.NAME; returns cryo's status.
dump() {
	local pid=$1 name=$2
	shift 2
	mkdir -p "$STATE/img.$name" &&
		timeout -k 5 $TIMEOUT "$CRYO" dump -t "$pid" -D "$STATE/img.$name" -o dump.log -v4 \
			"$@" </dev/null >"$STATE/dump.$name.out" 2>&1
}

rm -rf "$STATE" && mkdir -p "$STATE" || finish "can't make '$STATE'"
# bash reports the killed jobs on stderr: keep that out of the test output.
exec 2>"$STATE/shell.err"

# Refused: its stdin is a pipe whose writer is outside the tree.
exec {writer}< <(exec sleep 1000)
PIDS+=("$!")
start_stopped 1000 "/dev/fd/$writer"
exec {writer}<&-
dump "$PID" refused && finish "the dump of a sleep reading a pipe from outside succeeded"
stopped "$PID" "after the refused dump"
kill -KILL "$PID"

start_stopped 4 /dev/null
dump "$PID" lr -R || finish "cryo dump -R: $(tail -1 "$STATE/dump.lr.out")"
stopped "$PID" "after dump -R"
dump "$PID" kill || finish "cryo dump: $(tail -1 "$STATE/dump.kill.out")"
{ wait "$PID"; } 2>/dev/null
wait_until 20 pid_free "$PID" || finish "pid $PID still taken after the dump"
timeout -k 5 $TIMEOUT "$CRYO" restore -D "$STATE/img.kill" -d -o restore.log -v4 \
	--pidfile "$STATE/pidfile" </dev/null >"$STATE/restore.out" 2>&1 ||
	finish "cryo restore -d: $(tail -1 "$STATE/restore.out")"
read -r got <"$STATE/pidfile"
[[ $got == "$PID" ]] || finish "restored as pid $got, not $PID"
stopped "$PID" "after the restore"
kill -CONT "$PID"
wait_until 20 pid_free "$PID" || finish "the restored sleep did not end after SIGCONT"
finish
