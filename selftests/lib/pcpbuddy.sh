# SPDX-License-Identifier: GPL-2.0
# Helpers shared by pcpbuddy's selftests. Sourced, never run.
#
# The tests run as root inside the test VM, with the host's file system (and so
# this checkout, already built) visible at the same path.

SELFTESTS=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOP=$(cd "$SELFTESTS/.." && pwd)
MODULE=$TOP/pcpbuddy.ko
CONSUMER=$TOP/selftests/modules/pcpbuddy_consumer.ko
DEBUGFS=/sys/kernel/debug/pcpbuddy
DEVICE=/dev/pcpbuddy
UAPI_TEST=$TOP/selftests/tools/uapi_test

. "$SELFTESTS/lib/ktap.sh"

pool_loaded() { [ -d /sys/module/pcpbuddy ]; }

# load_pool [PARAM=VALUE...]: (re)load the module with these parameters.
load_pool() {
	unload_pool || return 1
	insmod "$MODULE" "$@"
}

unload_pool() {
	pool_loaded || return 0
	rmmod pcpbuddy
}

mount_debugfs() {
	mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
}
