#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Record the kernel's own page-allocator tracepoints (kmem:mm_page_alloc, kmem:mm_page_free,
# kmem:mm_page_free_batched) inside the test VM while real programs run, for
# `pcpbctl trace import` and the replay benchmark (Documentation/benchmarks.md, "Replay").
#
#   scripts/record-traces.sh [OUTDIR] [WORKLOAD...]
#
# Workloads (all by default):
#   build  `make -jN` of the Linux tree (the cached Debian source, read-only over 9p, objects on a
#          tmpfs: O=), started from a configured tree, recorded for a bounded window
#   procs  a burst of short-lived processes: N shells forking and exec'ing small programs
#          (true, cat, sed, ls) in pipelines
#   copy   page-cache-heavy: a source subtree copied within tmpfs, tarred and gzipped, unpacked
#          again and deleted, in a loop
#   thp    GNU sort of an 8 MB file, N at once, with transparent huge pages on ("always"): its
#          buffers fault in as 2 MiB folios (order 9, the pageblock order), and they are freed
#          at exit; the other workloads hardly ever allocate above order 3
#
# Each window: the ring buffers are cleared, tracing is switched on, the workload runs for
# RECORD_SECONDS, tracing is switched off, and OUTDIR/<workload>.trace gets tracefs's `trace` file
# (text; trace_clock "counter", a global atomic counter: the events of all CPUs in one total
# order), OUTDIR/<workload>.meta the window's facts (CPUs, seconds, events lost per CPU).
#
# Environment: RECORD_SECONDS (30) per window; VM_CPUS (4), VM_MEMORY (2G) shape the VM;
# RECORD_BUFFER_KB (65536) ring buffer per CPU (events that do not fit are dropped, and counted
# in the .meta file: the importer copes with missing events).

if [ "${1:-}" = --guest ]; then
	# ---------------------------------------------------------------- inside the VM
	set -u
	out=$2 src=$3 seconds=$4
	shift 4
	T=/sys/kernel/tracing
	mountpoint -q $T || mount -t tracefs nodev $T || { echo "no tracefs" >&2; exit 1; }
	[ -d $T/events/kmem/mm_page_alloc ] || { echo "no kmem tracepoints (CONFIG_FTRACE?)" >&2; exit 1; }
	ncpu=$(nproc)
	work=/tmp/pcpt-work
	mkdir -p $work && mount -t tmpfs -o size=1200m tmpfs $work

	echo 0 >$T/tracing_on
	echo counter >$T/trace_clock
	echo "${RECORD_BUFFER_KB:-65536}" >$T/buffer_size_kb
	echo 0 >$T/options/overwrite		# a full buffer drops new events, keeps the window's start
	echo 0 >$T/events/enable
	for e in mm_page_alloc mm_page_free mm_page_free_batched; do
		echo 1 >$T/events/kmem/$e/enable
	done
	# A failed allocation fires mm_page_alloc with no page: not an allocation.
	echo 'pfn != 18446744073709551615' >$T/events/kmem/mm_page_alloc/filter

	prepare() {
		case $1 in
		build)
			# A configured tree whose host tools (fixdep, kconfig) are built: the window
			# records the build itself.
			make -s -C "$src" O=$work/kb allnoconfig >/dev/null 2>&1
			;;
		copy)
			mkdir -p $work/copy/src
			cp -r "$src/fs" "$src/mm" "$src/kernel" $work/copy/src/
			;;
		thp)
			echo always >/sys/kernel/mm/transparent_hugepage/enabled
			echo always >/sys/kernel/mm/transparent_hugepage/defrag 2>/dev/null
			seq 1 900000 | sed 's/\(.\)\(.*\)/\2\1 line \1/' >$work/sort.in
			;;
		esac
	}

	run() {
		case $1 in
		build)
			timeout -s INT "$seconds" make -s -C "$src" O=$work/kb -j"$ncpu" >/dev/null 2>&1
			;;
		procs)
			for _ in $(seq "$ncpu"); do
				timeout "$seconds" sh -c 'while :; do
					true; echo x | cat | sed s/x/y/ >/dev/null; ls / >/dev/null
				done' &
			done
			wait
			;;
		copy)
			timeout "$seconds" sh -c "cd $work/copy && while :; do
				cp -r src dup && tar cf - dup | gzip -1 >dup.tgz &&
				mkdir un && tar xzf dup.tgz -C un && rm -rf dup un dup.tgz
			done"
			;;
		thp)
			for _ in $(seq "$ncpu"); do
				timeout "$seconds" sh -c "while :; do
					sort -S 96M --parallel=1 $work/sort.in >/dev/null
				done" &
			done
			wait
			;;
		esac
	}

	for w in "$@"; do
		echo "== $w: preparing"
		prepare "$w"
		sync
		echo 3 >/proc/sys/vm/drop_caches
		echo >$T/trace
		start=$(date +%s.%N)
		echo 1 >$T/tracing_on
		run "$w"
		echo 0 >$T/tracing_on
		end=$(date +%s.%N)
		echo "== $w: recorded $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s"
		{
			echo "workload $w"
			echo "kernel $(uname -r)"
			echo "cpus $ncpu"
			echo "seconds $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')"
			echo "window $seconds"
			echo "trace_clock counter"
			for c in $T/per_cpu/cpu*; do
				printf '%s' "$(basename "$c")"
				awk '/^entries:/ { printf " entries=%s", $2 } /^overrun:/ { printf " overrun=%s", $2 }
					/^dropped events:/ { printf " dropped=%s", $3 }' "$c/stats"
				echo
			done
		} >"$out/$w.meta"
		cat $T/trace >"$out/$w.trace"
		echo "== $w: $(grep -c 'mm_page_' "$out/$w.trace") events"
		# Undo what the workload left behind before the next window.
		pkill -x sort; pkill -x make
		rm -rf $work/kb $work/copy $work/sort.in
		echo never >/sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null
	done
	echo 0 >$T/events/enable
	echo done >"$out/finished"
	exit 0
fi

# -------------------------------------------------------------------- on the host
source "$(dirname "$0")/lib.sh"
cd "$PCPBUDDY_TOP"
out=$(realpath -m "${1:-$PCPBUDDY_TOP/traces/raw}")
[ $# -gt 0 ] && shift
workloads=("$@")
[ ${#workloads[@]} -gt 0 ] || workloads=(build procs copy thp)
for w in "${workloads[@]}"; do
	case $w in build|procs|copy|thp) ;; *) die "unknown workload '$w' (build, procs, copy, thp)" ;; esac
done
seconds=${RECORD_SECONDS:-30}
src=$(cat "$PCPBUDDY_CACHE/src/current" 2>/dev/null) || die "no kernel source: run scripts/setup.sh kernel"
mkdir -p "$out"
rm -f "$out/finished"
log "recording ${workloads[*]} (${seconds} s each, ${VM_CPUS:-4} vCPUs) -> $out"
VM_TIMEOUT=${VM_TIMEOUT:-$((600 + ${#workloads[@]} * (seconds + 300)))} \
	scripts/vm.sh run "$out" \
	"bash $PCPBUDDY_TOP/scripts/record-traces.sh --guest $out $src $seconds ${workloads[*]}" \
	>"$out/console.txt" 2>&1 || true
[ -f "$out/finished" ] || { tail -n 40 "$out/console.txt"; die "the recording did not finish (see $out/console.txt)"; }
grep '^== ' "$out/console.txt" || true
for w in "${workloads[@]}"; do
	log "$w: $(grep -c 'mm_page_' "$out/$w.trace") events, $(du -h "$out/$w.trace" | cut -f1) ($out/$w.trace)"
done
