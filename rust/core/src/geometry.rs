//! Pool geometry: the pageblock order, the number of blocks, and the arithmetic
//! between page indices and (block, offset) pairs.
//!
//! A page index is pool-relative: `block << block_order | offset`. The kernel
//! glue maps it to a pfn through its own per-block base-pfn table (blocks may be
//! scattered in physical memory).

/// Largest supported pageblock order (`pageblock_order` is 9 on x86-64).
pub const MAX_BLOCK_ORDER: u32 = 10;

/// Number of buddy orders at the largest block order (`0..=MAX_BLOCK_ORDER`).
pub const NR_ORDERS: usize = MAX_BLOCK_ORDER as usize + 1;

/// Pool-relative page index: `block << block_order | offset`.
pub type PageIndex = usize;

/// Pages per map line: one cache line of state bytes (`platform::MapLine`).
pub const MAP_LINE_PAGES: usize = 64;

/// Words per bitmap line: one cache line of free bitmaps (`platform::BitmapLine`).
pub const BITMAP_LINE_WORDS: usize = 8;

/// Shape of a pool: block order and number of blocks, and the layout of a block's metadata.
///
/// A block's free bitmaps hold one bit per possible unit of each order `k` (`2^(P-k)` bits,
/// at least one word), order after order; `bitmap_offset(k)` is the first word of order `k`.
///
/// # Invariants
///
/// `1 <= block_order <= MAX_BLOCK_ORDER`, `nr_blocks >= 1`, and every page
/// index of the pool fits in a `u32` (`nr_blocks << block_order <= u32::MAX`),
/// so that page indices can be stored in 32-bit slots. `bitmap_offsets` is the
/// prefix sum of the bitmap words of orders `0..=block_order`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    block_order: u32,
    nr_blocks: usize,
    bitmap_offsets: [u16; NR_ORDERS + 1],
}

impl Geometry {
    /// Checks and creates a geometry; `None` if it breaks the invariants.
    pub const fn new(block_order: u32, nr_blocks: usize) -> Option<Self> {
        if block_order == 0 || block_order > MAX_BLOCK_ORDER || nr_blocks == 0 {
            return None;
        }
        let max_blocks = (u32::MAX as usize) >> block_order;
        if nr_blocks > max_blocks {
            return None;
        }
        let mut bitmap_offsets = [0u16; NR_ORDERS + 1];
        let mut k = 0;
        while k < NR_ORDERS {
            let bits = if k as u32 <= block_order {
                1usize << (block_order - k as u32)
            } else {
                0
            };
            let words = if bits == 0 { 0 } else { bits.div_ceil(64) };
            bitmap_offsets[k + 1] = bitmap_offsets[k] + words as u16;
            k += 1;
        }
        // INVARIANT: checked above; offsets computed above.
        Some(Self {
            block_order,
            nr_blocks,
            bitmap_offsets,
        })
    }

    /// The pageblock order `P`: a block has `2^P` pages and buddy orders `0..=P`.
    #[inline]
    pub const fn block_order(&self) -> u32 {
        self.block_order
    }

    /// Pages per block (`2^P`).
    #[inline]
    pub const fn block_pages(&self) -> usize {
        // The wrapping shifts here are the plain ones (`P <= MAX_BLOCK_ORDER`, invariant)
        // without the shift check of an overflow-checked build: these run on every free.
        1usize.wrapping_shl(self.block_order)
    }

    /// Number of blocks in the pool.
    #[inline]
    pub const fn nr_blocks(&self) -> usize {
        self.nr_blocks
    }

    /// Number of pages in the pool.
    #[inline]
    pub const fn total_pages(&self) -> usize {
        self.nr_blocks << self.block_order
    }

    /// Map lines (`MapLine`, 64 state bytes) each block needs: at least one.
    pub const fn map_lines_per_block(&self) -> usize {
        self.block_pages().div_ceil(MAP_LINE_PAGES)
    }

    /// Length of the map-line array the platform must supply.
    pub const fn map_lines(&self) -> usize {
        self.map_lines_per_block() * self.nr_blocks
    }

    /// First word of order `k`'s free bitmap inside a block's bitmap words.
    pub(crate) const fn bitmap_offset(&self, k: u32) -> usize {
        self.bitmap_offsets[k as usize] as usize
    }

    /// Bitmap lines (`BitmapLine`, 8 words) each block needs.
    pub const fn bitmap_lines_per_block(&self) -> usize {
        (self.bitmap_offsets[self.block_order as usize + 1] as usize).div_ceil(BITMAP_LINE_WORDS)
    }

    /// Length of the bitmap-line array the platform must supply.
    pub const fn bitmap_lines(&self) -> usize {
        self.bitmap_lines_per_block() * self.nr_blocks
    }

    /// Block index of a page index, `None` if the page is outside the pool.
    #[inline]
    pub const fn block_of(&self, page: PageIndex) -> Option<usize> {
        let block = page.wrapping_shr(self.block_order);
        if block < self.nr_blocks {
            Some(block)
        } else {
            None
        }
    }

    /// Offset of a page inside its block.
    #[inline]
    pub(crate) const fn offset_of(&self, page: PageIndex) -> usize {
        page & self.block_pages().wrapping_sub(1)
    }

    /// First page index of a block.
    #[inline]
    pub const fn first_page(&self, block: usize) -> PageIndex {
        block.wrapping_shl(self.block_order)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_limits() {
        assert!(Geometry::new(0, 1).is_none());
        assert!(Geometry::new(11, 1).is_none());
        assert!(Geometry::new(9, 0).is_none());
        assert!(Geometry::new(9, (u32::MAX as usize >> 9) + 1).is_none());
        let g = Geometry::new(9, 4).unwrap();
        assert_eq!(g.block_pages(), 512);
        assert_eq!(g.map_lines_per_block(), 8);
        // Orders 0..=9: 8 + 4 + 2 + 1 * 7 words = 21 words, 3 lines.
        assert_eq!(g.bitmap_offset(1), 8);
        assert_eq!(g.bitmap_offset(3), 14);
        assert_eq!(g.bitmap_offset(9), 20);
        assert_eq!(g.bitmap_lines_per_block(), 3);
        assert_eq!(Geometry::new(3, 1).unwrap().map_lines_per_block(), 1);
        assert_eq!(Geometry::new(3, 1).unwrap().bitmap_lines_per_block(), 1);
        assert_eq!(Geometry::new(10, 1).unwrap().map_lines_per_block(), 16);
        assert_eq!(g.block_of(4 * 512), None);
        assert_eq!(g.block_of(3 * 512 + 7), Some(3));
        assert_eq!(g.offset_of(3 * 512 + 7), 7);
    }
}
