#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The stress module (selftests/modules/pcpbuddy_stress.c): one thread per CPU allocates and frees
# through the exported API in every calling context, mostly freeing remotely, with folios, bulk
# calls, long holders and pool exhaustion, while this script takes CPUs offline and online, drains
# caches (all CPUs and single ones) and changes the policy. Afterwards nothing is outstanding,
# verify is clean, the whole pool is allocatable, unload gives all the memory back (also at once
# after traffic, with the caches full) and the kernel log is clean. See Documentation/testing.md.
#
# STRESS_LONG=1: the long run (10^7 operations instead of 10^6). STRESS_OPS=N: N operations.
# STRESS_SEED=N: the threads' choices of a run again (the seed is printed; the interleaving and
# the hotplug timing differ from run to run).
. "$(dirname "$0")/../lib/pcpbuddy.sh"

STRESS=$TOP/selftests/modules/pcpbuddy_stress.ko
if [ -n "${STRESS_LONG:-}" ]; then
	ops=${STRESS_OPS:-10000000} limit=2400
else
	ops=${STRESS_OPS:-1000000} limit=200
fi
seed=${STRESS_SEED:-$(( $(od -An -N4 -tu4 /dev/urandom | tr -d ' ') % 2147483647 + 1 ))}
POOL_MB=128
# CPUs that can go offline (CPU 0 usually cannot).
hotplug_cpus=$(for f in /sys/devices/system/cpu/cpu[0-9]*/online; do
	[ -w "$f" ] && basename "$(dirname "$f")" | sed 's/^cpu//'; done | sort -n | xargs)
bg=$(mktemp -d)

# ---------------------------------------------------------------- the background load

# hotplug_loop: a random CPU (now and then two) offline for up to 0.4 s, then online again.
hotplug_loop() {
	local cpus=($hotplug_cpus) off=0 on=0 off_fail=0 on_fail=0 a b
	while [ ! -e "$bg/stop" ]; do
		a=${cpus[RANDOM % ${#cpus[@]}]} b=
		[ $((RANDOM % 4)) = 0 ] && b=${cpus[RANDOM % ${#cpus[@]}]} && [ "$b" != "$a" ] || b=
		for c in $a $b; do
			echo 0 >/sys/devices/system/cpu/cpu$c/online 2>/dev/null &&
				off=$((off + 1)) || off_fail=$((off_fail + 1))
		done
		sleep 0.$((RANDOM % 5))
		for c in $a $b; do
			echo 1 >/sys/devices/system/cpu/cpu$c/online 2>/dev/null &&
				on=$((on + 1)) || on_fail=$((on_fail + 1))
		done
		sleep 0.$((RANDOM % 3))
	done
	echo "$off $on $off_fail $on_fail" >"$bg/hotplug"
}

# drain_loop: PCPBUDDY_IOC_DRAIN of every CPU or of one (which may be offline: EINVAL then).
drain_loop() {
	local all=0 one=0 offline=0 bad=0 cpu out
	while [ ! -e "$bg/stop" ]; do
		if [ $((RANDOM % 3)) = 0 ]; then
			"$POOL_TEST" drain -1 && all=$((all + 1)) || bad=$((bad + 1))
		else
			cpu=$((RANDOM % $(nproc --all)))
			if out=$("$POOL_TEST" drain "$cpu" 2>&1); then
				one=$((one + 1))
			elif echo "$out" | grep -q 'Invalid argument' &&
				[[ " $hotplug_cpus " == *" $cpu "* ]]; then
				offline=$((offline + 1))	# the CPU was offline
			else
				echo "$out" >>"$bg/drain-errors"
				bad=$((bad + 1))
			fi
		fi
		sleep 0.0$((RANDOM % 10))
	done
	echo "$all $one $offline $bad" >"$bg/drain"
}

# policy_loop: ownership, fragment recovery, high and batch changed at random.
policy_loop() {
	local writes=0 bad=0 line
	local highs=(0 1 16 64 512 2048 8192) batches=(1 7 31 64 512)
	while [ ! -e "$bg/stop" ]; do
		case $((RANDOM % 6)) in
		0) line="ownership $((RANDOM % 2))" ;;
		1) line="ownership 1" ;;
		2) line="fragment_recovery $((RANDOM % 2))" ;;
		3) line="high ${highs[RANDOM % ${#highs[@]}]}" ;;
		4) line="batch ${batches[RANDOM % ${#batches[@]}]}" ;;
		5) line=$(printf 'high %s\nbatch %s\nownership %s' "${highs[RANDOM % ${#highs[@]}]}" \
			"${batches[RANDOM % ${#batches[@]}]}" $((RANDOM % 2))) ;;
		esac
		if echo "$line" >"$DEBUGFS/policy" 2>/dev/null; then
			writes=$((writes + 1))
		else
			echo "policy write refused: $line" >>"$bg/policy-errors"
			bad=$((bad + 1))
		fi
		sleep 0.$((RANDOM % 3))
	done
	echo "$writes $bad" >"$bg/policy"
}

# ---------------------------------------------------------------- the checks

# stress_ok: the module's run, with the background load; its counts as comments.
stress_ok() {
	local start=$SECONDS pid rc=0 pids="" stress_s m
	log_mark
	m=$LOG_MARK
	echo "$m" >"$bg/mark"
	insmod "$STRESS" ops="$ops" seed="$seed" &
	pid=$!
	# The module starts one thread per online CPU: the CPUs go offline only once they run.
	while kill -0 "$pid" 2>/dev/null && ! log_since "$m" | grep -q 'pcpbuddy_stress: .* threads,'; do
		sleep 0.2
	done
	[ -n "$hotplug_cpus" ] && { hotplug_loop & pids="$pids $!"; }
	drain_loop & pids="$pids $!"
	policy_loop & pids="$pids $!"
	while kill -0 "$pid" 2>/dev/null && [ $((SECONDS - start)) -lt "$limit" ]; do sleep 1; done
	if kill -0 "$pid" 2>/dev/null; then
		echo "the stress module did not finish in $limit s; blocked tasks:"
		echo w >/proc/sysrq-trigger
		touch "$bg/hung"
		rc=1
	else
		wait "$pid" || rc=$?
	fi
	touch "$bg/stop"
	wait $pids
	stress_s=$((SECONDS - start))
	# Every CPU back online, the policy as it was.
	for cpu in $hotplug_cpus; do echo 1 >/sys/devices/system/cpu/cpu$cpu/online; done
	echo "$policy_before" >"$DEBUGFS/policy"
	log_since "$m" | grep 'pcpbuddy_stress:' | grep -v ' ops, [0-9]* threads running' |
		sed 's/^\[[ 0-9.]*\] //'
	echo "insmod: exit $rc after $stress_s s in the VM"
	[ "$rc" = 0 ] && log_since "$m" | grep -q 'pcpbuddy_stress: ok$'
}

# every_context: the module's "context NAME: allocs A failed F frees R" lines.
every_context() {
	local lines rc=0
	lines=$(log_since "$(cat "$bg/mark")" | grep -o 'pcpbuddy_stress: context .*')
	for ctx in process preempt-off irqs-off bh-off softirq hardirq; do
		echo "$lines" | grep -qE "context $ctx: allocs [1-9][0-9]* failed [0-9]+ frees [1-9]" ||
			{ echo "no alloc or no free in $ctx context"; rc=1; }
	done
	return $rc
}

remote_frees() {
	local after
	after=$(stat total.frees_remote)
	echo "pool's total.frees_remote: $((after - remote_before)) during the run"
	[ $((after - remote_before)) -gt 0 ]
}

hotplug_done() {
	local off on off_fail on_fail
	read -r off on off_fail on_fail <"$bg/hotplug" || return 1
	echo "CPUs $hotplug_cpus: $off offline, $on online ($off_fail offline and $on_fail online refused)"
	echo "online: $(cat /sys/devices/system/cpu/online)"
	[ "$off" -gt 0 ] && [ "$on_fail" = 0 ] &&
		[ "$(cat /sys/devices/system/cpu/online)" = "0-$(($(nproc --all) - 1))" ]
}

drains_done() {
	local all one offline bad
	read -r all one offline bad <"$bg/drain" || return 1
	echo "drains: $all of every CPU, $one of one CPU, $offline refused for an offline CPU, $bad failed"
	[ -f "$bg/drain-errors" ] && head -n 5 "$bg/drain-errors"
	[ "$all" -gt 0 ] && [ "$one" -gt 0 ] && [ "$bad" = 0 ]
}

policy_done() {
	local writes bad
	read -r writes bad <"$bg/policy" || return 1
	echo "policy writes: $writes, refused $bad"
	[ -f "$bg/policy-errors" ] && head -n 5 "$bg/policy-errors"
	echo "policy now: $(tr '\n' ' ' <"$DEBUGFS/policy")"
	[ "$writes" -gt 0 ] && [ "$bad" = 0 ] && [ "$(cat "$DEBUGFS/policy")" = "$policy_before" ]
}

outstanding_zero() {
	grep '^outstanding_pages: ' "$DEBUGFS/info"
	grep -qx 'outstanding_pages: 0' "$DEBUGFS/info"
}

whole_pool() {
	local cpu out
	for cpu in 0 ${hotplug_cpus##* }; do
		out=$("$POOL_TEST" exhaust "$cpu" 9 2>&1) || { echo "$out"; return 1; }
		echo "cpu $cpu, order 9: $out" | tr '\n' ' '; echo
	done
}

# withheld MARK: the pool's unload since MARK withheld blocks (it says so).
withheld() { log_since "$1" | grep -E 'pcpbuddy: .*withholding'; }

# cma_back: unload after the run (and the checks above) gives the whole CMA area back.
cma_back() {
	local m cma_after
	log_mark
	m=$LOG_MARK
	rmmod pcpbuddy || return 1
	cma_after=$(free_kb CmaFree)
	echo "CmaFree: before loading $cma_start kB, after unload $cma_after kB"
	! withheld "$m" && [ "$cma_after" = "$cma_start" ]
}

# memory_back: a fresh pool, a short quiet run (no hotplug), then unload at once, caches and
# per-CPU magazines still full: all the memory comes back (CmaFree exactly; MemFree with the
# per-CPU lists within 1 MiB, less than a pageblock), nothing is withheld. Measured after the
# long run, so that the slab caches already grew to what this traffic needs.
memory_back() {
	local mem_before cma_before mem_after cma_after m rc=0
	mem_before=$(free_kb MemFree) cma_before=$(free_kb CmaFree)
	log_mark
	m=$LOG_MARK
	load_pool size_mb=$POOL_MB source=cma || return 1
	insmod "$STRESS" ops=20000 seed=$((seed + 1)) && rmmod pcpbuddy_stress || return 1
	grep -E '^(owned_blocks|fragment_blocks|parked_pages|cached_pages):' "$DEBUGFS/fragmentation" |
		tr '\n' ' '; echo
	rmmod pcpbuddy || return 1
	withheld "$m" && rc=1
	mem_after=$(free_kb MemFree) cma_after=$(free_kb CmaFree)
	echo "MemFree + pcp: before $mem_before kB, after $mem_after kB"
	echo "CmaFree: before $cma_before kB, after $cma_after kB"
	[ "$rc" = 0 ] && [ "$cma_after" = "$cma_before" ] && [ $((mem_before - mem_after)) -lt 1024 ]
}

kernel_log_clean() {
	! log_since "$mark" | grep -E 'BUG[: ]|WARNING:|Oops|lockdep|KASAN|sleeping function|Bad page|[Pp]anic|RIP:|Call Trace:|(recursive|circular) locking|pcpbuddy_stress: FAIL'
}

ktap_print_header
ktap_set_plan 13
mount_debugfs
unload_pool || ktap_exit_fail_msg "cannot unload $MODULE"
log_mark
mark=$LOG_MARK
echo "pcpbuddy test_stress: $ops ops, seed $seed" >/dev/kmsg
ktap_print_msg "$ops ops, seed $seed (STRESS_SEED=$seed repeats the threads' choices)"
cma_start=$(free_kb CmaFree)
load_pool size_mb=$POOL_MB source=cma || ktap_exit_fail_msg "cannot load $MODULE"
policy_before=$(cat "$DEBUGFS/policy")
remote_before=$(stat total.frees_remote)

ktap_test_result "stress: $ops ops on every CPU in every context, under hotplug, drains and policy changes; no page handed out twice, every stamp intact" \
	stress_ok
[ ! -e "$bg/hung" ] || ktap_exit_fail_msg "the stress module hangs (blocked tasks in the kernel log)"
ktap_test_result "every calling context allocated and freed (process, preempt-off, irqs-off, bh-off, softirq, hardirq)" \
	every_context
ktap_test_result "frees crossed CPUs (the pool counted remote frees)" remote_frees
if [ -n "$hotplug_cpus" ]; then
	ktap_test_result "CPUs went offline and online during the run, all online after" hotplug_done
else
	ktap_test_skip "CPUs went offline and online during the run" "no CPU can go offline"
fi
ktap_test_result "caches drained during the run (every CPU, single CPUs)" drains_done
ktap_test_result "policy changed during the run (ownership, fragment_recovery, high, batch), restored after" \
	policy_done
ktap_test_result "the stress module unloads" rmmod pcpbuddy_stress
ktap_test_result "nothing outstanding after the run (debugfs info)" outstanding_zero
ktap_test_result "verify clean after the run" verify_clean
ktap_test_result "the whole pool allocatable at the pageblock order after the run" whole_pool
ktap_test_result "unload after the run gives the whole CMA area back, nothing withheld" cma_back
ktap_test_result "unload right after traffic gives all the memory back (CMA area exactly, MemFree within 1 MiB), nothing withheld" \
	memory_back
ktap_test_result "kernel log clean since the test started (BUG/WARNING/Oops/lockdep/KASAN/sleeping function/Bad page/panic)" \
	kernel_log_clean
rm -rf "$bg"
ktap_finished
