//! What the environment supplies: storage and locks.
//!
//! The core allocates nothing. The kernel glue creates the block metadata
//! array (one [`BlockMeta`] per pageblock, e.g. in a `KVVec`), the unit-map
//! array ([`Geometry::map_words`] words), one [`GlobalPool`] behind a spinlock,
//! and per possible CPU one [`CpuCache`] behind its own lock plus one
//! [`RemoteQueue`] (lock-free); the host tests do the same with `std`.
//!
//! [`Geometry::map_words`]: super::geometry::Geometry::map_words

use super::block::BlockMeta;
use super::cache::CpuCache;
use super::global::GlobalPool;
use super::remote::RemoteQueue;

/// One word of a block's unit map (two bits per page).
pub type MapWord = super::sync::AtomicU64;

/// A lock around a `T`: runs a closure with exclusive access.
///
/// A kernel `SpinLock<T>` implements it with `f(&mut *self.lock())`, a
/// `std::sync::Mutex<T>` with `f(&mut self.lock().unwrap())`.
///
/// Lock order: a CPU cache lock may be taken first and the global lock inside
/// it, never the other way round, and never two cache locks at once. Callers
/// must make the locks safe against the contexts alloc and free run in (for
/// example disable interrupts if frees run in interrupt context).
pub trait Lock<T> {
    /// Runs `f` with the lock held.
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R;
}

/// The storage and locks of one pool.
pub trait Platform {
    /// The lock around the global pool.
    type Global: Lock<GlobalPool>;
    /// The lock around one CPU's cache.
    type Cache: Lock<CpuCache>;

    /// Metadata of every block, indexed by block number.
    fn blocks(&self) -> &[BlockMeta];
    /// Unit maps of every block, `Geometry::map_words_per_block()` words each.
    fn maps(&self) -> &[MapWord];
    /// The global pool.
    fn global(&self) -> &Self::Global;
    /// One cache per CPU index the caller will pass to `alloc`/`free`.
    fn caches(&self) -> &[Self::Cache];
    /// One remote-free queue per cache.
    fn remote_queues(&self) -> &[RemoteQueue];
}
