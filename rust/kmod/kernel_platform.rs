// SPDX-License-Identifier: GPL-2.0

//! The allocator core's storage and locks in the kernel: the [`Platform`] the core runs on.
//!
//! * Block metadata, unit maps and free bitmaps: one `vmalloc`'ed array each (`KVVec`), a few
//!   cache lines per 2 MiB block, never inside the pool's pages; every element is aligned to a
//!   cache line, so metadata of blocks that different CPUs own never shares one.
//! * The global pool: one interrupt-disabling spinlock, with a lockdep class of its own.
//! * Per CPU, indexed by CPU id (`nr_cpu_ids` entries): a cache behind its own interrupt-
//!   disabling spinlock (all caches share one lockdep class: two are never held at once), its
//!   counters, and a lock-free remote-free queue; one more queue for the global pool.
//!
//! Every lock is taken with interrupts disabled: the API runs in every context but NMI, so a
//! lock an interrupted task holds could otherwise be taken again by the interrupt on its CPU.
//! The magazines are not here: they are per-CPU data touched only by their own CPU (`front.rs`).

use crate::rawlock::{new_raw_spinlock_irq, RawSpinLockIrq};
use crate::{
    glue,
    pcpcore::{
        block::BlockMeta,
        cache::CpuCache,
        geometry::Geometry,
        global::GlobalPool,
        platform::{BitmapLine, Lock, MapLine, Platform},
        remote::RemoteQueue,
        stats::CpuStats,
        trace::Event,
    },
    table::Table,
};
use kernel::{bindings, prelude::*};

/// A `T` behind an interrupt-disabling raw spinlock (see `rawlock.rs`), alone on its cache
/// lines.
#[pin_data]
#[repr(align(64))]
pub(crate) struct Locked<T> {
    #[pin]
    lock: RawSpinLockIrq<T>,
}

impl<T> Locked<T> {
    /// A CPU cache lock (lockdep class "pcpbuddy_cache"), in its own allocation.
    fn new_cache(value: T) -> Result<Pin<KBox<Self>>> {
        KBox::pin_init(
            pin_init!(Self {
                lock <- new_raw_spinlock_irq!(value, "pcpbuddy_cache"),
            }),
            GFP_KERNEL,
        )
    }

    /// The global lock (lockdep class "pcpbuddy_global"), in its own allocation.
    fn new_global(value: T) -> Result<Pin<KBox<Self>>> {
        KBox::pin_init(
            pin_init!(Self {
                lock <- new_raw_spinlock_irq!(value, "pcpbuddy_global"),
            }),
            GFP_KERNEL,
        )
    }
}

impl<T: Unpin> Lock<T> for Pin<KBox<Locked<T>>> {
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.lock.lock())
    }
}

/// One CPU's counters, alone on their cache lines.
#[repr(align(64))]
struct AlignedStats(CpuStats);

/// Everything the core needs, owned by the module.
///
/// # Invariants
///
/// `first_page[i]` is the first `struct page` of block `i` (blocks are naturally aligned runs
/// of `2^order` pages, so the block's `struct page`s are contiguous), and `order` is the block
/// order. `blocks`, `maps` and `bitmaps` have the lengths of the geometry of `first_page.len()`
/// blocks of that order; `caches` and `stats` one element per CPU id, `remote_queues` one more
/// (what `Platform` promises the core, which checks it again in `Pool::new`).
pub(crate) struct KernelPlatform {
    blocks: Table<BlockMeta>,
    maps: Table<MapLine>,
    bitmaps: Table<BitmapLine>,
    global: Pin<KBox<Locked<GlobalPool>>>,
    caches: Table<Pin<KBox<Locked<CpuCache>>>>,
    remote_queues: Table<RemoteQueue>,
    stats: Table<AlignedStats>,
    first_page: Table<*mut bindings::page>,
    order: u32,
}

// SAFETY: The raw pointers are `struct page`s of memory the module holds; they are only used to
// undo compound state under the block holder's lock, from any CPU.
unsafe impl Send for KernelPlatform {}
// SAFETY: As above; everything else is `Sync` on its own.
unsafe impl Sync for KernelPlatform {}

impl KernelPlatform {
    /// Storage for the blocks whose first pages are `first_page` (`2^block_order` pages each)
    /// and `nr_cpus` CPUs.
    pub(crate) fn new(
        block_order: u32,
        first_page: KVVec<*mut bindings::page>,
        nr_cpus: usize,
    ) -> Result<Self> {
        let nr_blocks = first_page.len();
        let geometry = Geometry::new(block_order, nr_blocks).ok_or(EINVAL)?;
        // INVARIANT: the caller gives the first pages of the blocks, in block order; the tables
        // are sized below from the geometry and `nr_cpus`.
        Ok(Self {
            blocks: Table::new(nr_blocks, || Ok(BlockMeta::new()))?,
            maps: Table::new(geometry.map_lines(), || Ok(MapLine::new()))?,
            bitmaps: Table::new(geometry.bitmap_lines(), || Ok(BitmapLine::new()))?,
            global: Locked::new_global(GlobalPool::new())?,
            caches: Table::new(nr_cpus, || Locked::new_cache(CpuCache::new()))?,
            remote_queues: Table::new(nr_cpus + 1, || Ok(RemoteQueue::new()))?,
            stats: Table::new(nr_cpus, || Ok(AlignedStats(CpuStats::new())))?,
            first_page: Table::from(first_page),
            order: block_order,
        })
    }

    /// Bytes of metadata this platform allocated (for `info` and the documentation).
    pub(crate) fn metadata_bytes(&self) -> usize {
        self.blocks.len() * size_of::<BlockMeta>()
            + self.maps.len() * size_of::<MapLine>()
            + self.bitmaps.len() * size_of::<BitmapLine>()
            + size_of::<Locked<GlobalPool>>()
            + self.caches.len() * (size_of::<Locked<CpuCache>>() + size_of::<AlignedStats>())
            + self.remote_queues.len() * size_of::<RemoteQueue>()
            + self.first_page.len() * size_of::<*mut bindings::page>()
    }
}

impl Platform for KernelPlatform {
    type Global = Pin<KBox<Locked<GlobalPool>>>;
    type Cache = Pin<KBox<Locked<CpuCache>>>;

    #[inline(always)]
    fn blocks(&self) -> &[BlockMeta] {
        &self.blocks
    }

    #[inline(always)]
    fn maps(&self) -> &[MapLine] {
        &self.maps
    }

    #[inline(always)]
    fn bitmaps(&self) -> &[BitmapLine] {
        &self.bitmaps
    }

    #[inline(always)]
    fn global(&self) -> &Self::Global {
        &self.global
    }

    #[inline(always)]
    fn caches(&self) -> &[Self::Cache] {
        &self.caches
    }

    #[inline(always)]
    fn remote_queues(&self) -> &[RemoteQueue] {
        &self.remote_queues
    }

    #[inline(always)]
    fn cpu_stats(&self, cpu: usize) -> &CpuStats {
        &self.stats[cpu].0
    }

    #[inline(always)]
    fn try_cpu_stats(&self, cpu: usize) -> Option<&CpuStats> {
        // INVARIANT: `stats` has one entry per cache (`new`).
        self.stats.get(cpu).map(|stats| &stats.0)
    }

    fn uncompound(&self, block: usize) {
        let head = self.first_page[block];
        // The core calls this for a wholly free block that kept the compound state of a folio
        // of the block order, under the block holder's lock, before handing any of its pages out.
        // SAFETY: So the pages are the pool's and nobody else looks at them (type invariant for
        // `head`).
        unsafe { glue::uncompound(head, self.order) };
        // The head keeps the pool's reference, as every free page has.
        // SAFETY: As above; `_refcount` is an `atomic_t`.
        unsafe { crate::kernel_pool::set_page_count(head, 1) };
    }

    #[inline(always)]
    fn trace(&self, event: Event) {
        let block_pfn = |block: usize| glue::page_to_pfn(self.first_page[block]);
        crate::trace::fire(
            event,
            |page| block_pfn(page >> self.order) + (page & ((1 << self.order) - 1)),
            block_pfn,
        );
    }
}
