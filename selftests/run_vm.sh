#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs inside the test VM: every selftests/pcpbuddy/test_*.sh (or the ones named),
# each with a time limit, writing OUTDIR/<test>.ktap and OUTDIR/<test>.rc.
# The whole kernel log of the run, from boot to the end, is streamed to OUTDIR/kmsg.txt
# as it is printed (the host scans it: a report in the middle of a test is not lost, and a
# guest that dies leaves what it printed until then); OUTDIR/dmesg.txt is the log at the end.
# The host (scripts/check.sh) reads OUTDIR; the console is not relied upon
# (without udev, virtme-ng's script I/O ports may be missing).
#
# Usage: run_vm.sh OUTDIR [TEST...]   (TEST_TIMEOUT=seconds per test, default 300)
set -u
out=${1:?usage: run_vm.sh OUTDIR [TEST...]}
shift
here=$(cd "$(dirname "$0")" && pwd)
# The long fuzzer and stress runs (FUZZ_LONG=1, STRESS_LONG=1: see test_fuzz.sh, test_stress.sh)
# need more than the usual limit.
if [ -n "${FUZZ_LONG:-}${STRESS_LONG:-}" ]; then
	TEST_TIMEOUT=${TEST_TIMEOUT:-2700}
else
	TEST_TIMEOUT=${TEST_TIMEOUT:-300}
fi

mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
# The log since boot, then every record as it comes (dmesg --follow reads /dev/kmsg and
# skips ahead, rather than stopping, if it ever falls behind the ring buffer); line-buffered
# so that the file is current when the guest dies.
stdbuf -oL dmesg --follow >"$out/kmsg.txt" 2>&1 &
kmsg_pid=$!
echo booted >"$out/booted"
uname -a >"$out/uname.txt"

tests=("$@")
if [ ${#tests[@]} = 0 ]; then
	tests=($(ls "$here"/pcpbuddy/test_*.sh | xargs -n1 basename | sed 's/\.sh$//'))
	# The fuzzer is the test most likely to crash the guest on a module bug: it runs last, so
	# that such a crash does not hide the other tests' results.
	tests=($(printf '%s\n' "${tests[@]}" | grep -vx test_fuzz) test_fuzz)
	# test_numa needs two NUMA nodes: scripts/check.sh runs it in a boot of its own.
	tests=($(printf '%s\n' "${tests[@]}" | grep -vx test_numa))
fi
for t in "${tests[@]}"; do
	# The host attributes kernel log lines (reports, KUnit results) to the test after this line.
	echo "# running $t" >/dev/kmsg
	timeout -k 10 "$TEST_TIMEOUT" bash "$here/pcpbuddy/$t.sh" >"$out/$t.ktap" 2>&1
	echo "$?" >"$out/$t.rc"
done
# Stop the stream once it has everything: the last line is this marker.
echo "# pcpbuddy selftests done" >/dev/kmsg
for _ in $(seq 50); do
	grep -q '# pcpbuddy selftests done' "$out/kmsg.txt" && break
	sleep 0.2
done
kill "$kmsg_pid"
dmesg >"$out/dmesg.txt"
# A lockdep kernel: whether lockdep was still on at the end (debug_locks: 1).
[ ! -r /proc/lockdep_stats ] || cat /proc/lockdep_stats >"$out/lockdep_stats.txt"
echo done >"$out/finished"
