#!/bin/bash
# SPDX-License-Identifier: MIT
#
# A stopped root: `sleep 4` stopped by SIGSTOP is dumped with --leave-running (it must stay
# stopped, untraced), dumped again (killed) and restored detached: it must be stopped
# (state T, untraced) and stay so, then run on after SIGCONT and exit once its sleep is
# over. The same for `sh -c 'sleep 3; exit 0'` stopped while its child sleep runs: the
# restore makes the child from the stopped sh, the child runs, the sh stays stopped. A
# stopped process holding a netlink socket (the refuse-netlink state test) must be refused
# and left stopped, untraced. Prints one `PASS stopped-root` or `FAIL stopped-root: reason`.
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

is_sleep() {
	grep -qx sleep "/proc/$1/comm"
}

has_child() {
	local c=''
	# The list ends without a newline: read finds EOF, c is set all the same.
	read -r c _ <"/proc/$1/task/$1/children"
	[[ -n $c ]]
}

netlink_ready() { [[ -e $STATE/netlink/ready ]]; }

# start_stopped STDIN READY CMD...: CMD reading file STDIN, stopped by SIGSTOP once READY PID
# says it is set up (not a subshell before its exec), in PID.
start_stopped() {
	local in=$1 ready=$2
	shift 2
	# Whatever the caller leaked to us (a pipe, say) would lead outside the tree: close it.
	(
		for fd in /proc/$BASHPID/fd/*; do
			fd=${fd##*/}
			((fd > 2)) && eval "exec $fd>&-"
		done
		exec "$@"
	) <"$in" >/dev/null 2>&1 &
	PID=$!
	PIDS+=("$PID")
	wait_until 10 "$ready" "$PID" || finish "'$*' ($PID) did not start"
	kill -STOP "$PID"
	wait_until 10 in_state "$PID" T || finish "'$*' ($PID) did not stop"
}

# cycle NAME: dump -R, dump and restore -d of the stopped PID; stopped all along.
cycle() {
	local got img pid
	dump "$PID" "$1.lr" -R || finish "cryo dump -R: $(tail -1 "$STATE/dump.$1.lr.out")"
	stopped "$PID" "$1: after dump -R"
	dump "$PID" "$1" || finish "cryo dump: $(tail -1 "$STATE/dump.$1.out")"
	{ wait "$PID"; } 2>/dev/null
	for img in "$STATE/img.$1"/task-*.img; do
		pid=${img##*/task-}
		pid=${pid%.img}
		wait_until 20 pid_free "$pid" || finish "$1: pid $pid still taken after the dump"
	done
	timeout -k 5 $TIMEOUT "$CRYO" restore -D "$STATE/img.$1" -d -o restore.log -v4 \
		--pidfile "$STATE/pidfile.$1" </dev/null >"$STATE/restore.$1.out" 2>&1 ||
		finish "$1: cryo restore -d: $(tail -1 "$STATE/restore.$1.out")"
	read -r got <"$STATE/pidfile.$1"
	[[ $got == "$PID" ]] || finish "$1: restored as pid $got, not $PID"
	stopped "$PID" "$1: after the restore"
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

# Refused: the netlink socket of the refuse-netlink state test, stopped once it is set up.
mkdir -p "$STATE/netlink" || finish "can't make '$STATE/netlink'"
start_stopped /dev/null netlink_ready "$BUILD/tests/cr/refuse-netlink" "$STATE/netlink"
dump "$PID" refused && finish "the dump of a process with a netlink socket succeeded"
stopped "$PID" "after the refused dump"
kill -KILL "$PID"

start_stopped /dev/null is_sleep sleep 4
cycle sleep
kill -CONT "$PID"
wait_until 20 pid_free "$PID" || finish "the restored sleep did not end after SIGCONT"

start_stopped /dev/null has_child sh -c 'sleep 3; exit 0'
read -r child _ <"/proc/$PID/task/$PID/children"
cycle sh
read -r got _ <"/proc/$PID/task/$PID/children"
[[ $got == "$child" ]] || finish "sh: its child is $got, not $child"
in_state "$child" S || finish "sh: its child $child is in state $(proc_state "$child"), not S"
kill -CONT "$PID"
wait_until 20 pid_free "$PID" || finish "the restored sh did not end after SIGCONT"
finish
