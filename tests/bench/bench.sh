#!/bin/bash
# `make bench`: time cryo dump and restore of processes with 1 (fixed cost), 64, 512 and
# 2048 MiB of dirty anonymous memory, next to this machine's memcpy and page-cache write
# rates and CRIU 4.2's figures. Prints figures only; it fails only when cryo fails.
# Env: BUILD (build dir), BENCH_SIZES (MiB list), BENCH_KEEP=1 (keep the temp dir), TMPDIR.
set -euo pipefail

BUILD=${BUILD:-build}
cryo=$BUILD/cryo
memhog=$BUILD/tests/bench/memhog
limits=$BUILD/tests/bench/limits
treehog=$BUILD/tests/bench/treehog
tree_rows=()
sizes=${BENCH_SIZES:-1 64 512 2048}
# Info level: stage timings and stats, without per-object debug lines that would cost time.
verbosity=-v3

declare -A criu_dump=([64]=0.087 [512]=0.33 [2048]=2.3)
declare -A criu_restore=([64]=0.078 [512]=0.32 [2048]=1.45)

tmp=
pid=
failed=0
rows=()

die() {
	echo "bench: $*" >&2
	exit 1
}
alive() { [ -e "/proc/$1" ] && ! grep -q '^[^)]*) Z' "/proc/$1/stat" 2>/dev/null; }
now_us() { local t=${EPOCHREALTIME//[!0-9]/}; echo "$t"; }
# seconds between two now_us readings, three decimals
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b - a) / 1e6 }'; }
mem_available_mib() { awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo; }
disk_available_mib() { df -Pk "$1" | awk 'NR == 2 { print int($4 / 1024) }'; }

kill_pid() {
	local i
	[ -n "$pid" ] || return 0
	kill -KILL "$pid" 2>/dev/null || true
	for ((i = 0; i < 200; i++)); do
		alive "$pid" || break
		sleep 0.05
	done
	pid=
}

# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
	kill_pid
	if [ -n "$tmp" ]; then
		if [ "${BENCH_KEEP:-0}" = 1 ]; then
			echo "bench: kept $tmp"
		else
			rm -rf "$tmp"
		fi
	fi
}
trap cleanup EXIT

# Wait up to $2 seconds for command $1 to succeed.
wait_for() {
	local i
	for ((i = 0; i < $2 * 20; i++)); do
		eval "$1" && return 0
		sleep 0.05
	done
	return 1
}

# The frozen time cryo reports in its log, in seconds, or nothing.
frozen_secs() {
	awk '
	{ s = tolower($0) }
	s !~ /frozen/ { next }
	{
		us = (s ~ /frozen_us/)
		sub(/.*frozen[_a-z]*/, "", s)
		if (match(s, /[0-9]+(\.[0-9]+)? *(us|ms|s)([^a-z]|$)/)) {
			m = substr(s, RSTART, RLENGTH); v = m + 0
			if (m ~ /us/) v /= 1e6; else if (m ~ /ms/) v /= 1e3
			r = v
		} else if (us && match(s, /[0-9]+/)) {
			r = substr(s, RSTART, RLENGTH) / 1e6
		}
	}
	END { if (r != "") printf "%.3f", r }' "$1"
}

run_fail() {
	echo "    FAILED: $1" >&2
	[ -f "${2:-}" ] && tail -n 20 "$2" | sed 's/^/    | /' >&2
	failed=1
	kill_pid
	rows+=("$(printf '%-9s %s' "$size" "FAILED: $1")")
}

# One dump and restore of a memhog of $1 MiB; appends a row to the table.
bench_one() {
	local size=$1 dir=$tmp/run-$1 sub t0 t1 t2 t3 dump_s restore_s frozen image_b dirty_kb
	local image_mib dirty_mib overhead floor verify newpid

	mkdir -p "$dir/images"
	echo "==> $size MiB: starting memhog"
	# A subshell is memhog's parent and reaps it, so bash prints no "Killed" notice when cryo
	# kills it, and waiting for the subshell means memhog's pid is free again.
	("$memhog" "$size" "$dir/ready" </dev/null >/dev/null 2>&1 &
		wait) 2>/dev/null &
	sub=$!
	wait_for "[ -e '$dir/ready' ] || ! alive $sub" 600
	pid=$(cat "$dir/ready" 2>/dev/null || true)
	if [ -z "$pid" ] || ! alive "$pid"; then
		run_fail "memhog did not start"
		return
	fi
	dirty_kb=$(awk '/^Private_Dirty:/ { print $2 }' "/proc/$pid/smaps_rollup")

	echo "    dumping pid $pid"
	t0=$(now_us)
	if ! "$cryo" dump -t "$pid" -D "$dir/images" -o "$dir/dump.log" "$verbosity"; then
		run_fail "cryo dump" "$dir/dump.log"
		return
	fi
	t1=$(now_us)
	if ! wait_for "! alive $pid" 10; then
		run_fail "pid $pid still runs after the dump"
		return
	fi
	wait "$sub" || true
	image_b=$(du -sb "$dir/images" | cut -f1)

	echo "    restoring"
	t2=$(now_us)
	if ! "$cryo" restore -D "$dir/images" -d --pidfile "$dir/pidfile" -o "$dir/restore.log" "$verbosity"; then
		pid=
		run_fail "cryo restore" "$dir/restore.log"
		return
	fi
	t3=$(now_us)
	newpid=$(cat "$dir/pidfile" 2>/dev/null || true)
	if [ "$newpid" != "$pid" ]; then
		pid=$newpid
		run_fail "restored pid '$newpid' is not the dumped pid"
		return
	fi
	# Outside the timings: have the restored memhog check all its pages.
	kill -USR1 "$pid" || true
	if wait_for "[ -e '$dir/ready.verify' ]" 120; then
		verify=$(cat "$dir/ready.verify")
	elif alive "$pid"; then
		verify="no answer"
	else
		verify="died"
	fi
	[ "$verify" = ok ] || failed=1
	kill_pid

	dump_s=$(secs "$t0" "$t1")
	restore_s=$(secs "$t2" "$t3")
	frozen=$(frozen_secs "$dir/dump.log")
	image_mib=$(awk -v b="$image_b" 'BEGIN { printf "%.1f", b / 1048576 }')
	dirty_mib=$(awk -v k="$dirty_kb" 'BEGIN { printf "%.1f", k / 1024 }')
	overhead=$(awk -v b="$image_b" -v k="$dirty_kb" 'BEGIN { printf "%.1f", (b / 1024 - k) * 100 / k }')
	floor=$(awk -v k="$dirty_kb" -v r="$pc_rate" 'BEGIN { if (r > 0) printf "%.3f", k * 1024 / (r * 1e9); else printf "-" }')
	echo "    dump ${dump_s}s, restore ${restore_s}s, image ${image_mib} MiB, data: $verify"
	rows+=("$(printf '%-9s %7s %8s %9s %8s %9s %9s %6s  %-9s %9s %9s' \
		"$size" "$dump_s" "$floor" "$restore_s" "${frozen:--}" "$image_mib" "$dirty_mib" \
		"$overhead" "$verify" "${criu_dump[$size]:--}" "${criu_restore[$size]:--}")")
	rm -rf "$dir"
}

# The pids of the tree dumped into images dir $1, one task-PID.img each.
image_pids() {
	local img
	for img in "$1"/task-*.img; do
		img=${img##*/task-}
		echo "${img%.img}"
	done
}

# bench_tree NAME PROCS MIB THREADS: dump and restore a tree of PROCS processes with MIB MiB of
# dirty private memory and THREADS threads each; appends a row to tree_rows.
bench_tree() {
	local name=$1 procs=$2 mib=$3 threads=$4 dir=$tmp/tree-$2x$4 t0 t1 t2 t3 p root got
	local dump_s restore_s per image_mib

	mkdir -p "$dir/images"
	echo "==> $name: $procs processes x $mib MiB x $threads threads"
	("$treehog" "$procs" "$mib" "$threads" "$dir/ready" </dev/null >/dev/null 2>&1 &
		wait) 2>/dev/null &
	if ! wait_for "[ -s '$dir/ready' ]" 300; then
		tree_rows+=("$(printf '%-16s %s' "$name" "FAILED: the workload did not start")")
		failed=1
		return
	fi
	root=$(cat "$dir/ready")
	t0=$(now_us)
	"$cryo" dump -t "$root" -D "$dir/images" -o "$dir/dump.log" "$verbosity" >/dev/null 2>&1 ||
		{ tree_rows+=("$(printf '%-16s %s' "$name" "FAILED: cryo dump")"); failed=1; return; }
	t1=$(now_us)
	for p in $(image_pids "$dir/images"); do
		wait_for "[ ! -e /proc/$p ]" 30 || true
	done
	t2=$(now_us)
	if ! "$cryo" restore -D "$dir/images" -d --pidfile "$dir/pidfile" -o "$dir/restore.log" \
		"$verbosity" >/dev/null 2>&1; then
		tree_rows+=("$(printf '%-16s %s' "$name" "FAILED: cryo restore")")
		failed=1
		return
	fi
	t3=$(now_us)
	got=0
	for p in $(image_pids "$dir/images"); do
		[ -e "/proc/$p" ] && got=$((got + $(ls "/proc/$p/task" | wc -l)))
		kill -KILL "$p" 2>/dev/null || true
	done
	dump_s=$(secs "$t0" "$t1")
	restore_s=$(secs "$t2" "$t3")
	per=$(awk -v s="$restore_s" -v n="$procs" 'BEGIN { printf "%.2f", s * 1000 / n }')
	image_mib=$(du -sm "$dir/images" | cut -f1)
	echo "    dump ${dump_s}s, restore ${restore_s}s, $got of $((procs * threads)) threads back"
	[ "$got" -eq $((procs * threads)) ] || failed=1
	tree_rows+=("$(printf '%-16s %6s %8s %7s %9s %12s %9s' "$name" "$procs" "$got" "$dump_s" \
		"$restore_s" "$per" "$image_mib")")
	rm -rf "$dir"
}

[ -x "$cryo" ] || die "'$cryo' not found: run 'make bench'"
for p in "$memhog" "$limits" "$treehog"; do
	[ -x "$p" ] || die "'$p' not found: run 'make bench'"
done
[ "$(id -u)" -eq 0 ] || die "cryo needs root: run the benchmark as root"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cryo-bench.XXXXXX")
echo "==> images in $tmp ($(df -PT "$tmp" | awk 'NR == 2 { print $2 }'))"
echo "==> machine limits (1 GiB, best of 3)"
limits_line=$("$limits" "$tmp") || die "limits failed"
echo "    $limits_line"
# A dump writes into new page cache: its floor is the first-write rate, not the recycled one.
pc_rate=$(echo "$limits_line" | awk -F'first write ' '{ print $2 + 0 }')

for size in $sizes; do
	# Live memhog, its image (page cache or tmpfs) and the restored copy: 3x, plus slack.
	need=$((3 * size + 256))
	avail=$(mem_available_mib)
	disk=$(disk_available_mib "$tmp")
	if [ "$avail" -lt "$need" ]; then
		echo "==> $size MiB: skipped: needs ~$need MiB of free memory, MemAvailable is $avail MiB"
		rows+=("$(printf '%-9s %s' "$size" "skipped: needs ~$need MiB free memory, $avail MiB available")")
		continue
	fi
	if [ "$disk" -lt $((size + 64)) ]; then
		echo "==> $size MiB: skipped: needs ~$((size + 64)) MiB of free disk in $tmp, $disk MiB available"
		rows+=("$(printf '%-9s %s' "$size" "skipped: needs ~$((size + 64)) MiB free disk, $disk MiB available")")
		continue
	fi
	bench_one "$size"
done
bench_tree "tree 100x8MiB" 100 8 1
bench_tree "64 threads" 1 8 64

echo
version=$("$cryo" --version 2>/dev/null | head -n 1 || true)
echo "cryo ${version#Version: }, kernel $(uname -r), $(nproc) cpus"
echo "machine limits: $limits_line"
echo "1 MiB row: the fixed cost of a tiny process. floor: dirty MiB at the first-write page-cache rate."
echo "overhead: image size over dirty memory. frozen: as reported in cryo's log (-v3), if it is."
echo
printf '%-9s %7s %8s %9s %8s %9s %9s %6s  %-9s %9s %9s\n' "size MiB" "dump s" "floor s" \
	"restore s" "frozen s" "image MiB" "dirty MiB" "ovh %" "data" "CRIU dump" "CRIU rest"
printf '%s\n' "${rows[@]}"
echo "(CRIU 4.2 on this machine, from the issue: dump 0.087/0.33/2.3 s, restore 0.078/0.32/1.45 s for 64M/512M/2G)"
echo
printf '%-16s %6s %8s %7s %9s %12s %9s\n' "tree" "procs" "threads" "dump s" "restore s" \
	"ms/process" "image MiB"
printf '%s\n' "${tree_rows[@]}"
echo "(the issue's aim: the 100-process tree restored in under 300 ms, under 1 ms per task beyond memory copy)"
exit "$failed"
