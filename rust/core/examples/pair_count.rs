//! Instruction count of one alloc+free pair (run under `valgrind --tool=callgrind`):
//! `pair_count N [ORDER [folio] [classic] [cross]]` runs N pairs after a warm-up pair. The
//! difference of two runs with different N, divided by the difference of N, is the cost of one
//! pair. With `cross`, two CPUs each allocate a page per round and free the other's (the `rand`
//! shape at two CPUs: every free is remote with ownership); a "pair" is then one such round
//! per CPU, i.e. two allocations and two frees.
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
    if args.iter().any(|a| a == "cross") {
        let mut mags = [Magazine::new(0), Magazine::new(1)];
        let round = |mags: &mut [Magazine; 2]| {
            let a0 = pool.alloc(&mut mags[0], order, folio).unwrap();
            let a1 = pool.alloc(&mut mags[1], order, folio).unwrap();
            pool.free(&mut mags[1], a0.page, order, folio).unwrap();
            pool.free(&mut mags[0], a1.page, order, folio).unwrap();
        };
        for _ in 0..1000 {
            round(&mut mags);
        }
        for _ in 0..n {
            round(std::hint::black_box(&mut mags));
        }
        return;
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
