//! Read-only views for debugfs: per-block information and fragmentation.

use super::block::BlockKind;
use super::geometry::NR_ORDERS;

/// One line of the block map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockInfo {
    /// State and owner.
    pub kind: BlockKind,
    /// Pages in free units of the block's buddy (owner's or global's); hot
    /// units (free in the owner's cache, not merged yet) are in `hot_pages`.
    pub free_pages: usize,
    /// Largest order with a free unit.
    pub largest_free_order: Option<u32>,
    /// Pages freed remotely and not yet absorbed.
    pub pending_pages: u32,
    /// Pages freed by the owner onto its hot stacks and not merged yet (free
    /// and allocatable by the owner, but not part of the buddy's free units).
    pub hot_pages: u32,
}

/// Pool-wide fragmentation summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FragmentationInfo {
    /// Free units by order, over all blocks (caches' owned blocks and global):
    /// the buddies' merged free memory. Units on hot stacks and remotely freed
    /// units are not in it (`hot_pages`, `pending_pages`).
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
    pub pending_pages: usize,
    /// Pages on the owners' hot stacks: free in a CPU cache (order
    /// `<= 3`), not merged into their blocks' buddies yet.
    pub hot_pages: usize,
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
