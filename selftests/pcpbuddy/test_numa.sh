#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# One pool per NUMA node (node=-1), in a VM with two nodes (scripts/check.sh boots it with
# VM_NUMA=2): each node's pool holds memory of its node; a CPU allocates from its node's pool
# and falls back to the other's (counted) when its own is exhausted; a page freed on a CPU of
# another node goes back to its owner's pool; CPU hotplug under traffic; every node verifies
# clean; unloading gives each node its memory back.
. "$(dirname "$0")/../lib/pcpbuddy.sh"

SIZE_MB=32
PCPBCTL=$TOP/rust/pcpbctl/target/release/pcpbctl

# The nodes with memory, and the first CPU of each.
nodes=$(cat /sys/devices/system/node/has_memory 2>/dev/null | tr ',' ' ' | sed 's/-/ /')
ktap_print_header
mount_debugfs
if [ ! -d /sys/devices/system/node/node1 ] || [ "$(echo $nodes | wc -w)" -lt 2 ]; then
	ktap_set_plan 1
	ktap_test_skip "one pool per NUMA node" "needs two NUMA nodes with memory (VM_NUMA=2 scripts/vm.sh)"
	ktap_finished
fi
first_cpu() { cut -d, -f1 /sys/devices/system/node/node$1/cpulist | cut -d- -f1; }
last_cpu() { awk -F'[-,]' '{ print $NF }' /sys/devices/system/node/node$1/cpulist; }
cpu0=$(first_cpu 0)
cpu1=$(first_cpu 1)
ktap_print_msg "node0 CPUs $(cat /sys/devices/system/node/node0/cpulist), node1 CPUs $(cat /sys/devices/system/node/node1/cpulist)"

# The node of a pfn: the node of the zone whose span holds it (/proc/zoneinfo; the test kernel
# has no memory hotplug, so no /sys/devices/system/memory).
pfn_node() {
	awk -v pfn="$1" '
		$1 == "Node" { node = $2; sub(",", "", node) }
		$1 == "spanned" { spanned = $2 }
		$1 == "start_pfn:" && pfn >= $2 && pfn < $2 + spanned { print node; exit }' /proc/zoneinfo
}
# nstat NODE KEY: one value from node NODE's stats.
nstat() { awk -v k="$2:" '$1 == k { print $2 }' "$DEBUGFS/node$1/stats"; }
# node_free_kb NODE: the node's MemFree after dropping clean caches and shrinking slabs, plus
# the pages on its zones' per-CPU free lists (where pages given back land first; see free_kb).
node_free_kb() {
	local kb pcp
	sync; echo 3 >/proc/sys/vm/drop_caches
	shrink_slabs
	kb=$(awk '$3 == "MemFree:" { print $4 }' /sys/devices/system/node/node$1/meminfo)
	pcp=$(awk -v node="$1," '$1 == "Node" { here = ($2 == node) } here && $1 == "count:" { n += $2 } END { print n * 4 }' /proc/zoneinfo)
	echo $((kb + pcp))
}

ktap_set_plan 10
before0=$(node_free_kb 0)
before1=$(node_free_kb 1)
load_pool node=-1 size_mb=$SIZE_MB || ktap_exit_fail_msg "cannot load $MODULE node=-1"

one_pool_per_node() {
	cat "$DEBUGFS/info"
	grep -qx 'nr_pools: 2' "$DEBUGFS/info" &&
		grep -qx 'pool_nodes: 0 1' "$DEBUGFS/info" &&
		grep -qx "nr_pages: $((2 * SIZE_MB * 256))" "$DEBUGFS/info" &&
		grep -qx 'node: 0' "$DEBUGFS/node0/info" &&
		grep -qx 'node: 1' "$DEBUGFS/node1/info" &&
		grep -qx "nr_pages: $((SIZE_MB * 256))" "$DEBUGFS/node1/info"
}
ktap_test_result "node=-1: one pool of size_mb per node, totals in info" one_pool_per_node

# on_node NODE WHAT PFN...: every PFN (decimal or 0x hex) is memory of NODE; says which is not.
on_node() {
	local node=$1 what=$2 pfn bad=0
	shift 2
	for pfn in "$@"; do
		pfn=$((pfn))
		[ "$(pfn_node "$pfn")" = "$node" ] || { echo "$what: pfn $pfn is on node $(pfn_node "$pfn")"; bad=1; }
	done
	return $bad
}

blocks_on_their_node() {
	on_node 0 "node0 block" $(awk 'NR > 1 { print $2 }' "$DEBUGFS/node0/blocks") &&
		on_node 1 "node1 block" $(awk 'NR > 1 { print $2 }' "$DEBUGFS/node1/blocks")
}
ktap_test_result "every block of node N's pool is memory of node N" blocks_on_their_node

local_allocations() {
	on_node 0 "CPU $cpu0 (node 0)" $("$POOL_TEST" pfns "$cpu0" "$cpu0" 20 | awk '{ print $2 }') &&
		on_node 1 "CPU $cpu1 (node 1)" $("$POOL_TEST" pfns "$cpu1" "$cpu1" 20 | awk '{ print $2 }')
}
ktap_test_result "allocations on a CPU of each node come from that node" local_allocations

cross_node_free() {
	local f0 f1 a0 a1
	"$POOL_TEST" drain -1 || return 1
	f0=$(nstat 0 cpu$cpu0.freed_pages)
	f1=$(nstat 1 cpu$cpu0.freed_pages)
	# Allocated on node 1's CPU, freed on node 0's: back to node 1's pool, through CPU
	# cpu0's magazine of it.
	"$POOL_TEST" pfns "$cpu1" "$cpu0" 50 >/dev/null || return 1
	a0=$(nstat 0 cpu$cpu0.freed_pages)
	a1=$(nstat 1 cpu$cpu0.freed_pages)
	echo "cpu$cpu0.freed_pages: node0 $f0 -> $a0, node1 $f1 -> $a1"
	[ "$a0" = "$f0" ] && [ "$a1" = $((f1 + 50)) ]
}
ktap_test_result "a page freed on another node's CPU goes back to its owner's pool" cross_node_free

fallback_counted() {
	local out
	"$POOL_TEST" drain -1 || return 1
	out=$("$POOL_TEST" exhaust "$cpu0" 0 | grep '^allocated ')
	echo "$out; node0 total.node_fallbacks $(nstat 0 total.node_fallbacks)"
	# Node 0's pool, then all of node 1's.
	[ "$out" = "allocated $((2 * SIZE_MB * 256))" ] &&
		[ "$(nstat 0 total.node_fallbacks)" -gt 0 ] &&
		[ "$(nstat 1 total.node_fallbacks)" = 0 ]
}
ktap_test_result "an exhausted local pool falls back to the other node's, counted" fallback_counted

# The benchmark on a CPU of node 1 only: its API calls reach node 1's pool, so pool-classic
# must switch that pool's ownership off (no block claimed, degrade refills instead) and the
# counters must come from it (before, the run set, drained and counted node 0's pool alone).
bench_every_pool() {
	local out
	out=$("$PCPBCTL" bench repeat --order 0 --cpus "$cpu1" --ops 3000 --backends pool-classic,pool --json) || return 1
	echo "$out" | python3 -c '
import json, sys
runs = {r["params"]["backend"]: r["result"]["counters"] for r in json.load(sys.stdin)}
print({b: {k: c[k] for k in ("refill_claim", "refill_degrade", "frees_local")} for b, c in runs.items()})
classic, pool = runs["pool-classic"], runs["pool"]
sys.exit(not (classic["refill_claim"] == 0 and classic["refill_degrade"] > 0
              and pool["refill_claim"] > 0 and pool["frees_local"] > 0))'
}
ktap_test_result "a benchmark on node 1's CPU sets the policy of and counts node 1's pool" bench_every_pool

hotplug_under_load() {
	local pids="" rc=0 cpu round
	for _ in 1 2; do "$POOL_TEST" stress 15 & pids="$pids $!"; done
	for round in 1 2; do
		for cpu in $(last_cpu 0) $(last_cpu 1); do
			[ "$cpu" != 0 ] || continue
			echo 0 >/sys/devices/system/cpu/cpu$cpu/online || rc=1
			sleep 0.5
			# Offline: its magazines and caches of both pools are empty.
			for n in 0 1; do
				[ "$(nstat $n cpu$cpu.cached_pages)" = 0 ] || { echo "node$n cpu$cpu.cached_pages $(nstat $n cpu$cpu.cached_pages)"; rc=1; }
			done
			echo 1 >/sys/devices/system/cpu/cpu$cpu/online || rc=1
		done
	done
	for pid in $pids; do wait "$pid" || { echo "stress $pid failed"; rc=1; }; done
	return $rc
}
ktap_test_result "CPU hotplug on both nodes under traffic: offline CPUs hold nothing" hotplug_under_load

ktap_test_result "verify clean on every node, nothing outstanding" \
	sh -c "grep -q '^outstanding_pages: 0$' $DEBUGFS/info && grep -c ': ok$' $DEBUGFS/verify | grep -qx 2"

while_loaded() {
	local n now
	for n in 0 1; do
		now=$(node_free_kb $n)
		eval "echo \"node$n MemFree: \$before$n -> $now kB\""
		# The node's pool took its memory (or, from CMA, memory MemFree counted as free).
		eval "[ \$((before$n - now)) -ge $((SIZE_MB * 1024 * 9 / 10)) ]" || return 1
	done
}
ktap_test_result "each node gave size_mb to its pool" while_loaded

unload_gives_back() {
	local n now rc=0
	rmmod pcpbuddy || return 1
	for n in 0 1; do
		now=$(node_free_kb $n)
		eval "echo \"node$n MemFree: \$before$n -> $now kB after unload\""
		# Within 4 MiB of before (per-CPU lists, slab): the pool's 32 MiB came back.
		eval "[ \$((before$n - now)) -le 4096 ]" || rc=1
	done
	return $rc
}
ktap_test_result "unload gives each node its memory back" unload_gives_back
ktap_finished
