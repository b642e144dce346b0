// SPDX-License-Identifier: GPL-2.0

//! What the pool reports about a run: its counters' deltas, fragmentation samples and block
//! maps.

use super::{config::PeakMapDest, zeroed};
use crate::{
    kernel_pool::KernelPool,
    nodes::NodePools,
    pcpcore::{
        block::BlockKind,
        info::{BlockInfo, FragmentationInfo},
        stats::{bench_counter, CpuCounters, GlobalCounters},
    },
    uapi,
};
use core::mem::swap;
use kernel::{
    prelude::*,
    transmute::AsBytes,
    uaccess::{UserPtr, UserSlice},
};

/// The pool's fragmentation now, `ns` into the run.
pub(crate) fn fragmentation_sample(pool: &KernelPool, ns: u64) -> uapi::BenchSample {
    sample_of(pool, pool.core().fragmentation(), ns)
}

/// [`fragmentation_sample`], and every block's state into `map` (index = block; blocks past
/// its end are left out) from the same read, so that the map's counts are the sample's.
pub(crate) fn fragmentation_map(
    pool: &KernelPool,
    ns: u64,
    map: &mut [uapi::BenchBlock],
) -> uapi::BenchSample {
    let info = pool.core().fragmentation_each(|block, b| {
        if let Some(entry) = map.get_mut(block) {
            *entry = block_entry(b);
        }
    });
    sample_of(pool, info, ns)
}

/// A block's map entry.
fn block_entry(b: &BlockInfo) -> uapi::BenchBlock {
    let (state, owner) = match b.kind {
        BlockKind::Free => (uapi::BlockState::Free, uapi::BLOCK_NO_OWNER),
        // CPU numbers are below `nr_cpu_ids`, far below 0xffff.
        BlockKind::Owned(cpu) => (uapi::BlockState::Owned, cpu.min(0xfffe) as u16),
        BlockKind::Fragment => (uapi::BlockState::Fragment, uapi::BLOCK_NO_OWNER),
        BlockKind::Shared => (uapi::BlockState::Shared, uapi::BLOCK_NO_OWNER),
    };
    uapi::BenchBlock {
        state: state.abi() as u8,
        reserved: 0,
        owner,
        free_pages: b.free_pages as u32,
    }
}

/// The block map at the churn peak (`PCPBUDDY_BENCH_PEAK_MAP`), kept by the thread that
/// samples: every sample reads the map along with its counts into a buffer allocated before
/// the run, and the one of the peak so far is kept by swapping buffers, so the run allocates
/// and copies nothing more (its cost is the sample's, which the sampling thread leaves out of
/// its time like every sample's).
///
/// The peak is the sample with the fewest wholly free blocks, then the fewest free pages (the
/// most memory in use, spread over the most blocks); the first of equals.
///
/// # Invariants
///
/// `scratch` and `best` have an entry per block of the pool; `best` is the map of `peak` when
/// `peak` is `Some`.
pub(super) struct PeakMap {
    /// The map of the sample being taken.
    scratch: KVVec<uapi::BenchBlock>,
    /// The map of `peak`.
    best: KVVec<uapi::BenchBlock>,
    /// The peak so far: `None` before the first sample.
    peak: Option<uapi::BenchSample>,
}

impl PeakMap {
    /// A map of the pool's blocks.
    pub(super) fn new(pool: &KernelPool) -> Result<Self> {
        let n = pool.blocks().len();
        // INVARIANT: both maps have the pool's blocks; no peak yet.
        Ok(Self {
            scratch: zeroed(n)?,
            best: zeroed(n)?,
            peak: None,
        })
    }

    /// [`fragmentation_sample`], keeping the map if it is the peak so far.
    pub(super) fn sample(&mut self, pool: &KernelPool, ns: u64) -> uapi::BenchSample {
        let s = fragmentation_map(pool, ns, &mut self.scratch);
        let key = |s: &uapi::BenchSample| (s.free_blocks, s.free_pages);
        if self.peak.is_none_or(|p| key(&s) < key(&p)) {
            // INVARIANT: `scratch` was just filled with `s`'s map.
            swap(&mut self.scratch, &mut self.best);
            self.peak = Some(s);
        }
        s
    }

    /// Writes zeroes where the map will go, up to the pool's blocks: a bad buffer fails
    /// (`EFAULT`) before the run rather than after it.
    pub(super) fn probe(&self, dest: PeakMapDest) -> Result {
        let entries = self.scratch.get(..dest.len).unwrap_or(&self.scratch);
        user(dest, entries).write_slice(entries.as_bytes())
    }

    /// Fills the request's `peak_map_nr` and `peak` and writes the map to the caller: the
    /// first `dest.len` blocks. Nothing if no sample was taken (a run stopped early).
    pub(super) fn write(&self, dest: PeakMapDest, req: &mut uapi::Bench) -> Result {
        let Some(peak) = self.peak else {
            return Ok(());
        };
        let entries = self.best.get(..dest.len).unwrap_or(&self.best);
        user(dest, entries).write_slice(entries.as_bytes())?;
        req.peak_map_nr = self.best.len() as u32;
        req.peak = peak;
        Ok(())
    }
}

/// The caller's buffer for `entries`.
fn user(dest: PeakMapDest, entries: &[uapi::BenchBlock]) -> kernel::uaccess::UserSliceWriter {
    UserSlice::new(UserPtr::from_addr(dest.addr), entries.as_bytes().len()).writer()
}

fn sample_of(pool: &KernelPool, info: FragmentationInfo, ns: u64) -> uapi::BenchSample {
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

/// The pools' counters summed over CPUs (and over the pools, one per node with `node=-1`), and
/// the global ones summed over the pools.
pub(crate) fn counters(pools: &NodePools) -> (CpuCounters, GlobalCounters) {
    let mut cpu = CpuCounters::default();
    let mut global = GlobalCounters::default();
    for pool in pools.iter() {
        cpu.add(&pool.core().total_cpu_stats());
        global.add(&pool.core().global_stats());
    }
    (cpu, global)
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
