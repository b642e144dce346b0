//! A CPU's cache: the blocks it owns (by largest free order) and its *loose
//! stacks* of unowned chunks (degrade mode and ownership off), plus its counters.
//!
//! The cache's free memory is the free units of its owned blocks plus its loose
//! chunks; `pages` counts both and is compared against the policy's `high`.

use super::geometry::NR_ORDERS;
use super::list::Buckets;
use super::stats::CpuStats;

/// Loose-stack capacity per order: classic per-CPU caching is mostly order 0.
const LOOSE_CAP: [usize; NR_ORDERS] = [256, 64, 32, 16, 16, 8, 8, 8, 8, 8, 8];

const fn loose_offsets() -> [usize; NR_ORDERS + 1] {
    let mut offsets = [0; NR_ORDERS + 1];
    let mut k = 0;
    while k < NR_ORDERS {
        offsets[k + 1] = offsets[k] + LOOSE_CAP[k];
        k += 1;
    }
    offsets
}

const LOOSE_OFFSETS: [usize; NR_ORDERS + 1] = loose_offsets();
const LOOSE_SLOTS: usize = LOOSE_OFFSETS[NR_ORDERS];

/// Per-order stacks of page indices of unowned free chunks.
///
/// # Invariants
///
/// Entry `i < len[k]` of stack `k` is the first page of a chunk of order `k`
/// whose map field is `HELD`, in a `Shared` block; no chunk is on two stacks.
pub(crate) struct LooseStacks {
    slots: [u32; LOOSE_SLOTS],
    len: [u16; NR_ORDERS],
}

impl LooseStacks {
    const fn new() -> Self {
        Self {
            slots: [0; LOOSE_SLOTS],
            len: [0; NR_ORDERS],
        }
    }

    pub(crate) fn len(&self, k: u32) -> usize {
        usize::from(self.len[k as usize])
    }

    pub(crate) fn is_full(&self, k: u32) -> bool {
        self.len(k) == LOOSE_CAP[k as usize]
    }

    /// Pushes a chunk; the caller made room.
    pub(crate) fn push(&mut self, k: u32, page: usize) {
        let k = k as usize;
        debug_assert!(usize::from(self.len[k]) < LOOSE_CAP[k]);
        self.slots[LOOSE_OFFSETS[k] + usize::from(self.len[k])] = page as u32;
        self.len[k] += 1;
    }

    pub(crate) fn pop(&mut self, k: u32) -> Option<usize> {
        let k = k as usize;
        if self.len[k] == 0 {
            return None;
        }
        self.len[k] -= 1;
        Some(self.slots[LOOSE_OFFSETS[k] + usize::from(self.len[k])] as usize)
    }

    /// The chunks of order `k`.
    pub(crate) fn chunks(&self, k: u32) -> &[u32] {
        let k = k as usize;
        &self.slots[LOOSE_OFFSETS[k]..LOOSE_OFFSETS[k] + usize::from(self.len[k])]
    }

    /// Whether all stacks are empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.len.iter().all(|&len| len == 0)
    }
}

/// One CPU's cache. Lives behind the CPU's lock (`Platform::caches`).
pub struct CpuCache {
    pub(crate) owned: Buckets,
    pub(crate) loose: LooseStacks,
    /// Free pages held: free units of owned blocks plus loose chunks (parked
    /// remote frees count once absorbed).
    pub(crate) pages: usize,
    pub(crate) stats: CpuStats,
}

impl CpuCache {
    /// An empty cache.
    pub const fn new() -> Self {
        Self {
            owned: Buckets::new(),
            loose: LooseStacks::new(),
            pages: 0,
            stats: CpuStats::new(),
        }
    }

    /// Free pages the cache holds.
    pub fn free_pages(&self) -> usize {
        self.pages
    }

    /// Number of blocks the cache owns.
    pub fn owned_blocks(&self) -> usize {
        self.owned.len()
    }

    /// The cache's counters.
    pub fn stats(&self) -> &CpuStats {
        &self.stats
    }
}

impl Default for CpuCache {
    fn default() -> Self {
        Self::new()
    }
}
