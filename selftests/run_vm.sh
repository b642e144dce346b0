#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs inside the test VM: every selftests/pcpbuddy/test_*.sh (or the ones named),
# each with a time limit, writing OUTDIR/<test>.ktap, then OUTDIR/dmesg.txt.
# The host (scripts/check.sh) reads OUTDIR; the console is not relied upon
# (without udev, virtme-ng's script I/O ports may be missing).
#
# Usage: run_vm.sh OUTDIR [TEST...]
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
echo booted >"$out/booted"
uname -a >"$out/uname.txt"

tests=("$@")
if [ ${#tests[@]} = 0 ]; then
	tests=($(ls "$here"/pcpbuddy/test_*.sh | xargs -n1 basename | sed 's/\.sh$//'))
	# The fuzzer is the test most likely to crash the guest on a module bug: it runs last, so
	# that such a crash does not hide the other tests' results.
	tests=($(printf '%s\n' "${tests[@]}" | grep -vx test_fuzz) test_fuzz)
fi
for t in "${tests[@]}"; do
	echo "# running $t" >/dev/kmsg
	timeout -k 10 "$TEST_TIMEOUT" bash "$here/pcpbuddy/$t.sh" >"$out/$t.ktap" 2>&1
	echo "$?" >"$out/$t.rc"
done
dmesg >"$out/dmesg.txt"
echo done >"$out/finished"
