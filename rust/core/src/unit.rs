//! The state of one page: a byte in its block's *unit map*.
//!
//! A block is always partitioned into *units*: naturally aligned power-of-two runs of pages.
//! The byte of a unit's first page says what the unit is, how large it is and whether it is a
//! compound page (a folio); the bytes of its other pages are [`NONE`]. So a page's byte answers
//! "is an allocation of exactly this order and kind starting here?" with one load, and a free
//! is validated and committed by one compare-and-swap on one byte, whatever the order.
//!
//! # Who writes a byte
//!
//! | kind | meaning | written by |
//! |---|---|---|
//! | [`NONE`] | not the first page of a unit | the block's holder (split, merge) |
//! | [`FREE`] | free in the block's buddy | the block's holder |
//! | [`ALLOC`] | handed out to a user | any CPU's free, by compare-and-swap (to `CACHED` or `PARKED`) |
//! | [`CACHED`] | free, in one CPU's magazine or loose stack | that CPU only (to `ALLOC`, back into its buddy, or `PARKED` for the block's holder) |
//! | [`PARKED`] | freed by a CPU that does not hold the block, waiting for the holder | the holder (absorbs it) |
//!
//! The block's *holder* is the owning CPU's cache lock, or the global lock for blocks in the
//! global pool. Each byte has one possible writer at a time, except an `ALLOC` byte, which racing
//! frees may all try to change: they use compare-and-swap, so exactly one wins and the others
//! see a double free. Nobody but a free ever writes an `ALLOC` byte (the user holds the unit), and
//! a free's compare-and-swap fails on every other kind, so the holder's plain stores to the
//! bytes it owns can never lose a free's update.

/// Kind: not the first page of a unit.
pub(crate) const NONE: u8 = 0;
/// Kind: first page of a free unit in the block's buddy.
pub(crate) const FREE: u8 = 1;
/// Kind: first page of an allocated unit.
pub(crate) const ALLOC: u8 = 2;
/// Kind: first page of a unit freed by a CPU that does not hold the block, not yet absorbed.
pub(crate) const PARKED: u8 = 3;
/// Kind: first page of a free unit held by one CPU's magazine or loose stack.
pub(crate) const CACHED: u8 = 4;

const KIND_MASK: u8 = 0b111;
const ORDER_SHIFT: u32 = 3;
const ORDER_MASK: u8 = 0b1111;
/// The unit is a compound page (a folio) and keeps its compound `struct page` state.
const COMPOUND: u8 = 0x80;

/// The byte of a unit's first page.
pub(crate) const fn unit(kind: u8, order: u32, compound: bool) -> u8 {
    kind | ((order as u8) << ORDER_SHIFT) | if compound { COMPOUND } else { 0 }
}

/// The kind of a byte.
pub(crate) const fn kind(byte: u8) -> u8 {
    byte & KIND_MASK
}

/// The order of a unit from its first byte.
pub(crate) const fn order(byte: u8) -> u32 {
    ((byte >> ORDER_SHIFT) & ORDER_MASK) as u32
}

/// Whether a unit is a compound page.
pub(crate) const fn compound(byte: u8) -> bool {
    byte & COMPOUND != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips() {
        for k in [NONE, FREE, ALLOC, PARKED, CACHED] {
            for order in 0..=10 {
                for c in [false, true] {
                    let b = unit(k, order, c);
                    assert_eq!((kind(b), super::order(b), compound(b)), (k, order, c));
                }
            }
        }
        assert_eq!(unit(NONE, 0, false), 0, "a zeroed map is all NONE");
    }
}
