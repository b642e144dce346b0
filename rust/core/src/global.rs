//! The global pool (the analogue of `zone->lock` and the zone free lists): it
//! holds wholly free blocks, fragments and the global part of shared blocks.
//!
//! Fragments are kept apart from shared blocks so that only recovery (phase 0)
//! and last-resort allocations touch them: their free units are "queued last".

use super::list::{BlockList, Buckets};

/// The global pool. Lives behind the global lock (`Platform::global`).
///
/// # Invariants
///
/// Under the global lock:
/// * `free` holds exactly the `Free` blocks, each one `FREE` unit of the block order;
/// * `fragments` holds exactly the `Fragment` blocks and `shared` exactly the `Shared` blocks,
///   each in the bucket of its largest `FREE` order (`FULL_BUCKET` if none);
/// * `pages` is the pages of the `FREE` units of all these blocks (a shared block's chunks out
///   in magazines or loose stacks are `CACHED`, not counted).
///
/// Checked by `verify`.
pub struct GlobalPool {
    /// Wholly free blocks, most recently returned first.
    pub(crate) free: BlockList,
    /// Fragment blocks by largest free order; new fragments go to the back.
    pub(crate) fragments: Buckets,
    /// Shared blocks by largest free order of their global part.
    pub(crate) shared: Buckets,
    /// Free pages the global pool holds (free units of its blocks; parked
    /// remote frees of fragments count once absorbed).
    pub(crate) pages: usize,
}

impl GlobalPool {
    /// An empty pool; `Pool::new` fills it.
    pub const fn new() -> Self {
        // INVARIANT: empty, so it holds only before `Pool::new` has put the blocks on `free`
        // (the same lock section).
        Self {
            free: BlockList::new(),
            fragments: Buckets::new(),
            shared: Buckets::new(),
            pages: 0,
        }
    }
}

impl Default for GlobalPool {
    fn default() -> Self {
        Self::new()
    }
}
