// SPDX-License-Identifier: GPL-2.0

//! The allocator core's storage and locks in the kernel: the [`Platform`] the core runs on.
//!
//! * Block metadata and unit maps: one `vmalloc`'ed array each (`KVVec`), a few cache lines
//!   per 2 MiB block, never inside the pool's pages.
//! * The global pool: one `SpinLock`.
//! * Per-CPU state, indexed by CPU id (`nr_cpu_ids` entries, so every possible CPU has one):
//!   a cache behind its own `SpinLock`, each in its own cache-line-aligned allocation so that
//!   CPUs never share a line, and a lock-free remote-free queue.
//!
//! The core does not depend on the caller running on the CPU whose cache it uses (a task may be
//! migrated between reading its CPU id and taking the lock): the lock makes that safe, and only
//! locality suffers. So no preemption control is needed beyond what `spin_lock` does.
//!
//! Context: the locks are plain (not IRQ-disabling) spinlocks, so alloc and free must not run in
//! hard or soft interrupt context, where they could interrupt the holder of the same CPU's lock.
//! Atomic process context (preemption disabled, spinlocks held) is fine: nothing here sleeps.

use crate::pcpcore::{
    block::BlockMeta,
    cache::CpuCache,
    geometry::Geometry,
    global::GlobalPool,
    platform::{Lock, MapWord, Platform},
    remote::RemoteQueue,
};
use kernel::{new_spinlock, prelude::*, sync::SpinLock};

/// A `T` behind a spinlock, alone on its cache lines.
#[pin_data]
#[repr(align(64))]
pub(crate) struct Locked<T> {
    #[pin]
    lock: SpinLock<T>,
}

impl<T> Locked<T> {
    /// A new lock around `value`, in its own allocation.
    pub(crate) fn new_boxed(value: T) -> Result<Pin<KBox<Self>>> {
        KBox::pin_init(
            pin_init!(Self {
                lock <- new_spinlock!(value, "pcpbuddy"),
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

/// Everything the core needs, owned by the module.
pub(crate) struct KernelPlatform {
    blocks: KVVec<BlockMeta>,
    maps: KVVec<MapWord>,
    global: Pin<KBox<Locked<GlobalPool>>>,
    caches: KVVec<Pin<KBox<Locked<CpuCache>>>>,
    remote_queues: KVVec<RemoteQueue>,
}

impl KernelPlatform {
    /// Storage for `nr_blocks` blocks of `2^block_order` pages and `nr_cpus` CPUs.
    pub(crate) fn new(block_order: u32, nr_blocks: usize, nr_cpus: usize) -> Result<Self> {
        let geometry = Geometry::new(block_order, nr_blocks).ok_or(EINVAL)?;
        let mut blocks = KVVec::with_capacity(nr_blocks, GFP_KERNEL)?;
        for _ in 0..nr_blocks {
            blocks.push(BlockMeta::new(), GFP_KERNEL)?;
        }
        let mut maps = KVVec::with_capacity(geometry.map_words(), GFP_KERNEL)?;
        for _ in 0..geometry.map_words() {
            maps.push(MapWord::new(0), GFP_KERNEL)?;
        }
        let mut caches = KVVec::with_capacity(nr_cpus, GFP_KERNEL)?;
        let mut remote_queues = KVVec::with_capacity(nr_cpus, GFP_KERNEL)?;
        for _ in 0..nr_cpus {
            caches.push(Locked::new_boxed(CpuCache::new())?, GFP_KERNEL)?;
            remote_queues.push(RemoteQueue::new(), GFP_KERNEL)?;
        }
        Ok(Self {
            blocks,
            maps,
            global: Locked::new_boxed(GlobalPool::new())?,
            caches,
            remote_queues,
        })
    }

    /// Bytes of metadata this platform allocated (for `info` and the documentation).
    pub(crate) fn metadata_bytes(&self) -> usize {
        self.blocks.len() * size_of::<BlockMeta>()
            + self.maps.len() * size_of::<MapWord>()
            + size_of::<Locked<GlobalPool>>()
            + self.caches.len() * (size_of::<Locked<CpuCache>>() + size_of::<RemoteQueue>())
    }
}

impl Platform for KernelPlatform {
    type Global = Pin<KBox<Locked<GlobalPool>>>;
    type Cache = Pin<KBox<Locked<CpuCache>>>;

    fn blocks(&self) -> &[BlockMeta] {
        &self.blocks
    }

    fn maps(&self) -> &[MapWord] {
        &self.maps
    }

    fn global(&self) -> &Self::Global {
        &self.global
    }

    fn caches(&self) -> &[Self::Cache] {
        &self.caches
    }

    fn remote_queues(&self) -> &[RemoteQueue] {
        &self.remote_queues
    }
}
