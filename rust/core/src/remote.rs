//! The remote-free protocol: how a CPU frees a page of a block it does not hold, without
//! taking the holder's lock, with one locked instruction per free.
//!
//! # Protocol
//!
//! A remote free of the unit `(off, k)` of block `b` (a small unit first waits in the freeing
//! CPU's magazine, `CACHED`, and enters the protocol when the magazine gives it back, with a
//! plain store to `PARKED` by the magazine's CPU, the byte's only writer; see
//! `pool/front.rs`):
//!
//! 1. turns the unit's byte from `ALLOC` into `PARKED` with a compare-and-swap
//!    (`Buddy::try_free`): the free's validation and linearisation point. This is the only
//!    locked instruction of a remote free;
//! 2. notes `(b, group of off)` in the freeing CPU's [`Outbox`] with plain stores (consecutive
//!    frees into one block share an entry);
//! 3. later, when the outbox is full or the CPU takes any slow path, *notifies* each noted
//!    block: ORs the groups into `b.parked_hint`, then (after a full fence) puts `b` on its
//!    holder's remote queue unless it is on one already (`queued` swapped from 0 to 1). The
//!    holder is the owning CPU, or the global pool for a fragment.
//!
//! The holder absorbs on its slow path (an allocation that finds nothing cached, a drain):
//! it takes its whole queue at once, and for every block first resets `queued`, then (after a
//! full fence) takes `parked_hint` and turns the `PARKED` units of those groups back into
//! `FREE` ones, merging them (`Buddy::absorb_parked`).
//!
//! # Why it is correct
//!
//! * Nothing is lost: a `PARKED` unit is free memory that only the block's holder may turn
//!   back into a buddy unit, and whoever holds a block after a state change (a new owner
//!   recovering a fragment, the global pool receiving a drained block) treats `PARKED` the same
//!   way. A block with a `PARKED` unit is not wholly free, so it cannot become `Free` before the
//!   unit is absorbed. Drains and recoveries scan the whole block, whatever the hint says, so a
//!   unit whose notification still sits in some CPU's outbox is found by them too.
//! * Nothing notified is missed: the notifier ORs the hint before it swaps `queued`, the
//!   absorber resets `queued` before it takes the hint, with sequentially consistent fences
//!   between. So either the absorber's swap sees the notifier's bits, or the notifier sees
//!   `queued == 0` and queues the block again.
//! * A block is on at most one queue (only the swap from 0 to 1 pushes, only the consumer
//!   resets it, after unlinking), so the single `queue_next` link suffices. The consumer takes
//!   the whole stack with one swap, so there is no ABA problem (as with `llist_del_all`).
//! * An entry may be stale: the block changed holder after the notifier read its state. The
//!   consumer gives the bits back and forwards the block to its current holder. Stale hint bits
//!   (units absorbed by a full scan) cost one scan of an empty group.
//!
//! The loom model in `tests/loom.rs` checks these claims on a small pool.

use super::block::{BlockKind, BlockMeta, NIL};
use super::sync::{fence, AtomicU32, Ordering};

/// A holder's queue of blocks with notified remote frees (lock-free MPSC stack).
///
/// # Invariants
///
/// `head` is `NIL` or the first block of a chain linked through
/// `BlockMeta::queue_next`; every block on it has `queued == 1`.
pub struct RemoteQueue {
    head: AtomicU32,
}

impl RemoteQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self {
            head: AtomicU32::new(NIL),
        }
    }

    /// Pushes a block that is on no queue. Any CPU, lock-free.
    fn push(&self, blocks: &[BlockMeta], block: usize) {
        // The first attempt guesses an empty queue instead of reading the head first: every
        // access to the head is then a read-modify-write, whose races loom's partial-order
        // reduction explores (it misses interleavings of a plain read followed by a write).
        let mut head = NIL;
        loop {
            blocks[block].queue_next().store(head, Ordering::Relaxed);
            match self.head.compare_exchange_weak(
                head,
                block as u32,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(seen) => head = seen,
            }
        }
    }

    /// Takes the whole queue; returns its first block or `NIL`. Only the
    /// queue's consumer (the holder's lock is held) calls it, on its slow path.
    pub(crate) fn take_all(&self) -> u32 {
        self.head.swap(NIL, Ordering::Acquire)
    }

    /// Whether the queue looks empty (racy; for statistics).
    pub fn is_empty(&self) -> bool {
        self.head.load(Ordering::Relaxed) == NIL
    }
}

impl Default for RemoteQueue {
    fn default() -> Self {
        Self::new()
    }
}

/// Blocks an outbox remembers before it must notify.
const OUTBOX_LEN: usize = 8;

/// The notifications one CPU owes for its remote frees (step 2 of the protocol). Touched only
/// by its CPU, like the magazine that contains it.
///
/// # Invariants
///
/// Entries `0..len` name blocks with `PARKED` units freed by this CPU whose groups (bits)
/// have not been ORed into the blocks' `parked_hint` yet.
pub struct Outbox {
    blocks: [u32; OUTBOX_LEN],
    groups: [u64; OUTBOX_LEN],
    len: usize,
}

impl Outbox {
    /// An empty outbox.
    pub const fn new() -> Self {
        Self {
            blocks: [NIL; OUTBOX_LEN],
            groups: [0; OUTBOX_LEN],
            len: 0,
        }
    }

    /// Notes a unit parked in `block`'s group bit `group`. Returns `false` (noting nothing) if
    /// the outbox is full and must be flushed first.
    #[inline]
    pub(crate) fn note(&mut self, block: usize, group: u64) -> bool {
        if let Some(last) = self.len.checked_sub(1) {
            if self.blocks[last] == block as u32 {
                self.groups[last] |= group;
                return true;
            }
        }
        if self.len == OUTBOX_LEN {
            return false;
        }
        self.blocks[self.len] = block as u32;
        self.groups[self.len] = group;
        self.len += 1;
        true
    }

    /// Whether nothing is owed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether a unit of `block` can be noted without a flush first.
    #[inline]
    pub(crate) fn has_room_for(&self, block: usize) -> bool {
        self.len < OUTBOX_LEN
            || self
                .len
                .checked_sub(1)
                .is_some_and(|last| self.blocks[last] == block as u32)
    }

    /// Notifies every noted block's holder (step 3) and empties the outbox.
    pub(crate) fn flush(&mut self, blocks: &[BlockMeta], queues: &[RemoteQueue]) {
        for i in 0..self.len {
            notify(blocks, queues, self.blocks[i] as usize, self.groups[i]);
        }
        self.len = 0;
    }
}

impl Default for Outbox {
    fn default() -> Self {
        Self::new()
    }
}

/// Step 3 for one block: publishes the groups, then queues the block for its holder.
pub(crate) fn notify(blocks: &[BlockMeta], queues: &[RemoteQueue], block: usize, groups: u64) {
    blocks[block]
        .parked_hint()
        .fetch_or(groups, Ordering::Release);
    // Pairs with the fence in `start_absorb`: an absorber that reset `queued` before our swap
    // reads it sees our bits.
    fence(Ordering::SeqCst);
    enqueue(blocks, queues, block);
}

/// Puts a block with parked units on its holder's queue unless it is on one. The last queue
/// is the global pool's (fragments).
pub(crate) fn enqueue(blocks: &[BlockMeta], queues: &[RemoteQueue], block: usize) {
    let meta = &blocks[block];
    if meta.queued().swap(1, Ordering::SeqCst) != 0 {
        return;
    }
    let global = queues.len() - 1;
    match meta.kind() {
        BlockKind::Owned(cpu) if (cpu as usize) < global => {
            queues[cpu as usize].push(blocks, block)
        }
        BlockKind::Fragment => queues[global].push(blocks, block),
        // Free and shared blocks have no parked units: whoever made the block so absorbed them
        // with a full scan, and the notification is stale.
        _ => meta.queued().store(0, Ordering::SeqCst),
    }
}

/// First step of absorbing a block taken off a queue: returns the next block of the chain,
/// resets `queued` so that later notifications queue the block again, and takes the hint.
pub(crate) fn start_absorb(blocks: &[BlockMeta], block: usize) -> (u32, u64) {
    let meta = &blocks[block];
    let next = meta.queue_next().load(Ordering::Relaxed);
    meta.queued().store(0, Ordering::SeqCst);
    // Pairs with the fence in `notify`.
    fence(Ordering::SeqCst);
    (next, meta.parked_hint().swap(0, Ordering::Acquire))
}

/// Gives back the hint of a block taken off the wrong queue (it changed holder since it was
/// queued) and forwards it to its current holder.
pub(crate) fn forward(blocks: &[BlockMeta], queues: &[RemoteQueue], block: usize, groups: u64) {
    if groups != 0 {
        notify(blocks, queues, block, groups);
    }
}

/// Takes a block's whole hint before a full scan (drain, recovery): the scan covers it.
pub(crate) fn take_hint(blocks: &[BlockMeta], block: usize) -> u64 {
    blocks[block].parked_hint().swap(0, Ordering::Acquire)
}
