// SPDX-License-Identifier: GPL-2.0

//! What the pool reports about a run: its counters' deltas and fragmentation samples.

use crate::{
    kernel_pool::KernelPool,
    pcpcore::stats::{bench_counter, CpuCounters, GlobalCounters},
    uapi,
};

/// The pool's fragmentation now, `ns` into the run.
pub(crate) fn fragmentation_sample(pool: &KernelPool, ns: u64) -> uapi::BenchSample {
    let info = pool.core().fragmentation();
    let top = pool.block_order();
    // Read without locks while CPUs run: the two sums may disagree a little; never below zero.
    let unusable = info.free_pages.saturating_sub(info.usable_pages(top));
    uapi::BenchSample {
        ns,
        free_pages: info.free_pages as u32,
        free_blocks: info.free_blocks as u32,
        owned_blocks: info.owned_blocks as u32,
        fragment_blocks: info.fragment_blocks as u32,
        shared_blocks: info.shared_blocks as u32,
        unusable_max_milli: (unusable * 1000).checked_div(info.free_pages).unwrap_or(0) as u32,
    }
}

/// The pool's counters summed over CPUs, and the global ones.
pub(crate) fn counters(pool: &KernelPool) -> (CpuCounters, GlobalCounters) {
    (pool.core().total_cpu_stats(), pool.core().global_stats())
}

/// The ABI's bench counters over a run: the deltas of the pool's counters from `before` to
/// `after`, by name (`stats::bench_counter`).
pub(crate) fn counter_delta(
    before: &(CpuCounters, GlobalCounters),
    after: &(CpuCounters, GlobalCounters),
) -> uapi::BenchCounters {
    let c = after.0.since(&before.0);
    let g = after.1.since(&before.1);
    // Every name has a source: the core's host test `every_bench_counter_has_a_source`.
    uapi::BenchCounters::from_fn(|name| bench_counter(&c, &g, name).unwrap_or(0))
}
