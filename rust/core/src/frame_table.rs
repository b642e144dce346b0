//! A dense map from *block frame number* (`pfn >> P`) to block index, for turning a page of
//! the kernel's memory map into a page index in one bounds check and one load, even when the
//! pool's blocks are scattered in physical memory.
//!
//! The table covers the frames from the pool's lowest to its highest block: four bytes per
//! 2 MiB of that span (for a pool spread over a 24 GiB node, 48 KiB).

use core::ops::{Deref, DerefMut};

use super::block::NIL;

/// The map over storage the caller supplies (a `Vec<u32>`, a `KVVec<u32>`).
///
/// # Invariants
///
/// `slots[f - base]` is the block whose first frame is `f`, or `NIL`.
pub struct FrameTable<S> {
    base: u64,
    slots: S,
}

/// Why a frame could not be mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameTableError {
    /// The frame is outside the span the table was built for.
    OutOfSpan,
    /// The frame is already mapped.
    Duplicate,
}

impl<S: DerefMut<Target = [u32]>> FrameTable<S> {
    /// A table for frames `base..base + slots.len()`, all unmapped.
    pub fn new(base: u64, mut slots: S) -> Self {
        slots.fill(NIL);
        // INVARIANT: every slot is NIL.
        Self { base, slots }
    }

    /// Maps `frame` to `block`.
    pub fn insert(&mut self, frame: u64, block: u32) -> Result<(), FrameTableError> {
        let index = frame.wrapping_sub(self.base);
        let slot = usize::try_from(index)
            .ok()
            .and_then(|i| self.slots.get_mut(i))
            .ok_or(FrameTableError::OutOfSpan)?;
        if *slot != NIL {
            return Err(FrameTableError::Duplicate);
        }
        *slot = block;
        Ok(())
    }
}

impl<S: Deref<Target = [u32]>> FrameTable<S> {
    /// The block of `frame`, if it belongs to the pool.
    #[inline]
    pub fn lookup(&self, frame: u64) -> Option<u32> {
        let slots = &*self.slots;
        let index = usize::try_from(frame.wrapping_sub(self.base)).ok()?;
        let block = *slots.get(index)?;
        (block != NIL).then_some(block)
    }

    /// Bytes of storage the table uses.
    pub fn bytes(&self) -> usize {
        core::mem::size_of_val(&*self.slots)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;

    #[test]
    fn insert_lookup() {
        let mut table = FrameTable::new(100, vec![0u32; 16]);
        for (block, frame) in [100u64, 103, 115, 107].into_iter().enumerate() {
            table.insert(frame, block as u32).unwrap();
        }
        assert_eq!(table.insert(103, 9), Err(FrameTableError::Duplicate));
        assert_eq!(table.insert(116, 9), Err(FrameTableError::OutOfSpan));
        assert_eq!(table.insert(99, 9), Err(FrameTableError::OutOfSpan));
        assert_eq!(table.lookup(100), Some(0));
        assert_eq!(table.lookup(115), Some(2));
        assert_eq!(table.lookup(107), Some(3));
        assert_eq!(table.lookup(101), None);
        assert_eq!(table.lookup(99), None);
        assert_eq!(table.lookup(116), None);
        assert_eq!(table.lookup(u64::MAX), None);
        assert_eq!(table.bytes(), 64);
    }
}
