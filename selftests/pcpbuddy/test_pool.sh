#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The pool driven from user space through /dev/pcpbuddy: every order on every CPU, bad input,
# nothing stranded, remote frees, fragment recovery, policy switches; verify after each.
. "$(dirname "$0")/../lib/pcpbuddy.sh"

ncpus=$(nproc)
ktap_print_header
ktap_set_plan 11
mount_debugfs
load_pool size_mb=32 || ktap_exit_fail_msg "cannot load $MODULE"

ktap_test_result "ioctl alloc/free of every order on every CPU, pages usable" "$POOL_TEST" orders
ktap_test_result "bad ioctl input gives EINVAL/EFAULT and changes nothing" "$POOL_TEST" badinput
# The two frees with a wrong order: a smaller order is a wrong order, a larger one is a wrong
# order or a misaligned start, depending on where the allocation landed.
wrong_orders_counted() {
	grep -E 'total.free_errors.(wrong_order|misaligned):' "$DEBUGFS/stats"
	[ $(($(stat total.free_errors.wrong_order) + $(stat total.free_errors.misaligned))) -ge 2 ]
}
ktap_test_result "refused frees are counted (wrong_order, misaligned)" wrong_orders_counted

# Other CPUs first fill their caches (pages freed there stay cached, below "high"); then one
# CPU must still get the whole pool: reclaim pulls the other caches back.
nothing_stranded() {
	local order=$1 cpu
	for cpu in $(seq 1 $((ncpus - 1))); do "$POOL_TEST" warm "$cpu" 300 || return 1; done
	grep 'cached_pages' "$DEBUGFS/stats"
	[ "$(stat cpu1.cached_pages)" -gt 0 ] || { echo "cpu1 cached nothing"; return 1; }
	"$POOL_TEST" exhaust 0 "$order" && verify_clean
}
ktap_test_result "whole pool allocatable from CPU 0 after other CPUs cached pages (order 0)" \
	nothing_stranded 0
ktap_test_result "whole pool allocatable from CPU 0 after other CPUs cached pages (order 9)" \
	nothing_stranded 9

remote_frees() {
	local remote=$(stat cpu2.frees_remote) absorbed=$(stat cpu1.absorbed_pages)
	"$POOL_TEST" remote 1 2 300 || return 1
	"$POOL_TEST" drain 1 || return 1
	echo "cpu2.frees_remote: $remote -> $(stat cpu2.frees_remote)"
	echo "cpu1.absorbed_pages: $absorbed -> $(stat cpu1.absorbed_pages)"
	[ $(($(stat cpu2.frees_remote) - remote)) -ge 300 ] &&
		[ $(($(stat cpu1.absorbed_pages) - absorbed)) -ge 1 ] && verify_clean
}
ktap_test_result "frees on CPU 2 of pages CPU 1 owns go back to CPU 1" remote_frees

fragment_recovery() {
	local created=$(stat global.fragments_created) recovered=$(stat global.fragments_recovered)
	"$POOL_TEST" fragment 1 || return 1
	echo "fragments_created: $created -> $(stat global.fragments_created)"
	echo "fragments_recovered: $recovered -> $(stat global.fragments_recovered)"
	[ "$(stat global.fragments_created)" -gt "$created" ] &&
		[ "$(stat global.fragments_recovered)" -gt "$recovered" ]
}
ktap_test_result "a drained, partly used block becomes a fragment and is recovered first" \
	fragment_recovery

classic_mode() {
	local degrade=$(stat total.refill_degrade)
	"$POOL_TEST" drain -1 || return 1
	echo "ownership 0" >"$DEBUGFS/policy" || return 1
	grep -qx 'ownership: 0' "$DEBUGFS/policy" || return 1
	"$POOL_TEST" warm 1 200 && "$POOL_TEST" remote 1 2 100 || return 1
	echo "refill_degrade: $degrade -> $(stat total.refill_degrade)"
	[ "$(stat total.refill_degrade)" -gt "$degrade" ] || return 1
	echo "ownership=1" >"$DEBUGFS/policy" && grep -qx 'ownership: 1' "$DEBUGFS/policy"
}
ktap_test_result "ownership off at run time: refills degrade to classic batching" classic_mode
ktap_test_result "policy high/batch/fragment_recovery set at run time" \
	sh -c "printf 'high 1024\nbatch 32\nfragment_recovery 0\n' >$DEBUGFS/policy &&
		grep -qx 'high: 1024' $DEBUGFS/policy && grep -qx 'batch: 32' $DEBUGFS/policy &&
		grep -qx 'fragment_recovery: 0' $DEBUGFS/policy &&
		echo 'fragment_recovery 1' >$DEBUGFS/policy"
ktap_test_result "bad policy writes are refused" \
	sh -c "! echo 'batch 0' >$DEBUGFS/policy && ! echo 'bogus 1' >$DEBUGFS/policy &&
		! echo 'ownership 2' >$DEBUGFS/policy && grep -qx 'batch: 32' $DEBUGFS/policy"
ktap_test_result "verify clean, nothing outstanding at the end" \
	sh -c "$POOL_TEST drain -1 && grep -q '^outstanding_pages: 0$' $DEBUGFS/info && \
		grep -c ': ok$' $DEBUGFS/verify | grep -qx 2"
ktap_finished
