//! Single-thread micro-benchmarks on divan: one alloc+free pair at order 0 and at the block
//! order, repeated on one thread, through the same backends as `benches/contention` (the pool
//! with ownership, with ownership off, and the floor; each one call that is not inlined, as the
//! module's exported API). It is `repeat` with one thread, under divan's sampling and
//! statistics; the multi-threaded patterns stay on the custom harness (see its doc comment).
//!
//! ```sh
//! cargo bench --bench pair                 # divan's table: ns per pair
//! cargo bench --bench pair -- --test       # each benchmark once (host-tests.sh)
//! ```

use std::hint::black_box;

use divan::Bencher;
use pcpbuddy_core::{Magazine, Pool};

#[path = "contention/platform.rs"]
mod platform;

use platform::{Api, FloorApi, HostPlatform, HostPool, PoolApi, BLOCK_ORDER};

/// The orders of the host contention benchmark: a page, and a whole 2 MiB block.
const ORDERS: [u32; 2] = [0, BLOCK_ORDER];

/// Blocks of the pool: 64 MiB, enough for the block-order pairs to stay in the owner's cache.
const NR_BLOCKS: usize = 32;

fn main() {
    divan::main();
}

/// One CPU's pool, with or without ownership.
fn pool(ownership: bool) -> HostPool {
    let pool = Pool::new(HostPlatform::new(NR_BLOCKS, 1), BLOCK_ORDER).expect("pool");
    let mut policy = pool.policy();
    policy.ownership = ownership;
    pool.set_policy(policy).expect("policy");
    pool
}

/// Times alloc+free pairs of `order` through `api`, after a warm-up pair (the first takes the
/// slow path: a refill from the global pool), as the contention benchmark warms up first.
fn pairs(bencher: Bencher<'_, '_>, api: &mut impl Api, order: u32) {
    let mut pair = || {
        let handle = api.alloc(order).expect("alloc");
        api.free(black_box(handle), order);
    };
    pair();
    bencher.bench_local(pair);
    assert_eq!(api.errors(), 0, "the pool refused frees");
}

/// The pool, ownership on (the default policy).
#[divan::bench(args = ORDERS)]
fn pool_owned(bencher: Bencher<'_, '_>, order: u32) {
    let pool = pool(true);
    let mut mag = Magazine::new(0);
    pairs(bencher, &mut PoolApi::new(&pool, &mut mag), order);
}

/// The pool, ownership off (classic per-CPU batching).
#[divan::bench(args = ORDERS)]
fn pool_classic(bencher: Bencher<'_, '_>, order: u32) {
    let pool = pool(false);
    let mut mag = Magazine::new(0);
    pairs(bencher, &mut PoolApi::new(&pool, &mut mag), order);
}

/// The floor: push and pop on the thread's own array.
#[divan::bench(args = ORDERS)]
fn floor(bencher: Bencher<'_, '_>, order: u32) {
    pairs(bencher, &mut FloorApi::new(), order);
}
