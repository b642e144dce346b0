//! A CPU's cache: the blocks it owns (by largest free order), its *hot stacks*
//! of small units freed into those blocks and not merged yet, and its *loose
//! stacks* of unowned chunks (degrade mode and ownership off), plus its counters.
//!
//! The cache's free memory is the free units of its owned blocks, its hot units
//! and its loose chunks; `pages` counts all three and is compared against the
//! policy's `high`.

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

/// Highest order with a hot stack (mainline's `PAGE_ALLOC_COSTLY_ORDER`): from
/// order 4 up a free merges at once.
pub(crate) const HOT_MAX_ORDER: u32 = 3;

const NR_HOT_ORDERS: usize = HOT_MAX_ORDER as usize + 1;

/// Hot-stack capacity per order (units). Full: the older half is merged back.
const HOT_CAP: [usize; NR_HOT_ORDERS] = [64, 16, 8, 8];

const HOT_OFFSETS: [usize; NR_HOT_ORDERS + 1] = {
    let mut offsets = [0; NR_HOT_ORDERS + 1];
    let mut k = 0;
    while k < NR_HOT_ORDERS {
        offsets[k + 1] = offsets[k] + HOT_CAP[k];
        k += 1;
    }
    offsets
};

const HOT_SLOTS: usize = HOT_OFFSETS[NR_HOT_ORDERS];

/// Per-order stacks (orders `0..=HOT_MAX_ORDER`) of page indices of units that
/// the owning CPU freed into its own blocks and has not merged yet, like the
/// mainline PCP lists in front of the block buddies: an alloc of the order pops
/// one (no split), a free pushes one (no merge).
///
/// # Invariants (the *hot invariant*, kept by `Pool` under the cache lock)
///
/// For the cache of CPU `c`, entry `i < len[k]` of stack `k` is the first page
/// of a unit of exactly order `k` whose map field is `HELD`, in a block whose
/// state is `Owned(c)`; no unit is on two entries (nor on a loose stack, whose
/// units are in `Shared` blocks). A block's `hot_pages` is the number of pages
/// of its units on hot stacks, and `CpuCache::pages` counts them. A hot unit is
/// not counted by its block's `pending`: in an owned block `HELD` means
/// "parked by a remote free" (counted by `pending`) or "hot" (counted by
/// `hot_pages`), and only the owner can tell them apart, so
///
/// * the owner absorbs a block's parked frees (`Buddy::absorb_held`) only when
///   the block has no hot unit (it merges the block's hot units first), and
/// * a block leaves `Owned(c)` only with no hot unit (trim and drain merge
///   every hot unit first).
pub(crate) struct HotStacks {
    slots: [u32; HOT_SLOTS],
    len: [u16; NR_HOT_ORDERS],
}

impl HotStacks {
    const fn new() -> Self {
        Self {
            slots: [0; HOT_SLOTS],
            len: [0; NR_HOT_ORDERS],
        }
    }

    /// Units on stack `k` (0 for orders without a stack).
    pub(crate) fn len(&self, k: u32) -> usize {
        self.len.get(k as usize).map_or(0, |&len| usize::from(len))
    }

    /// Whether stack `k` is full; `k <= HOT_MAX_ORDER`.
    pub(crate) fn is_full(&self, k: u32) -> bool {
        self.len(k) == HOT_CAP[k as usize]
    }

    /// Pushes a unit; `k <= HOT_MAX_ORDER` and the caller made room.
    pub(crate) fn push(&mut self, k: u32, page: usize) {
        let k = k as usize;
        debug_assert!(usize::from(self.len[k]) < HOT_CAP[k]);
        self.slots[HOT_OFFSETS[k] + usize::from(self.len[k])] = page as u32;
        self.len[k] += 1;
    }

    /// Pops the most recently pushed unit of order `k`, if any.
    pub(crate) fn pop(&mut self, k: u32) -> Option<usize> {
        let k = k as usize;
        let len = self.len.get_mut(k)?;
        if *len == 0 {
            return None;
        }
        *len -= 1;
        Some(self.slots[HOT_OFFSETS[k] + usize::from(*len)] as usize)
    }

    /// Removes the `count` oldest units of stack `k` (the bottom), calling `f`
    /// for each, and moves the rest down.
    pub(crate) fn drain_oldest(&mut self, k: u32, count: usize, mut f: impl FnMut(usize)) {
        let len = self.len(k);
        let count = count.min(len);
        let base = HOT_OFFSETS[k as usize];
        for &page in &self.slots[base..base + count] {
            f(page as usize);
        }
        self.slots.copy_within(base + count..base + len, base);
        self.len[k as usize] = (len - count) as u16;
    }

    /// Keeps the units of stack `k` for which `keep` returns true (in order).
    pub(crate) fn retain(&mut self, k: u32, mut keep: impl FnMut(usize) -> bool) {
        let len = self.len(k);
        let base = HOT_OFFSETS[k as usize];
        let mut kept = 0;
        for i in 0..len {
            let page = self.slots[base + i];
            if keep(page as usize) {
                self.slots[base + kept] = page;
                kept += 1;
            }
        }
        self.len[k as usize] = kept as u16;
    }

    /// The units of order `k` (empty for orders without a stack).
    pub(crate) fn units(&self, k: u32) -> &[u32] {
        if k > HOT_MAX_ORDER {
            return &[];
        }
        let base = HOT_OFFSETS[k as usize];
        &self.slots[base..base + self.len(k)]
    }

    /// Whether all stacks are empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.len.iter().all(|&len| len == 0)
    }
}

/// One CPU's cache. Lives behind the CPU's lock (`Platform::caches`).
pub struct CpuCache {
    pub(crate) owned: Buckets,
    pub(crate) hot: HotStacks,
    pub(crate) loose: LooseStacks,
    /// Free pages held: free units of owned blocks, hot units and loose chunks
    /// (parked remote frees count once absorbed).
    pub(crate) pages: usize,
    pub(crate) stats: CpuStats,
}

impl CpuCache {
    /// An empty cache.
    pub const fn new() -> Self {
        Self {
            owned: Buckets::new(),
            hot: HotStacks::new(),
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
