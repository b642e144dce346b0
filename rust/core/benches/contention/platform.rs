//! The platform (kernel-like spinlocks and layout, mirroring `rust/kmod/kernel_platform.rs`) and
//! the backends the patterns call: the pool through a thread's magazine, and the floor.

use std::cell::UnsafeCell;
use std::hint::spin_loop;
use std::sync::atomic::{
    AtomicBool,
    Ordering::{Acquire, Relaxed, Release},
};

use pcpbuddy_core::{
    BitmapLine, BlockMeta, CpuCache, CpuStats, Geometry, GlobalPool, Lock, Magazine, MapLine,
    Platform, Pool, RemoteQueue,
};

/// The pageblock order of x86-64 (2 MiB blocks), as in the kernel.
pub(crate) const BLOCK_ORDER: u32 = 9;
/// Slots of a floor thread's array, as the module's floor.
const FLOOR_SLOTS: usize = 2048;

/// A `T` alone on its cache lines, like the kernel's `____cacheline_aligned` per-CPU data.
#[repr(align(64))]
pub(crate) struct Padded<T>(pub(crate) T);

/// A test-and-test-and-set spinlock, alone on its cache lines with what it protects (the
/// module's `Locked<T>`). Acquire is one compare-and-swap when free, as the kernel's queued
/// spinlock's fast path; waiters spin on a plain load so the line stays shared while held;
/// release is a plain store. Unlike the kernel's `SpinLockIrq` it does not disable interrupts
/// (there are none here) and does not queue waiters (two cores cannot starve each other).
#[repr(align(64))]
pub(crate) struct SpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: The lock gives out `&mut T` to one thread at a time, so `T: Send` suffices.
unsafe impl<T: Send> Sync for SpinLock<T> {}

impl<T> SpinLock<T> {
    pub(crate) fn new(value: T) -> Self {
        Self {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }
}

/// Releases a [`SpinLock`] when dropped, also when the closure panics.
struct Unlock<'a>(&'a AtomicBool);

impl Drop for Unlock<'_> {
    fn drop(&mut self) {
        self.0.store(false, Release);
    }
}

impl<T> Lock<T> for SpinLock<T> {
    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        while self
            .locked
            .compare_exchange_weak(false, true, Acquire, Relaxed)
            .is_err()
        {
            while self.locked.load(Relaxed) {
                spin_loop();
            }
        }
        let _unlock = Unlock(&self.locked);
        // SAFETY: We hold the lock, so no other reference to the value exists until `_unlock`
        // releases it after `f` returns.
        f(unsafe { &mut *self.value.get() })
    }
}

/// The module's platform on the host: the same storage, laid out the same way.
pub(crate) struct HostPlatform {
    /// `BlockMeta`, `MapLine` and `BitmapLine` are cache-line aligned types themselves.
    blocks: Vec<BlockMeta>,
    maps: Vec<MapLine>,
    bitmaps: Vec<BitmapLine>,
    global: Box<SpinLock<GlobalPool>>,
    caches: Vec<SpinLock<CpuCache>>,
    /// Packed, 4 bytes each, as in the module's table (only remote frees and absorbs touch them).
    queues: Vec<RemoteQueue>,
    stats: Vec<Padded<CpuStats>>,
}

impl HostPlatform {
    pub(crate) fn new(nr_blocks: usize, nr_cpus: usize) -> Self {
        let geo = Geometry::new(BLOCK_ORDER, nr_blocks).expect("geometry");
        Self {
            blocks: (0..nr_blocks).map(|_| BlockMeta::new()).collect(),
            maps: (0..geo.map_lines()).map(|_| MapLine::new()).collect(),
            bitmaps: (0..geo.bitmap_lines()).map(|_| BitmapLine::new()).collect(),
            global: Box::new(SpinLock::new(GlobalPool::new())),
            caches: (0..nr_cpus)
                .map(|_| SpinLock::new(CpuCache::new()))
                .collect(),
            queues: (0..=nr_cpus).map(|_| RemoteQueue::new()).collect(),
            stats: (0..nr_cpus).map(|_| Padded(CpuStats::new())).collect(),
        }
    }
}

impl Platform for HostPlatform {
    type Global = SpinLock<GlobalPool>;
    type Cache = SpinLock<CpuCache>;

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
        &self.queues
    }
    #[inline(always)]
    fn cpu_stats(&self, cpu: usize) -> &CpuStats {
        &self.stats[cpu].0
    }
    fn uncompound(&self, block: usize) {
        // Only folios make blocks compound, and this benchmark allocates none.
        unreachable!("uncompound of block {block}: no folios here");
    }
}

pub(crate) type HostPool = Pool<HostPlatform>;

// ---------------------------------------------------------------------------------------------
// Backends: the allocators as the patterns call them. A handle is a page index (or a token).
// Every backend is one call that is not inlined, as the module's exported API and floor are.

pub(crate) trait Api {
    fn alloc(&mut self, order: u32) -> Option<usize>;
    fn free(&mut self, handle: usize, order: u32);
    /// Frees the pool refused (must stay 0).
    fn errors(&self) -> u64 {
        0
    }
}

/// The pool through one thread's magazine.
pub(crate) struct PoolApi<'a> {
    pool: &'a HostPool,
    mag: &'a mut Magazine,
    errors: u64,
}

impl<'a> PoolApi<'a> {
    pub(crate) fn new(pool: &'a HostPool, mag: &'a mut Magazine) -> Self {
        Self {
            pool,
            mag,
            errors: 0,
        }
    }
}

impl Api for PoolApi<'_> {
    #[inline(never)]
    fn alloc(&mut self, order: u32) -> Option<usize> {
        self.pool.alloc(self.mag, order, false).ok().map(|a| a.page)
    }

    #[inline(never)]
    fn free(&mut self, handle: usize, order: u32) {
        if self.pool.free(self.mag, handle, order, false).is_err() {
            self.errors += 1;
        }
    }

    fn errors(&self) -> u64 {
        self.errors
    }
}

/// The floor: push/pop of tokens on the thread's own array, as the module's floor (an empty
/// array mints a token, a full one drops it, so it never fails).
pub(crate) struct FloorApi {
    slots: Box<[u32; FLOOR_SLOTS]>,
    len: usize,
    minted: u32,
}

impl FloorApi {
    pub(crate) fn new() -> Self {
        Self {
            slots: Box::new(core::array::from_fn(|i| i as u32)),
            len: FLOOR_SLOTS,
            minted: FLOOR_SLOTS as u32,
        }
    }
}

impl Api for FloorApi {
    #[inline(never)]
    fn alloc(&mut self, _order: u32) -> Option<usize> {
        if self.len > 0 {
            self.len -= 1;
            Some(self.slots[self.len] as usize)
        } else {
            self.minted = self.minted.wrapping_add(1);
            Some(self.minted as usize)
        }
    }

    #[inline(never)]
    fn free(&mut self, handle: usize, _order: u32) {
        if self.len < FLOOR_SLOTS {
            self.slots[self.len] = handle as u32;
            self.len += 1;
        }
    }
}
