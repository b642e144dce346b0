//! Intrusive doubly linked lists of blocks, linked through `BlockMeta::next`
//! and `prev` by block index, and per-order *buckets* of such lists.
//!
//! Every block is on exactly one list at a time: the global free-block list,
//! a global fragment or shared bucket, or its owner's bucket. A bucket list
//! holds the blocks whose largest free unit has that order, so "a block with a
//! free unit of order >= k" is the head of the first non-empty bucket from `k`
//! up: O(orders), whatever the number of blocks.

use super::block::{BlockMeta, NIL};
use super::geometry::NR_ORDERS;

/// A list of blocks.
///
/// # Invariants
///
/// `head`/`tail` and the links of the listed blocks form a well-formed doubly
/// linked list of `len` distinct blocks, all with the same holder as the list.
pub struct BlockList {
    head: u32,
    tail: u32,
    len: u32,
}

impl BlockList {
    /// An empty list.
    pub const fn new() -> Self {
        Self {
            head: NIL,
            tail: NIL,
            len: 0,
        }
    }

    /// Whether the list is empty.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// First block, if any.
    pub(crate) fn head(&self) -> Option<usize> {
        (self.head != NIL).then_some(self.head as usize)
    }

    /// Adds a block that is on no list at the front.
    pub(crate) fn push_front(&mut self, blocks: &[BlockMeta], block: usize) {
        let index = block as u32;
        blocks[block].set_links(NIL, self.head);
        if self.head == NIL {
            self.tail = index;
        } else {
            blocks[self.head as usize].set_prev(index);
        }
        self.head = index;
        self.len += 1;
    }

    /// Adds a block that is on no list at the back.
    pub(crate) fn push_back(&mut self, blocks: &[BlockMeta], block: usize) {
        let index = block as u32;
        blocks[block].set_links(self.tail, NIL);
        if self.tail == NIL {
            self.head = index;
        } else {
            blocks[self.tail as usize].set_next(index);
        }
        self.tail = index;
        self.len += 1;
    }

    /// Unlinks a block that is on this list.
    pub(crate) fn remove(&mut self, blocks: &[BlockMeta], block: usize) {
        let (prev, next) = (blocks[block].prev(), blocks[block].next());
        if prev == NIL {
            debug_assert_eq!(self.head, block as u32);
            self.head = next;
        } else {
            blocks[prev as usize].set_next(next);
        }
        if next == NIL {
            debug_assert_eq!(self.tail, block as u32);
            self.tail = prev;
        } else {
            blocks[next as usize].set_prev(prev);
        }
        blocks[block].set_links(NIL, NIL);
        self.len -= 1;
    }

    /// Unlinks and returns the first block.
    pub(crate) fn pop_front(&mut self, blocks: &[BlockMeta]) -> Option<usize> {
        let block = self.head()?;
        self.remove(blocks, block);
        Some(block)
    }

    /// A walk over the list as it is now, detached from it, so that the caller may hold `&mut`
    /// to the list's owner and move each block it is given to another list.
    pub(crate) fn walk(&self) -> Walk {
        Walk {
            cur: self.head,
            left: self.len,
        }
    }
}

/// See [`BlockList::walk`]. It reads each block's successor before handing the block out, and
/// hands out at most the list's length at the start: a block moved to a list not yet walked
/// may be seen again, never one twice from this list.
///
/// # Invariants
///
/// `cur` is `NIL` or the block to hand out next, read before the previous one was handed out;
/// `left` is how many more blocks it may hand out (at most the list's length at the start).
pub(crate) struct Walk {
    cur: u32,
    left: u32,
}

impl Walk {
    /// The next block, if any.
    pub(crate) fn next(&mut self, blocks: &[BlockMeta]) -> Option<usize> {
        if self.cur == NIL || self.left == 0 {
            return None;
        }
        let block = self.cur as usize;
        self.cur = blocks[block].next();
        self.left -= 1;
        Some(block)
    }
}

impl Default for BlockList {
    fn default() -> Self {
        Self::new()
    }
}

/// Bucket of blocks that have no free unit.
pub(crate) const FULL_BUCKET: usize = NR_ORDERS;

/// Lists of blocks by largest free order, plus one for blocks with none.
///
/// # Invariants
///
/// A block on `lists[b]` has `bucket == b`; `b` is its largest free order, or
/// `FULL_BUCKET` if it has no free unit (checked by `verify`).
pub struct Buckets {
    lists: [BlockList; NR_ORDERS + 1],
}

impl Buckets {
    /// Empty buckets.
    pub const fn new() -> Self {
        Self {
            lists: [const { BlockList::new() }; NR_ORDERS + 1],
        }
    }

    /// Whether all buckets are empty.
    pub fn is_empty(&self) -> bool {
        self.lists.iter().all(BlockList::is_empty)
    }

    /// A block whose largest free unit has order `>= k`, preferring the
    /// smallest such order.
    pub(crate) fn find(&self, k: u32) -> Option<usize> {
        self.lists[k as usize..NR_ORDERS]
            .iter()
            .find_map(BlockList::head)
    }

    /// Adds a block that is on no list to bucket `bucket`.
    pub(crate) fn insert(&mut self, blocks: &[BlockMeta], block: usize, bucket: usize, back: bool) {
        blocks[block].set_bucket(bucket);
        if back {
            self.lists[bucket].push_back(blocks, block);
        } else {
            self.lists[bucket].push_front(blocks, block);
        }
    }

    /// Unlinks a block that is in one of these buckets.
    pub(crate) fn remove(&mut self, blocks: &[BlockMeta], block: usize) {
        let bucket = blocks[block].bucket();
        self.lists[bucket].remove(blocks, block);
    }

    /// Moves a block to `bucket` if it is elsewhere.
    pub(crate) fn rebucket(
        &mut self,
        blocks: &[BlockMeta],
        block: usize,
        bucket: usize,
        back: bool,
    ) {
        let old = blocks[block].bucket();
        if old != bucket {
            self.lists[old].remove(blocks, block);
            self.insert(blocks, block, bucket, back);
        }
    }

    /// The list of one bucket.
    pub(crate) fn list(&self, bucket: usize) -> &BlockList {
        &self.lists[bucket]
    }
}

impl Default for Buckets {
    fn default() -> Self {
        Self::new()
    }
}
