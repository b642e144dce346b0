//! A `std` platform for the host tests: a `Mutex` per lock, `Vec`s for storage.

#![allow(dead_code, unreachable_pub)]

use std::sync::Mutex;

use pcpbuddy_core::{
    BlockMeta, CpuCache, Geometry, GlobalPool, Lock, MapWord, Platform, Pool, RemoteQueue,
};

/// A `Mutex` implementing the core's lock trait.
pub struct MutexLock<T>(Mutex<T>);

impl<T> MutexLock<T> {
    pub fn new(value: T) -> Self {
        Self(Mutex::new(value))
    }
}

impl<T> Lock<T> for MutexLock<T> {
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.0.lock().unwrap())
    }
}

/// Storage for a pool.
pub struct StdPlatform {
    blocks: Vec<BlockMeta>,
    maps: Vec<MapWord>,
    global: MutexLock<GlobalPool>,
    caches: Vec<MutexLock<CpuCache>>,
    queues: Vec<RemoteQueue>,
}

impl StdPlatform {
    pub fn new(block_order: u32, nr_blocks: usize, nr_cpus: usize) -> Self {
        let geo = Geometry::new(block_order, nr_blocks).expect("geometry");
        Self {
            blocks: (0..nr_blocks).map(|_| BlockMeta::new()).collect(),
            maps: (0..geo.map_words()).map(|_| MapWord::new(0)).collect(),
            global: MutexLock::new(GlobalPool::new()),
            caches: (0..nr_cpus)
                .map(|_| MutexLock::new(CpuCache::new()))
                .collect(),
            queues: (0..nr_cpus).map(|_| RemoteQueue::new()).collect(),
        }
    }
}

impl Platform for StdPlatform {
    type Global = MutexLock<GlobalPool>;
    type Cache = MutexLock<CpuCache>;

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
        &self.queues
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

/// Drains every CPU and checks that the pool is whole again.
pub fn assert_all_free(pool: &StdPool) {
    for cpu in 0..pool.nr_cpus() {
        pool.drain_cpu(cpu);
    }
    pool.absorb_fragments_now();
    pool.verify().expect("verify");
    let geo = pool.geometry();
    assert_eq!(pool.outstanding_pages(), 0);
    assert_eq!(pool.global_free_pages(), geo.total_pages());
    for block in 0..geo.nr_blocks() {
        let info = pool.block_info(block).unwrap();
        assert_eq!(info.kind, pcpbuddy_core::BlockKind::Free, "block {block}");
        assert_eq!(info.largest_free_order, Some(geo.block_order()));
    }
}
