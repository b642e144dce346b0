//! A `std` platform for the host tests: a `Mutex` per lock, `Vec`s for storage, and a model of
//! the compound `struct page` state that the kernel keeps for folios.
//!
//! Under `--cfg loom` (`tests/loom.rs`) the pool's locks are loom's mutexes, so that loom
//! explores their interleavings; the test-only state beside them (the compound model, the
//! trace recording) stays on `std`, outside the model (the loom models use neither).

#![allow(dead_code, unreachable_pub)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Mutex;

use pcpbuddy_core::{
    Allocation, BitmapLine, BlockKind, BlockMeta, CpuCache, CpuStats, Event, Geometry, GlobalPool,
    Lock, Magazine, MapLine, Platform, Pool, RemoteQueue,
};

/// A `Mutex` implementing the core's lock trait (loom's under `--cfg loom`).
pub struct MutexLock<T>(PoolMutex<T>);

#[cfg(not(loom))]
use std::sync::Mutex as PoolMutex;

#[cfg(loom)]
use loom::sync::Mutex as PoolMutex;

impl<T> MutexLock<T> {
    pub fn new(value: T) -> Self {
        Self(PoolMutex::new(value))
    }
}

impl<T> Lock<T> for MutexLock<T> {
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.0.lock().unwrap())
    }
}

/// Storage for a pool.
pub struct StdPlatform {
    geo: Geometry,
    blocks: Vec<BlockMeta>,
    maps: Vec<MapLine>,
    bitmaps: Vec<BitmapLine>,
    global: MutexLock<GlobalPool>,
    caches: Vec<MutexLock<CpuCache>>,
    queues: Vec<RemoteQueue>,
    stats: Vec<CpuStats>,
    /// Blocks whose (modelled) `struct page`s form one compound page of the block order.
    compound: Mutex<HashSet<usize>>,
    /// Trace events, recorded while `tracing` is on (as a tracepoint someone listens to).
    events: Mutex<Option<Vec<Event>>>,
    /// Whether `events` records: checked first, as the kernel checks a static key, so that the
    /// hook costs nothing measurable when tracing is off (`examples/pair_count.rs`).
    tracing: AtomicBool,
}

impl StdPlatform {
    pub fn new(block_order: u32, nr_blocks: usize, nr_cpus: usize) -> Self {
        let geo = Geometry::new(block_order, nr_blocks).expect("geometry");
        Self {
            geo,
            blocks: (0..nr_blocks).map(|_| BlockMeta::new()).collect(),
            maps: (0..geo.map_lines()).map(|_| MapLine::new()).collect(),
            bitmaps: (0..geo.bitmap_lines()).map(|_| BitmapLine::new()).collect(),
            global: MutexLock::new(GlobalPool::new()),
            caches: (0..nr_cpus)
                .map(|_| MutexLock::new(CpuCache::new()))
                .collect(),
            queues: (0..=nr_cpus).map(|_| RemoteQueue::new()).collect(),
            stats: (0..nr_cpus).map(|_| CpuStats::new()).collect(),
            compound: Mutex::new(HashSet::new()),
            events: Mutex::new(None),
            tracing: AtomicBool::new(false),
        }
    }

    /// Starts recording trace events (dropping any recorded so far).
    pub fn start_tracing(&self) {
        *self.events.lock().unwrap() = Some(Vec::new());
        self.tracing.store(true, Relaxed);
    }

    #[cold]
    #[inline(never)]
    fn record(&self, event: Event) {
        if let Some(events) = self.events.lock().unwrap().as_mut() {
            events.push(event);
        }
    }

    /// The events recorded since `start_tracing`; recording goes on.
    pub fn take_events(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap()
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Whether block `block`'s pages are (modelled as) one compound page.
    pub fn is_compound(&self, block: usize) -> bool {
        self.compound.lock().unwrap().contains(&block)
    }

    /// Number of blocks modelled compound.
    pub fn compound_blocks(&self) -> usize {
        self.compound.lock().unwrap().len()
    }

    /// What the kernel glue does with an allocation before handing it out, checked against
    /// the model: a folio of the block order is either prepared now or was kept compound; any
    /// other allocation comes from a block that is not compound.
    pub fn hand_out(&self, a: Allocation, order: u32, folio: bool) {
        let block = a.page >> self.geo.block_order();
        let mut compound = self.compound.lock().unwrap();
        if folio && order == self.geo.block_order() {
            if a.make_compound {
                assert!(compound.insert(block), "block {block} prepared twice");
            } else {
                assert!(
                    compound.contains(&block),
                    "block {block} handed out as a folio plain"
                );
            }
        } else {
            assert!(
                !compound.contains(&block),
                "page {} order {order} handed out of compound block {block}",
                a.page
            );
            assert_eq!(a.make_compound, folio && order > 0);
        }
    }
}

impl Platform for StdPlatform {
    type Global = MutexLock<GlobalPool>;
    type Cache = MutexLock<CpuCache>;

    fn blocks(&self) -> &[BlockMeta] {
        &self.blocks
    }
    fn maps(&self) -> &[MapLine] {
        &self.maps
    }
    fn bitmaps(&self) -> &[BitmapLine] {
        &self.bitmaps
    }
    fn global(&self) -> &Self::Global {
        &self.global
    }
    fn caches(&self) -> &[Self::Cache] {
        &self.caches
    }
    fn remote_queues(&self) -> &[RemoteQueue] {
        &self.queues
    }
    fn cpu_stats(&self, cpu: usize) -> &CpuStats {
        &self.stats[cpu]
    }
    fn uncompound(&self, block: usize) {
        assert!(
            self.compound.lock().unwrap().remove(&block),
            "uncompound of block {block}, which is not compound"
        );
    }
    #[inline]
    fn trace(&self, event: Event) {
        if self.tracing.load(Relaxed) {
            self.record(event);
        }
    }
}

pub type StdPool = Pool<StdPlatform>;

pub fn pool(block_order: u32, nr_blocks: usize, nr_cpus: usize) -> StdPool {
    Pool::new(
        StdPlatform::new(block_order, nr_blocks, nr_cpus),
        block_order,
    )
    .expect("pool")
}

/// One magazine per CPU of `pool`.
pub fn magazines(pool: &StdPool) -> Vec<Magazine> {
    (0..pool.nr_cpus() as u32).map(Magazine::new).collect()
}

/// Quiescent verify with every magazine.
pub fn verify(pool: &StdPool, mags: &[Magazine]) {
    let refs: Vec<&Magazine> = mags.iter().collect();
    if let Err(e) = pool.verify(&refs) {
        panic!("verify: {e}");
    }
}

/// Everything back home: every magazine flushed, every cache drained, every fragment absorbed.
pub fn drain_all(pool: &StdPool, mags: &mut [Magazine]) {
    for mag in mags.iter_mut() {
        pool.flush_magazine(mag);
    }
    for cpu in 0..pool.nr_cpus() {
        pool.drain_cpu(cpu);
    }
    pool.absorb_fragments_now();
}

/// Drains everything and checks that the pool is whole again, compound blocks included.
pub fn assert_all_free(pool: &StdPool, mags: &mut [Magazine]) {
    drain_all(pool, mags);
    verify(pool, mags);
    let geo = pool.geometry();
    assert_eq!(pool.outstanding_pages(), 0);
    assert_eq!(pool.global_free_pages(), geo.total_pages());
    for block in 0..geo.nr_blocks() {
        let info = pool.block_info(block).unwrap();
        assert_eq!(info.kind, BlockKind::Free, "block {block}");
        assert_eq!(info.largest_free_order, Some(geo.block_order()));
        assert_eq!(
            info.compound,
            pool.platform().is_compound(block),
            "block {block}"
        );
    }
    pool.release_compound();
    assert_eq!(pool.platform().compound_blocks(), 0);
    verify(pool, mags);
}
