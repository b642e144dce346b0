#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The host-native contention benchmark of the allocator core
# (rust/core/benches/contention/): builds it and runs the full set -- 1..N
# threads pinned to the host's cores; repeat, bulk, rand, remote; orders 0 and
# 9; pool, pool-classic, floor -- and writes OUT_DIR/host.md (a report section)
# and OUT_DIR/host.json. No VM, no kernel: see Documentation/benchmarks.md.
#
#   scripts/host-bench.sh OUT_DIR [contention options, e.g. --ops 4194304 --reps 5]
#
# Environment:
#   HOST_BENCH_PROFILE  bench (default: optimised, what `cargo bench` builds) or
#                       kernel-like (optimised, with debug assertions and
#                       overflow checks, as the test kernel builds Rust)
#   HOST_BENCH_RT       1: run under SCHED_FIFO (chrt -f 10; root) so that other
#                       processes cannot preempt the threads: steadier numbers on a
#                       busy machine, which the benchmark holds for the run
#   CARGO_JOBS          cargo -j (default 2)

set -euo pipefail

out=${1:?usage: scripts/host-bench.sh OUT_DIR [contention options]}
shift
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/../rust/core"

profile=${HOST_BENCH_PROFILE:-bench}
case "$profile" in
bench | kernel-like) ;;
*)
	echo "host-bench: HOST_BENCH_PROFILE=$profile: expected bench or kernel-like" >&2
	exit 2
	;;
esac
# Other load skews every number; the report's header records the load average and any
# qemu-system process too.
if pgrep "^qemu-system" >/dev/null; then
	echo "host-bench: warning: a qemu-system process is running: the numbers will be skewed" >&2
fi
rt=()
if [ "${HOST_BENCH_RT:-0}" = 1 ]; then
	rt=(chrt -f 10)
fi
# Build first, so that only the benchmark runs under the real-time policy.
cargo bench -j"${CARGO_JOBS:-2}" --profile "$profile" --bench contention --no-run
"${rt[@]}" cargo bench -j"${CARGO_JOBS:-2}" --profile "$profile" --bench contention -- \
	--md "$out/host.md" --json "$out/host.json" "$@"
echo "host-bench: $out/host.md, $out/host.json ($profile profile)"
