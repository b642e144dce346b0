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
POOL_TEST=$TOP/selftests/tools/pcpbuddy_test

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

# stat KEY: one value from debugfs "stats" (e.g. stat total.frees_remote).
stat() { awk -v k="$1:" '$1 == k { print $2 }' "$DEBUGFS/stats"; }

meminfo_kb() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }

# shrink_slabs: kmem_cache_shrink() every slab cache (/sys/kernel/slab/*/shrink, SLUB with sysfs).
shrink_slabs() {
	local f
	for f in /sys/kernel/slab/*/shrink; do
		[ -w "$f" ] && echo 1 >"$f"
	done
	return 0
}

# free_kb COUNTER: free memory in kB, measured so that it can be compared before and after.
#   MemFree: /proc/meminfo's MemFree after dropping clean caches (the page cache filled by
#     reading test files over 9p would look like memory we took or leaked) and shrinking every
#     slab cache, plus the pages on the kernel's per-CPU free lists (/proc/zoneinfo "count:"),
#     which MemFree does not count and where pages we give back land first. The shrink matters
#     on the debug kernel: KASAN keeps freed slab objects in its quarantine (seen: ~70 MB in a
#     3 GiB VM, moving by a MiB and more between two readings, enough to fail the leak check of
#     test_consumer), and kmem_cache_shrink() empties a cache's share of the quarantine before
#     it frees the cache's empty slabs; drop_caches alone does neither.
#   CmaFree: the default CMA area's pages not held by any cma_alloc() user
#     (/sys/kernel/mm/cma/<area>/available_pages): exact, whatever the per-CPU lists hold.
free_kb() {
	local kb pcp_kb
	if [ "$1" = CmaFree ]; then
		echo $(( $(cat /sys/kernel/mm/cma/*/available_pages | head -n1) * 4 ))
		return
	fi
	sync; echo 3 >/proc/sys/vm/drop_caches
	shrink_slabs
	kb=$(meminfo_kb "$1")
	pcp_kb=$(awk '$1 == "count:" { n += $2 } END { print n * 4 }' /proc/zoneinfo)
	echo $((kb + pcp_kb))
}

# verify_clean: the pool's invariant checker finds nothing (the pool must be idle).
verify_clean() {
	cat "$DEBUGFS/verify"
	[ "$(grep -c ': ok$' "$DEBUGFS/verify")" = 2 ]
}

# The tests never clear the kernel log (no dmesg -C): `make check` scans the whole run's log.
# To look at what was printed since a point, mark it:
#   log_mark      write a unique marker line to the kernel log
#   log_since [MARK]  print the kernel log after the last log_mark (or after MARK, an earlier
#                     $LOG_MARK); fails if the mark is gone
LOG_MARK_N=0
log_mark() {
	LOG_MARK_N=$((LOG_MARK_N + 1))
	LOG_MARK="pcpbuddy selftest mark $$.$LOG_MARK_N"
	echo "$LOG_MARK" >/dev/kmsg
}
log_since() {
	local mark=${1:-${LOG_MARK:-}}
	[ -n "$mark" ] || { echo "log_since without log_mark" >&2; return 1; }
	dmesg | awk -v m="$mark" 'found { print; next } index($0, m) { found = 1 }
		END { if (!found) print "log_since: mark \"" m "\" not in the kernel log" > "/dev/stderr"
			exit !found }'
}
