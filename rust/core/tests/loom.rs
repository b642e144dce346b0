//! The remote-free protocol and the magazines under the loom model checker.
//!
//! Run with:
//! `RUSTFLAGS="--cfg loom" cargo test --release --test loom`
//!
//! Every scenario runs the real allocator code on a tiny pool (one block of 4
//! pages, 2-3 CPUs) with loom's atomics and mutexes, and loom explores all interleavings of
//! the threads. Each thread is one CPU and owns that CPU's magazine, as in the kernel.

#![cfg(loom)]

use loom::sync::{Arc, Mutex};
use loom::thread;

use pcpbuddy_core::{
    BitmapLine, BlockKind, BlockMeta, CpuCache, CpuStats, FreeError, Geometry, GlobalPool, Lock,
    Magazine, MapLine, Platform, Pool, RemoteQueue,
};

struct LoomLock<T>(Mutex<T>);

impl<T> Lock<T> for LoomLock<T> {
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.0.lock().unwrap())
    }
}

struct LoomPlatform {
    blocks: Vec<BlockMeta>,
    maps: Vec<MapLine>,
    bitmaps: Vec<BitmapLine>,
    global: LoomLock<GlobalPool>,
    caches: Vec<LoomLock<CpuCache>>,
    queues: Vec<RemoteQueue>,
    stats: Vec<CpuStats>,
}

impl Platform for LoomPlatform {
    type Global = LoomLock<GlobalPool>;
    type Cache = LoomLock<CpuCache>;
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
    fn uncompound(&self, _block: usize) {
        unreachable!("no folios in the loom models");
    }
}

const P: u32 = 2;

/// Runs `f` under loom and checks that loom explored at least `min` executions: a model that
/// silently runs one interleaving (loom's reduction found no race) checks nothing.
fn model(min: usize, f: impl Fn() + Sync + Send + 'static) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let runs = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    loom::model(move || {
        counter.fetch_add(1, Ordering::Relaxed);
        f();
    });
    let runs = runs.load(Ordering::Relaxed);
    println!("{runs} executions");
    assert!(runs >= min, "loom explored only {runs} executions");
}

type LoomPool = Pool<LoomPlatform>;

fn pool(nr_blocks: usize, nr_cpus: usize) -> (Arc<LoomPool>, Vec<Magazine>) {
    let geo = Geometry::new(P, nr_blocks).unwrap();
    let platform = LoomPlatform {
        blocks: (0..nr_blocks).map(|_| BlockMeta::new()).collect(),
        maps: (0..geo.map_lines()).map(|_| MapLine::new()).collect(),
        bitmaps: (0..geo.bitmap_lines()).map(|_| BitmapLine::new()).collect(),
        global: LoomLock(Mutex::new(GlobalPool::new())),
        caches: (0..nr_cpus)
            .map(|_| LoomLock(Mutex::new(CpuCache::new())))
            .collect(),
        queues: (0..=nr_cpus).map(|_| RemoteQueue::new()).collect(),
        stats: (0..nr_cpus).map(|_| CpuStats::new()).collect(),
    };
    let mags = (0..nr_cpus as u32).map(Magazine::new).collect();
    (Arc::new(Pool::new(platform, P).unwrap()), mags)
}

fn alloc(pool: &LoomPool, mag: &mut Magazine, order: u32) -> usize {
    pool.alloc(mag, order, false).unwrap().page
}

fn free(pool: &LoomPool, mag: &mut Magazine, page: usize, order: u32) -> Result<(), FreeError> {
    pool.free(mag, page, order, false)
}

fn verify(pool: &LoomPool, mags: &[Magazine]) {
    let refs: Vec<&Magazine> = mags.iter().collect();
    pool.verify(&refs).unwrap();
}

fn assert_whole(pool: &LoomPool, mags: &mut [Magazine]) {
    for mag in mags.iter_mut() {
        pool.flush_magazine(mag);
    }
    for cpu in 0..pool.nr_cpus() {
        pool.drain_cpu(cpu);
    }
    pool.absorb_fragments_now();
    verify(pool, mags);
    assert_eq!(pool.outstanding_pages(), 0);
    for block in 0..pool.geometry().nr_blocks() {
        assert_eq!(pool.block_info(block).unwrap().kind, BlockKind::Free);
    }
}

/// Remote frees racing with the owner's slow path: nothing notified is missed. After all
/// finish, absorbing the owner's queue alone (no full scan) must find every page: either the
/// owner saw the hint bits, or the notifier queued the block again. The second remote free is
/// what catches an absorber that resets `queued` after taking the hint instead of before.
#[test]
fn remote_free_vs_absorb_nothing_missed() {
    model(2, || {
        let (pool, mut mags) = pool(1, 2);
        let mut mag1 = mags.pop().unwrap();
        let mut mag0 = mags.pop().unwrap();
        let a = alloc(&pool, &mut mag0, 0);
        let b = alloc(&pool, &mut mag0, 0);
        let c = alloc(&pool, &mut mag0, 0);
        let remote = {
            let pool = pool.clone();
            thread::spawn(move || {
                free(&pool, &mut mag1, a, 0).unwrap();
                pool.flush_outbox(&mut mag1);
                free(&pool, &mut mag1, c, 0).unwrap();
                pool.flush_outbox(&mut mag1);
                mag1
            })
        };
        free(&pool, &mut mag0, b, 0).unwrap();
        pool.absorb_remote(0);
        let mag1 = remote.join().unwrap();
        pool.absorb_remote(0);
        // All 4 pages are back in the owner's cache or magazine.
        assert_eq!(pool.cpu_free_pages(0).unwrap() + mag0.pages(), 4);
        let mut mags = vec![mag0, mag1];
        verify(&pool, &mags);
        assert_whole(&pool, &mut mags);
    });
}

/// Two CPUs race to free the same allocation (a double free from a remote CPU): exactly one
/// succeeds, the other gets DoubleFree, the owner's block stays consistent.
#[test]
fn racing_double_free() {
    model(2, || {
        let (pool, mut mags) = pool(1, 3);
        let a = alloc(&pool, &mut mags[0], 1);
        let mut mag2 = mags.pop().unwrap();
        let mut mag1 = mags.pop().unwrap();
        let t1 = {
            let pool = pool.clone();
            thread::spawn(move || (free(&pool, &mut mag1, a, 1), mag1))
        };
        let r2 = free(&pool, &mut mag2, a, 1);
        let (r1, mag1) = t1.join().unwrap();
        assert!(
            matches!(
                (r1, r2),
                (Ok(()), Err(FreeError::DoubleFree)) | (Err(FreeError::DoubleFree), Ok(()))
            ),
            "{r1:?} {r2:?}"
        );
        mags.push(mag1);
        mags.push(mag2);
        verify(&pool, &mags);
        assert_whole(&pool, &mut mags);
    });
}

/// A remote free racing with another CPU draining the owner's cache into fragments (the
/// holder changes while the freer is between reading it and notifying): the page is not lost,
/// and the block becomes whole again.
#[test]
fn remote_free_vs_drain() {
    model(2, || {
        let (pool, mut mags) = pool(1, 2);
        let a = alloc(&pool, &mut mags[0], 0);
        let b = alloc(&pool, &mut mags[0], 0);
        let mut mag1 = mags.pop().unwrap();
        let remote = {
            let pool = pool.clone();
            thread::spawn(move || {
                free(&pool, &mut mag1, a, 0).unwrap();
                pool.flush_outbox(&mut mag1);
                mag1
            })
        };
        pool.drain_cpu(0);
        mags.push(remote.join().unwrap());
        verify(&pool, &mags);
        free(&pool, &mut mags[0], b, 0).unwrap();
        assert_whole(&pool, &mut mags);
    });
}

/// A remote free racing with a refill that recovers the fragment holding the page into
/// another CPU's ownership.
#[test]
fn remote_free_vs_recovery() {
    model(2, || {
        let (pool, mut mags) = pool(1, 3);
        let a = alloc(&pool, &mut mags[0], 0);
        pool.flush_magazine(&mut mags[0]);
        pool.drain_cpu(0); // the block is now a fragment
        let mut mag1 = mags.remove(1);
        let remote = {
            let pool = pool.clone();
            thread::spawn(move || {
                free(&pool, &mut mag1, a, 0).unwrap();
                pool.flush_outbox(&mut mag1);
                mag1
            })
        };
        let b = alloc(&pool, &mut mags[1], 0); // CPU 2 recovers the fragment
        mags.insert(1, remote.join().unwrap());
        verify(&pool, &mags);
        free(&pool, &mut mags[2], b, 0).unwrap();
        assert_whole(&pool, &mut mags);
    });
}

/// The owner frees a page into its magazine while another CPU frees the same page: exactly
/// one free succeeds, and a page the owner cached is never absorbed as a remote free nor lost.
#[test]
fn owner_cached_free_vs_remote_double_free() {
    model(2, || {
        let (pool, mut mags) = pool(1, 2);
        let a = alloc(&pool, &mut mags[0], 0);
        let b = alloc(&pool, &mut mags[0], 0);
        let mut mag1 = mags.pop().unwrap();
        let t1 = {
            let pool = pool.clone();
            thread::spawn(move || {
                let r = free(&pool, &mut mag1, a, 0);
                pool.flush_outbox(&mut mag1);
                (r, mag1)
            })
        };
        let r0 = free(&pool, &mut mags[0], a, 0);
        pool.absorb_remote(0);
        let (r1, mag1) = t1.join().unwrap();
        assert!(
            matches!(
                (r0, r1),
                (Ok(()), Err(FreeError::DoubleFree)) | (Err(FreeError::DoubleFree), Ok(()))
            ),
            "{r0:?} {r1:?}"
        );
        mags.push(mag1);
        verify(&pool, &mags);
        free(&pool, &mut mags[0], b, 0).unwrap();
        assert_whole(&pool, &mut mags);
    });
}

/// Another CPU drains the owner's cache while the owner allocates from and frees into its
/// magazine without a lock: units cached in a block that left ownership stay the magazine's,
/// and the owner's flush parks them for the new holder.
#[test]
fn drain_vs_owner_fast_path() {
    model(2, || {
        let (pool, mut mags) = pool(1, 2);
        let a = alloc(&pool, &mut mags[0], 0);
        let drainer = {
            let pool = pool.clone();
            thread::spawn(move || pool.drain_cpu(0))
        };
        free(&pool, &mut mags[0], a, 0).unwrap();
        let b = alloc(&pool, &mut mags[0], 0);
        drainer.join().unwrap();
        verify(&pool, &mags);
        free(&pool, &mut mags[0], b, 0).unwrap();
        assert_whole(&pool, &mut mags);
    });
}
