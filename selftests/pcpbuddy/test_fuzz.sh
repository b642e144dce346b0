#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The fuzzer (selftests/tools/pcpbuddy_fuzz.c): random, truncated, oversized and misdirected
# ioctls, debugfs reads and policy writes, open/close churn and signals, from many processes and
# threads at once; every call answers success or an errno the ABI allows for it. Afterwards
# (every fuzzer process gone, every file closed) nothing is outstanding, verify is clean, unload
# gives all the memory back and the kernel log is clean.
#
# FUZZ_LONG=1: the long run. FUZZ_CALLS=N: N calls. FUZZ_SEED=N: repeat a run (the seed is printed
# first, also to the kernel log, so that a run that crashes the guest can be repeated).
# FUZZ_ARGS: more options for the fuzzer (e.g. "-x fragmentation" to look past a known bug there).
. "$(dirname "$0")/../lib/pcpbuddy.sh"

FUZZ=$TOP/selftests/tools/pcpbuddy_fuzz
# About 150 s per 10^6 calls under TCG (4 vCPUs on 2 host cores): an ALLOC or FREE on a chosen CPU
# runs there in process context (smp_call_on_cpu()), a cross-vCPU wakeup each, which emulation
# makes slow. The time limits leave room for a loaded host.
if [ -n "${FUZZ_LONG:-}" ]; then
	calls=${FUZZ_CALLS:-10000000} limit=2400
else
	calls=${FUZZ_CALLS:-300000} limit=240
fi
warm_calls=$((calls < 1500000 ? calls : 1500000))
seed=${FUZZ_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
MARK="pcpbuddy test_fuzz: fuzzer starts"
warm_log=$(mktemp) warm_rc=0

# run_fuzz: the fuzzer makes at least $calls calls within $limit seconds, all answered as expected.
run_fuzz() {
	local args=(-s "$seed" -n "$calls" -t "$limit" ${FUZZ_ARGS:-}) log rc made start=$SECONDS
	log=$(mktemp)
	"$FUZZ" "${args[@]}" >"$log" 2>&1 && rc=0 || rc=$?
	cat "$log"
	echo "took $((SECONDS - start)) s in the VM"
	made=$(awk '$1 == "ioctl" && $2 == "calls:" { print $3 }' "$log")
	rm -f "$log"
	if [ "$warm_rc" != 0 ]; then
		echo "the warm-up run (seed $((seed + 1)), $warm_calls calls) exited with status $warm_rc:"
		grep -E '^(FAIL|seed)' "$warm_log"
		return 1
	fi
	[ "$rc" = 0 ] || { echo "the fuzzer exited with status $rc"; return 1; }
	[ "${made:-0}" -ge "$calls" ] || { echo "only ${made:-0} of $calls calls"; return 1; }
}

outstanding_zero() {
	grep '^outstanding_pages: ' "$DEBUGFS/info"
	grep -qx 'outstanding_pages: 0' "$DEBUGFS/info"
}

# warm_up: a run first, load to unload, as long as the counted one (at most 1.5*10^6 calls). The
# kernel's slab caches grow to what the fuzzer's traffic needs on the first run (seen: 1.2 to
# 1.3 MiB of SUnreclaim; MemFree plus the per-CPU lists 0.6 to 1.8 MiB short after it, and still
# 0.8 MiB after a warm-up of half the length), which would look like memory the module kept; later
# runs of the same length moved it by 0.2 MiB at most. Its failures are reported with the main
# run's.
warm_up() {
	load_pool size_mb=64 source=cma || return 1
	"$FUZZ" -s "$((seed + 1))" -n "$warm_calls" -t "$limit" ${FUZZ_ARGS:-} >"$warm_log" 2>&1 &&
		warm_rc=0 || warm_rc=$?
	unload_pool
}

# memory_back: after unload, MemFree (with the per-CPU lists) is back within 1 MiB (less than
# one pageblock, so a withheld block shows) and the CMA area's available pages exactly.
# The kernel's per-CPU allocator keeps the chunks it grew for the benchmark runs' floor arrays
# (alloc_percpu, freed after each run, reusable by anyone): its growth (meminfo Percpu) is not
# memory the module kept, and is taken out of MemFree's difference.
memory_back() {
	local mem_after cma_after percpu_after
	rmmod pcpbuddy || return 1
	mem_after=$(free_kb MemFree) cma_after=$(free_kb CmaFree) percpu_after=$(meminfo_kb Percpu)
	echo "MemFree: before $mem_before kB, after $mem_after kB"
	echo "Percpu: before $percpu_before kB, after $percpu_after kB"
	echo "CmaFree: before $cma_before kB, after $cma_after kB"
	echo "SUnreclaim: before $slab_before kB, after $(meminfo_kb SUnreclaim) kB"
	[ "$cma_after" = "$cma_before" ] &&
		[ $((mem_before - mem_after - (percpu_after - percpu_before))) -lt 1024 ]
}

# kernel_log_clean: nothing alarming in the kernel log since the fuzzer started.
kernel_log_clean() {
	local log
	log=$(dmesg | sed -n "/$MARK/,\$p")
	[ -n "$log" ] || log=$(dmesg)	# the mark scrolled out of the ring buffer
	! printf '%s\n' "$log" | grep -E 'BUG[: ]|WARNING:|Oops|[Pp]anic|RIP:|Call Trace:'
}

ktap_print_header
ktap_set_plan 5
mount_debugfs
unload_pool || ktap_exit_fail_msg "cannot unload $MODULE"
ktap_print_msg "seed $seed (FUZZ_SEED=$seed repeats the run)"
echo "$MARK, seed $seed" >/dev/kmsg
warm_up || ktap_exit_fail_msg "cannot load and unload $MODULE for the warm-up run"
mem_before=$(free_kb MemFree) cma_before=$(free_kb CmaFree) slab_before=$(meminfo_kb SUnreclaim)
percpu_before=$(meminfo_kb Percpu)
load_pool size_mb=64 source=cma || ktap_exit_fail_msg "cannot load $MODULE"

ktap_test_result "fuzzer: $calls ioctl calls, each answered as the ABI allows; no crash, no hang" \
	run_fuzz
ktap_test_result "no page outstanding with every fuzzer file closed" outstanding_zero
ktap_test_result "verify clean after the fuzzer" verify_clean
ktap_test_result "unload gives all the memory back" memory_back
ktap_test_result "kernel log clean of BUG/WARNING/Oops/panic since the fuzzer started" \
	kernel_log_clean
ktap_finished
