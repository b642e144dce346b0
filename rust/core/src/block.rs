//! Per-block metadata: the block's state (free, owned by a CPU, fragment, shared), its
//! remote-free bookkeeping, its list links and its buddy counts.
//!
//! One [`BlockMeta`] exists per pageblock, in an array the platform supplies
//! (`Platform::blocks`); the block's unit map and free bitmaps live in two more arrays. Owner
//! lookup from a page index is one array access: `blocks[page >> P].kind()`.
//!
//! The metadata is two cache lines: one that every free of the block's pages reads (the state)
//! and that remote freers write when they notify the holder, and one that only the holder
//! writes (links, counts). Metadata of different blocks never shares a line, so CPUs working in
//! their own blocks never contend for one.

use core::sync::atomic::{AtomicU32 as PlainU32, AtomicU8, Ordering::Relaxed};

use super::buddy::BuddyCounts;
use super::sync::{AtomicU32, AtomicU64, Ordering};

/// "No block" in list links and queue links.
pub(crate) const NIL: u32 = u32::MAX;

/// The state of a block, which decides who holds it (may change its buddy) and
/// where frees of its pages go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockKind {
    /// Wholly free, on the global pool's free-block list. Held by the global lock.
    Free,
    /// Owned by a CPU: its free units are that CPU's cache. Held by that CPU's
    /// cache lock; frees from other CPUs are parked for it lock-free.
    Owned(u32),
    /// Drained while partly allocated: its free units belong to the global pool,
    /// which remembers it so a refill can recover it. Held by the global lock;
    /// frees are parked lock-free like remote frees.
    Fragment,
    /// Split into chunks handed out without ownership (degrade mode or
    /// ownership off). Its free units belong to the global pool; freed chunks go
    /// to the freeing CPU's magazine or loose stack, as in a classic per-CPU page cache.
    Shared,
}

const KIND_FREE: u32 = 0;
const KIND_OWNED: u32 = 1;
const KIND_FRAGMENT: u32 = 2;
const KIND_SHARED: u32 = 3;

impl BlockKind {
    const fn encode(self) -> u32 {
        match self {
            BlockKind::Free => KIND_FREE,
            BlockKind::Owned(cpu) => KIND_OWNED | (cpu << 2),
            BlockKind::Fragment => KIND_FRAGMENT,
            BlockKind::Shared => KIND_SHARED,
        }
    }

    const fn decode(word: u32) -> Self {
        match word & 0b11 {
            KIND_FREE => BlockKind::Free,
            KIND_OWNED => BlockKind::Owned(word >> 2),
            KIND_FRAGMENT => BlockKind::Fragment,
            _ => BlockKind::Shared,
        }
    }

    /// Short name, for debugfs.
    pub const fn name(self) -> &'static str {
        match self {
            BlockKind::Free => "free",
            BlockKind::Owned(_) => "owned",
            BlockKind::Fragment => "fragment",
            BlockKind::Shared => "shared",
        }
    }
}

/// The line of a block's metadata that frees read and remote freers write.
#[repr(align(64))]
struct Shared {
    state: AtomicU32,
    /// 1 while the block sits on a remote queue, linked through `queue_next`.
    queued: AtomicU32,
    queue_next: AtomicU32,
    /// Groups of the block (see `Buddy::group_shift`) that may hold `PARKED` units not yet
    /// absorbed: set by notifying freers, taken by the holder when it absorbs.
    parked_hint: AtomicU64,
}

/// The line of a block's metadata that only its holder writes.
#[repr(align(64))]
struct Holder {
    next: PlainU32,
    prev: PlainU32,
    bucket: AtomicU8,
    counts: BuddyCounts,
}

/// Metadata of one pageblock (its unit map and free bitmaps are stored separately).
///
/// # Invariants
///
/// * `state` changes only while the holder of the old state and the holder of
///   the new state are both locked (a cache lock and the global lock); a block
///   leaves `Shared` and becomes `Free` only when wholly free, and never goes
///   from `Fragment` to `Shared`.
/// * `next`, `prev`, `bucket` and `counts` are changed only by the holder.
/// * `queued` is 1 while the block sits on a remote queue, linked through `queue_next`;
///   every `PARKED` unit of the block whose freer has notified is covered by a bit of
///   `parked_hint` or by a queue entry not yet absorbed (see `remote.rs`).
pub struct BlockMeta {
    shared: Shared,
    holder: Holder,
}

impl BlockMeta {
    /// Metadata of a block that is on no list; `Pool::new` initialises it.
    ///
    /// Not `const` because the model checker's atomics are not; the kernel glue
    /// initialises each element in place with it.
    pub fn new() -> Self {
        Self {
            shared: Shared {
                state: AtomicU32::new(BlockKind::Free.encode()),
                queued: AtomicU32::new(0),
                queue_next: AtomicU32::new(NIL),
                parked_hint: AtomicU64::new(0),
            },
            holder: Holder {
                next: PlainU32::new(NIL),
                prev: PlainU32::new(NIL),
                bucket: AtomicU8::new(0),
                counts: BuddyCounts::new(),
            },
        }
    }

    /// The block's state. Lock-free; exact when the holder's lock is held.
    #[inline]
    pub fn kind(&self) -> BlockKind {
        BlockKind::decode(self.shared.state.load(Ordering::Acquire))
    }

    /// Who a unit of this block freed on `cpu` goes to: `Some(true)` `cpu` itself (the block is
    /// owned by `cpu`, or shared), `Some(false)` someone else (owned by another CPU, or a
    /// fragment of the global pool), `None` nobody (a free block has nothing allocated). One or
    /// two compares of the state word, without decoding it (the fast free's test). Lock-free;
    /// may be stale, as `kind`.
    #[inline]
    pub fn held_by(&self, cpu: u32) -> Option<bool> {
        let state = self.shared.state.load(Ordering::Acquire);
        if state == BlockKind::Owned(cpu).encode() || state == KIND_SHARED {
            Some(true)
        } else if state == KIND_FREE {
            None
        } else {
            Some(false)
        }
    }

    /// Sets the state. Caller holds the old and the new holder's locks.
    pub(crate) fn set_kind(&self, kind: BlockKind) {
        self.shared.state.store(kind.encode(), Ordering::Release);
    }

    pub(crate) fn queued(&self) -> &AtomicU32 {
        &self.shared.queued
    }

    pub(crate) fn queue_next(&self) -> &AtomicU32 {
        &self.shared.queue_next
    }

    pub(crate) fn parked_hint(&self) -> &AtomicU64 {
        &self.shared.parked_hint
    }

    pub(crate) fn counts(&self) -> &BuddyCounts {
        &self.holder.counts
    }

    pub(crate) fn bucket(&self) -> usize {
        usize::from(self.holder.bucket.load(Relaxed))
    }

    pub(crate) fn set_bucket(&self, bucket: usize) {
        self.holder.bucket.store(bucket as u8, Relaxed);
    }

    pub(crate) fn next(&self) -> u32 {
        self.holder.next.load(Relaxed)
    }

    pub(crate) fn prev(&self) -> u32 {
        self.holder.prev.load(Relaxed)
    }

    pub(crate) fn set_next(&self, next: u32) {
        self.holder.next.store(next, Relaxed);
    }

    pub(crate) fn set_prev(&self, prev: u32) {
        self.holder.prev.store(prev, Relaxed);
    }

    pub(crate) fn set_links(&self, prev: u32, next: u32) {
        self.set_prev(prev);
        self.set_next(next);
    }
}

impl Default for BlockMeta {
    fn default() -> Self {
        Self::new()
    }
}
