// SPDX-License-Identifier: GPL-2.0

//! The pool: reserved pageblocks, the allocator core running over them, and the mapping between
//! the core's page indices and the kernel's `struct page`s.
//!
//! Every interface of the module (the misc device, debugfs, the exported C API, CPU hotplug)
//! reaches the pool through [`Pool::get`]. The instance is published in `init` before any
//! interface is registered and withdrawn in `exit` after all of them are gone, so an interface
//! never sees it missing.

use crate::{
    glue,
    pcpcore::{
        error::{AllocError, FreeError},
        frame_map::{self, BlockFrameMap, FrameSlot},
        geometry::PageIndex,
        pool::Pool as CorePool,
    },
    platform::KernelPlatform,
    reserve::{Pageblock, SourcePolicy},
    uapi,
};
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};
use kernel::{
    bindings,
    prelude::*,
    sync::atomic::{Acquire, Atomic, Release},
};

/// What the pool was asked for at load (module parameters, validated).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Config {
    /// Pool size in MiB, a multiple of the pageblock size.
    pub(crate) size_mb: u32,
    /// Where its pageblocks come from.
    pub(crate) source: SourcePolicy,
    /// NUMA node, or `NUMA_NO_NODE`.
    pub(crate) node: i32,
}

/// The pool.
///
/// # Invariants
///
/// * `blocks[i]` is the memory of the core's block `i`, and `block_pfn[i]` its first pfn.
/// * `frames` maps `block_pfn[i] >> pageblock_order` to `i` for every block, and nothing else.
pub(crate) struct Pool {
    config: Config,
    pageblock_order: u32,
    core: CorePool<KernelPlatform>,
    block_pfn: KVVec<usize>,
    frames: KVVec<FrameSlot>,
    /// Kinds of misuse already reported (one bit per `FreeError::index()`): each is reported
    /// once, and counted every time in `stats`.
    reported: AtomicU32,
    /// The reserved memory. Given back in `drop`, after the core is done with it.
    blocks: KVVec<Pageblock>,
}

/// The published pool, or null while the module is not (or no longer) live.
static POOL: Atomic<*mut Pool> = Atomic::new(core::ptr::null_mut());

/// The CPU the caller runs on, as an index into the per-CPU caches. The caller may be migrated
/// right after: the core stays correct, only locality suffers.
pub(crate) fn current_cpu() -> usize {
    kernel::cpu::CpuId::current().as_u32() as usize
}

impl Pool {
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
            match Pageblock::acquire_any(config.source, order, config.node) {
                Ok(block) => blocks.push(block, GFP_KERNEL)?,
                Err(e) => {
                    pr_err!(
                        "source={}: reserved only {} of {} MiB ({} of {} pageblocks): {:?}\n",
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

        let mut block_pfn = KVVec::with_capacity(nr_blocks, GFP_KERNEL)?;
        // Twice as many slots as blocks keeps linear probing short.
        let mut frames = KVVec::with_capacity((2 * nr_blocks).next_power_of_two(), GFP_KERNEL)?;
        for _ in 0..frames.capacity() {
            frames.push(FrameSlot::EMPTY, GFP_KERNEL)?;
        }
        let mut map = BlockFrameMap::new(&mut frames).map_err(|_| EINVAL)?;
        for (index, block) in blocks.iter().enumerate() {
            block_pfn.push(block.pfn(), GFP_KERNEL)?;
            map.insert((block.pfn() >> order) as u64, index as u32)
                .map_err(|_| EINVAL)?;
        }

        let nr_cpus = kernel::cpu::nr_cpu_ids() as usize;
        let platform = KernelPlatform::new(order, nr_blocks, nr_cpus)?;
        let core = CorePool::new(platform, order).map_err(|_| EINVAL)?;
        // INVARIANT: `blocks`, `block_pfn` and `frames` were built together, index by index.
        Ok(KBox::new(
            Self {
                config,
                pageblock_order: order,
                core,
                block_pfn,
                frames,
                reported: AtomicU32::new(0),
                blocks,
            },
            GFP_KERNEL,
        )?)
    }

    /// Publishes `pool` as the module's pool.
    pub(crate) fn publish(pool: KBox<Self>) {
        POOL.store(KBox::into_raw(pool), Release);
    }

    /// Withdraws and drops the published pool.
    ///
    /// # Safety
    ///
    /// No interface that reaches the pool through [`Pool::get`] may be registered any more, and
    /// no reference obtained from it may still be live.
    pub(crate) unsafe fn withdraw() {
        let pool = POOL.xchg(core::ptr::null_mut(), Acquire);
        if !pool.is_null() {
            // SAFETY: `pool` came from `KBox::into_raw` in `publish`, and by the caller's promise
            // nothing refers to it any more.
            drop(unsafe { KBox::from_raw(pool) });
        }
    }

    /// The published pool, if the module is live.
    pub(crate) fn get() -> Option<&'static Self> {
        let pool = POOL.load(Acquire);
        // SAFETY: A non-null `POOL` points to the pool published by `publish`, which stays
        // valid until `withdraw`; `withdraw` runs only after every interface that calls `get`
        // is unregistered, so no caller can hold the reference past it.
        unsafe { pool.as_ref() }
    }

    /// The allocator core (for statistics and introspection).
    pub(crate) fn core(&self) -> &CorePool<KernelPlatform> {
        &self.core
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

    /// The pool's description for user space and in-kernel users.
    pub(crate) fn info(&self) -> uapi::Info {
        let nr_pages = (self.blocks.len() as u64) << self.pageblock_order;
        let outstanding = self.core.outstanding_pages();
        uapi::Info {
            abi_version: uapi::ABI_VERSION,
            block_order: self.pageblock_order,
            page_size: kernel::page::PAGE_SIZE as u32,
            nr_cpu_ids: kernel::cpu::nr_cpu_ids(),
            source: self.config.source.uapi(),
            node: self.config.node,
            size_bytes: u64::from(self.config.size_mb) << 20,
            nr_pages,
            outstanding_pages: outstanding,
            metadata_bytes: self.core.platform().metadata_bytes() as u64
                + (self.block_pfn.len() * size_of::<usize>()
                    + self.frames.len() * size_of::<FrameSlot>()
                    + self.blocks.len() * size_of::<Pageblock>()) as u64,
        }
    }

    /// Allocates `2^order` pages from `cpu`'s cache; returns the first page's index.
    pub(crate) fn alloc(&self, cpu: usize, order: u32) -> Result<PageIndex> {
        self.core.alloc(cpu, order).map_err(|e| match e {
            AllocError::OutOfMemory => ENOMEM,
            AllocError::BadCpu | AllocError::BadOrder => EINVAL,
        })
    }

    /// Frees `2^order` pages at `index` on behalf of `cpu`. Misuse (double free, wrong order,
    /// a page not allocated) changes nothing but a counter and is reported once per kind.
    pub(crate) fn free(&self, cpu: usize, index: PageIndex, order: u32) -> Result {
        self.core.free(cpu, index, order).map_err(|e| {
            self.report_misuse(e, self.pfn(index), order);
            EINVAL
        })
    }

    /// Frees the `2^order` pages at `page` on behalf of `cpu`, like [`Pool::free`]. A page that
    /// is not the pool's is refused like any other misuse: the core counts it as out of pool.
    pub(crate) fn free_page(&self, cpu: usize, page: *const bindings::page, order: u32) -> Result {
        // One past the last page: the core's own range check refuses and counts it.
        let outside = self.core.geometry().total_pages();
        let index = self.index_of(page).unwrap_or(outside);
        self.core.free(cpu, index, order).map_err(|e| {
            self.report_misuse(e, Some(glue::page_to_pfn(page)), order);
            EINVAL
        })
    }

    /// Reports the first misuse of each kind in the kernel log.
    fn report_misuse(&self, error: FreeError, pfn: Option<usize>, order: u32) {
        let bit = 1 << error.index();
        if self.reported.fetch_or(bit, Relaxed) & bit == 0 {
            pr_err!(
                "bad free ({}) of pfn {:#x} order {}; counted in debugfs stats, reported once\n",
                error.name(),
                pfn.unwrap_or(0),
                order
            );
        }
    }

    /// The pfn of page `index`, if it is in the pool.
    pub(crate) fn pfn(&self, index: PageIndex) -> Option<usize> {
        let mask = (1usize << self.pageblock_order) - 1;
        let first = self.block_pfn.get(index >> self.pageblock_order)?;
        Some(first + (index & mask))
    }

    /// The `struct page` of page `index`, if it is in the pool.
    pub(crate) fn page(&self, index: PageIndex) -> Option<*mut bindings::page> {
        let pfn = self.pfn(index)?;
        // SAFETY: `pfn` lies in a block we hold (by the type invariant), so its `struct page`
        // exists.
        Some(unsafe { glue::pfn_to_page(pfn) })
    }

    /// The pool index of `page`, or `None` if the page is not the pool's.
    pub(crate) fn index_of(&self, page: *const bindings::page) -> Option<PageIndex> {
        let pfn = glue::page_to_pfn(page);
        let block = frame_map::lookup(&self.frames, (pfn >> self.pageblock_order) as u64)?;
        let mask = (1usize << self.pageblock_order) - 1;
        Some(((block as usize) << self.pageblock_order) | (pfn & mask))
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Bring every free page home, so that a block is fully free exactly when none of its
        // pages is out.
        for cpu in 0..self.core.nr_cpus() {
            self.core.drain_cpu(cpu);
        }
        self.core.absorb_fragments_now();
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
                "{} pages still allocated at unload: withholding {} pageblocks from the kernel\n",
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

    /// A private pool of 4 blocks from `alloc_pages`, separate from the module's.
    fn small_pool() -> Result<KBox<Pool>> {
        Pool::new(Config {
            size_mb: 8,
            source: SourcePolicy::Only(Source::Pages),
            node: bindings::NUMA_NO_NODE,
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
                let page = pool.page(index).ok_or(EINVAL)?;
                assert_eq!(pool.index_of(page), Some(index));
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
        assert_eq!(pool.free_page(current_cpu(), page.as_ptr(), 0), Err(EINVAL));
        assert_eq!(pool.core().total_cpu_stats().free_errors_total(), 1);
        Ok(())
    }

    #[test]
    fn caches_do_not_share_cache_lines() -> Result {
        let pool = small_pool()?;
        let caches = pool.core().platform().caches();
        assert_eq!(caches.len(), kernel::cpu::nr_cpu_ids() as usize);
        for cache in caches {
            let addr = core::ptr::from_ref::<crate::platform::Locked<_>>(cache).addr();
            assert_eq!(addr % 64, 0);
        }
        Ok(())
    }

    #[test]
    fn every_order_allocates_frees_and_verifies() -> Result {
        let pool = small_pool()?;
        let cpu = current_cpu();
        for order in 0..=pool.block_order() {
            let index = pool.alloc(cpu, order)?;
            assert_eq!(index % (1 << order), 0);
            assert_eq!(pool.core().outstanding_pages(), 1 << order);
            if order > 0 {
                assert_eq!(pool.free(cpu, index, order - 1), Err(EINVAL));
            }
            pool.free(cpu, index, order)?;
            assert_eq!(pool.free(cpu, index, order), Err(EINVAL));
        }
        assert!(pool.core().verify().is_ok());
        Ok(())
    }

    #[test]
    fn exhaustion_is_enomem_and_recoverable() -> Result {
        let pool = small_pool()?;
        let cpu = current_cpu();
        let order = pool.block_order();
        let mut held = KVec::new();
        while let Ok(index) = pool.alloc(cpu, order) {
            held.push(index, GFP_KERNEL)?;
        }
        assert_eq!(held.len(), pool.blocks().len());
        assert_eq!(pool.alloc(cpu, 0), Err(ENOMEM));
        for index in held {
            pool.free(cpu, index, order)?;
        }
        assert!(pool.core().verify().is_ok());
        Ok(())
    }
}
