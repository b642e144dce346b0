//! Per-block metadata: the block's state (free, owned by a CPU, fragment,
//! shared), its list links, its remote-free bookkeeping and its buddy counts.
//!
//! One [`BlockMeta`] exists per pageblock, in an array the platform supplies
//! (`Platform::blocks`); the block's unit map lives in a second array
//! (`Platform::maps`). Owner lookup from a page index is one array access:
//! `blocks[page >> P].kind()`.

use core::sync::atomic::{AtomicU16, AtomicU32 as PlainU32, AtomicU8, Ordering::Relaxed};

use super::buddy::BuddyCounts;
use super::sync::{AtomicU32, Ordering};

/// "No block" in list links and queue links.
pub(crate) const NIL: u32 = u32::MAX;

/// The state of a block, which decides who holds it (may change its buddy) and
/// where frees of its pages go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockKind {
    /// Wholly free, on the global pool's free-block list. Held by the global lock.
    Free,
    /// Owned by a CPU: its free units are that CPU's cache. Held by that CPU's
    /// cache lock; frees from other CPUs are queued for it lock-free.
    Owned(u32),
    /// Drained while partly allocated: its free units belong to the global pool,
    /// which remembers it so a refill can recover it. Held by the global lock;
    /// frees are queued lock-free like remote frees.
    Fragment,
    /// Split into chunks handed out without ownership (degrade mode or
    /// ownership off). Its free units belong to the global pool; freed chunks go
    /// to the freeing CPU's loose stack, as in a classic per-CPU page cache.
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

/// Metadata of one pageblock (its unit map is stored separately).
///
/// # Invariants
///
/// * `state` changes only while the holder of the old state and the holder of
///   the new state are both locked (a cache lock and the global lock); a block
///   leaves `Shared` and becomes `Free` only when wholly free, and never goes
///   from `Fragment` to `Shared`.
/// * `next`, `prev`, `bucket`, `counts` and `hot_pages` are changed only by the
///   holder.
/// * `hot_pages` counts the pages of the block's units on its owner's hot
///   stacks (`HELD` in the map, not counted by `pending`); it is 0 unless the
///   block is `Owned` (see `cache::HotStacks`).
/// * `pending` counts pages parked by remote frees and not yet absorbed
///   (wrapping; exact when no free is in flight); `queued` is 1 while the
///   block sits on a CPU's remote queue, linked through `queue_next`.
pub struct BlockMeta {
    state: AtomicU32,
    pub(crate) pending: AtomicU32,
    pub(crate) queued: AtomicU32,
    pub(crate) queue_next: AtomicU32,
    pub(crate) next: PlainU32,
    pub(crate) prev: PlainU32,
    pub(crate) bucket: AtomicU8,
    pub(crate) hot_pages: AtomicU16,
    pub(crate) counts: BuddyCounts,
}

impl BlockMeta {
    /// Metadata of a block that is on no list; `Pool::new` initialises it.
    ///
    /// Not `const` because the model checker's atomics are not; the kernel glue
    /// initialises each element in place with it.
    pub fn new() -> Self {
        Self {
            state: AtomicU32::new(BlockKind::Free.encode()),
            pending: AtomicU32::new(0),
            queued: AtomicU32::new(0),
            queue_next: AtomicU32::new(NIL),
            next: PlainU32::new(NIL),
            prev: PlainU32::new(NIL),
            bucket: AtomicU8::new(0),
            hot_pages: AtomicU16::new(0),
            counts: BuddyCounts::new(),
        }
    }

    /// The block's state. Lock-free; exact when the holder's lock is held.
    pub fn kind(&self) -> BlockKind {
        BlockKind::decode(self.state.load(Ordering::Acquire))
    }

    /// Sets the state. Caller holds the old and the new holder's locks.
    pub(crate) fn set_kind(&self, kind: BlockKind) {
        self.state.store(kind.encode(), Ordering::Release);
    }

    /// Pages parked by remote frees and not yet absorbed (a hint while frees
    /// are in flight).
    pub fn pending_pages(&self) -> u32 {
        self.pending.load(Ordering::Acquire)
    }

    /// Pages of the block's units on its owner's hot stacks (free, not merged;
    /// a hint without the owner's lock).
    pub fn hot_pages(&self) -> u32 {
        u32::from(self.hot_pages.load(Relaxed))
    }

    /// Adds `delta` (possibly negative) to `hot_pages`. Holder only.
    pub(crate) fn add_hot_pages(&self, delta: i32) {
        let value = i32::from(self.hot_pages.load(Relaxed)) + delta;
        debug_assert!((0..=i32::from(u16::MAX)).contains(&value));
        self.hot_pages.store(value as u16, Relaxed);
    }

    pub(crate) fn next(&self) -> u32 {
        self.next.load(Relaxed)
    }

    pub(crate) fn prev(&self) -> u32 {
        self.prev.load(Relaxed)
    }

    pub(crate) fn set_links(&self, prev: u32, next: u32) {
        self.prev.store(prev, Relaxed);
        self.next.store(next, Relaxed);
    }
}

impl Default for BlockMeta {
    fn default() -> Self {
        Self::new()
    }
}
