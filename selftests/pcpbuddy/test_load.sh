#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The module loads on this kernel and shows its interfaces.
. "$(dirname "$0")/../lib/pcpbuddy.sh"

ktap_print_header
ktap_set_plan 6
mount_debugfs

ktap_test_result "module built for the running kernel" \
	sh -c "modinfo -F vermagic '$MODULE' | grep -q \"^\$(uname -r) \""
ktap_test_result "module loads" load_pool
ktap_test_result "string parameter source= defaults to auto" \
	grep -qx auto /sys/module/pcpbuddy/parameters/source
ktap_test_result "debugfs info readable" sh -c "cat $DEBUGFS/info && grep -q '^pageblock_order: ' $DEBUGFS/info"
ktap_test_result "debugfs info reports the pool size" grep -qx 'size_mb: 64' "$DEBUGFS/info"
ktap_test_result "$DEVICE is a character device" test -c "$DEVICE"
ktap_finished
