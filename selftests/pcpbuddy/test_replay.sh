#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Replays of recorded allocation traces (PCPBUDDY_IOC_REPLAY, `pcpbctl trace`): the shipped traces
# parse; a tiny recorded trace replays on every backend with well-formed results and leaves the
# pool idle and clean; a hand-made recording with a cross-CPU free, a free of memory allocated
# before the window, a split allocation and one never freed imports and replays as documented
# (Documentation/benchmarks.md, "Replay"); hand-made operation lists give exact counts; bad
# replays give the right errno; a signal cancels a replay cleanly. No timing is asserted.
. "$(dirname "$0")/../lib/pcpbuddy.sh"

PCPBCTL=$TOP/rust/pcpbctl/target/release/pcpbctl
TRACES=$TOP/traces
ktap_print_header
ktap_set_plan 7
mount_debugfs
[ -x "$PCPBCTL" ] || ktap_exit_fail_msg "$PCPBCTL not built (make check builds it)"
[ "$(nproc)" -ge 2 ] || ktap_exit_fail_msg "needs two online CPUs"
load_pool size_mb=64 || ktap_exit_fail_msg "cannot load $MODULE"
work=$(mktemp -d)
# The first two online CPUs.
online=($(for c in /sys/devices/system/cpu/cpu[0-9]*; do
	[ "$(cat "$c/online" 2>/dev/null || echo 1)" = 1 ] && echo "${c##*cpu}"
done | sort -n))
cpu_a=${online[0]} cpu_b=${online[1]}

idle_and_clean() {
	grep -qx 'outstanding_pages: 0' "$DEBUGFS/info" || { grep outstanding "$DEBUGFS/info"; return 1; }
	verify_clean >/dev/null
}

# check_replays FILE BACKENDS: the JSON of `pcpbctl --json trace replay` holds one well-formed
# replay per backend: every allocation made freed once (timed or at the end), failures and
# skipped frees consistent, the pool backends with their three fragmentation samples.
check_replays() {
	python3 - "$1" "$2" <<'EOF'
import json, sys
runs = json.load(open(sys.argv[1]))
want = sys.argv[2].split(",")
assert [r["backend"] for r in runs] == want, [r["backend"] for r in runs]
for r in runs:
    res, cpus = r["result"], r["result"]["cpus"]
    allocs = sum(c["allocs"] for c in cpus)
    fails = sum(c["failures"] for c in cpus)
    frees = sum(c["frees"] for c in cpus) + sum(c["frees_at_end"] for c in cpus)
    assert cpus and allocs > 0, r
    assert frees == allocs, (r["backend"], allocs, frees)
    assert allocs + fails + res["over_budget"] == res["nr_allocs"], (r["backend"], allocs, fails, res)
    assert sum(c["skipped_frees"] for c in cpus) <= fails
    assert sum(c["ops"] for c in cpus) == sum(c["allocs"] + c["failures"] + c["frees"] + c["skipped_frees"] for c in cpus)
    pool = r["backend"] in ("pool", "pool-classic")
    assert len(res["samples"]) == (3 if pool else 0), r["backend"]
    assert (r["summary"]["global_lock_per_1000_ops"] is not None) == pool
    assert r["summary"]["ns_per_op"] is not None
    print(r["backend"], "ok:", allocs, "allocations,", fails, "failures,",
          sum(c["remote_frees"] for c in cpus), "remote frees,",
          sum(c["frees_at_end"] for c in cpus), "freed at the end")
EOF
}

ktap_test_result "the shipped traces parse (pcpbctl trace info)" \
	sh -c "ls $TRACES/*.pcpt.gz $TRACES/test/*.pcpt.gz && $PCPBCTL trace info $TRACES/*.pcpt.gz $TRACES/test/*.pcpt.gz"

tiny() {
	"$PCPBCTL" --json trace replay "$TRACES/test/tiny.pcpt.gz" --cpus "$cpu_a,$cpu_b" >"$work/tiny.json" &&
		check_replays "$work/tiny.json" pool,pool-classic,kernel,floor && idle_and_clean
}
ktap_test_result "a tiny recorded trace replays on every backend: well formed, pool idle, verify clean" tiny

# A recording as tracefs prints it: CPU 0 allocates a page that CPU 1 frees (a cross-CPU free),
# CPU 1 frees a page allocated before the window (dropped), an order-2 allocation is freed in
# three pieces on both CPUs (freed whole at its last piece, on CPU 1), an order-9 one is never
# freed (freed at the end of the replay), and the batched duplicate of a free is ignored.
cat >"$work/hand.trace" <<'EOF'
# tracer: nop
            a-10      [000] .....     1: mm_page_alloc: page=0 pfn=0x1000 order=0 migratetype=0 gfp_flags=GFP_KERNEL
            a-10      [000] .....     2: mm_page_alloc: page=0 pfn=0x2000 order=2 migratetype=0 gfp_flags=GFP_KERNEL
            b-11      [001] .....     3: mm_page_free: page=0 pfn=0x1000 order=0
            b-11      [001] .....     4: mm_page_free_batched: page=0 pfn=0x1000 order=0
            b-11      [001] .....     5: mm_page_free: page=0 pfn=0x9999 order=0
            a-10      [000] .....     6: mm_page_free: page=0 pfn=0x2001 order=0
            b-11      [001] .....     7: mm_page_free: page=0 pfn=0x2000 order=0
            b-11      [001] .....     8: mm_page_free: page=0 pfn=0x2002 order=1
            a-10      [000] .....     9: mm_page_alloc: page=0 pfn=0x3000 order=9 migratetype=0 gfp_flags=GFP_KERNEL
EOF
hand_import() {
	"$PCPBCTL" --json trace import "$work/hand.trace" "$work/hand.pcpt" >"$work/hand.json" &&
		python3 - "$work/hand.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))["summary"]
print(s)
want = dict(ops=5, allocs=3, frees=2, remote_frees=2, dropped_frees=1, dropped_pages=1,
            split_allocs=1, piece_frees=3, unmatched_allocs=1, unmatched_pages=512,
            batched_duplicates=1, peak_live_pages=512, cpus=[0, 1])
bad = {k: (s[k], v) for k, v in want.items() if s[k] != v}
assert not bad, bad
assert s["orders"][0] == 1 and s["orders"][2] == 1 and s["orders"][9] == 1
EOF
}
ktap_test_result "a hand-made recording imports as documented (cross-CPU, unmatched, split, never freed)" hand_import

hand_replay() {
	"$PCPBCTL" --json trace replay "$work/hand.pcpt" --cpus "$cpu_a,$cpu_b" --backends pool,kernel \
		>"$work/hand-replay.json" && check_replays "$work/hand-replay.json" pool,kernel &&
		python3 - "$work/hand-replay.json" <<'EOF' && idle_and_clean
import json, sys
for r in json.load(open(sys.argv[1])):
    cpus = r["result"]["cpus"]
    got = [sum(c[k] for c in cpus) for k in ("allocs", "frees", "remote_frees", "frees_at_end")]
    # Both frees are made by CPU 1's thread, of CPU 0's allocations; the order-9 one is left.
    assert got == [3, 2, 2, 1], (r["backend"], got)
    assert r["result"]["peak_live_pages"] == 512
EOF
}
ktap_test_result "the hand-made trace replays: two remote frees, one free at the end" hand_replay

ktap_test_result "hand-made operation lists on every backend give exact counts (cross-CPU free, live set above the pool)" \
	"$POOL_TEST" replayhand "$cpu_a" "$cpu_b"
ktap_test_result "bad replays give EINVAL, EFAULT, EBUSY and change nothing" "$POOL_TEST" replaybad
ktap_test_result "a signal stops a replay: EINTR, nothing outstanding, verify clean" \
	"$POOL_TEST" replaycancel
rm -rf "$work"
ktap_finished
