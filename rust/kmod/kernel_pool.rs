// SPDX-License-Identifier: GPL-2.0

//! The pool: reserved pageblocks, the allocator core running over them, the per-CPU magazines,
//! and the mapping between the core's page indices and the kernel's `struct page`s.
//!
//! The module holds one pool, or one per NUMA node (`node=-1`), in a [`NodePools`] set
//! (`nodes.rs`), which publishes them. Every interface of the module (the misc device, debugfs,
//! the exported API, CPU hotplug) reaches them through [`NodePools::get`], or the first pool
//! through [`KernelPool::get`]. The set is published in `init` before any interface is
//! registered and withdrawn in `exit` after all of them are gone, so an interface never sees it
//! missing.
//!
//! # Pages and indices
//!
//! The core works with page indices (`block << order | offset`). A `struct page` pointer becomes
//! an index inline, with no call: the virtual memory map is linear (`pfn_to_page(pfn) ==
//! memmap_base + pfn * sizeof(struct page)`), and a dense table maps `pfn >> order` to the
//! block. A pointer that is not a `struct page` of the pool's memory finds no block.
//!
//! # Reference counts
//!
//! Every free page of the pool has refcount 1: the pool's reference. An allocation raises the
//! head's to 2 (the user's reference), and a free checks it and sets it back, so that a stray
//! `put_page()` never hands pool memory to the kernel's allocator, and a free while someone else
//! still holds a reference is refused. Tails of a compound page have refcount 0, as the kernel's.

use crate::{
    front::Front,
    glue,
    kernel_platform::KernelPlatform,
    nodes::NodePools,
    pcpcore::{
        error::{AllocError, FreeError},
        frame_table::FrameTable,
        geometry::PageIndex,
        magazine::Magazine,
        pool::Pool as CorePool,
        pool::{Allocation, FastFree},
    },
    reserve::{Pageblock, SourcePolicy},
    table::Table,
    uapi,
};
use core::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use kernel::{bindings, prelude::*};

/// What the pool was asked for at load (module parameters, validated).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Config {
    /// Pool size in MiB, a multiple of the pageblock size.
    pub(crate) size_mb: u32,
    /// Where its pageblocks come from.
    pub(crate) source: SourcePolicy,
    /// NUMA node, or `NUMA_NO_NODE`.
    pub(crate) node: i32,
    /// Every block must be on `node` (one pool per node); else `node` is a preference.
    pub(crate) strict: bool,
}

/// "node N: " before a message about one of several node pools; nothing for a single pool.
struct NodeLabel<'a>(&'a Config);

impl kernel::fmt::Display for NodeLabel<'_> {
    fn fmt(&self, f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
        if self.0.strict {
            write!(f, "node {}: ", self.0.node)
        } else {
            Ok(())
        }
    }
}

/// The pool.
///
/// # Invariants
///
/// * `blocks[i]` is the memory of the core's block `i`, and `block_pfn[i]` its first pfn.
/// * `frames` maps `block_pfn[i] >> pageblock_order` to `i` for every block, and nothing else.
/// * `memmap_base + (pfn << page_shift)` is `pfn_to_page(pfn)` for every pfn.
/// * `front` holds one magazine per possible CPU, and is published to the C glue while the pool
///   is published.
pub(crate) struct KernelPool {
    config: Config,
    /// Its place in its [`NodePools`] (0 for a pool of its own).
    slot: usize,
    /// Its set has other pools (one per node): a failed allocation falls back to them, and a
    /// free of a page not in this pool is routed to its owner among them (published pools only).
    siblings: bool,
    pageblock_order: u32,
    core: CorePool<KernelPlatform>,
    memmap_base: usize,
    page_shift: u32,
    block_pfn: Table<usize>,
    frames: FrameTable<Table<u32>>,
    front: Front,
    /// Kinds of misuse already reported (one bit per `FreeError::index()`): each is reported
    /// once, and counted every time in `stats`. By hand, not `pr_err_once!`: that is once per
    /// call site for the module's life, but this is once per kind and per pool (the KUnit
    /// tests' pools misuse on purpose, and must not silence the module's pool).
    reported: AtomicU32,
    /// The front is published to the C glue (the module's pool; not a KUnit test's).
    published: bool,
    /// The reserved memory. Given back in `drop`, after the core is done with it.
    blocks: KVVec<Pageblock>,
}

/// The CPU the caller runs on. The caller may be migrated right after: use it for locality or
/// reporting only.
pub(crate) fn current_cpu() -> usize {
    kernel::cpu::CpuId::current().as_u32() as usize
}

/// Sets a page's reference count (`set_page_count()`).
///
/// # Safety
///
/// `page` is a valid `struct page` the caller holds.
pub(crate) unsafe fn set_page_count(page: *mut bindings::page, count: i32) {
    // SAFETY: `_refcount` is an `atomic_t` of a valid page (caller's promise), an aligned
    // `int` that the kernel accesses only atomically. (A `core` atomic: `kernel`'s goes through
    // an out-of-line helper, and this is on the fast path.)
    let counter = unsafe { AtomicI32::from_ptr(&raw mut (*page)._refcount.counter) };
    counter.store(count, Ordering::Relaxed);
}

/// A page's reference count (`page_ref_count()`).
///
/// # Safety
///
/// `page` is a valid `struct page`.
pub(crate) unsafe fn page_count(page: *const bindings::page) -> i32 {
    // SAFETY: As for `set_page_count`; only read.
    let counter = unsafe { AtomicI32::from_ptr((&raw const (*page)._refcount.counter).cast_mut()) };
    counter.load(Ordering::Relaxed)
}

impl KernelPool {
    /// Creates the pool described by `config`, reserving all of its memory.
    ///
    /// Fails with `ENOMEM` (and a message saying how much it got) if the sources cannot supply
    /// `size_mb`; everything reserved so far is given back.
    pub(crate) fn new(config: Config) -> Result<KBox<Self>> {
        let order = glue::pageblock_order();
        let block_shift = kernel::page::PAGE_SHIFT as u32 + order;
        // `config()` checked that the size is a multiple of the block size.
        let nr_blocks = ((config.size_mb as usize) << 20) >> block_shift;
        let mut blocks = KVVec::with_capacity(nr_blocks, GFP_KERNEL)?;
        for _ in 0..nr_blocks {
            match Pageblock::acquire_any(config.source, order, config.node, config.strict) {
                Ok(block) => blocks.push(block, GFP_KERNEL)?,
                Err(e) => {
                    pr_err!(
                        "{}source={}: reserved only {} of {} MiB ({} of {} pageblocks): {:?}\n",
                        NodeLabel(&config),
                        config.source.name(),
                        (blocks.len() << block_shift) >> 20,
                        config.size_mb,
                        blocks.len(),
                        nr_blocks,
                        e
                    );
                    // Dropping `blocks` gives back what we got.
                    return Err(ENOMEM);
                }
            }
        }

        let (memmap_base, page_size) = glue::memmap();
        let page_shift = page_size.trailing_zeros();
        let mut block_pfn = KVVec::with_capacity(nr_blocks, GFP_KERNEL)?;
        let mut first_page = KVVec::with_capacity(nr_blocks, GFP_KERNEL)?;
        for block in blocks.iter() {
            block_pfn.push(block.pfn(), GFP_KERNEL)?;
            first_page.push(block.first_page(), GFP_KERNEL)?;
            // The memory map is the linear one the fast path assumes.
            if block.first_page() as usize != memmap_base + (block.pfn() << page_shift) {
                return Err(EINVAL);
            }
        }
        let lowest = block_pfn.iter().min().copied().unwrap_or(0) >> order;
        let highest = block_pfn.iter().max().copied().unwrap_or(0) >> order;
        let mut slots = KVVec::with_capacity(highest - lowest + 1, GFP_KERNEL)?;
        slots.resize(highest - lowest + 1, 0, GFP_KERNEL)?;
        let mut frames = FrameTable::new(lowest as u64, Table::from(slots));
        for (index, &pfn) in block_pfn.iter().enumerate() {
            frames
                .insert((pfn >> order) as u64, index as u32)
                .map_err(|_| EINVAL)?;
        }

        let nr_cpus = kernel::cpu::nr_cpu_ids();
        let platform = KernelPlatform::new(order, first_page, nr_cpus as usize)?;
        let core = CorePool::new(platform, order).map_err(|_| EINVAL)?;
        // INVARIANT: `blocks`, `block_pfn` and `frames` were built together, index by index;
        // the memory map was checked against every block; the front is published in `publish`.
        Ok(KBox::new(
            Self {
                config,
                slot: 0,
                siblings: false,
                pageblock_order: order,
                core,
                memmap_base,
                page_shift,
                block_pfn: Table::from(block_pfn),
                frames,
                front: Front::new(nr_cpus)?,
                reported: AtomicU32::new(0),
                published: false,
                blocks,
            },
            GFP_KERNEL,
        )?)
    }

    /// Places the pool in a [`NodePools`] set of `siblings` + 1 pools.
    pub(crate) fn set_slot(&mut self, slot: usize, siblings: usize) {
        self.slot = slot;
        self.siblings = siblings > 0;
    }

    /// The pool routes to other node's pools: it has some and is published.
    #[inline(always)]
    fn routes(&self) -> bool {
        self.siblings && self.published
    }

    /// Marks the pool as published (its set's `publish` publishes its magazines to the API's
    /// entry points).
    pub(crate) fn set_published(&mut self) {
        self.published = true;
    }

    /// The first published pool (the only one unless `node=-1`), if the module is live.
    #[inline]
    pub(crate) fn get() -> Option<&'static Self> {
        NodePools::get().map(NodePools::first)
    }

    /// Its place in the published set.
    pub(crate) fn slot(&self) -> usize {
        self.slot
    }

    /// The NUMA node the pool was asked to take its memory from (`NUMA_NO_NODE`: any).
    pub(crate) fn node(&self) -> i32 {
        self.config.node
    }

    /// This CPU's magazine of this pool (interrupts disabled, and no other reference to it live).
    ///
    /// # Safety
    ///
    /// Interrupts are disabled, and the caller forms no other reference to this CPU's magazine of
    /// this pool while the returned one lives.
    pub(crate) unsafe fn this_cpu_magazine(&self) -> Option<&mut Magazine> {
        // SAFETY: The caller is this CPU with interrupts disabled, by its promise.
        unsafe { self.front.magazine_of(current_cpu() as u32) }
    }

    /// Returns this CPU's magazine of this pool to its caches (the flush IPI, CPU hotplug).
    ///
    /// # Safety
    ///
    /// Interrupts are disabled and no reference to this CPU's magazine of this pool is live (the
    /// caller did not interrupt an entry point: they run with interrupts disabled).
    pub(crate) unsafe fn flush_this_cpu(&self) {
        // SAFETY: By the caller's promise.
        if let Some(mag) = unsafe { self.this_cpu_magazine() } {
            self.core.flush_magazine(mag);
        }
    }

    /// The allocator core (for statistics and introspection).
    pub(crate) fn core(&self) -> &CorePool<KernelPlatform> {
        &self.core
    }

    /// The per-CPU magazines.
    pub(crate) fn front(&self) -> &Front {
        &self.front
    }

    /// The configuration the pool was loaded with.
    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// The kernel's `pageblock_order`, the order of the pool's blocks.
    pub(crate) fn block_order(&self) -> u32 {
        self.pageblock_order
    }

    /// The reserved pageblocks, by block index.
    pub(crate) fn blocks(&self) -> &[Pageblock] {
        &self.blocks
    }

    /// Every CPU returns its magazine (process context, interrupts on, no spinlock held), so
    /// that the caches and the global pool see all free memory: before a drain of everything,
    /// a verification or a benchmark. A published pool flushes those of every node's pool (one
    /// IPI round), as a benchmark running through the API uses them all.
    pub(crate) fn flush_magazines(&self) {
        if self.published {
            glue::flush_all_published_magazines();
        } else {
            glue::flush_all_magazines(self);
        }
    }

    /// This pool's description (see [`NodePools::info`] for the module's). Any context but NMI:
    /// no lock.
    pub(crate) fn info(&self) -> uapi::Info {
        let nr_pages = (self.blocks.len() as u64) << self.pageblock_order;
        uapi::Info {
            abi_version: uapi::ABI_VERSION,
            block_order: self.pageblock_order,
            page_size: kernel::page::PAGE_SIZE as u32,
            nr_cpu_ids: kernel::cpu::nr_cpu_ids(),
            source: self.config.source.uapi(),
            node: self.config.node,
            size_bytes: u64::from(self.config.size_mb) << 20,
            nr_pages,
            outstanding_pages: self.core.outstanding_pages(),
            metadata_bytes: self.metadata_bytes() as u64,
        }
    }

    /// Bytes of bookkeeping outside the pool's memory.
    pub(crate) fn metadata_bytes(&self) -> usize {
        self.core.platform().metadata_bytes()
            + self.block_pfn.len() * size_of::<usize>()
            + self.frames.bytes()
            + self.blocks.len() * size_of::<Pageblock>()
            + kernel::cpu::nr_cpu_ids() as usize * size_of::<Magazine>()
    }

    /// The `struct page` of page `index` (which must be in the pool).
    #[inline(always)]
    pub(crate) fn page(&self, index: PageIndex) -> *mut bindings::page {
        // Wrapping operations: the fast paths' arithmetic, which cannot overflow by the type
        // invariants (shifts below 64; a pool pfn's `struct page` address is `memmap_base +
        // (pfn << page_shift)`), so that an overflow-checked build pays no check for it. The
        // index itself is bounds-checked.
        let mask = 1usize.wrapping_shl(self.pageblock_order).wrapping_sub(1);
        let pfn =
            self.block_pfn[index.wrapping_shr(self.pageblock_order)].wrapping_add(index & mask);
        self.memmap_base
            .wrapping_add(pfn.wrapping_shl(self.page_shift)) as *mut bindings::page
    }

    /// The pfn of page `index`, if it is in the pool.
    pub(crate) fn pfn(&self, index: PageIndex) -> Option<usize> {
        let mask = (1usize << self.pageblock_order) - 1;
        let first = self.block_pfn.get(index >> self.pageblock_order)?;
        Some(first + (index & mask))
    }

    /// The pool index of `page`, or `None` if it is not a `struct page` of the pool's memory.
    /// Arithmetic only: `page` is not dereferenced.
    #[inline(always)]
    pub(crate) fn index_of(&self, page: *const bindings::page) -> Option<PageIndex> {
        // Wrapping operations as in `page()`: the shifts are below 64 (type invariants), and any
        // pointer value, however hostile, gives some offset that the table then rejects.
        let offset = (page as usize).wrapping_sub(self.memmap_base);
        if offset & 1usize.wrapping_shl(self.page_shift).wrapping_sub(1) != 0 {
            return None;
        }
        let pfn = offset.wrapping_shr(self.page_shift);
        let block = self
            .frames
            .lookup(pfn.wrapping_shr(self.pageblock_order) as u64)?;
        let mask = 1usize.wrapping_shl(self.pageblock_order).wrapping_sub(1);
        Some((block as usize).wrapping_shl(self.pageblock_order) | (pfn & mask))
    }

    /// Allocates through `mag` if its magazine can serve it: the first page and whether the caller
    /// must make it compound. Fires no trace event: the caller does ([`crate::trace::alloc_fast`]),
    /// at the end of its entry point.
    #[inline(always)]
    pub(crate) fn alloc_fast(
        &self,
        mag: &mut Magazine,
        order: u32,
        folio: bool,
    ) -> Option<(*mut bindings::page, bool)> {
        // The magazine inline; everything else out of line, so that the common path needs few
        // registers and no frame.
        self.core
            .alloc_fast(mag, order, folio)
            .map(|allocation| self.hand_out(allocation))
    }

    /// Everything [`KernelPool::alloc_fast`] does not serve (traced by the core); if this pool
    /// has nothing, the other nodes' pools ([`crate::api::alloc_elsewhere`]).
    #[inline(never)]
    pub(crate) fn alloc_slow(
        &self,
        mag: &mut Magazine,
        order: u32,
        folio: bool,
    ) -> Result<(*mut bindings::page, bool)> {
        match self.alloc_slow_here(mag, order, folio) {
            Err(e) if e == ENOMEM && self.routes() => {
                // SAFETY: A published pool's slow path runs in an entry point (interrupts
                // disabled), which holds no magazine of the other pools.
                unsafe { crate::api::alloc_elsewhere(self, order, folio) }
            }
            result => result,
        }
    }

    /// [`KernelPool::alloc_fast`], else this pool's own slow path, traced either way: for callers
    /// off the hot path. No fallback to other nodes' pools.
    pub(crate) fn alloc(
        &self,
        mag: &mut Magazine,
        order: u32,
        folio: bool,
    ) -> Result<(*mut bindings::page, bool)> {
        if let Some(allocation) = self.alloc_fast(mag, order, folio) {
            if crate::trace::alloc_enabled() {
                crate::trace::alloc_fast(allocation.0, order, folio);
            }
            return Ok(allocation);
        }
        self.alloc_slow_here(mag, order, folio)
    }

    /// This pool's slow path.
    #[inline(always)]
    fn alloc_slow_here(
        &self,
        mag: &mut Magazine,
        order: u32,
        folio: bool,
    ) -> Result<(*mut bindings::page, bool)> {
        let allocation = self
            .core
            .alloc_slow_path(mag, order, folio)
            .map_err(|e| match e {
                AllocError::OutOfMemory => ENOMEM,
                AllocError::BadCpu | AllocError::BadOrder => EINVAL,
            })?;
        Ok(self.hand_out(allocation))
    }

    /// The first page of an allocation the core just made, with the user's reference added.
    #[inline(always)]
    fn hand_out(&self, allocation: Allocation) -> (*mut bindings::page, bool) {
        let page = self.page(allocation.page);
        // SAFETY: The page is the pool's and ours now (the core just handed it out).
        unsafe { set_page_count(page, 2) };
        (page, allocation.make_compound)
    }

    /// The common free of plain pages through `mag`: the core checks that the page is allocated
    /// with this order, then (just before it commits) that nobody else holds a reference, and
    /// takes the pool's reference back. A free into the magazine ([`FastFree::Cached`]) fires no
    /// trace event: the caller does ([`crate::trace::free_cached`]), at the end of its entry
    /// point. On [`FastFree::Declined`] nothing changed: the caller calls
    /// [`KernelPool::free_pages_slow`].
    #[inline(always)]
    pub(crate) fn free_pages_fast(
        &self,
        mag: &mut Magazine,
        page: *mut bindings::page,
        order: u32,
    ) -> FastFree {
        // The core declines these first thing; deciding before the lookup spares the slow path
        // a second one.
        if order > self.core.mag_max() {
            return FastFree::Declined;
        }
        match self.index_of(page) {
            Some(index) => self
                .core
                .free_fast(mag, index, order, false, &|| Self::give_back(page)),
            None => FastFree::Declined,
        }
    }

    /// Everything [`KernelPool::free_pages_fast`] declines: the free, or the refusal of a misuse
    /// (counted and reported), traced by the core.
    #[inline(never)]
    pub(crate) fn free_pages_slow(
        &self,
        mag: &mut Magazine,
        page: *mut bindings::page,
        order: u32,
    ) -> Result {
        let Some(index) = self.index_of(page) else {
            return self.free_elsewhere(mag, page, order, false);
        };
        self.core
            .free_with(mag, index, order, false, || Self::give_back(page))
            .map_err(|e| self.misuse(e, page, order))
    }

    /// A free of a page this pool does not hold: to its owner among the other nodes' pools
    /// ([`crate::api::free_elsewhere`]), else refused as not the pool's.
    #[cold]
    fn free_elsewhere(
        &self,
        mag: &mut Magazine,
        page: *mut bindings::page,
        order: u32,
        folio: bool,
    ) -> Result {
        if self.routes() {
            // SAFETY: A published pool's free runs in an entry point (interrupts disabled),
            // which holds only `mag`, this pool's magazine.
            if let Some(result) = unsafe { crate::api::free_elsewhere(self, page, order, folio) } {
                return result;
            }
        }
        Err(self.refuse(mag.cpu(), FreeError::OutOfPool, page, order))
    }

    /// [`KernelPool::free_pages_fast`], else [`KernelPool::free_pages_slow`], traced either way:
    /// for callers off the hot path.
    pub(crate) fn free_pages(
        &self,
        mag: &mut Magazine,
        page: *mut bindings::page,
        order: u32,
    ) -> Result {
        match self.free_pages_fast(mag, page, order) {
            FastFree::Cached { remote } => {
                if crate::trace::free_enabled() {
                    crate::trace::free_cached(page, order, remote);
                }
                Ok(())
            }
            FastFree::Parked => Ok(()),
            FastFree::Declined => self.free_pages_slow(mag, page, order),
        }
    }

    /// The check just before a free of plain pages commits: nobody but the user holds a
    /// reference; then the pool takes its reference back.
    #[inline(always)]
    fn give_back(page: *mut bindings::page) -> core::result::Result<(), FreeError> {
        // SAFETY: The core calls this only for a page of the pool's memory that is allocated with
        // the order of the free (it checked), so the user gives it back to us.
        Self::check_references(unsafe { page_count(page) })?;
        // SAFETY: As above.
        unsafe { set_page_count(page, 1) };
        Ok(())
    }

    /// Commits the free of a folio that [`KernelPool::prepare_free_folio`] accepted.
    #[inline]
    pub(crate) fn free_folio(
        &self,
        mag: &mut Magazine,
        page: *mut bindings::page,
        order: u32,
    ) -> Result {
        let Some(index) = self.index_of(page) else {
            return self.free_elsewhere(mag, page, order, true);
        };
        self.core
            .free(mag, index, order, true)
            .map_err(|e| self.misuse(e, page, order))
    }

    /// Checks the free of a folio and undoes a small folio's compound state (a folio of the
    /// block order stays compound in the pool). Returns its order. Any context but NMI.
    pub(crate) fn prepare_free_folio(&self, folio: *mut bindings::folio) -> Result<u32> {
        let page = folio.cast::<bindings::page>();
        let cpu = current_cpu();
        let Some(index) = self.index_of(page) else {
            return Err(self.refuse(cpu, FreeError::OutOfPool, page, 0));
        };
        // SAFETY: `page` is a `struct page` of the pool's memory.
        let order = if unsafe { glue::page_is_head(page) } {
            // SAFETY: A head page of the pool's memory heads a compound page.
            unsafe { glue::folio_order(folio) }
        } else {
            0
        };
        if order > self.pageblock_order {
            return Err(self.refuse(cpu, FreeError::BadOrder, page, order));
        }
        if let Err(e) = self.core.check_free(index, order, true) {
            return Err(self.refuse(cpu, e, page, order));
        }
        // SAFETY: As above.
        if let Err(e) = Self::check_references(unsafe { page_count(page) }) {
            return Err(self.refuse(cpu, e, page, order));
        }
        if order > 0 && order < self.pageblock_order {
            // SAFETY: The pool handed this folio out as a compound page of `order` and the
            // caller gives it back: nobody else uses its `struct page`s.
            unsafe { glue::uncompound(page, order) };
        }
        // SAFETY: As above.
        unsafe { set_page_count(page, 1) };
        Ok(order)
    }

    /// Refuses a free whose page has other references than the user's and the pool's (busy),
    /// or none at all (released to the kernel by a put too many: the memory is the kernel's
    /// now, so the unit stays allocated forever and its block is never given back).
    #[inline]
    fn check_references(count: i32) -> core::result::Result<(), FreeError> {
        match count {
            1 | 2 => Ok(()),
            c if c > 2 => Err(FreeError::Busy),
            _ => Err(FreeError::Released),
        }
    }

    /// Counts and reports a free refused before it reached the core; its errno.
    #[cold]
    fn refuse(
        &self,
        cpu: usize,
        error: FreeError,
        page: *const bindings::page,
        order: u32,
    ) -> Error {
        self.core.count_free_error(cpu, error);
        self.misuse(error, page, order)
    }

    /// Reports the first misuse of each kind in the kernel log (the core counted it); its errno.
    #[cold]
    fn misuse(&self, error: FreeError, page: *const bindings::page, order: u32) -> Error {
        let bit = 1 << error.index();
        if self.reported.fetch_or(bit, Ordering::Relaxed) & bit == 0 {
            pr_err!(
                "bad free ({}) of page {:p} order {}; counted in debugfs stats, reported once\n",
                error.name(),
                page,
                order
            );
        }
        match error {
            FreeError::Busy => EBUSY,
            _ => EINVAL,
        }
    }

    /// Frees pages of this pool from [`NodePools::alloc_index`] through the exported API.
    pub(crate) fn free_index(&self, index: PageIndex, order: u32) -> Result {
        if self.pfn(index).is_none() {
            self.core
                .count_free_error(current_cpu(), FreeError::OutOfPool);
            return Err(EINVAL);
        }
        kernel::error::to_result(crate::api::free_pages(self.page(index), order))
    }
}

impl Drop for KernelPool {
    fn drop(&mut self) {
        // Bring every free page home, so that a block is wholly free exactly when none of its
        // pages is out: magazines first (each CPU its own), then the caches and fragments.
        if self.published {
            glue::cancel_flush_work();
            // Not through `NodePools::get()`: the pools are no longer published (the set
            // withdrew every CPU's pointers to the magazines before dropping its pools).
            glue::flush_all_magazines(self);
        }
        for cpu in 0..self.core.nr_cpus() {
            self.core.drain_cpu(cpu);
        }
        self.core.absorb_fragments_now();
        self.core.release_compound();
        let block_pages = 1usize << self.pageblock_order;
        let mut withheld = 0;
        while let Some(block) = self.blocks.pop() {
            let index = self.blocks.len();
            let free = self
                .core
                .block_info(index)
                .map_or(0, |info| info.free_pages);
            if free == block_pages {
                drop(block);
            } else {
                // Someone still holds pages of this block (a module that unloaded without
                // freeing them): never give memory that may be in use back to the kernel.
                core::mem::forget(block);
                withheld += 1;
            }
        }
        if withheld != 0 {
            pr_err!(
                "{}{} pages still allocated at unload: withholding {} pageblocks from the kernel\n",
                NodeLabel(&self.config),
                self.core.outstanding_pages(),
                withheld
            );
        }
    }
}

#[kunit_tests(pcpbuddy_pool)]
mod tests {
    use super::*;
    use crate::{pcpcore::platform::Platform, reserve::Source};

    /// A private pool of 4 blocks from `alloc_pages`, separate from the module's (never
    /// published: tests drive its core with magazines of their own).
    fn small_pool() -> Result<KBox<KernelPool>> {
        KernelPool::new(Config {
            size_mb: 8,
            source: SourcePolicy::Only(Source::Pages),
            node: bindings::NUMA_NO_NODE,
            strict: false,
        })
    }

    #[test]
    fn pfn_and_page_index_round_trip() -> Result {
        let pool = small_pool()?;
        let order = pool.block_order();
        for (block, reserved) in pool.blocks().iter().enumerate() {
            for offset in [0, 1, (1 << order) - 1] {
                let index = (block << order) + offset;
                assert_eq!(pool.pfn(index), Some(reserved.pfn() + offset));
                let page = pool.page(index);
                assert_eq!(glue::page_to_pfn(page), reserved.pfn() + offset);
                assert_eq!(pool.index_of(page), Some(index));
                // A pointer into the middle of a `struct page` is not a page.
                let inside = (page as usize + 8) as *const bindings::page;
                assert_eq!(pool.index_of(inside), None);
            }
        }
        assert!(pool.pfn(pool.core().geometry().total_pages()).is_none());
        Ok(())
    }

    #[test]
    fn foreign_page_is_not_the_pools() -> Result {
        let pool = small_pool()?;
        let page = kernel::page::Page::alloc_page(GFP_KERNEL)?;
        assert_eq!(pool.index_of(page.as_ptr()), None);
        let mut mag = Magazine::new(current_cpu() as u32);
        assert_eq!(pool.free_pages(&mut mag, page.as_ptr(), 0), Err(EINVAL));
        assert_eq!(pool.core().total_cpu_stats().free_errors_total(), 1);
        assert_eq!(pool.index_of(core::ptr::null()), None);
        Ok(())
    }

    #[test]
    fn metadata_does_not_share_cache_lines() -> Result {
        let pool = small_pool()?;
        let platform = pool.core().platform();
        let caches = platform.caches();
        assert_eq!(caches.len(), kernel::cpu::nr_cpu_ids() as usize);
        for cache in caches {
            let addr = core::ptr::from_ref::<crate::kernel_platform::Locked<_>>(cache).addr();
            assert_eq!(addr % 64, 0);
        }
        for block in platform.blocks() {
            assert_eq!(core::ptr::from_ref(block).addr() % 64, 0);
        }
        assert_eq!(platform.maps().as_ptr().addr() % 64, 0);
        assert_eq!(platform.bitmaps().as_ptr().addr() % 64, 0);
        Ok(())
    }

    #[test]
    fn every_order_allocates_frees_and_verifies() -> Result {
        let pool = small_pool()?;
        let mut mag = Magazine::new(current_cpu() as u32);
        for order in 0..=pool.block_order() {
            let (page, compound) = pool.alloc(&mut mag, order, false)?;
            assert!(!compound);
            let index = pool.index_of(page).ok_or(EINVAL)?;
            assert_eq!(index % (1 << order), 0);
            // SAFETY: `page` is ours.
            assert_eq!(unsafe { page_count(page) }, 2);
            assert_eq!(pool.core().outstanding_pages(), 1 << order);
            if order > 0 {
                assert_eq!(pool.free_pages(&mut mag, page, order - 1), Err(EINVAL));
            }
            pool.free_pages(&mut mag, page, order)?;
            // SAFETY: As above.
            assert_eq!(unsafe { page_count(page) }, 1);
            assert_eq!(pool.free_pages(&mut mag, page, order), Err(EINVAL));
        }
        pool.core().flush_magazine(&mut mag);
        assert!(pool.core().verify(&[&mag]).is_ok());
        Ok(())
    }

    /// The glue's compound pages are what the kernel's folios are, and undoing them leaves
    /// plain pages the pool can hand out again.
    #[test]
    fn folios_are_compound_and_undone() -> Result {
        let pool = small_pool()?;
        let mut mag = Magazine::new(current_cpu() as u32);
        for order in [2, pool.block_order()] {
            let (page, compound) = pool.alloc(&mut mag, order, true)?;
            assert!(compound);
            // SAFETY: The pages are ours and plain, as `alloc` promised.
            unsafe { glue_prep(page, order) };
            let folio = page.cast::<bindings::folio>();
            // SAFETY: `page` heads the compound page just made.
            assert!(unsafe { glue::page_is_head(page) });
            // SAFETY: As above.
            assert_eq!(unsafe { glue::folio_order(folio) }, order);
            assert_eq!(pool.free_pages(&mut mag, page, order), Err(EINVAL));
            assert_eq!(pool.prepare_free_folio(folio)?, order);
            pool.free_folio(&mut mag, page, order)?;
        }
        // The block-order folio stayed compound in the pool; an order-0 allocation that must
        // split its block undoes it first.
        pool.core().flush_magazine(&mut mag);
        let before = pool.core().total_cpu_stats().compound_undone;
        let mut held = KVec::new();
        while let Ok((page, _)) = pool.alloc(&mut mag, 0, false) {
            // SAFETY: An order-0 page of the pool, ours.
            assert!(!unsafe { glue::page_is_head(page) });
            held.push(page, GFP_KERNEL)?;
        }
        assert_eq!(pool.core().total_cpu_stats().compound_undone, before + 1);
        for page in held {
            pool.free_pages(&mut mag, page, 0)?;
        }
        pool.core().flush_magazine(&mut mag);
        assert!(pool.core().verify(&[&mag]).is_ok());
        Ok(())
    }

    /// `pcpbuddy_glue_prep_compound()`, which the C entry points call themselves.
    ///
    /// # Safety
    ///
    /// As for the C function: the pool's plain pages, held by the caller.
    unsafe fn glue_prep(page: *mut bindings::page, order: u32) {
        extern "C" {
            #[allow(improper_ctypes)]
            fn pcpbuddy_glue_prep_compound(page: *mut bindings::page, order: c_uint);
        }
        // SAFETY: By the caller's promise.
        unsafe { pcpbuddy_glue_prep_compound(page, order) }
    }

    #[test]
    fn exhaustion_is_enomem_and_recoverable() -> Result {
        let pool = small_pool()?;
        let mut mag = Magazine::new(current_cpu() as u32);
        let order = pool.block_order();
        let mut held = KVec::new();
        while let Ok((page, _)) = pool.alloc(&mut mag, order, false) {
            held.push(page, GFP_KERNEL)?;
        }
        assert_eq!(held.len(), pool.blocks().len());
        assert_eq!(pool.alloc(&mut mag, 0, false).err(), Some(ENOMEM));
        for page in held {
            pool.free_pages(&mut mag, page, order)?;
        }
        pool.core().flush_magazine(&mut mag);
        assert!(pool.core().verify(&[&mag]).is_ok());
        Ok(())
    }
}
