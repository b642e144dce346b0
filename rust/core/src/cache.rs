//! A CPU's cache behind its lock: the blocks it owns (by largest free order) and its *loose
//! stacks* of unowned chunks larger than the magazine's orders (degrade mode and ownership
//! off). The magazine (`magazine.rs`) sits in front of it, outside the lock.
//!
//! The cache's free memory is the free units of its owned blocks and its loose chunks; `pages`
//! counts both and, with the magazine's pages, is compared against the policy's `high`.

use super::geometry::NR_ORDERS;
use super::list::Buckets;

/// Loose-stack capacity per order. Only the orders above the magazine's are used (all of them
/// when the block order is small).
const LOOSE_CAP: [usize; NR_ORDERS] = [16, 16, 16, 16, 16, 8, 8, 8, 8, 8, 8];

const LOOSE_OFFSETS: [usize; NR_ORDERS + 1] = {
    let mut offsets = [0; NR_ORDERS + 1];
    let mut k = 0;
    while k < NR_ORDERS {
        offsets[k + 1] = offsets[k] + LOOSE_CAP[k];
        k += 1;
    }
    offsets
};

const LOOSE_SLOTS: usize = LOOSE_OFFSETS[NR_ORDERS];

/// Per-order stacks of page indices of unowned free chunks of orders above the magazine's.
///
/// # Invariants
///
/// `len[k] <= LOOSE_CAP[k]`. Entry `i < len[k]` of stack `k` is the first page of a `CACHED`
/// chunk of order `k` (maybe compound if `k` is the block order) cached by this stack, in a
/// `Shared` block; no chunk is on two stacks or in a magazine.
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

    /// Whether stack `k` is full.
    pub(crate) fn is_full(&self, k: u32) -> bool {
        self.len(k) == LOOSE_CAP[k as usize]
    }

    /// Pushes a chunk; the caller made room.
    pub(crate) fn push(&mut self, k: u32, page: usize) {
        debug_assert!(!self.is_full(k));
        let k = k as usize;
        self.slots[LOOSE_OFFSETS[k] + usize::from(self.len[k])] = page as u32;
        self.len[k] += 1;
    }

    pub(crate) fn pop(&mut self, k: u32) -> Option<usize> {
        let k = k as usize;
        let len = self.len[k].checked_sub(1)?;
        self.len[k] = len;
        Some(self.slots[LOOSE_OFFSETS[k] + usize::from(len)] as usize)
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
///
/// # Invariants
///
/// Under the lock of CPU `c`'s cache:
/// * `owned` holds exactly the blocks in state `Owned(c)`, each in the bucket of its largest
///   `FREE` order (`FULL_BUCKET` if none);
/// * `whole`, if set, is the first page of an `Owned(c)` block whose one unit is `CACHED` of
///   the block order (compound if it was a folio), listed nowhere else; that block is in
///   `FULL_BUCKET`;
/// * `pages` is the pages of the `FREE` units of the owned blocks, plus the loose chunks' pages,
///   plus the block's pages if `whole` is set.
///
/// Checked by `verify`.
pub struct CpuCache {
    pub(crate) owned: Buckets,
    pub(crate) loose: LooseStacks,
    /// The last whole block freed into an owned block, kept as one `CACHED` unit of the block
    /// order (compound if it was a folio) instead of being put back into its buddy: the next
    /// allocation of the block order takes it with no buddy or list work, as a magazine would.
    /// Its block stays in the full bucket (its buddy has no free unit); a trim or drain puts it
    /// back first.
    pub(crate) whole: Option<u32>,
    /// Free pages held: free units of owned blocks, loose chunks and the `whole` block (parked
    /// remote frees count once absorbed; the magazine's pages are the magazine's).
    pub(crate) pages: usize,
}

impl CpuCache {
    /// An empty cache.
    pub const fn new() -> Self {
        // INVARIANT: no owned block, loose chunk or whole block, so 0 pages (a CPU owns no block
        // before `Pool::new` resets the caches along with the blocks).
        Self {
            owned: Buckets::new(),
            loose: LooseStacks::new(),
            whole: None,
            pages: 0,
        }
    }
}

impl Default for CpuCache {
    fn default() -> Self {
        Self::new()
    }
}
