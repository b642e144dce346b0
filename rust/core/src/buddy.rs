//! The block buddy: a buddy allocator inside one pageblock of `2^P` pages, whose state is the
//! block's unit map (a byte per page, see `unit.rs`), a free bitmap per order, and per-order
//! free counts. Nothing is written into the pages or their `struct page`s.
//!
//! * The **unit map** partitions the block into units and says what each is. It is the source
//!   of truth, and the only part other CPUs touch (a free's compare-and-swap on an `ALLOC` byte).
//! * The **free bitmaps** index the `FREE` units: bit `i` of order `k` is set iff a free unit of
//!   exactly order `k` starts at offset `i << k`. They make "find a free unit of order `k`" a scan
//!   of at most `2^(P-k)/64` words and "is my buddy free and of my order" one bit test, so a split
//!   or a merge costs O(1) per level, never a walk over pages.
//! * The **counts** (`nr_free[k]`, `free_pages`) pick the order to split from and the block's
//!   bucket without scanning.
//!
//! Everything but the unit map's `ALLOC` bytes belongs to the block's *holder* (the owning
//! CPU's cache lock, or the global lock), which updates it with plain stores.
//!
//! # Invariants (under the holder's lock)
//!
//! The map partitions the block into aligned power-of-two units (first byte: kind and order;
//! other bytes `NONE`); a free-bitmap bit is set exactly for each `FREE` unit; no two `FREE`
//! units of one order are buddies (merging is eager); `nr_free` and `free_pages` count the `FREE`
//! units. Only a whole-block unit that is not allocated may carry the compound bit (a cached
//! folio of the pageblock order); an allocated unit carries it iff it is a folio.

use core::sync::atomic::{AtomicU16, AtomicU64 as PlainU64, Ordering::Relaxed};

use super::error::FreeError;
use super::geometry::{Geometry, BITMAP_LINE_WORDS, MAP_LINE_PAGES, NR_ORDERS};
use super::platform::{BitmapLine, MapLine};
use super::sync::{AtomicU8, Ordering};
use super::unit::{self, ALLOC, CACHED, FREE, NONE, PARKED};

/// Per-order free-unit counts of one block, owned by the block's holder.
///
/// # Invariants
///
/// Under the holder's lock, `nr_free[k]` is the number of `FREE` units of
/// order `k` in the block's map, `free_pages` the pages they cover, and bit `k` of `orders` is
/// set exactly when `nr_free[k] != 0` (the largest and the smallest free order in O(1)).
pub struct BuddyCounts {
    nr_free: [AtomicU16; NR_ORDERS],
    free_pages: AtomicU16,
    orders: AtomicU16,
}

impl BuddyCounts {
    /// Counts of a block with no free units.
    pub const fn new() -> Self {
        Self {
            nr_free: [const { AtomicU16::new(0) }; NR_ORDERS],
            free_pages: AtomicU16::new(0),
            orders: AtomicU16::new(0),
        }
    }
}

impl Default for BuddyCounts {
    fn default() -> Self {
        Self::new()
    }
}

/// Adds `delta` (possibly negative) to a holder-owned counter.
fn bump(counter: &AtomicU16, delta: i32) {
    let value = i32::from(counter.load(Relaxed)) + delta;
    debug_assert!((0..=i32::from(u16::MAX)).contains(&value));
    counter.store(value as u16, Relaxed);
}

/// A unit taken out of the buddy by [`Buddy::take`].
///
/// # Invariants
///
/// `order <= P` and `off` is a multiple of `1 << order` below `2^P`: a unit of the block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Taken {
    /// Offset of the unit in the block.
    pub(crate) off: usize,
    /// Its order.
    pub(crate) order: u32,
    /// It was cut from (or is) a whole-block unit that kept its compound state: the caller must
    /// undo that state (`Platform::uncompound`) unless it hands the whole block out as a folio.
    pub(crate) was_compound: bool,
}

/// A view of one block's buddy.
///
/// # Invariants
///
/// `map`, `bits` and `counts` are one block's (`map_lines_per_block` map lines and
/// `bitmap_lines_per_block` bitmap lines of `geo`). The block's invariants (above) hold when
/// the view is made under the holder's lock, and every method that changes the buddy keeps them.
pub(crate) struct Buddy<'a> {
    map: &'a [MapLine],
    bits: &'a [BitmapLine],
    counts: &'a BuddyCounts,
    geo: &'a Geometry,
}

impl<'a> Buddy<'a> {
    /// Creates the view over the block's map lines, bitmap lines and counts.
    pub(crate) fn new(
        map: &'a [MapLine],
        bits: &'a [BitmapLine],
        counts: &'a BuddyCounts,
        geo: &'a Geometry,
    ) -> Self {
        debug_assert_eq!(map.len(), geo.map_lines_per_block());
        debug_assert_eq!(bits.len(), geo.bitmap_lines_per_block());
        // INVARIANT: the lengths are checked above; that all three are one block's is the
        // caller's (`Pool::buddy`).
        Self {
            map,
            bits,
            counts,
            geo,
        }
    }

    fn order(&self) -> u32 {
        self.geo.block_order()
    }

    fn pages(&self) -> usize {
        self.geo.block_pages()
    }

    fn byte(&self, off: usize) -> &AtomicU8 {
        &self.map[off / MAP_LINE_PAGES].0[off % MAP_LINE_PAGES]
    }

    /// The state byte of page `off` (see `unit.rs`).
    pub(crate) fn load(&self, off: usize) -> u8 {
        self.byte(off).load(Ordering::Acquire)
    }

    /// Sets the byte of page `off`. Only the byte's one possible writer may call it (see the
    /// table in `unit.rs`): never on an `ALLOC` byte.
    pub(crate) fn store(&self, off: usize, byte: u8) {
        self.byte(off).store(byte, Ordering::Release);
    }

    fn word(&self, index: usize) -> &PlainU64 {
        &self.bits[index / BITMAP_LINE_WORDS].0[index % BITMAP_LINE_WORDS]
    }

    /// Word index and bit of the free-bitmap entry of unit `(off, k)`.
    fn bit(&self, off: usize, k: u32) -> (usize, u64) {
        let i = off >> k;
        (self.geo.bitmap_offset(k) + i / 64, 1 << (i % 64))
    }

    fn test_bit(&self, off: usize, k: u32) -> bool {
        let (w, b) = self.bit(off, k);
        self.word(w).load(Relaxed) & b != 0
    }

    fn set_bit(&self, off: usize, k: u32) {
        let (w, b) = self.bit(off, k);
        let word = self.word(w);
        debug_assert_eq!(word.load(Relaxed) & b, 0, "free bit {off}/{k} already set");
        word.store(word.load(Relaxed) | b, Relaxed);
    }

    fn clear_bit(&self, off: usize, k: u32) {
        let (w, b) = self.bit(off, k);
        let word = self.word(w);
        debug_assert_ne!(word.load(Relaxed) & b, 0, "free bit {off}/{k} not set");
        word.store(word.load(Relaxed) & !b, Relaxed);
    }

    /// Offset of a free unit of exactly order `j`, from the bitmap.
    fn find_free(&self, j: u32) -> Option<usize> {
        let first = self.geo.bitmap_offset(j);
        let last = self.geo.bitmap_offset(j + 1);
        (first..last).find_map(|w| {
            let bits = self.word(w).load(Relaxed);
            (bits != 0).then(|| ((w - first) * 64 + bits.trailing_zeros() as usize) << j)
        })
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
        let orders = self.counts.orders.load(Relaxed);
        (orders != 0).then(|| 15 - orders.leading_zeros())
    }

    /// The smallest order `>= min` with a free unit.
    fn min_free_order_from(&self, min: u32) -> Option<u32> {
        let orders = self.counts.orders.load(Relaxed) & u16::MAX.wrapping_shl(min);
        (orders != 0).then(|| orders.trailing_zeros())
    }

    /// Adds `delta` to the count of free units of order `k`, keeping `orders` in step.
    fn bump_free(&self, k: u32, delta: i32) {
        let count = &self.counts.nr_free[k as usize];
        bump(count, delta);
        let bit = 1u16 << k;
        let orders = self.counts.orders.load(Relaxed);
        let orders = if count.load(Relaxed) == 0 {
            orders & !bit
        } else {
            orders | bit
        };
        self.counts.orders.store(orders, Relaxed);
    }

    /// Whether `orders` agrees with the counts (for the checker).
    pub(crate) fn orders_match_counts(&self) -> bool {
        let orders = self.counts.orders.load(Relaxed);
        (0..NR_ORDERS as u32).all(|k| (orders >> k & 1 != 0) == (self.nr_free(k) != 0))
    }

    /// Whether the whole block is one free unit.
    pub(crate) fn is_whole_free(&self) -> bool {
        self.free_pages() == self.pages()
    }

    /// Whether the block is one free unit that kept its compound state.
    pub(crate) fn is_whole_compound(&self) -> bool {
        self.load(0) == unit::unit(FREE, self.order(), true)
    }

    /// Resets the block to one free, non-compound unit of order `P`. Holder only, and only
    /// when no page of the block is allocated, cached or parked.
    pub(crate) fn reset_whole_free(&self) {
        for line in self.map {
            for byte in &line.0 {
                byte.store(NONE, Ordering::Relaxed);
            }
        }
        for line in self.bits {
            for word in &line.0 {
                word.store(0, Relaxed);
            }
        }
        for count in &self.counts.nr_free {
            count.store(0, Relaxed);
        }
        self.counts.orders.store(0, Relaxed);
        self.store(0, unit::unit(FREE, self.order(), false));
        self.set_bit(0, self.order());
        self.bump_free(self.order(), 1);
        self.counts.free_pages.store(self.pages() as u16, Relaxed);
    }

    /// Takes a free unit of order at least `min` out of the buddy and marks it `mark` (a kind:
    /// `ALLOC` for a user, `CACHED` for a CPU's magazine or loose stack), as a compound unit if
    /// `compound`.
    ///
    /// Uses the smallest free order `j >= min` (best fit). If `j` exceeds `want`, the unit is
    /// split down to `want` and the upper halves stay free here. Holder only.
    pub(crate) fn take(&self, min: u32, want: u32, mark: u8, compound: bool) -> Option<Taken> {
        debug_assert!(min <= want && want <= self.order());
        let j = self.min_free_order_from(min)?;
        let found = self.find_free(j);
        debug_assert!(found.is_some(), "free count of order {j} without a unit");
        let off = found?;
        let was_compound = unit::compound(self.load(off));
        self.clear_bit(off, j);
        self.bump_free(j, -1);
        let target = j.min(want);
        // Split: the lower half keeps the start at `off`, each upper half becomes a free unit.
        for order in target..j {
            let upper = off + (1 << order);
            self.store(upper, unit::unit(FREE, order, false));
            self.set_bit(upper, order);
            self.bump_free(order, 1);
        }
        self.store(off, unit::unit(mark, target, compound));
        bump(&self.counts.free_pages, -(1 << target));
        Some(Taken {
            off,
            order: target,
            was_compound,
        })
    }

    /// Returns the unit `(off, k)` to the buddy and merges it bottom-up with free buddies of its
    /// order. The caller owns the unit's byte (it won the free's compare-and-swap, or the unit
    /// was `CACHED` by it or `PARKED` for it). A whole-block unit keeps its compound state if
    /// `compound`. Returns the number of merges. Holder only.
    pub(crate) fn put(&self, mut off: usize, mut k: u32, compound: bool) -> u32 {
        debug_assert_eq!(off & ((1 << k) - 1), 0);
        bump(&self.counts.free_pages, 1 << k);
        let mut merges = 0;
        while k < self.order() {
            let buddy = off ^ (1 << k);
            if !self.test_bit(buddy, k) {
                break;
            }
            self.clear_bit(buddy, k);
            self.bump_free(k, -1);
            self.store(off.max(buddy), NONE);
            off = off.min(buddy);
            k += 1;
            merges += 1;
        }
        let keep_compound = compound && merges == 0 && k == self.order();
        self.store(off, unit::unit(FREE, k, keep_compound));
        self.set_bit(off, k);
        self.bump_free(k, 1);
        merges
    }

    /// Frees the allocated unit `(off, k)` from any CPU: turns its byte from `ALLOC` (of exactly
    /// order `k`, compound or not as `compound` says) into kind `to` with one compare-and-swap.
    ///
    /// The compare-and-swap is the free's validation and linearisation point: a wrong order, a
    /// folio freed as pages (or the reverse), a tail page or a unit that is not allocated fails
    /// it with nothing changed, and of two racing frees of one allocation exactly one succeeds.
    /// The only misuse it cannot catch is a free of memory that was freed and allocated again
    /// meanwhile, which no allocator can tell from a correct free.
    pub(crate) fn try_free(
        &self,
        off: usize,
        k: u32,
        compound: bool,
        to: u8,
    ) -> Result<(), FreeError> {
        if off & ((1 << k) - 1) != 0 {
            return Err(FreeError::Misaligned);
        }
        let expected = unit::unit(ALLOC, k, compound);
        // A freed unit keeps its compound state only if it is a whole block (a cached folio of
        // the pageblock order); the caller undid a smaller folio's before freeing it.
        let freed = unit::unit(to, k, compound && k == self.order());
        self.byte(off)
            .compare_exchange(expected, freed, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
            .map_err(|seen| self.classify_bad_free(off, k, seen))
    }

    /// What [`Buddy::try_free`] would say now, without changing anything (for callers that must
    /// do work before committing a free).
    pub(crate) fn check_free(&self, off: usize, k: u32, compound: bool) -> Result<(), FreeError> {
        if off & ((1 << k) - 1) != 0 {
            return Err(FreeError::Misaligned);
        }
        let seen = self.load(off);
        if seen == unit::unit(ALLOC, k, compound) {
            Ok(())
        } else {
            Err(self.classify_bad_free(off, k, seen))
        }
    }

    /// Says why freeing `(off, k)` is wrong, given the byte `seen` at `off`.
    fn classify_bad_free(&self, off: usize, k: u32, seen: u8) -> FreeError {
        match unit::kind(seen) {
            ALLOC if unit::order(seen) != k => FreeError::WrongOrder,
            ALLOC => FreeError::WrongKind,
            NONE => {
                // Inside a unit: find its start (offset 0 always starts one).
                let mut start = off;
                while start > 0 && unit::kind(self.load(start)) == NONE {
                    start -= 1;
                }
                if unit::kind(self.load(start)) == ALLOC {
                    FreeError::NotAllocated
                } else {
                    FreeError::DoubleFree
                }
            }
            _ => FreeError::DoubleFree,
        }
    }

    /// Pages per remote-free hint group: the block is cut into at most 64 groups, one bit each
    /// in `BlockMeta::parked_hint`.
    pub(crate) fn group_shift(&self) -> u32 {
        self.order().saturating_sub(6)
    }

    /// Moves the `PARKED` units of the groups in `groups` (bit `g`: pages `g << group_shift`
    /// onwards) back into the buddy, merging them, except those `divert(offset, order)` takes:
    /// those become `CACHED` (the caller caches them, e.g. in its magazine). Compound units are
    /// never offered. Returns `(pages put into the buddy, pages diverted, merges)`. Holder only.
    pub(crate) fn absorb_parked(
        &self,
        groups: u64,
        mut divert: impl FnMut(usize, u32) -> bool,
    ) -> (usize, usize, u32) {
        let shift = self.group_shift();
        let mut pages = 0;
        let mut diverted = 0;
        let mut merges = 0;
        let mut left = groups;
        while left != 0 {
            let group = left.trailing_zeros() as usize;
            left &= left - 1;
            let first = group << shift;
            let end = ((group + 1) << shift).min(self.pages());
            // A group lies within one map line (groups are at most 64 pages, aligned): scan its
            // bytes as one slice, one load and one compare each.
            let Some(bytes) = self.map.get(first / MAP_LINE_PAGES).and_then(|line| {
                line.0
                    .get(first % MAP_LINE_PAGES..(end - 1) % MAP_LINE_PAGES + 1)
            }) else {
                continue;
            };
            for (off, byte) in (first..end).zip(bytes) {
                let byte = byte.load(Ordering::Acquire);
                if unit::kind(byte) == PARKED {
                    let k = unit::order(byte);
                    let compound = unit::compound(byte);
                    if !compound && divert(off, k) {
                        self.store(off, unit::unit(CACHED, k, false));
                        diverted += 1 << k;
                    } else {
                        merges += self.put(off, k, compound);
                        pages += 1 << k;
                    }
                }
            }
        }
        (pages, diverted, merges)
    }

    /// Calls `f(offset, order, byte)` for every unit of the block, in address order. Stops at a
    /// byte that cannot start a unit there, reporting it with order `u32::MAX`. A reader's view:
    /// exact only under the holder's lock with no free of the block in flight.
    pub(crate) fn for_each_unit(&self, mut f: impl FnMut(usize, u32, u8)) {
        let mut off = 0;
        while off < self.pages() {
            let byte = self.load(off);
            let order = unit::order(byte);
            if unit::kind(byte) == NONE || order > self.order() || off & ((1 << order) - 1) != 0 {
                f(off, u32::MAX, byte);
                return;
            }
            f(off, order, byte);
            off += 1 << order;
        }
    }

    /// Whether every byte in `first..end` is `NONE` (the inside of a unit).
    pub(crate) fn all_none(&self, first: usize, end: usize) -> bool {
        (first..end).all(|off| self.load(off) == NONE)
    }

    /// Whether the free bitmap has exactly the `FREE` units of the map (verify).
    pub(crate) fn bitmap_matches_map(&self) -> bool {
        let mut ok = true;
        let mut free_bits = 0;
        self.for_each_unit(|off, order, byte| {
            if order != u32::MAX && unit::kind(byte) == FREE {
                ok &= self.test_bit(off, order);
                free_bits += 1;
            }
        });
        let set: u32 = (0..self.geo.bitmap_offset(self.order() + 1))
            .map(|w| self.word(w).load(Relaxed).count_ones())
            .sum();
        ok && set == free_bits
    }
}

#[cfg(test)]
mod tests {
    use super::super::unit::NONE;
    use super::*;
    use std::vec::Vec;

    struct TestBlock {
        map: Vec<MapLine>,
        bits: Vec<BitmapLine>,
        counts: BuddyCounts,
        geo: Geometry,
    }

    impl TestBlock {
        fn new(order: u32) -> Self {
            let geo = Geometry::new(order, 1).unwrap();
            let block = Self {
                map: (0..geo.map_lines_per_block())
                    .map(|_| MapLine::new())
                    .collect(),
                bits: (0..geo.bitmap_lines_per_block())
                    .map(|_| BitmapLine::new())
                    .collect(),
                counts: BuddyCounts::new(),
                geo,
            };
            block.buddy().reset_whole_free();
            block
        }

        fn buddy(&self) -> Buddy<'_> {
            Buddy::new(&self.map, &self.bits, &self.counts, &self.geo)
        }

        fn alloc(&self, k: u32) -> Option<usize> {
            self.buddy().take(k, k, ALLOC, false).map(|t| {
                assert_eq!(t.order, k);
                t.off
            })
        }

        fn free(&self, off: usize, k: u32) -> Result<u32, FreeError> {
            let b = self.buddy();
            b.try_free(off, k, false, FREE)?;
            Ok(b.put(off, k, false))
        }

        /// Checks partition, alignment, no unmerged buddies, bitmaps and counts.
        fn check(&self) {
            let b = self.buddy();
            let p = self.geo.block_order();
            let mut nr_free = [0usize; NR_ORDERS];
            let mut free_pages = 0;
            let mut covered = 0;
            let mut units = Vec::new();
            b.for_each_unit(|off, order, byte| {
                assert!(order <= p, "bad unit at {off}: {byte:#x}");
                assert_eq!(off, covered);
                assert!(b.all_none(off + 1, off + (1 << order)), "unit at {off}");
                covered += 1 << order;
                if unit::kind(byte) == FREE {
                    nr_free[order as usize] += 1;
                    free_pages += 1 << order;
                }
                units.push((off, order, unit::kind(byte)));
            });
            assert_eq!(covered, 1 << p);
            for &(off, order, kind) in &units {
                if kind == FREE && order < p {
                    let buddy = off ^ (1 << order);
                    assert!(
                        !units.contains(&(buddy, order, FREE)),
                        "unmerged buddies {off}/{buddy} order {order}"
                    );
                }
            }
            for k in 0..=p {
                assert_eq!(b.nr_free(k), nr_free[k as usize], "order {k} count");
            }
            assert_eq!(b.free_pages(), free_pages);
            assert!(b.bitmap_matches_map());
        }
    }

    /// Miri runs about a thousand times slower: smaller sizes there.
    const SIZES: &[u32] = if cfg!(miri) {
        &[1, 3, 5]
    } else {
        &[1, 3, 4, 6, 9, 10]
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
                    if !cfg!(miri) || offs.len() < 8 {
                        t.check();
                    }
                }
                assert_eq!(offs.len(), 1 << (p - k), "p {p} k {k}: exhaustion");
                assert_eq!(t.buddy().free_pages(), 0);
                offs.sort();
                offs.dedup();
                assert_eq!(offs.len(), 1 << (p - k), "duplicate chunks");
                for off in offs {
                    t.free(off, k).unwrap();
                }
                t.check();
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
        let b = t.buddy();
        // Ask for at least order 1, preferring order 3: split 32 -> 8.
        let taken = b.take(1, 3, CACHED, false).unwrap();
        assert_eq!((taken.off, taken.order), (0, 3));
        t.check();
        // Only order 3 and 4 are free now; asking for >= 4 takes the order-4 unit.
        let taken = b.take(4, 4, CACHED, false).unwrap();
        assert_eq!((taken.off, taken.order), (16, 4));
        // Smaller free units than wanted are taken whole.
        let taken = b.take(0, 5, CACHED, false).unwrap();
        assert_eq!((taken.off, taken.order), (8, 3));
        assert_eq!(b.free_pages(), 0);
        for (off, k) in [(0, 3), (16, 4), (8, 3)] {
            assert_eq!(unit::kind(b.load(off)), CACHED);
            b.put(off, k, false);
        }
        assert!(b.is_whole_free());
        t.check();
    }

    #[test]
    fn bad_frees_are_refused_and_change_nothing() {
        let t = TestBlock::new(4);
        let b = t.buddy();
        let a = t.alloc(1).unwrap(); // 0..2
        let c = t.alloc(2).unwrap(); // 4..8
        let folio = b.take(3, 3, ALLOC, true).unwrap().off; // 8..16
        let snapshot: Vec<u8> = (0..16).map(|off| b.load(off)).collect();
        assert_eq!(t.free(a, 0), Err(FreeError::WrongOrder));
        assert_eq!(t.free(a, 2), Err(FreeError::WrongOrder));
        assert_eq!(t.free(a + 1, 0), Err(FreeError::NotAllocated));
        assert_eq!(t.free(c, 1), Err(FreeError::WrongOrder));
        assert_eq!(t.free(c + 2, 1), Err(FreeError::NotAllocated));
        assert_eq!(t.free(2, 1), Err(FreeError::DoubleFree)); // a free unit
        assert_eq!(t.free(c + 1, 2), Err(FreeError::Misaligned));
        assert_eq!(t.free(folio, 3), Err(FreeError::WrongKind)); // a folio freed as pages
        assert_eq!(b.try_free(c, 2, true, FREE), Err(FreeError::WrongKind));
        assert_eq!(b.check_free(folio, 3, true), Ok(()));
        let after: Vec<u8> = (0..16).map(|off| b.load(off)).collect();
        assert_eq!(snapshot, after);
        t.check();
        t.free(a, 1).unwrap();
        assert_eq!(t.free(a, 1), Err(FreeError::DoubleFree));
        t.free(c, 2).unwrap();
        b.try_free(folio, 3, true, FREE).unwrap();
        b.put(folio, 3, true);
        assert!(b.is_whole_free());
        assert!(
            !b.is_whole_compound(),
            "a merged folio is not a whole-block folio"
        );
        t.check();
    }

    #[test]
    fn whole_block_folio_stays_compound() {
        let t = TestBlock::new(3);
        let b = t.buddy();
        let taken = b.take(3, 3, ALLOC, true).unwrap();
        assert!(!taken.was_compound);
        b.try_free(0, 3, true, PARKED).unwrap();
        assert_eq!(b.absorb_parked(u64::MAX, |_, _| true), (8, 0, 0));
        assert!(b.is_whole_compound());
        t.check();
        // Taking it whole reports it compound; splitting it does too.
        let taken = b.take(3, 3, ALLOC, true).unwrap();
        assert!(taken.was_compound);
        b.try_free(0, 3, true, FREE).unwrap();
        b.put(0, 3, true);
        let taken = b.take(0, 0, CACHED, false).unwrap();
        assert!(taken.was_compound);
        assert!(!b.is_whole_compound());
        b.put(taken.off, 0, false);
        assert!(b.is_whole_free() && !b.is_whole_compound());
        t.check();
    }

    #[test]
    fn parked_units_absorb_by_group_and_merge() {
        let t = TestBlock::new(9);
        let b = t.buddy();
        let offs: Vec<usize> = (0..512).map(|_| t.alloc(0).unwrap()).collect();
        for &off in &offs {
            b.try_free(off, 0, false, PARKED).unwrap();
        }
        assert_eq!(b.try_free(3, 0, false, PARKED), Err(FreeError::DoubleFree));
        assert_eq!(b.free_pages(), 0);
        // Group g covers pages 8g..8g+8 at P = 9: absorbing groups 0 and 2 frees 16 pages.
        assert_eq!(b.group_shift(), 3);
        assert_eq!(b.absorb_parked(0b101, |_, _| false), (16, 0, 14));
        t.check();
        let (pages, diverted, merges) = b.absorb_parked(u64::MAX, |_, _| false);
        assert_eq!((pages, diverted), (496, 0));
        assert_eq!(merges + 14, 511);
        assert!(b.is_whole_free());
        t.check();
        assert_eq!(b.load(1), NONE);
    }

    #[test]
    fn parked_units_can_be_diverted_unmerged() {
        let t = TestBlock::new(4);
        let b = t.buddy();
        let offs: Vec<usize> = (0..16).map(|_| t.alloc(0).unwrap()).collect();
        for &off in &offs {
            b.try_free(off, 0, false, PARKED).unwrap();
        }
        // Every even page is diverted (cached by the caller), every odd one goes back: no two
        // free pages are buddies, so nothing merges.
        let mut seen = Vec::new();
        let (pages, diverted, merges) = b.absorb_parked(u64::MAX, |off, k| {
            seen.push((off, k));
            off % 2 == 0
        });
        assert_eq!((pages, diverted, merges), (8, 8, 0));
        assert_eq!(seen.len(), 16);
        assert_eq!(b.free_pages(), 8);
        assert_eq!(unit::kind(b.load(0)), CACHED);
        assert_eq!(unit::kind(b.load(1)), FREE);
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
