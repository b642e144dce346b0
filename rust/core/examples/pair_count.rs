//! Instruction count of the fast path (run under `valgrind --tool=callgrind`).
#[path = "../tests/common/mod.rs"]
mod common;
use pcpbuddy_core::Magazine;
fn main() {
    let pool = common::pool(9, 16, 2);
    let mut mag = Magazine::new(0);
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let a = pool.alloc(&mut mag, 0, false).unwrap();
    pool.free(&mut mag, a.page, 0, false).unwrap();
    for _ in 0..n {
        let a = pool
            .alloc(&mut mag, std::hint::black_box(0), false)
            .unwrap();
        pool.free(&mut mag, std::hint::black_box(a.page), 0, false)
            .unwrap();
    }
}
