// SPDX-License-Identifier: GPL-2.0

//! What the pool reports about a run: its counters' deltas and fragmentation samples.

use crate::{
    kernel_pool::KernelPool,
    pcpcore::stats::{CpuCounters, GlobalCounters},
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

pub(crate) fn counter_delta(
    before: &(CpuCounters, GlobalCounters),
    after: &(CpuCounters, GlobalCounters),
) -> uapi::BenchCounters {
    let c = after.0.since(&before.0);
    let g = after.1.since(&before.1);
    uapi::BenchCounters {
        global_locks: c.global_locks,
        refill_recover: c.refill_recover,
        refill_claim: c.refill_claim,
        refill_degrade: c.refill_degrade,
        // Frees by the block's owner: into its magazine, or merged at once (large orders).
        frees_local: c.frees_fast + c.frees_local,
        frees_remote: c.frees_remote,
        frees_loose: c.frees_loose,
        absorbs: c.absorbs,
        merges_local: c.merges_local,
        merges_global: g.merges_global,
        drains: c.drains,
        trims: c.trims,
        reclaims: c.reclaims,
        blocks_claimed: g.blocks_claimed,
        blocks_returned: g.blocks_returned,
        fragments_created: g.fragments_created,
        fragments_recovered: g.fragments_recovered,
        fallbacks: c.fallbacks,
    }
}
