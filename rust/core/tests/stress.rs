//! Multi-threaded stress with std threads, one simulated CPU per thread: the
//! RFC's "allocate on many CPUs, free on few" pattern and its reverse, plus a
//! mixed-order random pattern. Each ends with the pool wholly free and every
//! block whole again.

mod common;

use std::sync::mpsc;
use std::thread;

use common::{assert_all_free, pool, StdPool};

/// Operations per thread (Miri, with its data-race detector and weak-memory
/// emulation, runs a small number).
const ROUNDS: usize = if cfg!(miri) { 150 } else { 20_000 };
const DOUBLE_FREE_ROUNDS: usize = if cfg!(miri) { 3 } else { 200 };

/// `allocators` threads allocate and send pages to `freers` threads, which
/// free them; every thread is its own CPU.
fn producer_consumer(pool: &StdPool, allocators: usize, freers: usize, max_order: u32) {
    thread::scope(|s| {
        let mut senders = Vec::new();
        for f in 0..freers {
            let (tx, rx) = mpsc::sync_channel::<(usize, u32)>(256);
            senders.push(tx);
            let cpu = allocators + f;
            s.spawn(move || {
                for (page, order) in rx {
                    pool.free(cpu, page, order).unwrap();
                }
            });
        }
        for a in 0..allocators {
            let senders = senders.clone();
            s.spawn(move || {
                let mut seed = 0x1234_5678u64 + a as u64;
                for i in 0..ROUNDS {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let order = (seed % u64::from(max_order + 1)) as u32;
                    let order = if seed & 7 == 0 { order } else { 0 };
                    match pool.alloc(a, order) {
                        Ok(page) => senders[i % senders.len()].send((page, order)).unwrap(),
                        Err(e) => panic!("cpu {a}: {e:?}"),
                    }
                }
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
    assert_all_free(&pool);
}

#[test]
fn few_allocate_many_free() {
    let pool = pool(9, if cfg!(miri) { 8 } else { 64 }, 6);
    producer_consumer(&pool, 1, 5, if cfg!(miri) { 2 } else { 9 });
    assert_all_free(&pool);
}

#[test]
fn classic_mode_many_allocate_few_free() {
    let pool = pool(9, 64, 6);
    pool.set_policy(pcpbuddy_core::Policy {
        ownership: false,
        ..pool.policy()
    })
    .unwrap();
    producer_consumer(&pool, 4, 2, 3);
    assert_all_free(&pool);
}

#[test]
fn small_pool_pressure_with_policy_switches() {
    // Small blocks and little memory: degrade, reclaim and last-resort paths
    // run concurrently with remote frees and policy switches.
    let pool = pool(4, 16, 4);
    thread::scope(|s| {
        for cpu in 0..4 {
            let pool = &pool;
            s.spawn(move || {
                let mut held: Vec<(usize, u32)> = Vec::new();
                let mut seed = 0x9e37_79b9u64 * (cpu as u64 + 1);
                for i in 0..ROUNDS {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    if cpu == 0 && i % 1000 == 0 {
                        let mut policy = pool.policy();
                        policy.ownership = (i / 1000) % 3 != 0;
                        policy.fragment_recovery = (i / 1000) % 2 == 0;
                        policy.high = 16 + (seed % 64) as u32;
                        policy.batch = 1 + (seed % 16) as u32;
                        pool.set_policy(policy).unwrap();
                    }
                    if !seed.is_multiple_of(3) || held.is_empty() {
                        let order = (seed % 5) as u32 % 3;
                        if let Ok(page) = pool.alloc(cpu, order) {
                            held.push((page, order));
                        }
                    } else {
                        let (page, order) = held.swap_remove((seed as usize) % held.len());
                        // Free on a random CPU: mostly remote.
                        pool.free((seed as usize >> 8) % 4, page, order).unwrap();
                    }
                    if i % 5000 == 0 {
                        pool.verify_structure().unwrap();
                    }
                }
                for (page, order) in held {
                    pool.free(cpu, page, order).unwrap();
                }
            });
        }
    });
    assert_all_free(&pool);
}

#[test]
fn concurrent_double_frees_are_caught() {
    // Several CPUs race to free the same allocations: exactly one free of each
    // succeeds, the rest get DoubleFree, and the pool stays consistent.
    let pool = pool(4, 8, 4);
    for _ in 0..DOUBLE_FREE_ROUNDS {
        let pages: Vec<usize> = (0..32).map(|_| pool.alloc(0, 0).unwrap()).collect();
        let wins: usize = thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|cpu| {
                    let pool = &pool;
                    let pages = &pages;
                    s.spawn(move || {
                        pages
                            .iter()
                            .filter(|&&p| pool.free(cpu, p, 0).is_ok())
                            .count()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(wins, 32);
    }
    let stats = pool.total_cpu_stats();
    assert_eq!(
        stats.free_errors[pcpbuddy_core::FreeError::DoubleFree.index()],
        (DOUBLE_FREE_ROUNDS * 32 * 3) as u64
    );
    assert_all_free(&pool);
}
