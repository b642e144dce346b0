//! Instruction count of one alloc+free pair (run under `valgrind --tool=callgrind`):
//! `pair_count N [ORDER [folio] [classic]]` runs N pairs after a warm-up pair. The difference of
//! two runs with different N, divided by the difference of N, is the cost of one pair.
#[path = "../tests/common/mod.rs"]
mod common;
use pcpbuddy_core::Magazine;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let order: u32 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(0);
    let folio = args.iter().any(|a| a == "folio");
    let pool = common::pool(9, 16, 2);
    if args.iter().any(|a| a == "classic") {
        let mut policy = pool.policy();
        policy.ownership = false;
        pool.set_policy(policy).unwrap();
    }
    let mut mag = Magazine::new(0);
    let a = pool.alloc(&mut mag, order, folio).unwrap();
    pool.free(&mut mag, a.page, order, folio).unwrap();
    for _ in 0..n {
        let a = pool
            .alloc(&mut mag, std::hint::black_box(order), folio)
            .unwrap();
        pool.free(&mut mag, std::hint::black_box(a.page), order, folio)
            .unwrap();
    }
}
