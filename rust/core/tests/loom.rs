//! The remote-free protocol under the loom model checker.
//!
//! Run with:
//! `RUSTFLAGS="--cfg loom" cargo test --release --test loom`
//! (`LOOM_MAX_PREEMPTIONS=3` is the default bound used by the scripts.)
//!
//! Every scenario runs the real allocator code on a tiny pool (one or two
//! blocks of 4 pages, 2-3 CPUs) with loom's atomics and mutexes, and loom
//! explores all interleavings of the threads (within the preemption bound).

#![cfg(loom)]

use loom::sync::{Arc, Mutex};
use loom::thread;

use pcpbuddy_core::{
    BlockKind, BlockMeta, CpuCache, FreeError, Geometry, GlobalPool, Lock, MapWord, Platform, Pool,
    RemoteQueue,
};

struct LoomLock<T>(Mutex<T>);

impl<T> Lock<T> for LoomLock<T> {
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.0.lock().unwrap())
    }
}

struct LoomPlatform {
    blocks: Vec<BlockMeta>,
    maps: Vec<MapWord>,
    global: LoomLock<GlobalPool>,
    caches: Vec<LoomLock<CpuCache>>,
    queues: Vec<RemoteQueue>,
}

impl Platform for LoomPlatform {
    type Global = LoomLock<GlobalPool>;
    type Cache = LoomLock<CpuCache>;
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

const P: u32 = 2;

fn pool(nr_blocks: usize, nr_cpus: usize) -> Arc<Pool<LoomPlatform>> {
    let geo = Geometry::new(P, nr_blocks).unwrap();
    let platform = LoomPlatform {
        blocks: (0..nr_blocks).map(|_| BlockMeta::new()).collect(),
        maps: (0..geo.map_words()).map(|_| MapWord::new(0)).collect(),
        global: LoomLock(Mutex::new(GlobalPool::new())),
        caches: (0..nr_cpus)
            .map(|_| LoomLock(Mutex::new(CpuCache::new())))
            .collect(),
        queues: (0..nr_cpus).map(|_| RemoteQueue::new()).collect(),
    };
    Arc::new(Pool::new(platform, P).unwrap())
}

fn assert_whole(pool: &Pool<LoomPlatform>) {
    for cpu in 0..pool.nr_cpus() {
        pool.drain_cpu(cpu);
    }
    pool.absorb_fragments_now();
    pool.verify().unwrap();
    assert_eq!(pool.outstanding_pages(), 0);
    for block in 0..pool.geometry().nr_blocks() {
        assert_eq!(pool.block_info(block).unwrap().kind, BlockKind::Free);
    }
}

/// Remote frees racing with the owner's slow path: nothing is missed. After
/// all finish, absorbing the owner's queue alone (no full scan) must find every
/// page: either the owner saw the parked unit, or the freer queued the block
/// again. The second remote free is what catches an absorber that resets
/// `queued` after scanning instead of before.
#[test]
fn remote_free_vs_absorb_nothing_missed() {
    loom::model(|| {
        let pool = pool(1, 2);
        let a = pool.alloc(0, 0).unwrap();
        let b = pool.alloc(0, 0).unwrap();
        let c = pool.alloc(0, 0).unwrap();
        let remote = {
            let pool = pool.clone();
            thread::spawn(move || {
                pool.free(1, a, 0).unwrap();
                pool.free(1, c, 0).unwrap();
            })
        };
        pool.free(0, b, 0).unwrap();
        pool.absorb_remote(0);
        remote.join().unwrap();
        pool.absorb_remote(0);
        // All 4 pages are back in the owner's cache.
        assert_eq!(pool.cpu_free_pages(0), Some(4));
        pool.verify().unwrap();
        assert_whole(&pool);
    });
}

/// Two CPUs race to free the same allocation (a double free from a remote
/// CPU): exactly one succeeds, the other gets DoubleFree, the owner's block
/// stays consistent.
#[test]
fn racing_double_free() {
    loom::model(|| {
        let pool = pool(1, 3);
        let a = pool.alloc(0, 1).unwrap();
        let t1 = {
            let pool = pool.clone();
            thread::spawn(move || pool.free(1, a, 1))
        };
        let r2 = pool.free(2, a, 1);
        let r1 = t1.join().unwrap();
        assert!(
            matches!(
                (r1, r2),
                (Ok(()), Err(FreeError::DoubleFree)) | (Err(FreeError::DoubleFree), Ok(()))
            ),
            "{r1:?} {r2:?}"
        );
        pool.verify().unwrap();
        assert_whole(&pool);
    });
}

/// A remote free racing with the owner draining the block into a fragment
/// (the owner changes while the freer is between reading it and queueing):
/// the page is not lost, and the block becomes whole again.
#[test]
fn remote_free_vs_drain() {
    loom::model(|| {
        let pool = pool(1, 2);
        let a = pool.alloc(0, 0).unwrap();
        let b = pool.alloc(0, 0).unwrap();
        let remote = {
            let pool = pool.clone();
            thread::spawn(move || pool.free(1, a, 0).unwrap())
        };
        pool.drain_cpu(0);
        remote.join().unwrap();
        pool.verify().unwrap();
        pool.free(0, b, 0).unwrap();
        assert_whole(&pool);
    });
}

/// A remote free racing with a refill that recovers the fragment holding the
/// page into another CPU's ownership.
#[test]
fn remote_free_vs_recovery() {
    loom::model(|| {
        let pool = pool(1, 3);
        let a = pool.alloc(0, 0).unwrap();
        pool.drain_cpu(0); // the block is now a fragment
        let remote = {
            let pool = pool.clone();
            thread::spawn(move || pool.free(1, a, 0).unwrap())
        };
        let b = pool.alloc(2, 0).unwrap(); // recovers the fragment
        remote.join().unwrap();
        pool.verify().unwrap();
        pool.free(2, b, 0).unwrap();
        assert_whole(&pool);
    });
}

/// Two remote frees into one owned block while the owner allocates (which
/// absorbs on its slow path once its free units run out).
#[test]
fn two_remote_frees_vs_owner_alloc() {
    loom::model(|| {
        let pool = pool(2, 3);
        let pages: Vec<usize> = (0..4).map(|_| pool.alloc(0, 0).unwrap()).collect();
        let t1 = {
            let pool = pool.clone();
            let page = pages[0];
            thread::spawn(move || pool.free(1, page, 0).unwrap())
        };
        let t2 = {
            let pool = pool.clone();
            let page = pages[1];
            thread::spawn(move || pool.free(2, page, 0).unwrap())
        };
        let c = pool.alloc(0, 0).unwrap();
        t1.join().unwrap();
        t2.join().unwrap();
        pool.verify().unwrap();
        pool.free(0, c, 0).unwrap();
        for &page in &pages[2..] {
            pool.free(0, page, 0).unwrap();
        }
        assert_whole(&pool);
    });
}

/// The owner frees a page onto its hot stack (HELD, unmerged) while another
/// CPU frees the same page: exactly one free succeeds, and a page the owner
/// parked hot is never absorbed as a remote free nor lost.
#[test]
fn owner_hot_free_vs_remote_double_free() {
    loom::model(|| {
        let pool = pool(1, 2);
        let a = pool.alloc(0, 0).unwrap();
        let b = pool.alloc(0, 0).unwrap();
        let t1 = {
            let pool = pool.clone();
            thread::spawn(move || pool.free(1, a, 0))
        };
        let r0 = pool.free(0, a, 0);
        pool.absorb_remote(0);
        let r1 = t1.join().unwrap();
        assert!(
            matches!(
                (r0, r1),
                (Ok(()), Err(FreeError::DoubleFree)) | (Err(FreeError::DoubleFree), Ok(()))
            ),
            "{r0:?} {r1:?}"
        );
        pool.verify().unwrap();
        pool.free(0, b, 0).unwrap();
        assert_whole(&pool);
    });
}
