#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# /dev/pcpbuddy answers its ioctls and rejects bad ones with the right errno.
. "$(dirname "$0")/../lib/pcpbuddy.sh"

ktap_print_header
ktap_set_plan 3
pool_loaded || load_pool || ktap_exit_fail_msg "cannot load $MODULE"

ktap_test_result "ioctl INFO answers with sane values" "$POOL_TEST" info
ktap_test_result "unknown or mis-sized ioctl gives ENOTTY" "$POOL_TEST" enotty
ktap_test_result "ioctl to a bad pointer gives EFAULT" "$POOL_TEST" efault
ktap_finished
