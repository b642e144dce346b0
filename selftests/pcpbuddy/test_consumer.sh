#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Another module calls the exported Rust API; pcpbuddy stays pinned while it is loaded.
. "$(dirname "$0")/../lib/pcpbuddy.sh"

ktap_print_header
ktap_set_plan 4
pool_loaded || load_pool || ktap_exit_fail_msg "cannot load $MODULE"

dmesg -C
ktap_test_result "consumer module calls pcpbuddy_get_info()" insmod "$CONSUMER"
ktap_test_result "consumer saw the pool's info" sh -c "dmesg | grep 'pcpbuddy_consumer: ok'"
ktap_test_result "pcpbuddy cannot be unloaded while a consumer uses it" \
	sh -c "! rmmod pcpbuddy 2>&1 && test -d /sys/module/pcpbuddy"
ktap_test_result "consumer unloads" rmmod pcpbuddy_consumer
ktap_finished
