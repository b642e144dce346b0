//! The remote-free protocol and the magazines under the loom model checker.
//!
//! Run with:
//! `RUSTFLAGS="--cfg loom" cargo test --release --test loom`
//!
//! Every scenario runs the real allocator code on a tiny pool (one block of 4
//! pages, 2-3 CPUs) with loom's atomics and mutexes, and loom explores all interleavings of
//! the threads. Each thread is one CPU and owns that CPU's magazine, as in the kernel.

#![cfg(loom)]

mod common;

use loom::sync::Arc;
use loom::thread;

use common::{assert_all_free, magazines, verify, StdPool};
use pcpbuddy_core::{FreeError, Magazine};

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

/// A pool of `nr_blocks` blocks of `2^P` pages over `nr_cpus` CPUs (the platform of the other
/// tests, with loom's mutexes), and a magazine per CPU.
fn pool(nr_blocks: usize, nr_cpus: usize) -> (Arc<StdPool>, Vec<Magazine>) {
    let pool = common::pool(P, nr_blocks, nr_cpus);
    let mags = magazines(&pool);
    (Arc::new(pool), mags)
}

fn alloc(pool: &StdPool, mag: &mut Magazine, order: u32) -> usize {
    pool.alloc(mag, order, false).unwrap().page
}

fn free(pool: &StdPool, mag: &mut Magazine, page: usize, order: u32) -> Result<(), FreeError> {
    pool.free(mag, page, order, false)
}

/// Runs `f` as CPU `mag.cpu()` on a thread of its own, which hands the magazine back.
fn on_cpu<T: Send + 'static>(
    pool: &Arc<StdPool>,
    mut mag: Magazine,
    f: impl FnOnce(&StdPool, &mut Magazine) -> T + Send + 'static,
) -> thread::JoinHandle<(T, Magazine)> {
    let pool = pool.clone();
    thread::spawn(move || (f(&pool, &mut mag), mag))
}

/// Remote frees of order-0 `pages` by `mag`'s CPU, on a thread of its own: each goes into the
/// magazine, which then gives it back at once (parked for the block's holder and notified).
fn remote_frees(
    pool: &Arc<StdPool>,
    mag: Magazine,
    pages: impl IntoIterator<Item = usize> + Send + 'static,
) -> thread::JoinHandle<((), Magazine)> {
    on_cpu(pool, mag, move |pool, mag| {
        for page in pages {
            free(pool, mag, page, 0).unwrap();
            pool.flush_magazine(mag);
        }
    })
}

/// Of two frees of one allocation exactly one succeeded, the other was a double free.
fn assert_one_ok(a: Result<(), FreeError>, b: Result<(), FreeError>) {
    assert!(
        matches!(
            (a, b),
            (Ok(()), Err(FreeError::DoubleFree)) | (Err(FreeError::DoubleFree), Ok(()))
        ),
        "{a:?} {b:?}"
    );
}

/// Remote frees racing with the owner's slow path: nothing notified is missed. After all
/// finish, absorbing the owner's queue alone (no full scan) must find every page: either the
/// owner saw the hint bits, or the notifier queued the block again. The second remote free is
/// what catches an absorber that resets `queued` after taking the hint instead of before.
#[test]
fn remote_free_vs_absorb_nothing_missed() {
    model(2, || {
        let (pool, mut mags) = pool(1, 2);
        let mag1 = mags.pop().unwrap();
        let mut mag0 = mags.pop().unwrap();
        let a = alloc(&pool, &mut mag0, 0);
        let b = alloc(&pool, &mut mag0, 0);
        let c = alloc(&pool, &mut mag0, 0);
        let remote = remote_frees(&pool, mag1, [a, c]);
        free(&pool, &mut mag0, b, 0).unwrap();
        pool.absorb_remote(0);
        let ((), mag1) = remote.join().unwrap();
        pool.absorb_remote(0);
        // All 4 pages are back in the owner's cache or magazine.
        assert_eq!(pool.cpu_free_pages(0).unwrap() + mag0.pages(), 4);
        let mut mags = vec![mag0, mag1];
        verify(&pool, &mags);
        assert_all_free(&pool, &mut mags);
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
        let mag1 = mags.pop().unwrap();
        let t1 = on_cpu(&pool, mag1, move |pool, mag| free(pool, mag, a, 1));
        let r2 = free(&pool, &mut mag2, a, 1);
        let (r1, mag1) = t1.join().unwrap();
        assert_one_ok(r1, r2);
        mags.push(mag1);
        mags.push(mag2);
        verify(&pool, &mags);
        assert_all_free(&pool, &mut mags);
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
        let remote = remote_frees(&pool, mags.pop().unwrap(), [a]);
        pool.drain_cpu(0);
        mags.push(remote.join().unwrap().1);
        verify(&pool, &mags);
        free(&pool, &mut mags[0], b, 0).unwrap();
        assert_all_free(&pool, &mut mags);
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
        let remote = remote_frees(&pool, mags.remove(1), [a]);
        let b = alloc(&pool, &mut mags[1], 0); // CPU 2 recovers the fragment
        mags.insert(1, remote.join().unwrap().1);
        verify(&pool, &mags);
        free(&pool, &mut mags[2], b, 0).unwrap();
        assert_all_free(&pool, &mut mags);
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
        let t1 = on_cpu(&pool, mags.pop().unwrap(), move |pool, mag| {
            let r = free(pool, mag, a, 0);
            pool.flush_magazine(mag);
            r
        });
        let r0 = free(&pool, &mut mags[0], a, 0);
        pool.absorb_remote(0);
        let (r1, mag1) = t1.join().unwrap();
        assert_one_ok(r0, r1);
        mags.push(mag1);
        verify(&pool, &mags);
        free(&pool, &mut mags[0], b, 0).unwrap();
        assert_all_free(&pool, &mut mags);
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
        assert_all_free(&pool, &mut mags);
    });
}

/// A page of CPU 0's block freed on CPU 1 waits in CPU 1's magazine; CPU 1 hands it out again,
/// frees it once more and flushes, while another CPU drains CPU 0's cache: the drain neither
/// takes the cached unit nor loses it, and the block comes back whole.
#[test]
fn cached_remote_unit_vs_drain() {
    model(2, || {
        let (pool, mut mags) = pool(1, 2);
        let a = alloc(&pool, &mut mags[0], 0);
        let b = alloc(&pool, &mut mags[0], 0);
        let mut mag1 = mags.pop().unwrap();
        free(&pool, &mut mag1, a, 0).unwrap();
        let t1 = on_cpu(&pool, mag1, move |pool, mag| {
            assert_eq!(
                alloc(pool, mag, 0),
                a,
                "the remote free is reused from the magazine"
            );
            free(pool, mag, a, 0).unwrap();
            pool.flush_magazine(mag);
        });
        pool.drain_cpu(0);
        let ((), mag1) = t1.join().unwrap();
        mags.push(mag1);
        verify(&pool, &mags);
        free(&pool, &mut mags[0], b, 0).unwrap();
        assert_all_free(&pool, &mut mags);
    });
}
