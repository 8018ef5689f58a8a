#!/bin/bash
# SPDX-License-Identifier: MIT
#
# What `make test` runs once everything is built: the unit tests and the fuzz corpus replays
# (both built with ASan+UBSan), the state tests (tests/cr/run.sh) and every other shell test
# tests/cr/*.sh, each of which prints its own `PASS name`, `FAIL name: reason` or
# `SKIP name: reason` lines. Env: BUILD (default: build in the repo), CRYO (default
# $BUILD/cryo). Ends with one line `N passed, M failed, K skipped`; exits 1 if anything failed.
set -u

UNIT_TIMEOUT=300	# one unit test binary
FUZZ_TIMEOUT=600	# one harness over its whole corpus
SHELL_TIMEOUT=1800	# one shell test script

# shellcheck source=tests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export BUILD CRYO
export ASAN_OPTIONS=detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}
export UBSAN_OPTIONS=print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}

LOG=$(mktemp) || exit 1
trap 'rm -f "$LOG"' EXIT

# run_bin NAME TIMEOUT CMD...: pass if CMD exits 0, else fail with the end of its output.
run_bin() {
	local name=$1 limit=$2 st

	shift 2
	timeout -k 10 "$limit" "$@" </dev/null >"$LOG" 2>&1
	st=$?
	if ((st == 0)); then
		result pass "$name"
		return
	fi
	result fail "$name" "$(describe_status $st)"
	tail -n 30 "$LOG" | sed 's/^/    | /'
}

unit_tests() {
	local t

	echo "--- unit tests"
	for t in "$BUILD"/tests/unit/*; do
		[[ -f $t && -x $t ]] && run_bin "unit/${t##*/}" $UNIT_TIMEOUT "$t"
	done
}

fuzz_replays() {
	local f i name inputs

	echo "--- fuzz corpus replays"
	for f in "$BUILD"/tests/fuzz/*; do
		[[ -f $f && -x $f ]] || continue
		name=${f##*/}
		inputs=()
		for i in "$ROOT/tests/fuzz/corpus/$name"/*; do
			[[ -f $i ]] && inputs+=("$i")
		done
		if ((${#inputs[@]} == 0)); then
			result skip "fuzz/$name" "no corpus in tests/fuzz/corpus/$name"
			continue
		fi
		run_bin "fuzz/$name" $FUZZ_TIMEOUT "$f" "${inputs[@]}"
	done
}

# state_tests: tests/cr/run.sh prints a line per test; its summary is added to ours.
state_tests() {
	local line summary='' st

	echo "--- state tests"
	while IFS='' read -r line; do
		if [[ $line =~ $SUMMARY_RE ]]; then
			summary=$line
			((passed += BASH_REMATCH[1], failed += BASH_REMATCH[2]))
			((skipped += BASH_REMATCH[3]))
		else
			printf '%s\n' "$line"
		fi
	done < <(bash "$ROOT/tests/cr/run.sh" </dev/null 2>&1)
	wait $!
	st=$?
	if [[ -z $summary ]]; then
		result fail "cr/run.sh" "ended without a summary ($(describe_status $st))"
	elif ((st != 0)) && [[ ! $summary =~ ^[0-9]+\ passed,\ [1-9] ]]; then
		result fail "cr/run.sh" "$(describe_status $st) after '$summary'"
	fi
}

# shell_tests: each other tests/cr/*.sh prints its own result lines, which are counted.
shell_tests() {
	local s name st n_pass n_fail n_skip

	echo "--- shell tests"
	for s in "$ROOT"/tests/cr/*.sh; do
		name=${s##*/}
		[[ -f $s && $name != run.sh ]] || continue
		timeout -k 10 $SHELL_TIMEOUT bash "$s" </dev/null 2>&1 | tee "$LOG"
		st=${PIPESTATUS[0]}
		n_pass=$(grep -c '^PASS ' "$LOG")
		n_fail=$(grep -c '^FAIL ' "$LOG")
		n_skip=$(grep -c '^SKIP ' "$LOG")
		((passed += n_pass, failed += n_fail, skipped += n_skip))
		if ((st != 0 && n_fail == 0)); then
			result fail "$name" "$(describe_status "$st") without a FAIL line"
		elif ((n_pass + n_fail + n_skip == 0)); then
			result fail "$name" "printed no PASS, FAIL or SKIP line"
		fi
	done
}

cd "$ROOT" || exit 1
unit_tests
fuzz_replays
state_tests
shell_tests
summary
