#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Another module uses the exported API from every CPU at once, in every calling context, with
# folios, and misuses it on purpose.
. "$(dirname "$0")/../lib/pcpbuddy.sh"

ktap_print_header
ktap_set_plan 12
mount_debugfs
load_pool size_mb=64 || ktap_exit_fail_msg "cannot load $MODULE"

log_mark
start_mark=$LOG_MARK
ktap_test_result "consumer: every context on every CPU, folios, references, misuse refused" \
	insmod "$CONSUMER"
consumer_ok() { log_since | grep 'pcpbuddy_consumer: ok'; }
ktap_test_result "consumer reported success" consumer_ok
ktap_test_result "frees crossed CPUs (remote frees counted)" \
	sh -c "echo frees_remote \$(awk '\$1 == \"total.frees_remote:\" { print \$2 }' $DEBUGFS/stats); \
		[ \$(awk '\$1 == \"total.frees_remote:\" { print \$2 }' $DEBUGFS/stats) -gt 0 ]"
misuse_counted() {
	grep 'free_errors' "$DEBUGFS/stats" | grep '^total' | grep -v ': 0$'
	[ "$(stat total.free_errors.out_of_pool)" -ge 2 ] && [ "$(stat total.free_errors.double_free)" -ge 1 ] &&
		[ "$(stat total.free_errors.wrong_kind)" -ge 2 ] && [ "$(stat total.free_errors.busy)" -ge 1 ] &&
		[ $(( $(stat total.free_errors.wrong_order) + $(stat total.free_errors.misaligned) +
			$(stat total.free_errors.not_allocated) )) -ge 3 ]
}
ktap_test_result "every misuse counted in stats" misuse_counted
# "bad free (<kind>) of page ... order ...": one line per kind (pointer and timestamp differ).
misuse_reported_once() {
	local log kinds
	log=$(log_since) || return 1
	printf '%s\n' "$log" | grep 'bad free ('
	kinds=$(printf '%s\n' "$log" | grep -o 'bad free ([a-z_]*)')
	[ -n "$kinds" ] && [ "$(printf '%s\n' "$kinds" | sort | uniq -d | wc -l)" = 0 ]
}
ktap_test_result "each kind of misuse reported once in the kernel log" misuse_reported_once
ktap_test_result "folios of the pageblock order came back still compound" \
	sh -c "echo folios_kept \$(awk '\$1 == \"total.folios_kept:\" { print \$2 }' $DEBUGFS/stats); \
		[ \$(awk '\$1 == \"total.folios_kept:\" { print \$2 }' $DEBUGFS/stats) -gt 0 ]"
ktap_test_result "pcpbuddy cannot be unloaded while a consumer uses it" \
	sh -c "! rmmod pcpbuddy 2>&1 && test -d /sys/module/pcpbuddy"
ktap_test_result "consumer unloads" rmmod pcpbuddy_consumer
ktap_test_result "verify clean after the consumer" verify_clean

# One block: a cached folio of the pageblock order must be undone when an order-0 allocation
# needs the block, and the kernel's page checks stay quiet when the block goes back.
split_undoes() {
	load_pool size_mb=2 || return 1
	log_mark
	insmod "$CONSUMER" test=split && rmmod pcpbuddy_consumer || return 1
	echo "compound_undone: $(stat total.compound_undone)"
	[ "$(stat total.compound_undone)" -ge 1 ] && verify_clean && unload_pool || return 1
	! log_since | grep -E 'Bad page|BUG'
}
ktap_test_result "a cached folio is undone when its block must be split; unload is clean" split_undoes

# A consumer that unloads while still holding a page: pcpbuddy's unload must not give that
# page's block back to the kernel (it may be in use), and must say so.
leak_withheld() {
	local before after
	unload_pool || return 1
	# CMA blocks are reserved one by one and the CMA area's free count is exact (MemFree moves
	# by a MiB and more between two readings on the debug kernel), so the check can be exact.
	before=$(free_kb CmaFree)
	load_pool size_mb=8 source=cma && insmod "$CONSUMER" test=leak && rmmod pcpbuddy_consumer || return 1
	log_mark
	rmmod pcpbuddy || return 1
	log_since | grep 'withholding 1 pageblocks' || return 1
	after=$(free_kb CmaFree)
	echo "CmaFree: before $before kB, after $after kB"
	# One pageblock (2 MiB on x86-64, as the other tests assume) stays out of the CMA area,
	# the other three came back.
	[ $((before - after)) = 2048 ]
}
ktap_test_result "unload after a consumer leaked a page withholds exactly that block" leak_withheld
log_clean() { ! log_since "$start_mark" | grep -E 'Bad page state|BUG:|WARNING:|possible recursive locking'; }
ktap_test_result "the kernel log of the whole test has no page or lock report" log_clean
ktap_finished
