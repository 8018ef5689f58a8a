#!/bin/bash
# SPDX-License-Identifier: MIT
#
# State-test runner.  Usage: tests/cr/run.sh [NAME...]   (default: every test built in
# $BUILD/tests/cr/).  For each test it starts `$BUILD/tests/cr/NAME STATEDIR`, waits for
# STATEDIR/ready, dumps the process with cryo (which kills it), restores it (the restored
# pid must be the original one), sends SIGUSR2 and takes the exit status of the restored
# process; the test passes if that is 0 and the last line of STATEDIR/out is PASS.
#
# Options come from one line in tests/cr/NAME.c:   CRYO-TEST: key=value ...
#   cycles=N             dump and restore N times (default 1)
#   leave-running=1      first a `dump -R` into img.lr: the process must run on, not stopped
#   expect=dump-fail     the dump must fail with an error and leave the process running
#   expect=restore-fail  the restore must fail and leave no process with the pid behind
#   between=SHELLCMD     run with `sh -c` after the dump and before the restore, with STATE,
#                        IMG (the image dir) and PID exported; quote it ("..." or '...')
#                        or make it the last option
#   needs=CMD[,CMD...]   skip the test unless every CMD is in PATH
#   restore-args=ARGS    more arguments of every cryo restore; with --new-pidns the restored
#                        process must be in a pid namespace other than the runner's, and its
#                        pid here is the pidfile's, not the original one
#
# Env: BUILD (default: build in the repo), CRYO (default $BUILD/cryo), CRYO_NOCR=1 (no dump
# or restore, only ready -> SIGUSR2 -> verify: checks the tests themselves).
# Prints `PASS name`, `FAIL name: reason` or `SKIP name: reason` per test, then
# `N passed, M failed, K skipped`; exits 1 if a test failed.
set -u

READY_TIMEOUT=10	# start until STATEDIR/ready
DUMP_TIMEOUT=120	# one cryo dump
GONE_TIMEOUT=20		# a dumped process (and its restore parent) to disappear
RESTORE_TIMEOUT=60	# cryo restore until the pidfile is written
EXIT_TIMEOUT=60		# SIGUSR2 until the test has verified its state and exited

# shellcheck source=tests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
NOCR=${CRYO_NOCR:-0}
ERRF=$BUILD/tests/state/runner.err

# Per-test state: the test's pid, the runner's child running it (until the first dump),
# the background `cryo restore` that is its parent after a restore, pids to kill on failure.
NAME='' STATE='' PID='' TPID='' RPID='' STRAY='' REASON='' RESTORE_ST='' LAST_TAG=''
OPT_CYCLES='' OPT_LR='' OPT_EXPECT='' OPT_BETWEEN='' OPT_NEEDS='' OPT_RESTORE_ARGS=''

fail() {
	REASON=$1
	return 1
}

# parse_opts SOURCE: the CRYO-TEST line into OPT_*; 1 with REASON on a bad line.
parse_opts() {
	local line key val
	local re_dq='^[[:space:]]*([a-z-]+)="([^"]*)"(.*)$'
	local re_sq="^[[:space:]]*([a-z-]+)='([^']*)'(.*)\$"
	local re_plain='^[[:space:]]*([a-z-]+)=([^[:space:]]*)(.*)$'

	OPT_CYCLES=1 OPT_LR=0 OPT_EXPECT='' OPT_BETWEEN='' OPT_NEEDS='' OPT_RESTORE_ARGS=''
	[[ -f $1 ]] || return 0
	line=$(grep -m1 'CRYO-TEST:' "$1") || return 0
	line=${line#*CRYO-TEST:}
	line=${line%%\*/*}
	while [[ $line == *[![:space:]]* ]]; do
		if [[ $line =~ $re_dq || $line =~ $re_sq ]]; then
			key=${BASH_REMATCH[1]} val=${BASH_REMATCH[2]} line=${BASH_REMATCH[3]}
		elif [[ $line =~ $re_plain ]]; then
			key=${BASH_REMATCH[1]} val=${BASH_REMATCH[2]} line=${BASH_REMATCH[3]}
			if [[ $key == between ]]; then
				# An unquoted command takes the rest of the line.
				val=$val$line line=''
				val=${val%"${val##*[![:space:]]}"}
			fi
		else
			fail "bad CRYO-TEST line near '${line## }'"
			return
		fi
		case $key in
		cycles) [[ $val =~ ^[1-9][0-9]*$ ]] && OPT_CYCLES=$val ;;
		leave-running) [[ $val == [01] ]] && OPT_LR=$val ;;
		expect) [[ $val == dump-fail || $val == restore-fail ]] && OPT_EXPECT=$val ;;
		between) [[ -n $val ]] && OPT_BETWEEN=$val ;;
		needs) [[ -n $val ]] && OPT_NEEDS=${val//,/ } ;;
		restore-args) [[ -n $val ]] && OPT_RESTORE_ARGS=$val ;;
		*) false ;;
		esac || {
			fail "bad CRYO-TEST option '$key=$val'"
			return
		}
	done
}

ready_or_exited() {
	[[ -e $STATE/ready ]] || not_running "$TPID"
}

# start_test: run the test binary in the background and wait for STATEDIR/ready.
start_test() {
	rm -rf "$STATE" && mkdir -p "$STATE" && chmod 0777 "$STATE" ||
		fail "can't create state dir '$STATE'" || return
	"$BUILD/tests/cr/$NAME" "$STATE" </dev/null >"$STATE/out" 2>&1 &
	TPID=$! PID=$!
	wait_until $READY_TIMEOUT ready_or_exited ||
		fail "not ready after $READY_TIMEOUT s" || return
	[[ -e $STATE/ready ]] || fail "exited before it was ready"
}

# dump TAG [ARGS...]: cryo dump of $PID into $STATE/img.TAG; returns cryo's status.
dump() {
	local tag=$1
	shift
	LAST_TAG=$tag
	mkdir -p "$STATE/img.$tag" || return
	timeout -k 5 $DUMP_TIMEOUT "$CRYO" dump -t "$PID" -D "$STATE/img.$tag" -o dump.log -v4 \
		"$@" </dev/null >"$STATE/dump.$tag.out" 2>&1
}

# check_alive WHAT: the process must run on after WHAT, not stopped or traced.
check_alive() {
	local s
	s=$(proc_state "$PID") || fail "process gone after $1" || return
	[[ $s != [ZX] ]] || fail "process died after $1" || return
	[[ $s != [Tt] ]] || fail "process left stopped (state $s) after $1"
}

# reap_dumped TAG: wait until the dumped tree is gone and all its pids (one task-PID.img
# each in img.TAG) are free. Before the first restore the root is the runner's child; after
# that the child of the background restore; its descendants are reaped by the subreaper.
reap_dumped() {
	local parent=${RPID:-$TPID} img pid

	wait_until $GONE_TIMEOUT not_running "$parent" ||
		fail "dumped process $PID still there after $GONE_TIMEOUT s" || return
	wait "$parent"
	TPID='' RPID=''
	for img in "$STATE/img.$1"/task-*.img; do
		pid=${img##*/task-}
		pid=${pid%.img}
		wait_until $GONE_TIMEOUT pid_free "$pid" || fail "pid $pid still taken after the dump" ||
			return
	done
}

# dump_cycle TAG: dump (killing the process) and wait until it is gone.
dump_cycle() {
	local st
	dump "$1"
	st=$?
	((st == 0)) || fail "dump $1: cryo $(describe_status $st)" || return
	reap_dumped "$1"
}

pidfile_or_exited() {
	[[ -s $1 ]] || not_running "$RPID"
}

# restore TAG: start cryo restore from img.TAG in the background; 0 once it has written
# the pidfile, 1 with REASON otherwise. A restore that ended without a pidfile is reaped
# and its exit status left in RESTORE_ST.
restore() {
	local pidfile=$STATE/pidfile.$1 st

	RESTORE_ST=''
	# shellcheck disable=SC2086 # the options are words
	"$CRYO" restore -D "$STATE/img.$1" -o restore.log -v4 --pidfile "$pidfile" \
		$OPT_RESTORE_ARGS </dev/null >"$STATE/restore.$1.out" 2>&1 &
	RPID=$!
	wait_until $RESTORE_TIMEOUT pidfile_or_exited "$pidfile" ||
		fail "restore $1: no pidfile after $RESTORE_TIMEOUT s" || return
	if [[ ! -s $pidfile ]]; then
		wait "$RPID"
		RESTORE_ST=$?
		RPID=''
		fail "restore $1: cryo $(describe_status $RESTORE_ST) without writing the pidfile"
		return
	fi
	# The pidfile may be seen half written.
	wait_until 2 grep -qx '[0-9][0-9]*' "$pidfile" || fail "restore $1: bad pidfile" || return
	read -r st <"$pidfile"
	[[ " $OPT_RESTORE_ARGS " == *" --new-pidns "* ]] && {
		new_pidns "$st" || return
		PID=$st
	}
	[[ $st == "$PID" ]] || {
		STRAY=$st
		fail "restore $1: restored as pid $st, not $PID"
	}
}

# new_pidns PID: the restored PID is in a pid namespace of its own.
new_pidns() {
	local ns
	ns=$(readlink "/proc/$1/ns/pid") || fail "restored process $1 is gone" || return
	[[ $ns != "$(readlink /proc/self/ns/pid)" ]] ||
		fail "restored with --new-pidns, $1 is in the runner's pid namespace $ns"
}

# finish: SIGUSR2 to the test, wait for it to verify and exit, check status and output.
finish() {
	local parent=${RPID:-$TPID} st last

	# A test that already ended is judged by its output below.
	kill -USR2 "$PID"
	wait_until $EXIT_TIMEOUT not_running "$parent" ||
		fail "still running $EXIT_TIMEOUT s after SIGUSR2" || return
	wait "$parent"
	st=$?
	TPID='' RPID=''
	last=$(tail -n 1 "$STATE/out")
	[[ $last == PASS ]] || fail "last line of output: '$last' ($(describe_status $st))" ||
		return
	((st == 0)) || fail "said PASS but $(describe_status $st)" || return
	PID=''
}

# leave_running: with leave-running=1, a `dump -R` that must leave the process running.
leave_running() {
	((OPT_LR)) || return 0
	dump lr -R || fail "dump -R: cryo $(describe_status $?)" || return
	check_alive "dump -R"
}

run_cycles() {
	local i

	leave_running || return
	for ((i = 1; i <= OPT_CYCLES; i++)); do
		dump_cycle $i || return
		restore $i || return
	done
	finish
}

run_dump_fail() {
	local st

	dump 1
	st=$?
	((st != 0)) || fail "dump succeeded, should have failed" || return
	((st < 124)) || fail "dump: cryo $(describe_status $st)" || return
	[[ -s $STATE/dump.1.out ]] || fail "dump failed without an error message" || return
	check_alive "the failed dump" || return
	finish
}

run_restore_fail() {
	leave_running || return
	dump_cycle 1 || return
	(
		export STATE IMG=$STATE/img.1 PID
		sh -c "$OPT_BETWEEN"
	) </dev/null >"$STATE/between.out" 2>&1 ||
		fail "between command failed: $(describe_status $?)" || return
	if restore 1; then
		fail "restore succeeded, should have failed"
		return
	fi
	# Anything but a restore that exited by itself with an error stays a failure.
	[[ -n $RESTORE_ST ]] && ((RESTORE_ST < 124)) || return
	((RESTORE_ST != 0)) || fail "restore exited 0 without restoring" || return
	wait_until 2 pid_free "$PID" || fail "a process $PID exists after the failed restore" ||
		return
	PID='' REASON=''
}

# cleanup: kill what is left of the test (the process, the runner's child, the restore).
cleanup() {
	local p

	for p in $PID $STRAY; do
		running "$p" && kill -KILL "$p" 2>/dev/null
	done
	kill_and_reap $TPID $RPID
	PID='' STRAY='' TPID='' RPID=''
}

# show_tail FILE: the end of a log, indented under the FAIL line; bash's reports of the
# processes cryo killed are left out.
show_tail() {
	local lines

	[[ -s $1 ]] || return 0
	mapfile -t lines < <(grep -Ev '^.*: line [0-9]+: +[0-9]+ Killed ' "$1" | tail -n 20)
	((${#lines[@]})) || return 0
	echo "    --- ${1#"$BUILD/"} (last 20 lines)"
	printf '    | %s\n' "${lines[@]}"
}

# show_logs: the test's output, the runner's stderr, what cryo printed each time, and the
# logs of the last dump and restore.
show_logs() {
	local f

	show_tail "$STATE/out"
	show_tail "$ERRF"
	for f in "$STATE"/dump.*.out "$STATE"/restore.*.out "$STATE/between.out"; do
		show_tail "$f"
	done
	[[ -n $LAST_TAG ]] || return 0
	show_tail "$STATE/img.$LAST_TAG/dump.log"
	show_tail "$STATE/img.$LAST_TAG/restore.log"
}

# run_one NAME: 0 pass, 1 fail, 2 skip, with REASON.
run_one() {
	local cmd

	NAME=$1 STATE=$BUILD/tests/state/$1 REASON='' LAST_TAG=''
	parse_opts "$ROOT/tests/cr/$NAME.c" || return 1
	[[ -x $BUILD/tests/cr/$NAME ]] || fail "not built: '$BUILD/tests/cr/$NAME'" || return
	for cmd in $OPT_NEEDS; do
		command -v "$cmd" >/dev/null || {
			REASON="needs '$cmd'"
			return 2
		}
	done
	((NOCR)) || [[ -x $CRYO ]] || command -v "$CRYO" >/dev/null ||
		fail "no cryo at '$CRYO'" || return
	start_test || return
	if ((NOCR)); then
		finish
	elif [[ $OPT_EXPECT == dump-fail ]]; then
		run_dump_fail
	elif [[ $OPT_EXPECT == restore-fail ]]; then
		run_restore_fail
	else
		run_cycles
	fi
}

main() {
	local names=() n r

	if (($#)); then
		for n in "$@"; do
			n=${n##*/}
			names+=("${n%.c}")
		done
	else
		for n in "$BUILD"/tests/cr/*; do
			[[ -f $n && -x $n ]] && names+=("${n##*/}")
		done
	fi
	trap 'cleanup 2>/dev/null; exit 130' INT TERM
	mkdir -p "$BUILD/tests/state" || exit 1
	for n in "${names[@]}"; do
		# The runner's own stderr (bash reports the processes cryo kills) goes to a file.
		run_one "$n" 2>"$ERRF"
		r=$?
		case $r in
		0) result pass "$n" ;;
		2) result skip "$n" "$REASON" ;;
		*)
			result fail "$n" "$REASON"
			[[ -d $STATE ]] && show_logs
			cleanup 2>>"$ERRF"
			;;
		esac
	done
	summary
}

main "$@"
