#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# pcpbctl, the CLI, against the real module: every subcommand answers, --json parses, errors are
# one clear line with a non-zero exit.
. "$(dirname "$0")/../lib/pcpbuddy.sh"

PCPBCTL=$TOP/rust/pcpbctl/target/release/pcpbctl
ktap_print_header
ktap_set_plan 10
mount_debugfs
[ -x "$PCPBCTL" ] || ktap_exit_fail_msg "$PCPBCTL not built (make check builds it)"
load_pool size_mb=32 || ktap_exit_fail_msg "cannot load $MODULE"

json_ok() { "$@" | python3 -c 'import json, sys; json.load(sys.stdin)'; }
ktap_test_result "pcpbctl info" sh -c "$PCPBCTL info | tee /dev/stderr | grep -Eq '^nr_pages +8192$'"
ktap_test_result "pcpbctl --json info parses" json_ok "$PCPBCTL" --json info
ktap_test_result "pcpbctl stats and blocks" sh -c "$PCPBCTL stats && $PCPBCTL blocks"
ktap_test_result "pcpbctl policy set and show" \
	sh -c "$PCPBCTL policy high=1500 && grep -qx 'high: 1500' $DEBUGFS/policy && $PCPBCTL policy high=2048"
ktap_test_result "pcpbctl verify" "$PCPBCTL" verify
ktap_test_result "pcpbctl bench prints a table with ratios" \
	sh -c "$PCPBCTL bench repeat --order 0 --ops 500 | tee /dev/stderr | grep -q 'pool / kernel'"
ktap_test_result "pcpbctl --json bench parses" json_ok "$PCPBCTL" --json bench bulk --order 0 --ops 200
bad_bench() {
	local out
	out=$("$PCPBCTL" bench repeat --order 12 --ops 10 2>&1) && return 1
	echo "$out"
	[ "$(echo "$out" | wc -l)" -le 3 ] && echo "$out" | grep -qi 'invalid\|refused\|order'
}
ktap_test_result "pcpbctl bench with a bad order fails with a clear message" bad_bench
# A tiny CPU sweep (with a tiny trace): a table per series, a point per backend and CPU count.
sweep_ok() {
	local dir n
	dir=$(mktemp -d)
	"$PCPBCTL" sweep --out "$dir" --max-cpus 2 --ops 100 \
		--traces "$TOP/traces/test/tiny.pcpt.gz" --mode test >/dev/null || return 1
	grep '^## ' "$dir/sweep.md"
	n=$(python3 -c "import json,sys; p=json.load(open('$dir/sweep.json')); print(len(p))" 2>/dev/null ||
		grep -c '"series"' "$dir/sweep.json")
	echo "points: $n"
	# bulk at two orders on 1 and 2 CPUs, remote on 2, the trace on 1 and 2: 4 backends each.
	[ "$n" = $(((2 * 2 + 1 + 2) * 4)) ] && grep -q '^## remote order 0' "$dir/sweep.md" &&
		grep -q '^## replay tiny' "$dir/sweep.md" && ls "$dir"/sweep_*.svg >/dev/null &&
		"$PCPBCTL" verify
}
ktap_test_result "pcpbctl sweep: bulk, remote and a trace on 1 and 2 CPUs, every backend" sweep_ok
no_module() {
	local out
	unload_pool || return 1
	out=$("$PCPBCTL" info 2>&1) && return 1
	echo "$out"
	[ "$(echo "$out" | wc -l)" = 1 ] && echo "$out" | grep -q 'loaded'
}
ktap_test_result "pcpbctl without the module: one line, non-zero exit" no_module
ktap_finished
