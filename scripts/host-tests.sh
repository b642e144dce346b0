#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Host tests, run by `make check`: for the allocator core (rust/core)
# formatting, clippy, unit + property + stress tests, a quick run of the host
# contention benchmark (checks, no timing claims), the loom model of the
# remote-free protocol, and the unit tests under Miri when a nightly toolchain
# with Miri is installed; then the ioctl ABI crate's (rust/uapi: the drift test
# against the C header) and pcpbctl's (rust/pcpbctl) checks. Exits non-zero on the first failure.
#
# Environment:
#   PROPTEST_CASES   property-test cases (default 10000)
#   CARGO_JOBS       cargo -j (default 2)
#   HOST_TESTS_MIRI  0 to skip Miri (default: run it if available)

set -euo pipefail

cd "$(dirname "$0")/../rust/core"

jobs=${CARGO_JOBS:-2}
export PROPTEST_CASES=${PROPTEST_CASES:-10000}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

step() {
	echo
	echo "==> [${SECONDS}s] $*"
}

step "cargo fmt --check"
cargo fmt --check

step "cargo clippy --all-targets (warnings are errors)"
cargo clippy -j"$jobs" --all-targets -- -D warnings

step "cargo test (unit, pool, property tests with $PROPTEST_CASES cases, thread stress)"
cargo test -j"$jobs"

step "thread stress, optimised: mixed_stress with STRESS_OPS=${STRESS_OPS:-2000000}"
STRESS_OPS=${STRESS_OPS:-2000000} cargo test -j"$jobs" --release --test stress mixed_stress

step "contention benchmark --quick: results well formed, pool whole after every run (no speed claims)"
bench_out=$(mktemp -d)
cargo bench -j"$jobs" --bench contention -- --quick --md "$bench_out/host.md" --json "$bench_out/host.json"
python3 -m json.tool "$bench_out/host.json" >/dev/null
rm -rf "$bench_out"

step "pair micro-benchmarks (divan) --test: each runs once (no speed claims)"
cargo bench -j"$jobs" --bench pair -- --test

step "loom: remote-free protocol (all interleavings)"
RUSTFLAGS="--cfg loom" cargo test -j"$jobs" --release --target-dir target/loom --test loom

step "miri: unit, pool and stress tests"
if [ "${HOST_TESTS_MIRI:-1}" = 0 ]; then
	echo "SKIP: miri: disabled by HOST_TESTS_MIRI=0"
elif ! cargo +nightly miri --version >/dev/null 2>&1; then
	echo "SKIP: miri: no nightly toolchain with the miri component" \
		"(rustup toolchain install nightly --component miri,rust-src --profile minimal)"
else
	# Miri is ~1000x slower than native: unit tests, pool tests, and the
	# thread stress at Miri size (its data-race detector and weak-memory
	# emulation cover the lock-free path); the property tests run natively.
	# Miri interprets on one core: the stress binary runs beside the others
	# (cargo holds no lock while tests run), which halves this step's time.
	cargo +nightly miri test -j"$jobs" --no-run --lib --test pool --test stress
	miri_stress_log=$(mktemp)
	cargo +nightly miri test --test stress >"$miri_stress_log" 2>&1 &
	miri_stress=$!
	miri_rc=0
	cargo +nightly miri test --lib --test pool || miri_rc=$?
	wait "$miri_stress" || miri_rc=$?
	cat "$miri_stress_log"
	rm -f "$miri_stress_log"
	[ "$miri_rc" = 0 ] || { echo "miri: a test failed (above)" >&2; exit 1; }
fi

step "uapi (rust/uapi): fmt, clippy with and without serde, the drift test against include/uapi/linux/pcpbuddy.h"
(
	cd ../uapi
	cargo fmt --check
	cargo clippy -j"$jobs" --all-targets -- -D warnings
	cargo clippy -j"$jobs" --all-targets --features serde -- -D warnings
	cargo test -j"$jobs"
)

step "pcpbctl: fmt, clippy, unit tests"
(
	cd ../pcpbctl
	cargo fmt --check
	cargo clippy -j"$jobs" --all-targets -- -D warnings
	cargo test -j"$jobs"
)

echo
echo "host-tests: all passed in ${SECONDS}s"
