#!/bin/bash
# SPDX-License-Identifier: MIT
#
# A real shell pipeline, checkpointed mid-stream: `sh -c 'seq 1 N | while read n; do echo
# "line $n"; done | gzip -1 > FILE'` (sh, seq, a subshell and gzip, joined by pipes with data
# in flight) is dumped while it runs and restored; the restored tree must finish by itself
# with exit status 0, and FILE must hold exactly "line 1" .. "line N" in order. The dump must
# have caught the pipeline midway (FILE not complete yet, several processes in the tree).
# Prints one last line: `PASS real-pipeline` or `FAIL real-pipeline: reason`.
# Env: BUILD (default: build in the repo), CRYO (default $BUILD/cryo). Run under the
# subreaper (make test does): the pipeline's processes become orphans when the tree is killed.
set -u

# shellcheck source=tests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
STATE=$BUILD/tests/state/real-pipeline
N=300000
PID=''

finish() {
	[[ -n $PID ]] && running "$PID" && kill -KILL "$PID" 2>/dev/null
	if [[ -n ${1:-} ]]; then
		echo "FAIL real-pipeline: $1"
		exit 1
	fi
	echo "PASS real-pipeline"
	exit 0
}

command -v gzip >/dev/null && command -v seq >/dev/null ||
	{ echo "SKIP real-pipeline: gzip and seq are needed"; exit 0; }
rm -rf "$STATE" && mkdir -p "$STATE" || finish "can't make '$STATE'"
# bash reports the killed job on stderr: keep that out of the test output.
exec 2>"$STATE/shell.err"
# Whatever the caller leaked to us (a pipe, say) would lead outside the tree: close it.
(
	for fd in /proc/$BASHPID/fd/*; do
		fd=${fd##*/}
		((fd > 2)) && eval "exec $fd>&-"
	done
	exec sh -c "seq 1 $N | while read n; do echo \"line \$n\"; done | gzip -1 > '$STATE/out.gz'"
) </dev/null >"$STATE/sh.out" 2>&1 &
PID=$!
# Let it get going: some output written, far from done.
wait_until 20 test -s "$STATE/out.gz" || finish "the pipeline wrote nothing"
procs=$(($(wc -w <"/proc/$PID/task/$PID/children") + 1))
((procs >= 3)) || finish "the tree has $procs processes, expected sh and its pipeline"
"$CRYO" dump -t "$PID" -D "$STATE/img" -o dump.log -v4 >"$STATE/dump.out" 2>&1 ||
	finish "cryo dump failed: $(tail -1 "$STATE/dump.out")"
{ wait "$PID"; } 2>/dev/null
for img in "$STATE/img"/task-*.img; do
	pid=${img##*/task-}
	wait_until 20 pid_free "${pid%.img}" || finish "pid ${pid%.img} still taken after the dump"
done
lines=$(gzip -dc "$STATE/out.gz" 2>/dev/null | wc -l)
((lines < N)) || finish "the pipeline was complete before the dump ($lines lines)"
timeout 120 "$CRYO" restore -D "$STATE/img" -o restore.log -v4 >"$STATE/restore.out" 2>&1
st=$?
((st == 0)) || finish "restored pipeline: $(describe_status $st)"
gzip -dc "$STATE/out.gz" >"$STATE/out" || finish "output is not a valid gzip stream"
awk -v n=$N '$0 != "line " NR { print "line " NR " is \"" $0 "\""; bad = 1; exit }
	END { if (!bad && NR != n) { print NR " lines, expected " n; bad = 1 } exit bad }' \
	"$STATE/out" >"$STATE/check" || finish "$(cat "$STATE/check")"
PID=''
finish
