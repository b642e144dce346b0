//! The block buddy: a buddy allocator inside one pageblock of `2^P` pages whose
//! whole state is a two-bit field per page (the *unit map*) plus per-order free
//! counts. Nothing is written into the pages, and there is no per-page structure
//! besides the two bits.
//!
//! # The unit map
//!
//! At every moment a block is partitioned into *units*: aligned power-of-two
//! chunks (`offset % 2^order == 0`) that cover the block without overlap. The
//! field of the first page of a unit says what the unit is; the fields of its
//! other pages are `NONE`:
//!
//! * `FREE`: free in this block's buddy (allocatable by the block's holder);
//! * `ALLOC`: handed out to a user;
//! * `HELD`: free but *parked* outside the buddy: queued for the holder by a
//!   remote free (owned and fragment blocks), or sitting in a CPU cache's loose
//!   stack (shared blocks).
//!
//! Because the units partition the block, a unit's size is the distance from its
//! start to the next start (or the block end), so the order is never stored.
//!
//! # Who may change what
//!
//! The block's *holder* (the owning CPU's cache lock, or the global lock for
//! blocks in the global pool) makes every change except one: any CPU that frees
//! an allocated unit turns its `ALLOC` field into `FREE` or `HELD` with a
//! compare-and-swap. The holder changes fields with atomic XOR, never on an
//! `ALLOC` field it does not own, so the two kinds of writers never lose each
//! other's updates, and the set of unit starts (non-`NONE` fields) only changes
//! under the holder's lock.

use core::sync::atomic::{AtomicU16, Ordering::Relaxed};

use super::error::FreeError;
use super::geometry::{FIELDS_PER_WORD, NR_ORDERS};
use super::platform::MapWord;
use super::sync::Ordering;

/// Field value: not the first page of a unit.
pub(crate) const NONE: u64 = 0b00;
/// Field value: first page of a free unit.
pub(crate) const FREE: u64 = 0b01;
/// Field value: first page of an allocated unit.
pub(crate) const ALLOC: u64 = 0b10;
/// Field value: first page of a parked free unit (remote-freed or loose).
pub(crate) const HELD: u64 = 0b11;

/// Low bit of every field of a word.
const LOW_BITS: u64 = 0x5555_5555_5555_5555;

/// Low bits of the fields whose page offset is a multiple of `2^order`, for
/// orders below 5 (from 5 up, only field 0 of every `2^(order-5)`-th word).
const ALIGNED_FIELDS: [u64; 5] = [
    LOW_BITS,
    0x1111_1111_1111_1111,
    0x0101_0101_0101_0101,
    0x0001_0001_0001_0001,
    0x0000_0001_0000_0001,
];

/// Per-order free-unit counts of one block, owned by the block's holder.
///
/// # Invariants
///
/// Under the holder's lock, `nr_free[k]` is the number of `FREE` units of
/// order `k` in the block's map and `free_pages` the pages they cover.
pub struct BuddyCounts {
    nr_free: [AtomicU16; NR_ORDERS],
    free_pages: AtomicU16,
}

impl BuddyCounts {
    /// Counts of a block with no free units.
    pub const fn new() -> Self {
        Self {
            nr_free: [const { AtomicU16::new(0) }; NR_ORDERS],
            free_pages: AtomicU16::new(0),
        }
    }
}

impl Default for BuddyCounts {
    fn default() -> Self {
        Self::new()
    }
}

/// A view of one block's buddy: its map words, its counts and the block order.
pub(crate) struct Buddy<'a> {
    map: &'a [MapWord],
    counts: &'a BuddyCounts,
    order: u32,
}

/// Adds `delta` (possibly negative) to a holder-owned counter.
fn bump(counter: &AtomicU16, delta: i32) {
    let value = i32::from(counter.load(Relaxed)) + delta;
    debug_assert!((0..=i32::from(u16::MAX)).contains(&value));
    counter.store(value as u16, Relaxed);
}

/// Mask of the non-`NONE` fields of a word (low bit of each such field).
const fn starts_of(word: u64) -> u64 {
    (word | (word >> 1)) & LOW_BITS
}

/// Mask of the fields of a word equal to `value` (low bit of each such field).
const fn fields_equal(word: u64, value: u64) -> u64 {
    let low = word & LOW_BITS;
    let high = (word >> 1) & LOW_BITS;
    let want_low = if value & 1 != 0 { low } else { !low & LOW_BITS };
    let want_high = if value & 2 != 0 {
        high
    } else {
        !high & LOW_BITS
    };
    want_low & want_high
}

/// Field changes the holder collects and applies with one atomic XOR per map
/// word (a split or a merge changes up to `P` fields, mostly in one word).
struct FlipBatch {
    index: usize,
    mask: u64,
}

impl FlipBatch {
    const fn new() -> Self {
        Self {
            index: usize::MAX,
            mask: 0,
        }
    }

    /// Queues the change of field `off` from `from` to `to`.
    fn add(&mut self, buddy: &Buddy<'_>, off: usize, from: u64, to: u64) {
        debug_assert_eq!(buddy.field(off), from, "flip at {off}");
        let index = off / FIELDS_PER_WORD;
        if index != self.index {
            self.apply(buddy);
            self.index = index;
        }
        self.mask |= (from ^ to) << (2 * (off % FIELDS_PER_WORD));
    }

    /// Applies the queued changes of the current word.
    fn apply(&mut self, buddy: &Buddy<'_>) {
        if self.mask != 0 {
            buddy.map[self.index].fetch_xor(self.mask, Ordering::AcqRel);
            self.mask = 0;
        }
    }
}

impl<'a> Buddy<'a> {
    /// Creates the view. `map` must hold the block's map words.
    pub(crate) fn new(map: &'a [MapWord], counts: &'a BuddyCounts, order: u32) -> Self {
        debug_assert!(map.len() * FIELDS_PER_WORD >= 1 << order);
        Self { map, counts, order }
    }

    fn pages(&self) -> usize {
        1 << self.order
    }

    /// Free pages of the block (holder's view).
    pub(crate) fn free_pages(&self) -> usize {
        usize::from(self.counts.free_pages.load(Relaxed))
    }

    /// Free units of order `k` (holder's view).
    pub(crate) fn nr_free(&self, k: u32) -> usize {
        usize::from(self.counts.nr_free[k as usize].load(Relaxed))
    }

    /// Largest order with a free unit, `None` if the block has no free unit.
    pub(crate) fn max_free_order(&self) -> Option<u32> {
        (0..=self.order).rev().find(|&k| self.nr_free(k) != 0)
    }

    /// Smallest order `>= k` with a free unit.
    fn min_free_order_from(&self, k: u32) -> Option<u32> {
        (k..=self.order).find(|&j| self.nr_free(j) != 0)
    }

    /// Whether the whole block is one free unit.
    pub(crate) fn is_whole_free(&self) -> bool {
        self.free_pages() == self.pages()
    }

    /// The field of page `off`.
    pub(crate) fn field(&self, off: usize) -> u64 {
        let word = self.map[off / FIELDS_PER_WORD].load(Ordering::Acquire);
        (word >> (2 * (off % FIELDS_PER_WORD))) & 0b11
    }

    /// Changes field `off` from `from` to `to`; holder only, never on an `ALLOC`
    /// field that a user still holds (a concurrent free may be changing it).
    fn flip(&self, off: usize, from: u64, to: u64) {
        let shift = 2 * (off % FIELDS_PER_WORD);
        let old = self.map[off / FIELDS_PER_WORD].fetch_xor((from ^ to) << shift, Ordering::AcqRel);
        debug_assert_eq!((old >> shift) & 0b11, from, "flip at {off}");
    }

    /// First unit start in `(off, limit)`, or `limit` if there is none.
    pub(crate) fn next_start(&self, off: usize, limit: usize) -> usize {
        let mut pos = off + 1;
        while pos < limit {
            let index = pos / FIELDS_PER_WORD;
            let shift = 2 * (pos % FIELDS_PER_WORD);
            let starts = starts_of(self.map[index].load(Ordering::Acquire)) & (!0u64 << shift);
            if starts != 0 {
                let found = index * FIELDS_PER_WORD + starts.trailing_zeros() as usize / 2;
                return found.min(limit);
            }
            pos = (index + 1) * FIELDS_PER_WORD;
        }
        limit
    }

    /// Last unit start at or before `off`.
    fn prev_start(&self, off: usize) -> Option<usize> {
        let mut index = off / FIELDS_PER_WORD;
        let bits = 2 * (off % FIELDS_PER_WORD) + 2;
        let mut mask = if bits == 64 { !0 } else { (1u64 << bits) - 1 };
        loop {
            let starts = starts_of(self.map[index].load(Ordering::Acquire)) & mask;
            if starts != 0 {
                return Some(index * FIELDS_PER_WORD + (63 - starts.leading_zeros() as usize) / 2);
            }
            if index == 0 {
                return None;
            }
            index -= 1;
            mask = !0;
        }
    }

    /// Order of the unit starting at `off` (which must be a unit start).
    pub(crate) fn unit_order(&self, off: usize) -> u32 {
        let size = self.next_start(off, self.pages()) - off;
        debug_assert!(size.is_power_of_two());
        size.trailing_zeros()
    }

    /// Whether the unit starting at the aligned offset `off` has exactly order
    /// `k`, in `k + 1` field reads rather than a scan of `2^k` fields.
    ///
    /// Units partition the block, so a unit of order `m` at `off` is followed
    /// by a start at `off + 2^m`: the order is below `k` iff one of
    /// `off + 2^i` (`i < k`) is a start, and above `k` iff `off + 2^k` is not.
    fn has_order(&self, off: usize, k: u32) -> bool {
        let end = off + (1 << k);
        (0..k).all(|i| self.field(off + (1 << i)) == NONE)
            && (end == self.pages() || self.field(end) != NONE)
    }

    /// Whether a unit of exactly order `k` starts at `off`.
    fn is_unit(&self, off: usize, k: u32) -> bool {
        off & ((1 << k) - 1) == 0
            && off + (1 << k) <= self.pages()
            && self.field(off) != NONE
            && self.has_order(off, k)
    }

    /// Resets the block to one free unit of order `P`. Holder only, and only
    /// when no page of the block is allocated or parked.
    pub(crate) fn reset_whole_free(&self) {
        for word in self.map {
            word.store(0, Ordering::Release);
        }
        self.map[0].store(FREE, Ordering::Release);
        for count in &self.counts.nr_free {
            count.store(0, Relaxed);
        }
        self.counts.nr_free[self.order as usize].store(1, Relaxed);
        self.counts.free_pages.store(self.pages() as u16, Relaxed);
    }

    /// Finds the offset of a free unit of exactly order `j` (which must exist).
    ///
    /// Scans the map for `FREE` starts aligned to `2^j` and returns the first
    /// one whose unit has order `j`; at P = 9 that is at most 16 words.
    fn find_free_unit(&self, j: u32) -> Option<usize> {
        let words = self.map.len();
        let (step, aligned) = if j < 5 {
            (1, ALIGNED_FIELDS[j as usize])
        } else {
            (1usize << (j - 5), 1)
        };
        let mut index = 0;
        while index < words {
            let mut candidates =
                fields_equal(self.map[index].load(Ordering::Acquire), FREE) & aligned;
            while candidates != 0 {
                let off = index * FIELDS_PER_WORD + candidates.trailing_zeros() as usize / 2;
                if off < self.pages() && self.has_order(off, j) {
                    return Some(off);
                }
                candidates &= candidates - 1;
            }
            index += step;
        }
        None
    }

    /// Takes a free unit of order at least `min_order` out of the buddy and
    /// marks it `mark` (`ALLOC` for a user, `HELD` for a cache's loose stack).
    ///
    /// Uses the smallest free order `j >= min_order` (best fit). If `j` exceeds
    /// `want_order`, the unit is split down to `want_order` and the upper halves
    /// stay free here; otherwise the whole order-`j` unit is taken. Returns the
    /// offset and the order taken. Holder only.
    pub(crate) fn take(&self, min_order: u32, want_order: u32, mark: u64) -> Option<(usize, u32)> {
        debug_assert!(min_order <= want_order && want_order <= self.order);
        debug_assert!(mark == ALLOC || mark == HELD);
        let j = self.min_free_order_from(min_order)?;
        let off = self.find_free_unit(j);
        debug_assert!(off.is_some(), "free count of order {j} without a unit");
        let off = off?;
        bump(&self.counts.nr_free[j as usize], -1);
        let target = if j > want_order { want_order } else { j };
        let mut order = j;
        // Split: the lower half keeps the start at `off`, the upper half becomes
        // a new free unit, down to the target order. The new starts are at
        // decreasing offsets, so the batch touches each word once.
        let mut batch = FlipBatch::new();
        while order > target {
            order -= 1;
            batch.add(self, off + (1 << order), NONE, FREE);
            bump(&self.counts.nr_free[order as usize], 1);
        }
        batch.add(self, off, FREE, mark);
        batch.apply(self);
        bump(&self.counts.free_pages, -(1 << target));
        Some((off, target))
    }

    /// Turns the parked unit `(off, k)` (a loose chunk the caller holds) back
    /// into an allocated one, splitting off nothing. Holder of the loose chunk only.
    pub(crate) fn held_to_alloc(&self, off: usize) {
        self.flip(off, HELD, ALLOC);
    }

    /// Turns a parked unit (a loose chunk the caller returns) back into a free
    /// one; the caller then calls [`Buddy::release`]. Holder only.
    pub(crate) fn held_to_free(&self, off: usize) {
        self.flip(off, HELD, FREE);
    }

    /// Splits the parked unit `(off, k)` into `(off, k-1)` and a new parked
    /// unit `(off + 2^(k-1), k-1)`, returning the new unit's offset. Holder of the
    /// loose chunk only.
    pub(crate) fn split_held(&self, off: usize, k: u32) -> usize {
        debug_assert!(k >= 1);
        let upper = off + (1 << (k - 1));
        self.flip(upper, NONE, HELD);
        upper
    }

    /// Returns the unit `(off, k)`, whose field the caller has just turned
    /// `FREE`, to the buddy: merges it bottom-up with free buddies of equal
    /// order and counts the result. Returns the number of merges. Holder only.
    ///
    /// Two free buddies of the same order never coexist (the invariant this
    /// loop keeps), so one pass upwards finds every merge: the buddy of
    /// `(off, k)` is `off ^ 2^k`, and it is mergeable iff its field is `FREE`
    /// and no unit starts inside it, i.e. at none of `buddy + 2^i`, `i < k`
    /// (then it has exactly order `k`; it cannot be larger, since `(off, k)`
    /// bounds it).
    pub(crate) fn release(&self, mut off: usize, mut k: u32) -> u32 {
        debug_assert_eq!(self.field(off), FREE);
        bump(&self.counts.free_pages, 1 << k);
        let mut merges = 0;
        // The starts that merging removes are applied in one batch at the end:
        // every check below reads the buddy half, never the merged half whose
        // changes are still queued.
        let mut batch = FlipBatch::new();
        while k < self.order {
            let buddy = off ^ (1 << k);
            // The buddy cannot be larger than order k (the unit at `off`
            // bounds it), so only "no start inside it" needs checking.
            if self.field(buddy) != FREE || (0..k).any(|i| self.field(buddy + (1 << i)) != NONE) {
                break;
            }
            bump(&self.counts.nr_free[k as usize], -1);
            batch.add(self, off.max(buddy), FREE, NONE);
            off = off.min(buddy);
            k += 1;
            merges += 1;
        }
        batch.apply(self);
        bump(&self.counts.nr_free[k as usize], 1);
        merges
    }

    /// Frees the allocated unit `(off, k)` from any CPU: checks that an
    /// allocation of exactly order `k` starts at `off` and turns its field from
    /// `ALLOC` into `to` (`FREE` when the caller holds the block and will call
    /// [`Buddy::release`], `HELD` otherwise).
    ///
    /// The compare-and-swap is the linearisation point of the free: of two
    /// racing frees of one allocation exactly one succeeds. The order check
    /// before it reads only fields that cannot change while the allocation is
    /// live (no unit starts inside it, and the unit after it keeps its start),
    /// so it is exact for a correct caller and rejects a wrong order; the only
    /// free it cannot catch is one of memory that was freed and allocated again
    /// meanwhile, which no allocator can tell from a correct free.
    pub(crate) fn try_free(&self, off: usize, k: u32, to: u64) -> Result<(), FreeError> {
        debug_assert!(to == FREE || to == HELD);
        if off & ((1 << k) - 1) != 0 {
            return Err(FreeError::Misaligned);
        }
        if self.field(off) != ALLOC || !self.is_unit(off, k) {
            return Err(self.classify_bad_free(off));
        }
        let index = off / FIELDS_PER_WORD;
        let shift = 2 * (off % FIELDS_PER_WORD);
        let word = &self.map[index];
        let mut current = word.load(Ordering::Acquire);
        loop {
            if (current >> shift) & 0b11 != ALLOC {
                return Err(self.classify_bad_free(off));
            }
            let new = current ^ ((ALLOC ^ to) << shift);
            match word.compare_exchange_weak(current, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(()),
                Err(seen) => current = seen,
            }
        }
    }

    /// Says why freeing page `off` is wrong, from the unit that contains it.
    fn classify_bad_free(&self, off: usize) -> FreeError {
        match self.prev_start(off) {
            Some(start) => match self.field(start) {
                ALLOC if start == off => FreeError::WrongOrder,
                ALLOC => FreeError::NotAllocated,
                _ => FreeError::DoubleFree,
            },
            None => FreeError::NotAllocated,
        }
    }

    /// Moves every parked (`HELD`) unit back into the buddy, merging it. For
    /// owned and fragment blocks, where `HELD` means "freed by a CPU that did
    /// not hold the block". Returns `(pages, merges)`. Holder only.
    pub(crate) fn absorb_held(&self) -> (usize, u32) {
        let mut pages = 0;
        let mut merges = 0;
        for index in 0..self.map.len() {
            loop {
                let held = fields_equal(self.map[index].load(Ordering::Acquire), HELD);
                if held == 0 {
                    break;
                }
                let off = index * FIELDS_PER_WORD + held.trailing_zeros() as usize / 2;
                let k = self.unit_order(off);
                self.flip(off, HELD, FREE);
                merges += self.release(off, k);
                pages += 1 << k;
            }
        }
        (pages, merges)
    }

    /// Calls `f(offset, order, field)` for every unit of the block, in address
    /// order. A reader's view: exact only when the block's holder lock is held
    /// and no free of one of its pages is in flight.
    pub(crate) fn for_each_unit(&self, mut f: impl FnMut(usize, u32, u64)) {
        let mut off = 0;
        while off < self.pages() {
            let next = self.next_start(off, self.pages());
            let size = next - off;
            let order = if size.is_power_of_two() {
                size.trailing_zeros()
            } else {
                u32::MAX
            };
            f(off, order, self.field(off));
            off = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::sync::AtomicU64;
    use super::*;
    use std::vec::Vec;

    struct TestBlock {
        map: Vec<MapWord>,
        counts: BuddyCounts,
        order: u32,
    }

    impl TestBlock {
        fn new(order: u32) -> Self {
            let words = ((2usize << order) / 64).max(1);
            let block = Self {
                map: (0..words).map(|_| AtomicU64::new(0)).collect(),
                counts: BuddyCounts::new(),
                order,
            };
            block.buddy().reset_whole_free();
            block
        }

        fn buddy(&self) -> Buddy<'_> {
            Buddy::new(&self.map, &self.counts, self.order)
        }

        fn alloc(&self, k: u32) -> Option<usize> {
            self.buddy().take(k, k, ALLOC).map(|(off, got)| {
                assert_eq!(got, k);
                off
            })
        }

        fn free(&self, off: usize, k: u32) -> Result<u32, FreeError> {
            let b = self.buddy();
            b.try_free(off, k, FREE)?;
            Ok(b.release(off, k))
        }

        /// Checks partition, alignment, no unmerged buddies, and counts.
        fn check(&self) {
            let b = self.buddy();
            let mut nr_free = [0usize; NR_ORDERS];
            let mut free_pages = 0;
            let mut covered = 0;
            let mut units = Vec::new();
            b.for_each_unit(|off, order, field| {
                assert!(
                    order <= self.order,
                    "unit at {off} has no power-of-two size"
                );
                assert_eq!(off % (1 << order), 0, "unit at {off} misaligned");
                assert_eq!(off, covered);
                covered += 1 << order;
                if field == FREE {
                    nr_free[order as usize] += 1;
                    free_pages += 1 << order;
                }
                units.push((off, order, field));
            });
            assert_eq!(covered, 1 << self.order);
            for &(off, order, field) in &units {
                if field == FREE && order < self.order {
                    let buddy = off ^ (1 << order);
                    assert!(
                        !units.contains(&(buddy, order, FREE)),
                        "unmerged buddies {off}/{buddy} order {order}"
                    );
                }
            }
            for k in 0..=self.order {
                assert_eq!(b.nr_free(k), nr_free[k as usize], "order {k} count");
            }
            assert_eq!(b.free_pages(), free_pages);
        }
    }

    /// Miri runs about a thousand times slower: smaller sizes there.
    const SIZES: &[u32] = if cfg!(miri) {
        &[1, 3, 5]
    } else {
        &[1, 3, 4, 9, 10]
    };

    #[test]
    fn whole_block_alloc_free_every_order() {
        for &p in SIZES {
            for k in 0..=p {
                let t = TestBlock::new(p);
                let mut offs = Vec::new();
                while let Some(off) = t.alloc(k) {
                    assert_eq!(off % (1 << k), 0);
                    offs.push(off);
                    t.check();
                }
                assert_eq!(offs.len(), 1 << (p - k), "p {p} k {k}: exhaustion");
                assert_eq!(t.buddy().free_pages(), 0);
                offs.sort();
                offs.dedup();
                assert_eq!(offs.len(), 1 << (p - k), "duplicate chunks");
                for off in offs {
                    t.free(off, k).unwrap();
                    t.check();
                }
                assert!(t.buddy().is_whole_free());
                assert_eq!(t.buddy().nr_free(p), 1);
            }
        }
    }

    #[test]
    fn split_then_merge_order_0() {
        let t = TestBlock::new(4);
        let a = t.alloc(0).unwrap();
        assert_eq!(a, 0);
        // Splitting 16 -> 8+4+2+1+1 leaves one free unit at each order 0..=3.
        for k in 0..4 {
            assert_eq!(t.buddy().nr_free(k), 1);
        }
        assert_eq!(t.buddy().nr_free(4), 0);
        let b = t.alloc(0).unwrap();
        assert_eq!(b, 1);
        assert_eq!(t.free(a, 0), Ok(0));
        // Freeing the second page merges all the way up: 4 merges.
        assert_eq!(t.free(b, 0), Ok(4));
        assert!(t.buddy().is_whole_free());
        t.check();
    }

    #[test]
    fn best_fit_prefers_smallest_order() {
        let t = TestBlock::new(4);
        let big = t.alloc(3).unwrap(); // 0..8 allocated, 8..16 free (order 3)
        let small = t.alloc(0).unwrap(); // splits 8..16
        assert_eq!((big, small), (0, 8));
        let next = t.alloc(1).unwrap(); // uses the order-1 unit at 10
        assert_eq!(next, 10);
        t.check();
    }

    #[test]
    fn take_with_want_order() {
        let t = TestBlock::new(5);
        // Ask for at least order 1, preferring order 3: split 32 -> 8.
        let (off, order) = t.buddy().take(1, 3, HELD).unwrap();
        assert_eq!((off, order), (0, 3));
        t.check();
        // Only order 3 and 4 are free now; asking for >= 4 wanting 4 takes order 4.
        let (off, order) = t.buddy().take(4, 4, HELD).unwrap();
        assert_eq!((off, order), (16, 4));
        // Smaller free units than wanted are taken whole.
        let (off, order) = t.buddy().take(0, 5, HELD).unwrap();
        assert_eq!((off, order), (8, 3));
        assert_eq!(t.buddy().free_pages(), 0);
        assert_eq!(t.buddy().absorb_held(), (32, 2));
        assert!(t.buddy().is_whole_free());
    }

    #[test]
    fn bad_frees_are_refused_and_change_nothing() {
        let t = TestBlock::new(4);
        let a = t.alloc(1).unwrap(); // 0..2
        let b = t.alloc(2).unwrap(); // 4..8
        let snapshot: Vec<u64> = t.map.iter().map(|w| w.load(Ordering::Relaxed)).collect();
        assert_eq!(t.free(a, 0), Err(FreeError::WrongOrder));
        assert_eq!(t.free(a, 2), Err(FreeError::WrongOrder));
        assert_eq!(t.free(a + 1, 0), Err(FreeError::NotAllocated));
        assert_eq!(t.free(b, 1), Err(FreeError::WrongOrder));
        assert_eq!(t.free(b + 2, 1), Err(FreeError::NotAllocated));
        assert_eq!(t.free(2, 1), Err(FreeError::DoubleFree)); // free unit
        assert_eq!(t.free(8, 3), Err(FreeError::DoubleFree));
        assert_eq!(t.free(b + 1, 2), Err(FreeError::Misaligned));
        let after: Vec<u64> = t.map.iter().map(|w| w.load(Ordering::Relaxed)).collect();
        assert_eq!(snapshot, after);
        t.check();
        t.free(a, 1).unwrap();
        assert_eq!(t.free(a, 1), Err(FreeError::DoubleFree));
        t.free(b, 2).unwrap();
        assert!(t.buddy().is_whole_free());
    }

    #[test]
    fn parked_units_absorb_and_merge() {
        let t = TestBlock::new(3);
        let offs: Vec<usize> = (0..8).map(|_| t.alloc(0).unwrap()).collect();
        for &off in &offs {
            t.buddy().try_free(off, 0, HELD).unwrap();
        }
        assert_eq!(t.buddy().try_free(3, 0, HELD), Err(FreeError::DoubleFree));
        assert_eq!(t.buddy().free_pages(), 0);
        let (pages, merges) = t.buddy().absorb_held();
        assert_eq!(pages, 8);
        assert_eq!(merges, 7);
        assert!(t.buddy().is_whole_free());
        t.check();
    }

    #[test]
    fn random_sequences_against_a_page_model() {
        // Small deterministic PRNG: the property tests in tests/ cover more.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let (sizes, steps): (&[u32], usize) = if cfg!(miri) {
            (&[3, 5], 300)
        } else {
            (&[3, 4, 6, 9], 2000)
        };
        for &p in sizes {
            let t = TestBlock::new(p);
            let mut live: Vec<(usize, u32)> = Vec::new();
            let mut used = std::vec![false; 1 << p];
            for _ in 0..steps {
                if next() % 2 == 0 {
                    let k = (next() % (u64::from(p) + 1)) as u32;
                    let fits = (0..(1usize << p))
                        .step_by(1 << k)
                        .any(|o| used[o..o + (1 << k)].iter().all(|u| !u));
                    match t.alloc(k) {
                        Some(off) => {
                            assert!(used[off..off + (1 << k)].iter().all(|u| !u));
                            used[off..off + (1 << k)].iter_mut().for_each(|u| *u = true);
                            live.push((off, k));
                        }
                        None => assert!(!fits, "p {p}: order {k} fits but alloc failed"),
                    }
                } else if !live.is_empty() {
                    let (off, k) = live.swap_remove((next() as usize) % live.len());
                    t.free(off, k).unwrap();
                    used[off..off + (1 << k)]
                        .iter_mut()
                        .for_each(|u| *u = false);
                }
                t.check();
            }
        }
    }
}
