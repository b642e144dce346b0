#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# CPUs go offline and online under allocation load: an offline CPU's cache is drained, nothing
# is lost, and the pool verifies clean afterwards.
. "$(dirname "$0")/../lib/pcpbuddy.sh"

cpus=$(seq -s " " 1 $(($(nproc --all) - 1)))
ktap_print_header
mount_debugfs
if [ -z "$cpus" ] || [ ! -w /sys/devices/system/cpu/cpu1/online ]; then
	ktap_set_plan 1
	ktap_test_skip "CPU hotplug under load" "needs a second CPU that can go offline"
	ktap_finished
fi
ktap_set_plan 4
load_pool size_mb=64 || ktap_exit_fail_msg "cannot load $MODULE"

hotplug_under_load() {
	local pids="" rc=0 cpu round
	for _ in 1 2; do "$POOL_TEST" stress 15 & pids="$pids $!"; done
	for round in 1 2 3; do
		for cpu in $cpus; do
			echo 0 >/sys/devices/system/cpu/cpu$cpu/online || rc=1
			sleep 0.5
			echo 1 >/sys/devices/system/cpu/cpu$cpu/online || rc=1
		done
	done
	for pid in $pids; do wait "$pid" || { echo "stress $pid failed"; rc=1; }; done
	return $rc
}
ktap_test_result "alloc/free from every CPU while CPUs go offline and online" hotplug_under_load

offline_drains() {
	local cpu=${cpus##* }
	"$POOL_TEST" warm "$cpu" 300 || return 1
	echo "cpu$cpu.cached_pages before offline: $(stat cpu$cpu.cached_pages)"
	[ "$(stat cpu$cpu.cached_pages)" -gt 0 ] || return 1
	echo 0 >/sys/devices/system/cpu/cpu$cpu/online || return 1
	echo "cpu$cpu.cached_pages while offline: $(stat cpu$cpu.cached_pages)"
	[ "$(stat cpu$cpu.cached_pages)" = 0 ] || return 1
	echo 1 >/sys/devices/system/cpu/cpu$cpu/online
}
ktap_test_result "an offline CPU's cache is drained" offline_drains
ktap_test_result "the whole pool is still allocatable" "$POOL_TEST" exhaust 0 0
ktap_test_result "verify clean, nothing outstanding" \
	sh -c "grep -q '^outstanding_pages: 0$' $DEBUGFS/info && grep -c ': ok$' $DEBUGFS/verify | grep -qx 2"
ktap_finished
