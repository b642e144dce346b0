# SPDX-License-Identifier: GPL-2.0
# Shared settings for pcpbuddy's scripts. Sourced, never run.
#
# Everything the project installs or builds outside the checkout lives under
# $PCPBUDDY_CACHE (default ~/.cache/pcpbuddy), so a fresh clone reuses it and a
# `make clean` in the checkout never throws away a 16-minute kernel build.

set -euo pipefail

PCPBUDDY_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PCPBUDDY_CACHE=${PCPBUDDY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pcpbuddy}

# Pinned versions: bump deliberately, the kernel build cache is keyed on them.
LLVM_VERSION=19
BINDGEN_VERSION=0.73.2
VIRTME_NG_VERSION=1.42
KERNEL_SOURCE_PKG=linux-source-7.3

export PATH="$HOME/.cargo/bin:$PCPBUDDY_CACHE/venv/bin:$PATH"
export LIBCLANG_PATH=/usr/lib/llvm-$LLVM_VERSION/lib

log() { printf '[pcpbuddy] %s\n' "$*" >&2; }
die() { printf '[pcpbuddy] error: %s\n' "$*" >&2; exit 1; }

# need CMD PACKAGE: fail with a message naming the package that provides CMD.
need() {
	command -v "$1" >/dev/null 2>&1 ||
		die "'$1' not found; install the '$2' package (or run scripts/setup.sh)"
}

# Which test kernel: "default" (scripts/kernel.config) or "debug" (kernel.config plus
# scripts/kernel-debug.config: KASAN, lockdep, UBSAN, ...; `make check-debug`). vm.sh, check.sh
# and bench.sh use the variant named here.
PCPBUDDY_KERNEL=${PCPBUDDY_KERNEL:-default}
case "$PCPBUDDY_KERNEL" in
default|debug) ;;
*) die "PCPBUDDY_KERNEL=$PCPBUDDY_KERNEL: expected default or debug" ;;
esac

# The config fragments of the current variant, in the order allnoconfig gets them.
kernel_fragments() {
	echo "$PCPBUDDY_TOP/scripts/kernel.config"
	[ "$PCPBUDDY_KERNEL" = default ] || echo "$PCPBUDDY_TOP/scripts/kernel-$PCPBUDDY_KERNEL.config"
}

# The directory of the kernel build for the current source, fragments and toolchain.
# Set KDIR to use a kernel build of your own instead (it must have CONFIG_RUST=y).
# The default kernel's key is source + kernel.config + toolchain versions; a variant's key
# also hashes its own fragment (after kernel.config), and its directory is named after it:
#   build/<source>-<key>          the default kernel
#   build/<source>-debug-<key>    the debug kernel
kernel_build_dir() {
	if [ -n "${KDIR:-}" ]; then
		echo "$KDIR"
		return
	fi
	local key_file="$PCPBUDDY_CACHE/src/current"
	[ -f "$key_file" ] || die "no kernel source yet: run scripts/setup.sh kernel"
	local src key variant=
	src=$(cat "$key_file")
	key=$( {
		echo "$src"
		cat $(kernel_fragments)
		rustc --version
		bindgen --version 2>/dev/null
		clang-$LLVM_VERSION --version | head -n1
	} | sha256sum | cut -c1-16)
	[ "$PCPBUDDY_KERNEL" = default ] || variant=$PCPBUDDY_KERNEL-
	echo "$PCPBUDDY_CACHE/build/$(basename "$src")-$variant$key"
}

# What kernel checkers print: a kernel log line matching this (extended regex) is a failure
# of `make check` (and `make bench`). Generic splats; KASAN ("BUG: KASAN: ..."); lockdep
# (its reports are "WARNING: ..." headers; it also says when it turns itself off); RCU misuse
# and stalls; UBSAN; sleeping in atomic context and smp_processor_id() in preemptible code
# (both "BUG: ..."); Rust panics; the page allocator's and DEBUG_LIST's consistency checks;
# lockup and hung-task detectors.
# What the selftests provoke on purpose does not match: pcpbuddy's own "bad free (...)",
# "reserved only ..." and "withholding ..." error lines, KUnit's KTAP output, the markers the
# tests write to /dev/kmsg. KERNEL_LOG_IGNORE (extended regex) drops more lines if ever needed.
KERNEL_LOG_BAD='BUG:|WARNING:|Oops|RIP:|Call Trace:|Kernel panic|kernel BUG at'
KERNEL_LOG_BAD+='|possible recursive locking|inconsistent lock state|possible circular locking'
KERNEL_LOG_BAD+='|possible irq lock inversion|suspicious RCU usage|Invalid wait context'
KERNEL_LOG_BAD+='|debug_locks off|turning off the locking correctness validator|lockdep is turned off'
KERNEL_LOG_BAD+='|UBSAN:|sleeping function called from invalid context|smp_processor_id\(\) in preemptible'
KERNEL_LOG_BAD+='|panicked at|Bad page (state|map)|Bad rss-counter|list_(add|del) corruption'
KERNEL_LOG_BAD+='|rcu_[a-z_]+ self-detected stall|rcu_[a-z_]+ detected (expedited )?stalls'
KERNEL_LOG_BAD+='|soft lockup|hung task|blocked for more than [0-9]+ seconds'

# kernel_log_reports FILE...: print the lines of these kernel logs (dmesg format) that
# KERNEL_LOG_BAD matches, each prefixed with the selftest that was running when the kernel
# printed it (run_vm.sh writes "# running <test>" to the log); true if there was any.
kernel_log_reports() {
	awk -v bad="$KERNEL_LOG_BAD" -v ignore="${KERNEL_LOG_IGNORE:-}" '
		FNR == 1 { test = "boot" }
		{ line = $0; sub(/^\[[ 0-9.]+\] /, "", line) }
		line ~ /^# running test_/ { test = line; sub(/^# running /, "", test); next }
		line ~ bad && !(ignore != "" && line ~ ignore) { print "[" test "] " $0; n++ }
		END { exit n == 0 }' "$@"
}

# kunit_log_results FILE: every result of the module's KUnit suites (pcpbuddy_*) in a kernel
# log that holds the whole run, one line each: "LOAD TEST SUITE RESULT CASE", where LOAD
# counts the module's loads (a suite seen again starts a new one), TEST is the selftest that
# was running, RESULT is ok, skip or fail. A suite that failed without a failing case (its
# init failed) gives "fail" with CASE "(suite)". The kernel's own suites (at boot) are not
# pcpbuddy_* and are left out.
kunit_log_results() {
	awk '
		BEGIN { load = 0; test = "boot" }
		{ line = $0; sub(/^\[[ 0-9.]+\] /, "", line) }
		line ~ /^# running test_/ { test = line; sub(/^# running /, "", test); next }
		match(line, /^ *# Subtest: /) {
			ind = RLENGTH - length("# Subtest: ")
			if (suite != "" && ind > indent) next	# a parameterised case inside the suite
			name = substr(line, RLENGTH + 1); sub(/[ \t]+$/, "", name)
			if (name !~ /^pcpbuddy_/) { suite = ""; next }
			if (name in seen || load == 0) { load++; delete seen }
			seen[name] = 1; suite = name; indent = ind
			failed_cases = 0
			next
		}
		suite != "" && match(line, /^ *(not )?ok [0-9]+ /) {
			ind = line; sub(/[^ ].*/, "", ind); ind = length(ind)
			rest = substr(line, RLENGTH + 1); cname = rest; sub(/ .*/, "", cname)
			res = (line ~ /^ *not ok /) ? "fail" : (rest ~ /# SKIP/ ? "skip" : "ok")
			if (ind == indent) {
				print load, test, suite, res, cname
				if (res == "fail") failed_cases++
			} else if (ind < indent) {
				if (res == "fail" && failed_cases == 0) print load, test, suite, "fail", "(suite)"
				suite = ""
			}
		}' "$1"
}
