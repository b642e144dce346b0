//! Reading the pool: counters, the block map, fragmentation, the invariant checker, and
//! handing the memory back at the end.
//!
//! Counters are read without any lock, from any context (see `stats.rs`); the block and
//! fragmentation views read the metadata without locks too, so under traffic they are
//! snapshots that may be slightly stale.

use core::sync::atomic::Ordering::Relaxed;

use super::super::block::BlockKind;
use super::super::error::VerifyError;
use super::super::info::{BlockInfo, FragmentationInfo};
use super::super::magazine::Magazine;
use super::super::stats::{CpuCounters, GlobalCounters};
use super::super::unit::{self, CACHED, FREE, PARKED};
use super::super::verify;
use super::{Lock, Platform, Pool};

impl<Pl: Platform> Pool<Pl> {
    /// Counters of one CPU.
    pub fn cpu_stats(&self, cpu: usize) -> Option<CpuCounters> {
        (cpu < self.nr_cpus()).then(|| self.platform.cpu_stats(cpu).snapshot())
    }

    /// Sum of all CPUs' counters.
    pub fn total_cpu_stats(&self) -> CpuCounters {
        let mut total = CpuCounters::default();
        for cpu in 0..self.nr_cpus() {
            total.add(&self.platform.cpu_stats(cpu).snapshot());
        }
        total
    }

    /// Counters of the global pool.
    pub fn global_stats(&self) -> GlobalCounters {
        self.global_stats.snapshot()
    }

    /// Calls with a magazine whose CPU index is out of range.
    pub fn bad_cpu_errors(&self) -> u64 {
        self.bad_cpu.load(Relaxed)
    }

    /// Free pages held by `cpu`'s cache (not its magazine).
    pub fn cpu_free_pages(&self, cpu: usize) -> Option<usize> {
        self.platform
            .caches()
            .get(cpu)
            .map(|cache| cache.with(|c| c.pages))
    }

    /// Free pages held by the global pool.
    pub fn global_free_pages(&self) -> usize {
        self.platform.global().with(|g| g.pages)
    }

    /// Pages allocated and not freed: exact when no alloc or free runs; under traffic a racy
    /// sum that never goes below zero nor above the pool's size.
    pub fn outstanding_pages(&self) -> u64 {
        // Frees first, then allocations: a free counted in the first pass belongs to an
        // allocation made before it, which the second pass then counts too.
        let freed = (0..self.nr_cpus())
            .map(|cpu| self.platform.cpu_stats(cpu).freed_pages.get())
            .fold(0u64, u64::saturating_add);
        core::sync::atomic::fence(core::sync::atomic::Ordering::Acquire);
        let allocated = (0..self.nr_cpus())
            .map(|cpu| self.platform.cpu_stats(cpu).alloc_pages.get())
            .fold(0u64, u64::saturating_add);
        allocated
            .saturating_sub(freed)
            .min(self.geo.total_pages() as u64)
    }

    /// One block's state, read without locks.
    pub fn block_info(&self, block: usize) -> Option<BlockInfo> {
        let meta = self.blocks().get(block)?;
        let buddy = self.buddy(block);
        let mut parked_pages = 0;
        let mut cached_pages = 0;
        buddy.for_each_unit(|_, order, byte| {
            if order != u32::MAX {
                match unit::kind(byte) {
                    PARKED => parked_pages += 1 << order,
                    CACHED => cached_pages += 1 << order,
                    _ => {}
                }
            }
        });
        Some(BlockInfo {
            kind: meta.kind(),
            free_pages: buddy.free_pages(),
            largest_free_order: buddy.max_free_order(),
            parked_pages,
            cached_pages,
            // A whole-block unit that kept its compound state: free in the buddy, or cached
            // by its owner (`CpuCache::whole`).
            compound: {
                let first = buddy.load(0);
                unit::compound(first)
                    && unit::order(first) == self.geo.block_order()
                    && matches!(unit::kind(first), FREE | CACHED)
            },
        })
    }

    /// Free units by order and blocks by state, read without locks.
    pub fn fragmentation(&self) -> FragmentationInfo {
        self.fragmentation_each(|_, _| {})
    }

    /// [`fragmentation`](Self::fragmentation), handing `each` every block's index and info
    /// as it is counted: a block map that agrees with the summary (both come from one read).
    pub fn fragmentation_each(&self, mut each: impl FnMut(usize, &BlockInfo)) -> FragmentationInfo {
        let mut info = FragmentationInfo::default();
        for block in 0..self.geo.nr_blocks() {
            let Some(block_info) = self.block_info(block) else {
                continue;
            };
            each(block, &block_info);
            let buddy = self.buddy(block);
            for order in 0..=self.geo.block_order() {
                info.free_units_by_order[order as usize] += buddy.nr_free(order);
            }
            info.free_pages += block_info.free_pages;
            info.parked_pages += block_info.parked_pages;
            info.cached_pages += block_info.cached_pages;
            match block_info.kind {
                BlockKind::Free => info.free_blocks += 1,
                BlockKind::Owned(_) => info.owned_blocks += 1,
                BlockKind::Fragment => info.fragment_blocks += 1,
                BlockKind::Shared => info.shared_blocks += 1,
            }
        }
        info
    }

    /// Checks every invariant. The pool must be quiescent (no alloc, free or drain running),
    /// and `magazines` must be every magazine that may hold units (see `verify.rs`).
    pub fn verify(&self, magazines: &[&Magazine]) -> Result<(), VerifyError> {
        verify::verify(self, Some(magazines))
    }

    /// Checks the invariants that hold under traffic: each block's map, bitmaps and counts
    /// under its holder's lock, and list membership. Safe to run from debugfs on a live pool.
    pub fn verify_structure(&self) -> Result<(), VerifyError> {
        verify::verify(self, None)
    }

    /// Undoes the compound state of every wholly free block that kept it (`Platform::
    /// uncompound`), so that the memory can go back to the kernel. For unload, after every
    /// magazine was flushed and every cache drained.
    pub fn release_compound(&self) {
        let blocks = self.blocks();
        self.with_global_uncounted(|g| {
            let mut walk = g.free.walk();
            while let Some(block) = walk.next(blocks) {
                let buddy = self.buddy(block);
                if buddy.is_whole_compound() {
                    self.platform.uncompound(block);
                    buddy.reset_whole_free();
                }
            }
        });
    }
}
