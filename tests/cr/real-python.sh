#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Real Python programs, checkpointed midway through a batch of jobs, must finish by
# themselves after the restore with exactly the expected results. Two programs, each written
# into the state dir and run as `python3 PROG STATEDIR` (stdin /dev/null, stdout and stderr
# to a file), work through 40 jobs (each sleeps 0.1 s and returns values derived from its
# number and the pid of the process that ran it), writing a progress line per result, and at
# the end a result file with all the results:
#   pool   multiprocessing's fork-context Pool(2) (two worker processes, three helper
#          threads in the parent, pipes, and POSIX semaphores: shared mappings of deleted
#          /dev/shm files) with imap();
#   pipes  two worker processes forked with os.fork() that take jobs from one pipe (all 40
#          queued in it at once) and send results through another, fed and drained by two
#          threads of the parent, which reaps the workers (exit status 0) at the end.
# Each is dumped with its whole tree once some progress lines are there (the run not half
# done, every process and thread there) and restored; cryo restore must end with the
# program's exit status 0, its output must be exactly "done", the progress file must have
# each job once with the right values, all run by the workers it had before the dump (no
# worker replaced), and the result file must be exactly the expected one.
# A dump that cryo refuses with an error, leaving the program running, counts as a skip with
# cryo's refusal as the reason, as does a missing python3.
# Prints a line per program (indented), then one last line: `PASS real-python`,
# `FAIL real-python: reason` or `SKIP real-python: reason`.
# Env: BUILD (default: build in the repo), CRYO (default $BUILD/cryo). Run under the
# subreaper (make test does): the program's processes become orphans when the tree is killed.
set -u

# shellcheck source=tests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
TOP=$BUILD/tests/state/real-python
JOBS=40
MIN_PROGRESS=10	# progress lines before the dump
PID='' STATE='' WHY=''

command -v python3 >/dev/null || { echo "SKIP real-python: python3 is not installed"; exit 0; }
# The interpreter itself, not a wrapper (pyenv's shims are scripts) that could stay around.
PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
[[ -n $PY && -x $PY ]] || { echo "SKIP real-python: python3 does not run"; exit 0; }
if ! rm -rf "$TOP" || ! mkdir -p "$TOP"; then
	echo "FAIL real-python: can't make '$TOP'"
	exit 1
fi
# bash reports the killed jobs on stderr: keep that out of the test output.
exec 2>"$TOP/shell.err"

# ---- The programs

# The values of job N, in both programs and in the check: "N A B".
PY_VALUE='def value(n):
    return "%d %d %d" % (n, n * n * 7 + 3, (n * 31337) % 1009)
'

cat >"$TOP/pool.py" <<EOF
import multiprocessing, os, sys, time

$PY_VALUE
def job(n):
    time.sleep(0.1)
    return "%s %d" % (value(n), os.getpid())

if __name__ == "__main__":
    state = sys.argv[1]
    results = []
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool, open(os.path.join(state, "progress"), "w") as progress:
        for line in pool.imap(job, range($JOBS)):
            progress.write(line + "\n")
            progress.flush()
            results.append(line.rsplit(" ", 1)[0])
    with open(os.path.join(state, "result.tmp"), "w") as f:
        f.write("".join(r + "\n" for r in results))
    os.rename(os.path.join(state, "result.tmp"), os.path.join(state, "result"))
    print("done")
EOF

cat >"$TOP/pipes.py" <<EOF
import os, struct, sys, threading, time

$PY_VALUE
JOBS = $JOBS
REC = struct.Struct("i")       # a job number; -1: stop
RES = struct.Struct("iqqi")    # job, the two values, pid: under PIPE_BUF, so atomic

def read_exact(fd, n):
    buf = b""
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            raise EOFError("pipe closed")
        buf += chunk
    return buf

def worker(jobs_r, res_w):
    while True:
        (n,) = REC.unpack(read_exact(jobs_r, REC.size))
        if n < 0:
            os._exit(0)
        time.sleep(0.1)
        _, a, b = map(int, value(n).split())
        os.write(res_w, RES.pack(n, a, b, os.getpid()))

if __name__ == "__main__":
    state = sys.argv[1]
    jobs_r, jobs_w = os.pipe()
    res_r, res_w = os.pipe()
    kids = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            os.close(jobs_w)
            os.close(res_r)
            worker(jobs_r, res_w)
        kids.append(pid)
    os.close(jobs_r)
    os.close(res_w)
    results = {}

    def feed():
        for n in range(JOBS):
            os.write(jobs_w, REC.pack(n))
        for _ in kids:
            os.write(jobs_w, REC.pack(-1))

    def collect():
        with open(os.path.join(state, "progress"), "w") as progress:
            for _ in range(JOBS):
                n, a, b, pid = RES.unpack(read_exact(res_r, RES.size))
                results[n] = "%d %d %d" % (n, a, b)
                progress.write("%s %d\n" % (results[n], pid))
                progress.flush()

    threads = [threading.Thread(target=feed), threading.Thread(target=collect)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for pid in kids:
        _, status = os.waitpid(pid, 0)
        if status != 0:
            sys.exit("worker %d: status %#x" % (pid, status))
    with open(os.path.join(state, "result.tmp"), "w") as f:
        f.write("".join(results[n] + "\n" for n in range(JOBS)))
    os.rename(os.path.join(state, "result.tmp"), os.path.join(state, "result"))
    print("done")
EOF

# ---- Helpers

# descendants PID: the pids of PID's children, grandchildren and so on.
descendants() {
	local c
	# shellcheck disable=SC2013 # the files hold pids separated by spaces
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		echo "$c"
		descendants "$c"
	done
}

# ours PID: PID runs one of our programs (restored or not): safe to kill.
ours() {
	local cmd
	cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) && [[ $cmd == *"$STATE/"* ]]
}

# kill_tree PID...: SIGKILL those processes and their descendants that run our programs.
kill_tree() {
	local p all=("$@")
	for p in "$@"; do
		mapfile -t -O "${#all[@]}" all < <(descendants "$p")
	done
	for p in "${all[@]}"; do
		ours "$p" && kill -KILL "$p" 2>/dev/null
	done
}

fail() {
	WHY=$1
	return 1
}

# shellcheck disable=SC2317 # called by wait_until
progress_lines() {
	local n
	n=$(wc -l <"$STATE/progress" 2>/dev/null) && ((n >= MIN_PROGRESS))
}

# The expected result file and the check of the progress file (any order, each job once, the
# right values, run by one of the workers listed in the file 'workers').
expected_results() {
	local n
	for ((n = 0; n < JOBS; n++)); do
		echo "$n $((n * n * 7 + 3)) $((n * 31337 % 1009))"
	done
}

check_progress() {
	awk -v jobs=$JOBS '
		function bad(why) { print why; failed = 1; exit 1 }
		FILENAME ~ /workers$/ { worker[$1] = 1; next }
		NF != 4 || $1 !~ /^[0-9]+$/ || $1 >= jobs { bad("bad progress line \"" $0 "\"") }
		seen[$1]++ { bad("job " $1 " done twice") }
		$2 != $1 * $1 * 7 + 3 || $3 != ($1 * 31337) % 1009 { bad("job " $1 ": \"" $0 "\"") }
		!($4 in worker) { bad("job " $1 " run by pid " $4 ", not by a worker of before the dump") }
		END {
			if (failed)
				exit 1
			for (n = 0; n < jobs; n++)
				if (!(n in seen))
					bad("job " n " not in the progress file")
		}
	' "$STATE/workers" "$STATE/progress"
}

# ---- One program: 0 pass, 1 fail, 2 refused by cryo; the reason in WHY

run_one() {
	local name=$1 procs threads st img pid refusal

	STATE=$TOP/$name WHY=''
	mkdir -p "$STATE" || fail "can't make '$STATE'" || return
	# Whatever the caller leaked to us (a pipe, say) would lead outside the tree: close it.
	(
		for fd in "/proc/$BASHPID/fd"/*; do
			fd=${fd##*/}
			((fd > 2)) && eval "exec $fd>&-"
		done
		exec "$PY" "$TOP/$name.py" "$STATE"
	) </dev/null >"$STATE/py.out" 2>&1 &
	PID=$!
	wait_until 30 progress_lines || fail "fewer than $MIN_PROGRESS progress lines after 30 s" ||
		return
	# The tree as it is at the dump: the workers and the parent's threads are all there.
	descendants "$PID" >"$STATE/workers"
	procs=$(($(wc -l <"$STATE/workers") + 1))
	threads=$(find "/proc/$PID/task" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
	"$CRYO" dump -t "$PID" -D "$STATE/img" -o dump.log -v4 >"$STATE/dump.out" 2>&1
	st=$?
	if ((st != 0)); then
		refusal=$(grep -m1 '^Error: task ' "$STATE/dump.out")
		if ((st < 124)) && [[ -n $refusal ]] && running "$PID"; then
			WHY=${refusal#Error: }
			st=2
		else
			fail "cryo dump: $(describe_status $st): $(tail -1 "$STATE/dump.out")"
			st=1
		fi
		kill_tree "$PID"
		{ wait "$PID"; } 2>/dev/null
		PID=''
		return $st
	fi
	{ wait "$PID"; } 2>/dev/null
	PID=''
	((procs == 3)) || fail "the tree had $procs processes at the dump, expected 3" || return
	[[ $name != pool ]] || ((threads >= 4)) ||
		fail "the pool's parent had $threads threads at the dump, expected 4" || return
	[[ ! -e $STATE/result ]] || fail "the run was complete before the dump" || return
	for img in "$STATE/img"/task-*.img; do
		pid=${img##*/task-}
		wait_until 20 pid_free "${pid%.img}" ||
			fail "pid ${pid%.img} still taken after the dump" || return
	done
	cp "$STATE/progress" "$STATE/progress.dumped"
	timeout 120 "$CRYO" restore -D "$STATE/img" -o restore.log -v4 >"$STATE/restore.out" 2>&1
	st=$?
	if ((st != 0)); then
		# A restore that timed out may have left the program's processes behind.
		for img in "$STATE/img"/task-*.img; do
			pid=${img##*/task-}
			ours "${pid%.img}" && kill -KILL "${pid%.img}" 2>/dev/null
		done
		fail "restored program: $(describe_status $st)$(
			[[ -s $STATE/restore.out ]] && echo ": $(tail -1 "$STATE/restore.out")")"
		return
	fi
	[[ $(<"$STATE/py.out") == "done" ]] ||
		fail "the program's output is not 'done': $(head -c 300 "$STATE/py.out" | tr '\n' '|')" ||
		return
	check_progress >"$STATE/check" || fail "$(cat "$STATE/check")" || return
	[[ -e $STATE/result ]] || fail "no result file" || return
	expected_results >"$STATE/result.expected"
	cmp -s "$STATE/result" "$STATE/result.expected" ||
		fail "result file: $(diff "$STATE/result.expected" "$STATE/result" | sed -n 2p)" ||
		return
	WHY="dumped after $(wc -l <"$STATE/progress.dumped") of $JOBS jobs, $procs processes, $threads threads in the parent"
}

# ---- Both programs, then the verdict

reason='' skip_reason=''
for name in pool pipes; do
	run_one "$name"
	case $? in
	0) echo "  $name: passed ($WHY)" ;;
	2)
		echo "  $name: refused by cryo: $WHY"
		[[ -n $skip_reason ]] || skip_reason="$name: $WHY"
		;;
	*)
		echo "  $name: failed: $WHY"
		[[ -n $PID ]] && kill_tree "$PID"
		PID=''
		[[ -n $reason ]] || reason="$name: $WHY"
		;;
	esac
done
if [[ -n $reason ]]; then
	echo "FAIL real-python: $reason"
	exit 1
elif [[ -n $skip_reason ]]; then
	echo "SKIP real-python: $skip_reason"
else
	echo "PASS real-python"
fi
exit 0
