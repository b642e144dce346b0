//! An O(1) map from *block frame number* (`pfn >> P`) to block index, over
//! storage the caller supplies, for turning a foreign pfn into a page index when
//! the pool's blocks are scattered in physical memory.
//!
//! Open addressing with linear probing; built once at pool creation, read-only
//! afterwards (lookups take no lock).

/// One slot of the map.
///
/// # Invariants
///
/// `key` is 0 for an empty slot, else the block frame number plus one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameSlot {
    key: u64,
    block: u32,
}

impl FrameSlot {
    /// An empty slot.
    pub const EMPTY: FrameSlot = FrameSlot { key: 0, block: 0 };
}

/// Error of [`BlockFrameMap::insert`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameMapError {
    /// The storage is full (size it to at least twice the number of blocks).
    Full,
    /// The frame number is already mapped.
    Duplicate,
    /// The storage length is not a power of two.
    BadCapacity,
}

/// The map over caller-supplied slots.
pub struct BlockFrameMap<'a> {
    slots: &'a mut [FrameSlot],
}

/// Mixes a frame number (Fibonacci hashing).
fn hash(frame: u64) -> u64 {
    frame.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl<'a> BlockFrameMap<'a> {
    /// Wraps empty storage whose length is a power of two.
    pub fn new(slots: &'a mut [FrameSlot]) -> Result<Self, FrameMapError> {
        if !slots.len().is_power_of_two() {
            return Err(FrameMapError::BadCapacity);
        }
        slots.fill(FrameSlot::EMPTY);
        Ok(Self { slots })
    }

    /// Maps `frame` (a pfn shifted right by the block order) to `block`.
    pub fn insert(&mut self, frame: u64, block: u32) -> Result<(), FrameMapError> {
        let key = frame.wrapping_add(1);
        let mask = self.slots.len() - 1;
        let mut index = (hash(frame) >> 32) as usize & mask;
        for _ in 0..self.slots.len() {
            let slot = &mut self.slots[index];
            if slot.key == key {
                return Err(FrameMapError::Duplicate);
            }
            if slot.key == 0 {
                *slot = FrameSlot { key, block };
                return Ok(());
            }
            index = (index + 1) & mask;
        }
        Err(FrameMapError::Full)
    }

    /// The block of `frame`, if it belongs to the pool.
    pub fn lookup(&self, frame: u64) -> Option<u32> {
        lookup(self.slots, frame)
    }
}

/// Looks `frame` up in slots filled by a [`BlockFrameMap`] (read-only use after
/// building, so the glue can keep `&[FrameSlot]`).
pub fn lookup(slots: &[FrameSlot], frame: u64) -> Option<u32> {
    if slots.is_empty() {
        return None;
    }
    let key = frame.wrapping_add(1);
    let mask = slots.len() - 1;
    let mut index = (hash(frame) >> 32) as usize & mask;
    for _ in 0..slots.len() {
        let slot = slots[index];
        if slot.key == key {
            return Some(slot.block);
        }
        if slot.key == 0 {
            return None;
        }
        index = (index + 1) & mask;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_lookup() {
        let mut slots = [FrameSlot::EMPTY; 16];
        let mut map = BlockFrameMap::new(&mut slots).unwrap();
        let frames = [0u64, 1, 7, 1 << 40, 12345, 99, 100, 101];
        for (i, &f) in frames.iter().enumerate() {
            map.insert(f, i as u32).unwrap();
        }
        assert_eq!(map.insert(7, 0), Err(FrameMapError::Duplicate));
        for (i, &f) in frames.iter().enumerate() {
            assert_eq!(map.lookup(f), Some(i as u32));
        }
        assert_eq!(map.lookup(2), None);
        assert_eq!(lookup(&slots, 1 << 40), Some(3));
        let mut bad = [FrameSlot::EMPTY; 3];
        assert!(BlockFrameMap::new(&mut bad).is_err());
    }

    #[test]
    fn full() {
        let mut slots = [FrameSlot::EMPTY; 4];
        let mut map = BlockFrameMap::new(&mut slots).unwrap();
        for f in 0..4 {
            map.insert(f, f as u32).unwrap();
        }
        assert_eq!(map.insert(9, 9), Err(FrameMapError::Full));
        assert_eq!(map.lookup(9), None);
    }
}
