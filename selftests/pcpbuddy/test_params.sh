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
ktap_set_plan 8
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
ktap_finished
