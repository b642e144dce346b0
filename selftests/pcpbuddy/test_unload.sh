#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Unloading is refused while user space holds pages; a clean unload removes every interface.
. "$(dirname "$0")/../lib/pcpbuddy.sh"

ktap_print_header
ktap_set_plan 5
mount_debugfs
load_pool size_mb=8 || ktap_exit_fail_msg "cannot load $MODULE"

refused_while_held() {
	local fifo=/tmp/pcpbuddy-hold.$$ pid rc=0
	mkfifo "$fifo"
	"$POOL_TEST" hold 10 >"$fifo" &
	pid=$!
	read -r line <"$fifo"
	rm -f "$fifo"
	[ "$line" = held ] || { kill $pid; return 1; }
	grep '^outstanding_pages' "$DEBUGFS/info"
	grep -qx 'outstanding_pages: 10' "$DEBUGFS/info" || rc=1
	rmmod pcpbuddy 2>&1 && { echo "rmmod succeeded with pages held"; rc=1; }
	pool_loaded || rc=1
	kill $pid; wait $pid 2>/dev/null
	# Closing the file gave the pages back.
	grep -qx 'outstanding_pages: 0' "$DEBUGFS/info" || rc=1
	return $rc
}
ktap_test_result "unload refused while an open file holds pages; closing frees them" refused_while_held
ktap_test_result "verify clean" verify_clean
ktap_test_result "module unloads" rmmod pcpbuddy
ktap_test_result "$DEVICE is gone" test ! -e "$DEVICE"
ktap_test_result "debugfs directory is gone" test ! -e "$DEBUGFS"
ktap_finished
