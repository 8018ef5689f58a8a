# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# Shell helpers of the test scripts (tests/run.sh, tests/cr/*.sh); sourced, never run.
# Sets ROOT (the repo), BUILD (env BUILD, default $ROOT/build) and CRYO (env CRYO, default
# $BUILD/cryo; a path is made absolute, a bare name is looked up in PATH), and the result
# counters passed, failed and skipped.

# abspath PATH: PATH made absolute against the current directory.
abspath() {
	case $1 in
	/*) printf '%s\n' "$1" ;;
	*) printf '%s\n' "$PWD/$1" ;;
	esac
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(abspath "${BUILD:-$ROOT/build}")
CRYO=${CRYO:-$BUILD/cryo}
[[ $CRYO == */* ]] && CRYO=$(abspath "$CRYO")

# ---- Results: one line each, `PASS name`, `FAIL name: reason` or `SKIP name: reason`, and
# a last line `N passed, M failed, K skipped`.

passed=0 failed=0 skipped=0
# shellcheck disable=SC2034 # for the scripts that read a summary line
SUMMARY_RE='^([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped$'

# result pass|fail|skip NAME [REASON]: print and count one result.
result() {
	case $1 in
	pass)
		echo "PASS $2"
		((passed += 1))
		;;
	fail)
		echo "FAIL $2: $3"
		((failed += 1))
		;;
	skip)
		echo "SKIP $2: $3"
		((skipped += 1))
		;;
	esac
}

# summary: print the counts; 1 if anything failed.
summary() {
	echo "$passed passed, $failed failed, $skipped skipped"
	((failed == 0))
}

# describe_status STATUS: how a command ended, for messages (124 is timeout(1)'s).
describe_status() {
	if (($1 == 124)); then
		echo "timed out"
	elif (($1 > 128)); then
		echo "killed by SIG$(kill -l $(($1 - 128)) 2>/dev/null || echo $(($1 - 128)))"
	else
		echo "exit status $1"
	fi
}

# ---- Processes

now_ms() {
	local t=${EPOCHREALTIME/[.,]/}
	echo $((t / 1000))
}

# wait_until SECONDS CMD...: poll CMD until it succeeds; 1 on timeout.
wait_until() {
	local end=$(($(now_ms) + $1 * 1000))
	shift
	until "$@"; do
		(($(now_ms) < end)) || return 1
		sleep 0.02
	done
}

# proc_state PID: the state letter in /proc/PID/stat (after the parenthesised comm).
proc_state() {
	local s
	{ read -r s <"/proc/$1/stat"; } 2>/dev/null || return 1
	s=${s##*) }
	printf '%s\n' "${s%% *}"
}

# running PID: PID exists and is not a zombie.
running() {
	local s
	s=$(proc_state "$1") && [[ $s != [ZX] ]]
}

not_running() {
	! running "$1"
}

pid_free() {
	[[ ! -e /proc/$1 ]]
}

# kill_and_reap PID...: SIGKILL those of our children that still run, and reap them all.
kill_and_reap() {
	local p

	for p in "$@"; do
		running "$p" && kill -KILL "$p" 2>/dev/null
	done
	for p in "$@"; do
		wait_until 10 not_running "$p"
		wait "$p" 2>/dev/null
	done
}
