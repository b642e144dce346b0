//! The global pool (the analogue of `zone->lock` and the zone free lists): it
//! holds wholly free blocks, fragments and the global part of shared blocks.
//!
//! Fragments are kept apart from shared blocks so that only recovery (phase 0)
//! and last-resort allocations touch them: their free units are "queued last".

use super::list::{BlockList, Buckets};

/// The global pool. Lives behind the global lock (`Platform::global`).
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
