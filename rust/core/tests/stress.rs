//! Multi-threaded stress with std threads, one simulated CPU (and its magazine) per thread:
//! the RFC's "allocate on many CPUs, free on few" pattern and its reverse, racing double frees,
//! and a long mixed stress with folios, remote frees, drains from other threads, policy switches
//! and the invariant checker sampling. Every page handed out is marked in a shared occupancy
//! map, so a page handed out twice fails at once. Each test ends with the pool wholly free.
//!
//! `STRESS_OPS=N` sets the operations of `mixed_stress` (default: 10^5; `scripts/host-tests.sh`
//! also runs it optimised with 2*10^6).

mod common;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc;
use std::thread;

use common::{assert_all_free, magazines, pool, StdPool};
use pcpbuddy_core::{AllocError, FreeError, Magazine, Policy};

/// Operations per thread (Miri, with its data-race detector and weak-memory
/// emulation, runs a small number: its real time is most of a warm `make check`'s
/// host tests; 30 rounds still cross every slow path of the remote frees).
const ROUNDS: usize = if cfg!(miri) { 30 } else { 20_000 };
const DOUBLE_FREE_ROUNDS: usize = if cfg!(miri) { 3 } else { 200 };

fn xorshift(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// Which pages are handed out: the host's stand-in for stamping the pages themselves.
struct Occupancy(Vec<AtomicU8>);

impl Occupancy {
    fn new(pool: &StdPool) -> Self {
        Self(
            (0..pool.geometry().total_pages())
                .map(|_| AtomicU8::new(0))
                .collect(),
        )
    }

    fn take(&self, page: usize, order: u32) {
        for p in page..page + (1 << order) {
            let was = self.0[p].swap(1, Ordering::AcqRel);
            assert_eq!(was, 0, "page {p} handed out twice");
        }
    }

    fn give(&self, page: usize, order: u32) {
        for p in page..page + (1 << order) {
            let was = self.0[p].swap(0, Ordering::AcqRel);
            assert_eq!(was, 1, "page {p} freed but not handed out");
        }
    }
}

/// Allocates, retrying while other threads' magazines hold what is left (a thread cannot
/// flush another's magazine; its owner flushes it when it overflows or ends).
fn alloc_retry(pool: &StdPool, mag: &mut Magazine, order: u32, folio: bool) -> usize {
    for _ in 0..1_000_000 {
        match pool.alloc(mag, order, folio) {
            Ok(a) => return a.page,
            Err(AllocError::OutOfMemory) => thread::yield_now(),
            Err(e) => panic!("cpu {}: {e:?}", mag.cpu()),
        }
    }
    panic!("cpu {}: out of memory for order {order}", mag.cpu());
}

/// `allocators` threads allocate and send pages to `freers` threads, which free them; every
/// thread is its own CPU.
fn producer_consumer(pool: &StdPool, allocators: usize, freers: usize, max_order: u32) {
    let occupancy = Occupancy::new(pool);
    let occupancy = &occupancy;
    thread::scope(|s| {
        let mut senders = Vec::new();
        for f in 0..freers {
            let (tx, rx) = mpsc::sync_channel::<(usize, u32)>(256);
            senders.push(tx);
            let cpu = (allocators + f) as u32;
            s.spawn(move || {
                let mut mag = Magazine::new(cpu);
                for (page, order) in rx {
                    occupancy.give(page, order);
                    pool.free(&mut mag, page, order, false).unwrap();
                }
                pool.flush_magazine(&mut mag);
            });
        }
        for a in 0..allocators {
            let senders = senders.clone();
            s.spawn(move || {
                let mut mag = Magazine::new(a as u32);
                let mut seed = 0x1234_5678u64 + a as u64;
                for i in 0..ROUNDS {
                    let r = xorshift(&mut seed);
                    let order = (r % u64::from(max_order + 1)) as u32;
                    let order = if r & 7 == 0 { order } else { 0 };
                    let page = alloc_retry(pool, &mut mag, order, false);
                    occupancy.take(page, order);
                    senders[i % senders.len()].send((page, order)).unwrap();
                }
                pool.flush_magazine(&mut mag);
            });
        }
        drop(senders);
    });
}

#[test]
fn many_allocate_few_free() {
    // Under Miri the pool is small: keep orders low so it cannot run out.
    let pool = pool(9, if cfg!(miri) { 8 } else { 64 }, 6);
    producer_consumer(&pool, 5, 1, if cfg!(miri) { 2 } else { 9 });
    let stats = pool.total_cpu_stats();
    assert!(stats.frees_remote > 0);
    println!("many->few: {stats:?}\n{:?}", pool.global_stats());
    assert_all_free(&pool, &mut magazines(&pool));
}

#[test]
fn few_allocate_many_free() {
    let pool = pool(9, if cfg!(miri) { 8 } else { 64 }, 6);
    producer_consumer(&pool, 1, 5, if cfg!(miri) { 2 } else { 9 });
    assert_all_free(&pool, &mut magazines(&pool));
}

#[test]
fn classic_mode_many_allocate_few_free() {
    let pool = pool(9, if cfg!(miri) { 8 } else { 64 }, 6);
    pool.set_policy(Policy {
        ownership: false,
        ..pool.policy()
    })
    .unwrap();
    producer_consumer(&pool, 4, 2, 3);
    assert_all_free(&pool, &mut magazines(&pool));
}

#[test]
fn concurrent_double_frees_are_caught() {
    // Several CPUs race to free the same allocations: exactly one free of each
    // succeeds, the rest get DoubleFree, and the pool stays consistent.
    let pool = pool(4, 8, 4);
    let mut mags = magazines(&pool);
    for _ in 0..DOUBLE_FREE_ROUNDS {
        let pages: Vec<usize> = (0..32)
            .map(|_| pool.alloc(&mut mags[0], 0, false).unwrap().page)
            .collect();
        let wins: usize = thread::scope(|s| {
            let handles: Vec<_> = mags
                .iter_mut()
                .map(|mag| {
                    let pool = &pool;
                    let pages = &pages;
                    s.spawn(move || {
                        pages
                            .iter()
                            .filter(|&&p| pool.free(mag, p, 0, false).is_ok())
                            .count()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(wins, 32);
        // The winners on CPUs 1..4 cached the pages of CPU 0's blocks in their magazines; give
        // them back, as the kernel's flush IPI does when an allocation finds nothing.
        for mag in &mut mags[1..] {
            pool.flush_magazine(mag);
        }
    }
    let stats = pool.total_cpu_stats();
    assert_eq!(
        stats.free_errors[FreeError::DoubleFree.index()],
        (DOUBLE_FREE_ROUNDS * 32 * 3) as u64
    );
    assert_all_free(&pool, &mut mags);
}

/// Everything at once, for `STRESS_OPS` operations over 4 threads: random orders weighted to
/// 0, some folios, long holders, frees mostly on another thread, drains of random caches from
/// any thread, policy switches, and `verify_structure` sampling the live pool.
#[test]
fn mixed_stress() {
    let ops: usize = if cfg!(miri) {
        250
    } else {
        std::env::var("STRESS_OPS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100_000)
    };
    const CPUS: usize = 4;
    let pool = pool(9, if cfg!(miri) { 4 } else { 32 }, CPUS);
    let occupancy = Occupancy::new(&pool);
    let (pool, occupancy) = (&pool, &occupancy);
    let verify_every = if cfg!(miri) { 100 } else { 20_000 };
    thread::scope(|s| {
        let mut senders = Vec::new();
        let mut receivers = Vec::new();
        for _ in 0..CPUS {
            let (tx, rx) = mpsc::sync_channel::<(usize, u32, bool)>(1024);
            senders.push(tx);
            receivers.push(rx);
        }
        for (cpu, rx) in receivers.into_iter().enumerate() {
            let senders = senders.clone();
            s.spawn(move || {
                let mut mag = Magazine::new(cpu as u32);
                let mut held: Vec<(usize, u32, bool)> = Vec::new();
                let mut seed = 0x9e37_79b9u64 * (cpu as u64 + 1);
                for i in 0..ops / CPUS {
                    let r = xorshift(&mut seed);
                    // Frees sent by other threads first.
                    while let Ok((page, order, folio)) = rx.try_recv() {
                        occupancy.give(page, order);
                        pool.free(&mut mag, page, order, folio).unwrap();
                    }
                    match r % 16 {
                        0 if cpu == 0 => {
                            let mut policy = pool.policy();
                            policy.ownership = !(r >> 8).is_multiple_of(4);
                            policy.fragment_recovery = (r >> 12).is_multiple_of(2);
                            policy.high = 512 + ((r >> 16) % 4096) as u32;
                            policy.batch = 1 + ((r >> 32) % 128) as u32;
                            pool.set_policy(policy).unwrap();
                        }
                        1 => pool.drain_cpu(((r >> 8) as usize) % CPUS),
                        2..=9 if held.len() < 256 => {
                            // Order k with probability ~2^-(k+1), folios one in eight.
                            let order = ((r >> 20).trailing_zeros()).min(9);
                            let folio = (r >> 40).is_multiple_of(8);
                            if let Ok(a) = pool.alloc(&mut mag, order, folio) {
                                pool.platform().hand_out(a, order, folio);
                                occupancy.take(a.page, order);
                                held.push((a.page, order, folio));
                            }
                        }
                        _ if !held.is_empty() => {
                            let item = held.swap_remove((r as usize >> 4) % held.len());
                            let to = ((r >> 24) as usize) % CPUS;
                            if to == cpu || senders[to].try_send(item).is_err() {
                                occupancy.give(item.0, item.1);
                                pool.free(&mut mag, item.0, item.1, item.2).unwrap();
                            }
                        }
                        _ => {}
                    }
                    if i % verify_every == 0 {
                        pool.verify_structure().unwrap();
                    }
                }
                for (page, order, folio) in held {
                    occupancy.give(page, order);
                    pool.free(&mut mag, page, order, folio).unwrap();
                }
                drop(senders);
                for (page, order, folio) in rx {
                    occupancy.give(page, order);
                    pool.free(&mut mag, page, order, folio).unwrap();
                }
                pool.flush_magazine(&mut mag);
            });
        }
    });
    let stats = pool.total_cpu_stats();
    println!(
        "mixed: {ops} ops, {} allocs, {} remote frees, {} drains, {} folios kept\n{:?}",
        stats.allocs,
        stats.frees_remote,
        stats.drains,
        stats.folios_kept,
        pool.global_stats()
    );
    assert_eq!(stats.free_errors_total(), 0);
    assert_all_free(pool, &mut magazines(pool));
}
