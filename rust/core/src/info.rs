//! Read-only views for debugfs: per-block information and fragmentation.

use super::block::BlockKind;
use super::geometry::NR_ORDERS;

/// One line of the block map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockInfo {
    /// State and owner.
    pub kind: BlockKind,
    /// Pages in free units of the block's buddy (its holder's).
    pub free_pages: usize,
    /// Largest order with a free unit in the buddy.
    pub largest_free_order: Option<u32>,
    /// Pages freed by CPUs that do not hold the block, not yet absorbed by the holder.
    pub parked_pages: usize,
    /// Pages free in some CPU's magazine or loose stack (not part of the buddy's free units).
    pub cached_pages: usize,
    /// The block is one free unit that kept its compound state (a cached folio).
    pub compound: bool,
}

/// Pool-wide fragmentation summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FragmentationInfo {
    /// Free units by order, over all blocks (caches' owned blocks and global): the buddies'
    /// merged free memory. Cached and parked units are not in it.
    pub free_units_by_order: [usize; NR_ORDERS],
    /// Pages in those units.
    pub free_pages: usize,
    /// Blocks that are wholly free in the global pool.
    pub free_blocks: usize,
    /// Blocks owned by a CPU.
    pub owned_blocks: usize,
    /// Fragment blocks.
    pub fragment_blocks: usize,
    /// Shared blocks.
    pub shared_blocks: usize,
    /// Pages freed remotely and not yet absorbed.
    pub parked_pages: usize,
    /// Pages in magazines and loose stacks: free in a CPU cache, not merged into their blocks.
    pub cached_pages: usize,
}

impl FragmentationInfo {
    /// Free pages in units of order `>= k` (the complement of the "unusable
    /// free" of order `k`).
    pub fn usable_pages(&self, k: u32) -> usize {
        (k as usize..NR_ORDERS)
            .map(|j| self.free_units_by_order[j] << j)
            .sum()
    }
}
