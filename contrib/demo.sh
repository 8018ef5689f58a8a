#!/bin/bash
# cryo demo: checkpoint a running counter, kill it, restore it with the same pid and watch it
# count on from where it was. Run by `make demo` (env BUILD: the build directory).
set -euo pipefail

BUILD=${BUILD:-build}
cryo=$BUILD/cryo
counter=$BUILD/contrib/counter
tmp=
pid=

step() { printf '\n==> %s\n' "$*"; }
fail() {
	printf '\n==> DEMO FAILED: %s\n' "$*" >&2
	exit 1
}
show_log() { tail -n "${1:-3}" "$tmp/counter.log" | sed 's/^/    /'; }
alive() { [ -e "/proc/$1" ] && ! grep -q '^[^)]*) Z' "/proc/$1/stat" 2>/dev/null; }

cleanup() {
	if [ -n "$pid" ] && alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null || true
	fi
	[ -n "$tmp" ] && rm -rf "$tmp"
}
trap cleanup EXIT

[ -x "$cryo" ] || fail "'$cryo' not found: run 'make demo'"
[ -x "$counter" ] || fail "'$counter' not found: run 'make demo'"
[ "$(id -u)" -eq 0 ] || fail "cryo needs root (ptrace, set_tid): run the demo as root"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cryo-demo.XXXXXX")
images=$tmp/images
mkdir "$images"

step "starting $counter (output in $tmp/counter.log)"
# A subshell is the counter's parent and reaps it once cryo has killed it, which frees its pid
# for the restore (and spares us bash's "Killed" notice).
("$counter" </dev/null >"$tmp/counter.log" 2>&1 &
	echo $! >"$tmp/counter.pid"
	wait) 2>/dev/null &
sub=$!
sleep 2
pid=$(cat "$tmp/counter.pid")
alive "$pid" || fail "the counter died"
show_log

step "dumping pid $pid: $cryo dump -t $pid -D $images -v2"
"$cryo" dump -t "$pid" -D "$images" -v2 || fail "cryo dump failed"
for _ in 1 2 3 4 5 6 7 8 9 10; do
	alive "$pid" || break
	sleep 0.2
done
alive "$pid" && fail "pid $pid still runs after the dump"
wait "$sub" || true
before=$(tail -n 1 "$tmp/counter.log")
echo "    pid $pid is gone; last line: $before"
echo "    images: $(du -sh "$images" | cut -f1) in $(find "$images" -type f | wc -l) files"

sleep 1
step "restoring: $cryo restore -D $images -d --pidfile $tmp/pidfile"
"$cryo" restore -D "$images" -d --pidfile "$tmp/pidfile" || fail "cryo restore failed"
[ -s "$tmp/pidfile" ] || fail "no pid in '$tmp/pidfile'"
newpid=$(cat "$tmp/pidfile")
[ "$newpid" = "$pid" ] || {
	pid=$newpid
	fail "restored pid $newpid differs from dumped pid $pid"
}
echo "    restored pid $newpid: the same as before the dump"

sleep 2
alive "$pid" || {
	show_log 5
	fail "the restored counter died"
}
step "the log carries on after the restore"
show_log 5

# Every line must be the next number: no restart at 1, no gap, memory intact throughout.
awk -v want=1 '
	$1 != "counter" || $2 != want || $NF != "intact" { bad = 1; print "    unexpected line " NR ": " $0; exit }
	{ want++ }
	END { if (bad || want < 3) exit 1 }' "$tmp/counter.log" || fail "the counter did not continue"
after=$(tail -n 1 "$tmp/counter.log")
[ "${after#counter }" != "${before#counter }" ] || fail "the counter did not advance after the restore"

step "demo passed: counter went on from '${before%%,*}' to '${after%%,*}'; killing pid $pid"
kill -KILL "$pid"
pid=
