#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Bad module parameters are refused with EINVAL and leave nothing behind; good ones load.
. "$(dirname "$0")/../lib/pcpbuddy.sh"

# expect_einval PARAMS...: insmod must fail with "Invalid argument" and not leave the module.
expect_einval() {
	local out
	unload_pool || return 1
	out=$(insmod "$MODULE" "$@" 2>&1) && { echo "insmod $* succeeded"; return 1; }
	echo "$out"
	echo "$out" | grep -qE 'Invalid (argument|parameters)' && ! pool_loaded
}

ktap_print_header
ktap_set_plan 10
mount_debugfs

ktap_test_result "source=bogus gives EINVAL" expect_einval source=bogus
ktap_test_result "size_mb=0 gives EINVAL" expect_einval size_mb=0
ktap_test_result "size_mb=3 (not a pageblock multiple) gives EINVAL" expect_einval size_mb=3
ktap_test_result "node=63 (offline) gives EINVAL" expect_einval node=63
for source in cma contig pages; do
	ktap_test_result "source=$source loads" \
		sh -c "rmmod pcpbuddy 2>/dev/null; insmod '$MODULE' source=$source size_mb=8 &&
			grep -qx 'source: $source' $DEBUGFS/info"
done
ktap_test_result "node=0 loads" load_pool node=0
ktap_test_result "node=-3 gives EINVAL" expect_einval node=-3
# node=-1: one pool per node with memory; on a VM with one node, that is one pool, as before.
one_node_is_one_pool() {
	local nodes
	nodes=$(ls -d /sys/devices/system/node/node[0-9]* | wc -l)
	load_pool node=-1 size_mb=8 || return 1
	grep -E '^(node|nr_pools|pool_nodes|nr_pages):' "$DEBUGFS/info"
	grep -qx "nr_pools: $nodes" "$DEBUGFS/info" &&
		grep -qx "nr_pages: $((nodes * 8 * 256))" "$DEBUGFS/info" &&
		[ -d "$DEBUGFS/node0" ] && "$POOL_TEST" orders && verify_clean
}
ktap_test_result "node=-1 loads one pool per node ($(ls -d /sys/devices/system/node/node[0-9]* | wc -l) here)" one_node_is_one_pool
ktap_finished
