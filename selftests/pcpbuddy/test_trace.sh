#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# pcpbuddy's tracepoints (Documentation/tracing.md) fire with the right fields: read back from
# tracefs while the pool allocates, frees across CPUs, drains, recovers a fragment and reclaims.
. "$(dirname "$0")/../lib/pcpbuddy.sh"

TRACEFS=/sys/kernel/tracing
EVENTS=$TRACEFS/events/pcpbuddy

ktap_print_header
mount_debugfs
mountpoint -q $TRACEFS || mount -t tracefs nodev $TRACEFS 2>/dev/null
if [ "$(nproc)" -lt 2 ]; then
	ktap_set_plan 1
	ktap_test_skip "pcpbuddy tracepoints" "needs two online CPUs (remote frees, reclaim)"
	ktap_finished
fi
ktap_set_plan 9
# Two blocks, so that a second CPU's allocation of the block order must reclaim.
load_pool size_mb=4 || ktap_exit_fail_msg "cannot load $MODULE"

ktap_test_result "events/pcpbuddy/ has the six events" \
	sh -c "ls $EVENTS; for e in alloc free refill drain fragment reclaim; do
		test -d $EVENTS/pcpbuddy_\$e || exit 1; done"

trace=$(mktemp)
run_traced() {
	local allocs frees
	echo 0 >$TRACEFS/tracing_on
	echo >$TRACEFS/trace
	echo 1 >$EVENTS/enable
	echo 1 >$TRACEFS/tracing_on
	allocs=$(stat total.allocs) frees=$(stat total.freed_pages)
	"$POOL_TEST" remote 0 1 64 &&		# CPU 0 allocates, CPU 1 frees: remote
		"$POOL_TEST" fragment 0 &&	# a drained partly used block, recovered
		"$POOL_TEST" warm 0 16 &&	# CPU 0 caches a block again
		"$POOL_TEST" exhaust 1 9 || return 1	# CPU 1 needs both blocks: reclaim
	echo 0 >$EVENTS/enable
	cp $TRACEFS/trace "$trace"
	echo "allocs $((  $(stat total.allocs) - allocs )) freed_pages $(( $(stat total.freed_pages) - frees ))" \
		>"$trace.counts"
	grep -c 'pcpbuddy_' "$trace"
}
ktap_test_result "traffic with every event enabled" run_traced

# hex(s): the value of a 0x... string (mawk has no strtonum).
AWK_HEX='function hex(s,   i, v) { s = tolower(s); sub(/^0x/, "", s); v = 0
	for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
	return v }'

# The pool's pfn range, from debugfs blocks: first block's pfn .. last block's + block pages.
pool_pfns() {
	awk "$AWK_HEX"' NR > 1 { pfn = hex($2); if (min == "" || pfn < min) min = pfn;
		if (pfn > max) max = pfn } END { print min, max + 512 }' "$DEBUGFS/blocks"
}

# Every alloc/free event names a pfn of the pool and an order 0..9; as many allocs and frees
# as the counters counted (the ring buffer is far from full).
alloc_free_fields() {
	local lo hi
	read -r lo hi < <(pool_pfns)
	cat "$trace.counts"
	awk -v lo="$lo" -v hi="$hi" "$AWK_HEX"'
		/pcpbuddy_(alloc|free):/ {
			if (!match($0, /pfn=0x[0-9a-f]+ order=[0-9]+ folio=[01] (slow|remote)=[01]/)) { bad++; next }
			split(substr($0, RSTART, RLENGTH), f, /[ =]/)
			pfn = hex(f[2])
			if (pfn < lo || pfn >= hi || f[4] > 9) { print "out of range: " $0; bad++ }
			if ($0 ~ /pcpbuddy_alloc:/) a++; else fr++
		}
		END { printf "alloc events %d, free events %d, bad %d\n", a, fr, bad; exit bad != 0 }' "$trace" || return 1
	[ "$(grep -c 'pcpbuddy_alloc:' "$trace")" = "$(awk '{ print $2 }' "$trace.counts")" ] &&
		[ "$(grep -c 'pcpbuddy_free:' "$trace")" -ge 64 ]
}
ktap_test_result "alloc and free events: pool pfns, orders, one per counted allocation" alloc_free_fields

# The frees of CPU 0's pages on CPU 1 are remote, and recorded on CPU 1.
remote_frees() {
	local n
	n=$(grep -E '\[001\].*pcpbuddy_free: .* remote=1' "$trace" | wc -l)
	echo "remote frees on CPU 1: $n"
	[ "$n" -ge 64 ]
}
ktap_test_result "frees of another CPU's pages: remote=1 on the freeing CPU" remote_frees
ktap_test_result "allocations both from the magazine (slow=0) and the slow path (slow=1)" \
	sh -c "grep -q 'pcpbuddy_alloc: .* slow=0' $trace && grep -q 'pcpbuddy_alloc: .* slow=1' $trace"
ktap_test_result "refill: a claim, and the recovery of the fragment" \
	sh -c "grep 'pcpbuddy_refill:' $trace | sort | uniq -c | head;
		grep -q 'pcpbuddy_refill: order=0 phase=claim count=[1-9]' $trace &&
		grep -q 'pcpbuddy_refill: order=[0-9] phase=recover count=1' $trace"
ktap_test_result "fragment created by the drain, then recovered" \
	sh -c "grep 'pcpbuddy_fragment:' $trace; grep -q 'event=created' $trace && grep -q 'event=recovered' $trace"
# CPU 1's second order-9 allocation finds the other block cached by CPU 0: it reclaims (drains
# the other caches; CPU 0's magazine is out of its reach until the flush that follows).
ktap_test_result "drain of CPU 0, and a reclaim for an order-9 allocation" \
	sh -c "grep -E 'pcpbuddy_(drain|reclaim):' $trace | head;
		grep -q 'pcpbuddy_drain: cpu=0 kind=drain pages=[1-9]' $trace &&
		grep -Eq 'pcpbuddy_reclaim: order=9 drained=[0-9]+ satisfied=[01]' $trace"
ktap_test_result "verify clean; unload" sh -c "verify_clean() { [ \$(grep -c ': ok\$' $DEBUGFS/verify) = 2 ]; }; verify_clean && rmmod pcpbuddy"
rm -f "$trace" "$trace.counts"
ktap_finished
