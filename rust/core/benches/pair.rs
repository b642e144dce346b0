//! Host micro-benchmark (`cargo bench --bench pair`): single-thread alloc+free
//! pairs at orders 0, 3 and 9, and the remote-free path. Not run by `make check`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::Instant;

use pcpbuddy_core::Policy;

const ITERS: usize = 2_000_000;

fn report(name: &str, ops: usize, start: Instant) {
    let ns = start.elapsed().as_nanos() as f64 / ops as f64;
    println!("{name:<44} {ns:>8.1} ns/op");
}

fn pair(order: u32, ownership: bool) {
    let pool = common::pool(9, 64, 2);
    pool.set_policy(Policy {
        ownership,
        ..pool.policy()
    })
    .unwrap();
    // Warm up: the first call claims a block.
    let p = pool.alloc(0, order).unwrap();
    pool.free(0, p, order).unwrap();
    let start = Instant::now();
    for _ in 0..ITERS {
        let p = pool.alloc(0, black_box(order)).unwrap();
        pool.free(0, black_box(p), order).unwrap();
    }
    let mode = if ownership { "owned" } else { "classic" };
    report(
        &format!("alloc+free pair, order {order}, {mode}"),
        ITERS,
        start,
    );
}

fn bulk(order: u32) {
    // Alloc N then free N on one CPU: exercises split and merge inside blocks.
    let pool = common::pool(9, 64, 2);
    let n = 256usize;
    let mut pages = Vec::with_capacity(n);
    let rounds = ITERS / n;
    let start = Instant::now();
    for _ in 0..rounds {
        for _ in 0..n {
            pages.push(pool.alloc(0, order).unwrap());
        }
        for p in pages.drain(..) {
            pool.free(0, p, order).unwrap();
        }
    }
    report(
        &format!("bulk {n} alloc then {n} free, order {order} (per op)"),
        rounds * n * 2,
        start,
    );
}

fn remote(order: u32) {
    // CPU 0 allocates a batch, CPU 1 frees it (lock-free remote path), and
    // CPU 0's next allocations absorb the batch on its slow path.
    let pool = common::pool(9, 64, 2);
    let n = 256usize;
    let mut pages = Vec::with_capacity(n);
    let rounds = ITERS / n;
    let mut alloc_ns = 0u128;
    let mut free_ns = 0u128;
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..n {
            pages.push(pool.alloc(0, order).unwrap());
        }
        alloc_ns += t.elapsed().as_nanos();
        let t = Instant::now();
        for p in pages.drain(..) {
            pool.free(1, p, order).unwrap();
        }
        free_ns += t.elapsed().as_nanos();
    }
    let ops = (rounds * n) as f64;
    println!(
        "{:<44} {:>8.1} ns/op",
        format!("remote free (cpu 1 frees cpu 0's), order {order}"),
        free_ns as f64 / ops
    );
    println!(
        "{:<44} {:>8.1} ns/op",
        format!("owner alloc incl. absorb, order {order}"),
        alloc_ns as f64 / ops
    );
    let s = pool.cpu_stats(0).unwrap();
    println!(
        "  (absorbs {} blocks, {} pages; global locks {})",
        s.absorbs, s.absorbed_pages, s.global_locks
    );
}

fn main() {
    pair(0, true);
    pair(3, true);
    pair(9, true);
    pair(0, false);
    pair(3, false);
    pair(9, false);
    bulk(0);
    remote(0);
}
