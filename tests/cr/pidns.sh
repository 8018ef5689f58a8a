#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Restore while the dumped pids are taken. The tree of tests/cr/tree-pidns (a root, its child
# and the child's thread, with heap data, a pipe with a message queued, a counter in shared
# memory) is dumped with --leave-running, so the originals keep their pids. Then:
#   clash      `cryo restore` must fail, saying which pid is in use, by which program
#              ('tree-pidns'), and suggesting --new-pidns, before it creates any process, and
#              leave no new process behind;
#   new-pidns  `cryo restore --new-pidns -d --pidfile F` must restore the tree while the
#              originals run: the pidfile names the root here; the root and its child are in a
#              pid namespace other than ours, with the image pids as their last NSpid field,
#              the child the root's; the root's parent is pid 1 of that namespace, a cryo;
#   orphans    an orphan left in the namespace (by a shell that nsenter started there) is
#              given to the init, which reaps it when it ends;
#   redump     a dump of the restored tree is refused, with the reason, and leaves it running
#              (the images would hold its pids here, not its own);
#   status     a second restore, without -d: cryo waits for the namespace's init, which passes
#              signals on to the root and ends with its status: SIGTERM to the init makes
#              cryo exit with 128 + 15;
#   finish     told to (SIGUSR2), the restored tree checks itself (pids, parent, thread tid,
#              counter, queued message, heap) and ends, the child's exit reaped by the root:
#              its PASS is in the output, and its namespace is gone; the original then
#              passes the same checks in its own namespace.
# Prints `PASS pidns/NAME`, `FAIL pidns/NAME: reason` or `SKIP pidns/NAME: reason` each.
# Env: BUILD (default: build in the repo), CRYO (default $BUILD/cryo).
set -u

# shellcheck source=tests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
STATE=$BUILD/tests/state/pidns
PROG=$BUILD/tests/cr/tree-pidns
TIMEOUT=60
ROOT_PID='' CHILD_PID='' NEW_ROOT='' NEW_INIT='' RPID=''

# step NAME CMD...: run a step; one result line, the failure with the step's REASON.
step() {
	local name=$1
	shift
	REASON=''
	"$@"
	case $? in
	0) result pass "pidns/$name" ;;
	2) result skip "pidns/$name" "$REASON" ;;
	*)
		result fail "pidns/$name" "$REASON"
		return 1
		;;
	esac
}

# count_prog: how many processes run the test program or this cryo (a puppet left behind
# would still run cryo's code).
count_prog() {
	local n=0 e x cryo
	cryo=$(readlink -f "$CRYO")
	for e in /proc/[0-9]*/exe; do
		x=$(readlink "$e" 2>/dev/null)
		[[ $x == "$PROG" || $x == "$cryo" ]] && ((n += 1))
	done
	echo $n
}

# nspid PID: the last field of its NSpid line.
nspid() {
	local f
	f=$(grep '^NSpid:' "/proc/$1/status" 2>/dev/null) || return 1
	echo "${f##*[[:space:]]}"
}

# ppid PID: its parent's pid, here.
ppid() {
	awk '/^PPid:/ { print $2 }' "/proc/$1/status" 2>/dev/null
}

REASON=''
# why TEXT: note the first reason, return 1.
why() {
	[[ -n $REASON ]] || REASON=$1
	return 1
}

clash() {
	local before=$1 st
	timeout $TIMEOUT "$CRYO" restore -D "$STATE/img" -o restore-clash.log -v4 \
		</dev/null >"$STATE/clash.out" 2>&1
	st=$?
	((st != 0 && st < 124)) || why "cryo restore: $(describe_status $st), want an error" ||
		return
	grep -qF "pid $ROOT_PID is in use by 'tree-pidns'" "$STATE/clash.out" ||
		why "the error does not name pid $ROOT_PID and 'tree-pidns'" || return
	grep -qF -- "--new-pidns" "$STATE/clash.out" || why "the error does not suggest --new-pidns" ||
		return
	! grep -q 'stage create' "$STATE/img/restore-clash.log" ||
		why "the restore got to creating processes before it failed" || return
	(($(count_prog) == before)) || why "$(count_prog) processes of the program, was $before"
}

new_pidns() {
	local ns kid
	timeout $TIMEOUT "$CRYO" restore -D "$STATE/img" -o restore.log -v4 --new-pidns -d \
		--pidfile "$STATE/pidfile" </dev/null >"$STATE/restore.out" 2>&1 ||
		why "cryo restore: $(describe_status $?): $(tail -1 "$STATE/restore.out")" || return
	NEW_ROOT=$(cat "$STATE/pidfile") && [[ -n $NEW_ROOT ]] || why "no pidfile" || return
	running "$NEW_ROOT" || why "pidfile's $NEW_ROOT does not run" || return
	[[ $NEW_ROOT != "$ROOT_PID" ]] || why "restored root has the original's pid here" || return
	running "$ROOT_PID" && running "$CHILD_PID" || why "the originals stopped running" || return
	ns=$(readlink "/proc/$NEW_ROOT/ns/pid")
	[[ $ns != "$(readlink /proc/self/ns/pid)" ]] || why "root in our pid namespace $ns" || return
	[[ $(nspid "$NEW_ROOT") == "$ROOT_PID" ]] ||
		why "root's NSpid ends in $(nspid "$NEW_ROOT"), not $ROOT_PID" || return
	read -r kid <"/proc/$NEW_ROOT/task/$NEW_ROOT/children"
	[[ -n $kid && $(nspid "$kid") == "$CHILD_PID" ]] ||
		why "root's child '$kid' is not $CHILD_PID in the namespace" || return
	[[ $(readlink "/proc/$kid/ns/pid") == "$ns" ]] || why "the child is in another namespace" ||
		return
	NEW_INIT=$(ppid "$NEW_ROOT")
	[[ $(nspid "$NEW_INIT") == 1 && $(readlink "/proc/$NEW_INIT/ns/pid") == "$ns" ]] ||
		why "root's parent $NEW_INIT is not pid 1 of its namespace" || return
	[[ $(readlink "/proc/$NEW_INIT/exe") == "$(readlink -f "$CRYO")" ]] ||
		why "pid 1 of the namespace runs '$(readlink "/proc/$NEW_INIT/exe")', not cryo"
}

root_gone() {
	[[ ! -e /proc/$NEW_ROOT ]] || not_running "$NEW_ROOT"
}

# finish: first the restored tree, then the original.
finish() {
	local st
	kill -USR2 "$NEW_ROOT"
	wait_until $TIMEOUT root_gone || why "the restored root still runs" || return
	wait_until 5 grep -qx PASS "$STATE/out" || why "restored tree: $(tail -1 "$STATE/out")" ||
		return
	wait_until 10 not_running "$NEW_INIT" || why "the namespace's init still runs" || return
	kill -USR2 "$ROOT_PID"
	wait "$ROOT_PID"
	st=$?
	ROOT_PID=''
	((st == 0)) && (($(grep -cx PASS "$STATE/out") == 2)) ||
		why "the original: $(describe_status $st), output ends '$(tail -1 "$STATE/out")'"
}

# children_of PID: its children's pids, one a line.
children_of() {
	tr ' ' '\n' <"/proc/$1/task/$1/children" | grep .
}

# orphans: a process that enters the namespace (nsenter) and leaves an orphan, which the
# kernel gives to the init; the init must reap it when it ends.
orphans() {
	local orphan c
	command -v nsenter >/dev/null || {
		REASON="needs nsenter"
		return 2
	}
	orphan=$(nsenter -t "$NEW_ROOT" -p -- sh -c 'sleep 0.5 </dev/null >/dev/null 2>&1 &
		echo $!') || why "nsenter failed" || return
	for c in $(children_of "$NEW_INIT"); do
		[[ $(nspid "$c") == "$orphan" ]] && break
		c=''
	done
	[[ -n $c ]] || why "orphan $orphan is not the init's child" || return
	wait_until 10 pid_free "$c" || why "orphan $c not reaped: state $(proc_state "$c")"
}

# redump: a dump of the restored tree, whose pids here are not its own, is refused (for now)
# and leaves it running.
redump() {
	local st
	timeout $TIMEOUT "$CRYO" dump -t "$NEW_ROOT" -D "$STATE/img.re" -R </dev/null \
		>"$STATE/redump.out" 2>&1
	st=$?
	((st != 0 && st < 124)) || why "cryo dump: $(describe_status $st), want an error" || return
	grep -qF "is pid $ROOT_PID in a pid namespace below cryo's" "$STATE/redump.out" ||
		why "the error does not say why: $(head -1 "$STATE/redump.out")" || return
	[[ $(proc_state "$NEW_ROOT") != [ZXTt] ]] || why "the restored root is not left running"
}

# status: `cryo restore --new-pidns` without -d stays the parent of the namespace's init, which
# hands its signals on to the root and ends with its status: SIGTERM to the init kills the
# root, and cryo exits with 128 + 15.
status() {
	local st pidfile=$STATE/pidfile.2 root init
	"$CRYO" restore -D "$STATE/img" -o restore-status.log -v4 --new-pidns --pidfile "$pidfile" \
		</dev/null >"$STATE/status.out" 2>&1 &
	RPID=$!
	wait_until $TIMEOUT test -s "$pidfile" || why "no pidfile" || return
	root=$(cat "$pidfile")
	init=$(ppid "$root")
	[[ $(nspid "$init") == 1 ]] || why "root's parent $init is not an init" || return
	kill -TERM "$init"
	wait_until $TIMEOUT not_running "$RPID" || why "cryo restore still runs after SIGTERM" ||
		return
	wait "$RPID"
	st=$?
	RPID=''
	((st == 128 + 15)) || why "cryo restore: $(describe_status $st), want killed by SIGTERM" ||
		return
	wait_until 10 not_running "$init" || why "the namespace's init still runs"
}

# cleanup: the original root and child, and the restored tree's init, which takes its whole
# namespace with it.
cleanup() {
	local init
	if [[ -n $NEW_ROOT ]] && running "$NEW_ROOT"; then
		init=$(ppid "$NEW_ROOT")
		[[ $(nspid "$init") == 1 ]] && kill -KILL "$init" 2>/dev/null
	fi
	[[ -n $CHILD_PID ]] && running "$CHILD_PID" && kill -KILL "$CHILD_PID" 2>/dev/null
	# shellcheck disable=SC2086 # an empty one drops out
	[[ -n $ROOT_PID || -n $RPID ]] && kill_and_reap $ROOT_PID $RPID
}

main() {
	local before
	[[ -x $PROG ]] || {
		result skip pidns "not built: '$PROG'"
		return
	}
	rm -rf "$STATE" && mkdir -p "$STATE/img" "$STATE/img.re" || {
		result fail pidns "can't create '$STATE'"
		return
	}
	trap cleanup EXIT
	# Appended to: the original and the restored tree write the same file.
	"$PROG" "$STATE" </dev/null >>"$STATE/out" 2>&1 &
	ROOT_PID=$!
	wait_until 10 test -e "$STATE/ready" || {
		result fail pidns "the test program is not ready"
		return
	}
	read -r CHILD_PID <"/proc/$ROOT_PID/task/$ROOT_PID/children"
	timeout $TIMEOUT "$CRYO" dump -t "$ROOT_PID" -D "$STATE/img" -R -o dump.log -v4 \
		</dev/null >"$STATE/dump.out" 2>&1 || {
		result fail pidns "cryo dump -R: $(tail -1 "$STATE/dump.out")"
		return
	}
	before=$(count_prog)
	step clash clash "$before"
	step new-pidns new_pidns && step orphans orphans && step redump redump &&
		step status status && step finish finish
}

main "$@"
