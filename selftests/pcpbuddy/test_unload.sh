#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A clean unload removes every interface.
. "$(dirname "$0")/../lib/pcpbuddy.sh"

ktap_print_header
ktap_set_plan 3
mount_debugfs
pool_loaded || load_pool || ktap_exit_fail_msg "cannot load $MODULE"

ktap_test_result "module unloads" rmmod pcpbuddy
ktap_test_result "$DEVICE is gone" test ! -e "$DEVICE"
ktap_test_result "debugfs directory is gone" test ! -e "$DEBUGFS"
ktap_finished
