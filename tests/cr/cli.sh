#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The cryo command line: --version, --help, bad usage, a dump of a process that does not
# exist, a restore from a missing images dir, and `cryo check`. Every failure is printed,
# then one last line: `PASS cli` or `FAIL cli: reason`.
# Env: BUILD (default: build in the repo), CRYO (default $BUILD/cryo).
set -u

# shellcheck source=tests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
STATE=$BUILD/tests/state/cli
TIMEOUT=30
FAILED=

fail() {
	echo "  $1"
	[[ -n $FAILED ]] || FAILED=$1
}

# run NAME ARGS...: run cryo with a time limit; stdout, stderr and status in $STATE/NAME.*.
run() {
	local name=$1
	shift
	timeout -k 5 $TIMEOUT "$CRYO" "$@" </dev/null >"$STATE/$name.out" 2>"$STATE/$name.err"
	echo $? >"$STATE/$name.rc"
}

rc() {
	cat "$STATE/$1.rc"
}

# expect_ok NAME: cryo exited 0.
expect_ok() {
	(($(rc "$1") == 0)) || fail "$1: exit status $(rc "$1"), want 0"
}

# expect_error NAME TEXT: cryo exited with an error (not a crash or a timeout) and its
# stderr contains TEXT (case-insensitive).
expect_error() {
	local st
	st=$(rc "$1")
	((st != 0 && st < 124)) || fail "$1: exit status $st, want an error exit"
	grep -qiF -- "$2" "$STATE/$1.err" || fail "$1: stderr does not say '$2'"
}

main() {
	if [[ ! -x $CRYO ]] && ! command -v "$CRYO" >/dev/null; then
		echo "FAIL cli: no cryo at '$CRYO'"
		exit 1
	fi
	rm -rf "$STATE" && mkdir -p "$STATE/dump-nopid" || {
		echo "FAIL cli: can't create '$STATE'"
		exit 1
	}

	run version --version
	expect_ok version
	grep -qE '^Version: [0-9]+\.[0-9]+' "$STATE/version.out" ||
		fail "version: stdout does not start with 'Version: X.Y'"

	run help --help
	expect_ok help
	[[ -s $STATE/help.out ]] || fail "help: nothing on stdout"
	run dump-help dump --help
	expect_ok dump-help
	grep -qF -- '-t' "$STATE/dump-help.out" || fail "dump-help: no -t in the dump options"

	run bad-option dump --no-such-option
	expect_error bad-option no-such-option
	run bad-command no-such-command
	expect_error bad-command no-such-command
	run no-pid dump -D "$STATE/dump-nopid"
	expect_error no-pid -t

	run dump-nopid dump -t 999999 -D "$STATE/dump-nopid"
	expect_error dump-nopid "no such process"
	[[ ! -e $STATE/dump-nopid/cryo-inventory.img ]] ||
		fail "dump-nopid: left an cryo-inventory.img in the images dir"

	run restore-nodir restore -D /nonexistent
	expect_error restore-nodir /nonexistent

	run check check
	expect_ok check
	(($(grep -c . "$STATE/check.out") >= 2)) || fail "check: not one line per feature"

	if [[ -n $FAILED ]]; then
		echo "FAIL cli: $FAILED"
		exit 1
	fi
	echo "PASS cli"
}

main "$@"
