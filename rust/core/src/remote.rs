//! The remote-free protocol: how a CPU frees a page of a block it does not
//! hold, without taking the holder's lock.
//!
//! # Protocol
//!
//! A remote free of the unit `(off, k)` of block `b`:
//!
//! 1. turns the unit's map field from `ALLOC` into `HELD` with a
//!    compare-and-swap (`Buddy::try_free`). This is the free's linearisation
//!    point and its validation: a double free or a wrong order fails here, with
//!    nothing changed, and of two racing frees of one allocation exactly one wins;
//! 2. adds `2^k` to `b.pending` (a hint for holders that scan);
//! 3. notifies: if `b.queued` was 0 (swap to 1), pushes `b` onto the remote
//!    queue of the CPU that owns it, an `llist`-style lock-free stack. If the
//!    block is a fragment, the global pool absorbs it instead, so `queued` is
//!    reset.
//!
//! The holder absorbs on its slow path (an allocation that finds nothing
//! cached, a drain): it takes its whole queue at once, and for every block first
//! resets `queued`, then (after a full fence) turns every `HELD` field back into
//! `FREE` and merges it (`Buddy::absorb_held`).
//!
//! # Why it is correct
//!
//! * Nothing is lost: a `HELD` unit is free memory that only the block's holder
//!   may turn back into a buddy unit, and whoever holds a block after a state
//!   change (a new owner recovering a fragment, the global pool receiving a
//!   drained block) treats `HELD` the same way. A block with a `HELD` unit has an
//!   allocated page until the unit is absorbed, so it cannot become `Free`.
//! * Nothing is missed: the freer writes the map before it swaps `queued`, the
//!   absorber clears `queued` before it reads the map, with sequentially
//!   consistent fences between. So either the absorber sees the `HELD` field, or
//!   the freer sees `queued == 0` and queues the block again.
//! * A block is on at most one queue (only the swap from 0 to 1 pushes, only
//!   the consumer resets it, after unlinking), so the single `queue_next` link
//!   suffices. The consumer takes the whole stack with one swap, so there is no
//!   ABA problem (as with `llist_del_all`).
//! * An entry may be stale: the block changed owner after the freer read the
//!   owner. The consumer forwards such a block to its current owner if it still
//!   has pending pages. If the stale queue's CPU stays idle, the block's new owner
//!   is not told until that CPU absorbs (`Pool::absorb_remote`) or any CPU
//!   reclaims or drains; drains scan every block they hand back, so memory is
//!   delayed, never stranded.
//!
//! The loom model in `tests/loom.rs` checks these claims on a small pool.

use super::block::{BlockKind, BlockMeta, NIL};
use super::sync::{fence, AtomicU32, Ordering};

/// A CPU's queue of blocks with remotely freed pages (lock-free MPSC stack).
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
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            blocks[block].queue_next.store(head, Ordering::Relaxed);
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
    /// queue's consumer (the holder of the CPU's cache lock) calls it.
    pub(crate) fn take_all(&self) -> u32 {
        if self.head.load(Ordering::Relaxed) == NIL {
            return NIL;
        }
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

/// Steps 2 and 3 of a remote free, after the unit of `pages` pages in `block`
/// was turned `HELD`.
pub(crate) fn notify(blocks: &[BlockMeta], queues: &[RemoteQueue], block: usize, pages: u32) {
    blocks[block].pending.fetch_add(pages, Ordering::AcqRel);
    // Pairs with the fence in `start_absorb`: the HELD field is visible to an
    // absorber that reset `queued` before our swap reads it.
    fence(Ordering::SeqCst);
    enqueue(blocks, queues, block);
}

/// Puts a block with pending pages on its owner's queue unless it is on one.
pub(crate) fn enqueue(blocks: &[BlockMeta], queues: &[RemoteQueue], block: usize) {
    let meta = &blocks[block];
    if meta.queued.swap(1, Ordering::SeqCst) != 0 {
        return;
    }
    match meta.kind() {
        BlockKind::Owned(cpu) if (cpu as usize) < queues.len() => {
            queues[cpu as usize].push(blocks, block)
        }
        // A fragment is absorbed by the global pool when it touches it; a block
        // that left ownership has been (or will be) scanned by its drain.
        _ => meta.queued.store(0, Ordering::SeqCst),
    }
}

/// First step of absorbing a block taken off a queue: returns the next block
/// of the chain, and resets `queued` so that later frees queue the block again.
pub(crate) fn start_absorb(blocks: &[BlockMeta], block: usize) -> u32 {
    let meta = &blocks[block];
    let next = meta.queue_next.load(Ordering::Relaxed);
    meta.queued.store(0, Ordering::SeqCst);
    // Pairs with the fence in `notify`.
    fence(Ordering::SeqCst);
    next
}

/// Records that `pages` parked pages of `block` were absorbed.
pub(crate) fn absorbed(blocks: &[BlockMeta], block: usize, pages: usize) {
    if pages != 0 {
        blocks[block]
            .pending
            .fetch_sub(pages as u32, Ordering::AcqRel);
    }
}
