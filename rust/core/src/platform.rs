//! What the environment supplies: storage, locks, per-CPU counters, and one hook into the
//! memory map.
//!
//! The core allocates nothing. The kernel glue creates the block metadata (one [`BlockMeta`]
//! per pageblock), the unit maps ([`Geometry::map_lines`] [`MapLine`]s), the free bitmaps
//! ([`Geometry::bitmap_lines`] [`BitmapLine`]s), one [`GlobalPool`] behind a lock, per possible
//! CPU one [`CpuCache`] behind its own lock and one [`CpuStats`], and one [`RemoteQueue`] per
//! CPU plus one for the global pool; the host tests do the same with `std`.
//!
//! The per-CPU [`Magazine`](super::magazine::Magazine)s are not the platform's: each belongs to
//! its CPU and is passed by the caller of the fast path (see `pool/front.rs`).
//!
//! [`Geometry::map_lines`]: super::geometry::Geometry::map_lines
//! [`Geometry::bitmap_lines`]: super::geometry::Geometry::bitmap_lines

use core::sync::atomic::AtomicU64 as PlainU64;

use super::block::BlockMeta;
use super::cache::CpuCache;
use super::geometry::{BITMAP_LINE_WORDS, MAP_LINE_PAGES};
use super::global::GlobalPool;
use super::remote::RemoteQueue;
use super::stats::CpuStats;
use super::sync::AtomicU8;
use super::trace::Event;

/// One cache line of a block's unit map: the state bytes of 64 pages (see `unit.rs`).
///
/// Lines of different blocks never share a cache line, so a CPU writing its own block's map
/// does not slow down another CPU writing its block's.
///
/// # Invariants
///
/// Line `i` of `Platform::maps` holds the bytes of pages `i << min(P, 6)..` of one block
/// (`Pool::unit_byte`); for `P < 6` only its first `2^P` bytes are used, the rest stay `NONE`.
#[repr(align(64))]
pub struct MapLine(pub(crate) [AtomicU8; MAP_LINE_PAGES]);

impl MapLine {
    /// A line of `NONE` bytes; `Pool::new` initialises the maps.
    pub fn new() -> Self {
        Self(core::array::from_fn(|_| AtomicU8::new(0)))
    }
}

impl Default for MapLine {
    fn default() -> Self {
        Self::new()
    }
}

/// One cache line of a block's free bitmaps (holder only).
#[repr(align(64))]
pub struct BitmapLine(pub(crate) [PlainU64; BITMAP_LINE_WORDS]);

impl BitmapLine {
    /// A zeroed line.
    pub const fn new() -> Self {
        Self([const { PlainU64::new(0) }; BITMAP_LINE_WORDS])
    }
}

impl Default for BitmapLine {
    fn default() -> Self {
        Self::new()
    }
}

/// A lock around a `T`: runs a closure with exclusive access.
///
/// A kernel `SpinLockIrq<T>` implements it with `f(&mut *self.lock())`, a
/// `std::sync::Mutex<T>` with `f(&mut self.lock().unwrap())`.
///
/// Lock order: a CPU cache lock may be taken first and the global lock inside it, never the
/// other way round, and never two cache locks at once. In the kernel, alloc and free run in
/// every context but NMI, so every acquisition must disable interrupts.
pub trait Lock<T> {
    /// Runs `f` with the lock held.
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R;
}

/// The storage, locks and hooks of one pool.
pub trait Platform {
    /// The lock around the global pool.
    type Global: Lock<GlobalPool>;
    /// The lock around one CPU's cache.
    type Cache: Lock<CpuCache>;

    /// Metadata of every block, indexed by block number.
    fn blocks(&self) -> &[BlockMeta];
    /// Unit maps of every block, `Geometry::map_lines_per_block()` lines each.
    fn maps(&self) -> &[MapLine];
    /// Free bitmaps of every block, `Geometry::bitmap_lines_per_block()` lines each.
    fn bitmaps(&self) -> &[BitmapLine];
    /// The global pool.
    fn global(&self) -> &Self::Global;
    /// One cache per CPU index the callers use.
    fn caches(&self) -> &[Self::Cache];
    /// One remote-free queue per cache, then one for the global pool (fragments).
    fn remote_queues(&self) -> &[RemoteQueue];
    /// The counters of one CPU (`cpu < caches().len()`).
    fn cpu_stats(&self, cpu: usize) -> &CpuStats;
    /// The counters of `cpu` if it is below `caches().len()`: the fast paths' one bounds check.
    #[inline(always)]
    fn try_cpu_stats(&self, cpu: usize) -> Option<&CpuStats> {
        (cpu < self.caches().len()).then(|| self.cpu_stats(cpu))
    }
    /// Undoes the compound state of block `block`, a wholly free block that was kept as one
    /// compound page (a folio of the pageblock order) and is about to be split or handed out as
    /// plain pages. Called by the block's holder, with its lock held, before any page of the
    /// block is handed out; the kernel writes the `struct page`s here.
    fn uncompound(&self, block: usize);
    /// Reports an event as it happens (tracing). Called on the fast paths too: an
    /// implementation finds out cheaply whether anyone listens before it does any work. The
    /// default ignores it.
    #[inline(always)]
    fn trace(&self, event: Event) {
        let _ = event;
    }
}
