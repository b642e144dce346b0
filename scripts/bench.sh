#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# `make bench`: install and build what is missing, boot the test VM with the
# module loaded, run `pcpbctl suite`, and leave the report in results/.
#
#   results/<date>-<mode>/   report.md, summary.json, raw.json, *.svg, suite.log, dmesg.txt
#   results/latest           a copy of the newest run
#
# Environment:
#   BENCH_MODE=auto|wall|icount  auto (default): wall where KVM works (hardware
#       timing), icount where it does not. wall: multi-threaded TCG (or KVM), real
#       concurrency, wall-clock times (under TCG they are not hardware times; the
#       summary and the report say so). icount: single-threaded TCG with
#       -icount shift=0: guest time advances one ns per instruction, so the same
#       binary gives the same numbers run after run (no real concurrency).
#   BENCH_LONG=1           ten times the operations (more precise, slower)
#   BENCH_CPUS (2)         vCPUs of the main suite run
#   BENCH_REMOTE_CPUS (4)  vCPUs of the second run, the remote pattern's CPU sweep (0: skip)
#   BENCH_POOL_MB (256)    pool size
#   BENCH_SWEEP_CPUS (the host's cores)  vCPUs of the CPU sweep (bulk, remote and the traces
#       on 1, 2, 4, ... CPUs; 0: skip). More than the host's cores is allowed; in wall mode
#       the report marks those rows (time-sliced vCPUs).
#   BENCH_BUILD=release|checked  how the module is built for the run. release (default):
#       as a distribution kernel builds Rust (CONFIG_RUST_OVERFLOW_CHECKS=y, the Kconfig
#       default; debug assertions off: -Cdebug-assertions=n). checked: as the tests run
#       it (the test kernel's overflow checks and debug assertions). The next `make`
#       rebuilds the module the test way (kbuild sees the flags change).

source "$(dirname "$0")/lib.sh"
cd "$PCPBUDDY_TOP"

mode=${BENCH_MODE:-auto}
case "$mode" in auto|wall|icount) ;; *) die "BENCH_MODE=$mode: expected auto, wall or icount" ;; esac
pool_mb=${BENCH_POOL_MB:-256}

"$PCPBUDDY_TOP/scripts/setup.sh" kernel || die "setup failed (see above)"
KDIR=$(kernel_build_dir)
export KDIR
# KVM is known to work when forced, or when the boot probe of scripts/vm.sh found it working.
kvm=no
if [ "${PCPBUDDY_KVM:-}" = 1 ] ||
	{ [ "${PCPBUDDY_KVM:-}" != 0 ] && [ "$(cat "$KDIR/.pcpbuddy-kvm" 2>/dev/null)" = yes ]; }; then
	kvm=yes
fi
if [ "$mode" = auto ]; then
	if [ "$kvm" = yes ]; then mode=wall; else mode=icount; fi
	log "BENCH_MODE=auto: $mode (KVM: $kvm)"
fi
build=${BENCH_BUILD:-release}
case "$build" in
release) krustflags="-Cdebug-assertions=n" build_label="module: overflow checks on, debug assertions off" ;;
checked) krustflags="" build_label="module: overflow checks and debug assertions on" ;;
*) die "BENCH_BUILD=$build: expected release or checked" ;;
esac
make -s -C "$PCPBUDDY_TOP" modules KDIR="$KDIR" KRUSTFLAGS="$krustflags" >/dev/null ||
	die "module build failed (run make)"
(cd rust/pcpbctl && cargo build --release --quiet) || die "pcpbctl build failed"
pcpbctl=$PCPBUDDY_TOP/rust/pcpbctl/target/release/pcpbctl

# What the numbers are: the report says it.
# Wall-clock numbers that mean little get a warning, in the summary and in the report.
host_cores=$(nproc)
warnings=()
if [ "$mode" = icount ]; then
	label="TCG icount (deterministic: 1 ns of guest time per instruction)"
	export VM_QEMU_OPTS="-icount shift=0 -accel tcg,thread=single"
	export PCPBUDDY_KVM=0
elif [ "$kvm" = yes ]; then
	label="KVM (hardware virtualization, wall-clock)"
else
	label="TCG wall-clock (software emulation: times are not hardware times)"
	warnings+=("wall-clock under TCG: emulated instructions, locked instructions and cache-line transfers do not cost what they cost on hardware; compare allocators with BENCH_MODE=icount, contention with the host-native section")
fi
if [ "$mode" = wall ]; then
	for n in "${BENCH_CPUS:-2}" "${BENCH_REMOTE_CPUS:-4}"; do
		[ "$n" -le "$host_cores" ] || warnings+=("a wall-clock run had $n vCPUs on $host_cores host cores: vCPUs were time-sliced, so the times of concurrent CPUs include other vCPUs' turns")
	done
fi
# The debug kernel (KASAN, lockdep, ...) runs fine for a benchmark's correctness, but its times
# say nothing about the allocators.
[ "$PCPBUDDY_KERNEL" = default ] || label+=", $PCPBUDDY_KERNEL kernel: times are meaningless"
label+="; $build_label"

stamp=$(date +%Y%m%d-%H%M%S)
out="$PCPBUDDY_TOP/results/$stamp-$mode"
mkdir -p "$out"
long=${BENCH_LONG:+--long}

# run_vm CPUS DIR CMD: one boot that loads the pool and runs CMD, its output in DIR/suite.log.
run_vm() {
	local cpus=$1 dir=$2 cmd=$3
	mkdir -p "$dir"
	for attempt in 1 2; do
		rm -f "$dir/rc"
		VM_CPUS=$cpus VM_TIMEOUT=${BENCH_TIMEOUT:-3600} scripts/vm.sh run "$dir" \
			"insmod $PCPBUDDY_TOP/pcpbuddy.ko size_mb=$pool_mb &&
			 { $cmd; } >$dir/suite.log 2>&1; echo \$? >$dir/rc; dmesg >$dir/dmesg.txt" \
			>"$dir/console.txt" 2>&1 || true
		[ -f "$dir/rc" ] && break
		# QEMU itself died (multi-threaded TCG has crashed at boot here, e.g. an
		# iotlb_to_section assertion): one more try.
		log "the VM ended without a result (see $dir/console.txt)${attempt/1/; retrying once}"
	done
	[ "$(cat "$dir/rc" 2>/dev/null)" = 0 ] || {
		tail -n 30 "$dir/suite.log" "$dir/console.txt" 2>/dev/null
		die "the benchmark run in $dir failed"
	}
	if kernel_log_reports "$dir/dmesg.txt"; then
		die "the guest's kernel log has errors (see $dir/dmesg.txt)"
	fi
}

start=$(date +%s)
log "suite: $mode mode, ${BENCH_CPUS:-2} vCPUs, pool $pool_mb MiB -> $out"
run_vm "${BENCH_CPUS:-2}" "$out" "$pcpbctl suite --out $out --mode '$label' $long"
# The warnings go first in the report, and again under the summary.
if [ ${#warnings[@]} -gt 0 ]; then
	{
		for w in "${warnings[@]}"; do echo "> **Warning:** $w"; echo; done
		cat "$out/report.md"
	} >"$out/report.md.new" && mv "$out/report.md.new" "$out/report.md"
fi
remote_cpus=${BENCH_REMOTE_CPUS:-4}
if [ "$remote_cpus" != 0 ]; then
	# The RFC's synthetic on more CPUs than the machine has cores: many allocate, one frees.
	log "remote pattern on $remote_cpus vCPUs -> $out/remote-${remote_cpus}cpu"
	run_vm "$remote_cpus" "$out/remote-${remote_cpus}cpu" \
		"$pcpbctl bench remote --order 0,9 --ops ${BENCH_REMOTE_OPS:-20000}"
fi
if [ -z "${BENCH_NO_REPLAY:-}" ] && compgen -G "traces/*.pcpt.gz" >/dev/null; then
	# Recorded real workloads (traces/README.md) replayed on every backend (BENCH_NO_REPLAY=1: skip).
	log "replays of traces/*.pcpt.gz on ${BENCH_CPUS:-2} vCPUs -> $out/replay"
	run_vm "${BENCH_CPUS:-2}" "$out/replay" \
		"$pcpbctl trace replay --out $out/replay --mode '$label' $PCPBUDDY_TOP/traces/*.pcpt.gz"
fi
sweep_cpus=${BENCH_SWEEP_CPUS:-$host_cores}
if [ "$sweep_cpus" != 0 ]; then
	# ns/op against the number of CPUs, every backend (Documentation/benchmarks.md, "CPU sweeps").
	traces=$(compgen -G "$PCPBUDDY_TOP/traces/*.pcpt.gz" | paste -sd, || true)
	mark=""
	[ "$mode" = wall ] && [ "$kvm" != yes ] && mark="--host-cores $host_cores"
	log "CPU sweep on 1..$sweep_cpus vCPUs -> $out/sweep"
	run_vm "$sweep_cpus" "$out/sweep" \
		"$pcpbctl sweep --out $out/sweep --mode '$label' $mark ${traces:+--traces $traces}"
fi
# The core alone on the host's real cores (no VM): its own section of report.md.
if scripts/host-bench.sh "$out" >"$out/host-bench.log" 2>&1; then
	{ echo; cat "$out/host.md"; } >>"$out/report.md"
else
	log "the host benchmark failed (see $out/host-bench.log)"
fi
rm -rf results/latest
cp -r "$out" results/latest
log "done in $(($(date +%s) - start)) s: results/latest/report.md (and $out)"
echo
echo "Summary ($label; $out/report.md):"
grep -v '^wrote ' "$out/suite.log"
[ "$remote_cpus" = 0 ] || cat "$out/remote-${remote_cpus}cpu/suite.log"
[ ! -f "$out/replay/suite.log" ] || grep -v '^wrote ' "$out/replay/suite.log"
[ ! -f "$out/sweep/sweep.md" ] || echo "CPU sweep: $out/sweep/sweep.md"
for w in "${warnings[@]}"; do echo "WARNING: $w"; done
