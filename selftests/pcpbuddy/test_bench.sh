#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Every benchmark pattern x backend runs at a tiny size with well-formed results and leaves the
# pool idle and clean; bad parameters give the right errno; churn's peak block map agrees with
# its sample (and ABI 1's command still runs); a signal cancels a run cleanly.
# No timing is asserted: numbers belong to `make bench`.
. "$(dirname "$0")/../lib/pcpbuddy.sh"

patterns="repeat bulk rand remote exit churn"
backends="pool pool-classic kernel floor"
all=$(( (1 << $(nproc)) - 1 ))
ktap_print_header
ktap_set_plan $((6 * 4 * 2 + 3))
mount_debugfs
load_pool size_mb=64 || ktap_exit_fail_msg "cannot load $MODULE"

p=0
for pattern in $patterns; do
	b=0
	for backend in $backends; do
		ktap_test_result "bench $pattern $backend order 0" "$POOL_TEST" bench $p $b 0 500 $all 0 0
		ktap_test_result "bench $pattern $backend order 9" "$POOL_TEST" bench $p $b 9 20 $all 0 0
		b=$((b + 1))
	done
	p=$((p + 1))
done
ktap_test_result "bad benchmark parameters give EINVAL, EFAULT, EBUSY" "$POOL_TEST" benchbad
ktap_test_result "churn peak block maps: whole, short, and ABI 1's command without one" \
	"$POOL_TEST" benchmap 2 2000 $all
ktap_test_result "a signal stops a run: EINTR, nothing outstanding, verify clean" \
	"$POOL_TEST" benchcancel
ktap_finished
