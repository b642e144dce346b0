//! Property tests: random sequences of alloc, free (valid and invalid), drain,
//! absorb and policy switches over several simulated CPUs, checked after every
//! step against a reference model (a page-occupancy array plus the list of live
//! allocations) and the invariant checker.
//!
//! Hot stacks: frees by the owning CPU (`FreeByOwner`) park small units on its
//! hot stack, so double frees, wrong-order frees of freed pages, drains, trims
//! (random `high`), reclaims and policy switches all meet hot units; after
//! every step the hot pages are checked against the blocks and the caches.
//!
//! Cases: `PROPTEST_CASES` (default 256 here; `scripts/host-tests.sh` runs
//! 10,000).

mod common;

use proptest::prelude::*;

use common::{assert_all_free, pool, StdPool};
use pcpbuddy_core::{AllocError, BlockKind, FreeError, Policy};

#[derive(Clone, Debug)]
enum Op {
    Alloc {
        cpu: usize,
        order: u32,
    },
    Free {
        cpu: usize,
        pick: usize,
    },
    /// Free from the CPU that owns the block (the hot-stack path), if any.
    FreeByOwner {
        cpu: usize,
        pick: usize,
    },
    /// Free a freed page (maybe hot) again with another order.
    FreedWrongOrder {
        cpu: usize,
        pick: usize,
        delta: u32,
    },
    DoubleFree {
        cpu: usize,
        pick: usize,
    },
    WrongOrder {
        cpu: usize,
        pick: usize,
        delta: u32,
    },
    TailFree {
        cpu: usize,
        pick: usize,
    },
    OutOfPool {
        cpu: usize,
    },
    Drain {
        cpu: usize,
    },
    Absorb {
        cpu: usize,
    },
    Policy {
        ownership: bool,
        recovery: bool,
        high: u32,
        batch: u32,
    },
}

fn op(nr_cpus: usize, p: u32) -> impl Strategy<Value = Op> {
    let cpu = 0..nr_cpus;
    prop_oneof![
        10 => (cpu.clone(), 0..=p, any::<bool>()).prop_map(move |(cpu, order, small)| Op::Alloc {
            cpu,
            // Bias towards small orders, as real traffic is.
            order: if small { order.min(1) } else { order },
        }),
        5 => (cpu.clone(), any::<usize>()).prop_map(|(cpu, pick)| Op::Free { cpu, pick }),
        4 => (cpu.clone(), any::<usize>()).prop_map(|(cpu, pick)| Op::FreeByOwner { cpu, pick }),
        1 => (cpu.clone(), any::<usize>(), 1..=p).prop_map(|(cpu, pick, delta)| {
            Op::FreedWrongOrder { cpu, pick, delta }
        }),
        1 => (cpu.clone(), any::<usize>()).prop_map(|(cpu, pick)| Op::DoubleFree { cpu, pick }),
        1 => (cpu.clone(), any::<usize>(), 1..=p).prop_map(|(cpu, pick, delta)| Op::WrongOrder {
            cpu,
            pick,
            delta
        }),
        1 => (cpu.clone(), any::<usize>()).prop_map(|(cpu, pick)| Op::TailFree { cpu, pick }),
        1 => cpu.clone().prop_map(|cpu| Op::OutOfPool { cpu }),
        1 => cpu.clone().prop_map(|cpu| Op::Drain { cpu }),
        1 => cpu.prop_map(|cpu| Op::Absorb { cpu }),
        1 => (any::<bool>(), any::<bool>(), 0..(5u32 << p), 1..(1u32 << p) + 1).prop_map(
            |(ownership, recovery, high, batch)| Op::Policy {
                ownership,
                recovery,
                high,
                batch
            }
        ),
    ]
}

/// The reference model.
struct Model {
    used: Vec<bool>,
    live: Vec<(usize, u32)>,
    freed: Vec<(usize, u32)>,
}

impl Model {
    fn fits(&self, order: u32) -> bool {
        let size = 1 << order;
        (0..self.used.len())
            .step_by(size)
            .any(|start| self.used[start..start + size].iter().all(|u| !u))
    }

    fn set(&mut self, page: usize, order: u32, value: bool) {
        for u in &mut self.used[page..page + (1 << order)] {
            assert_ne!(*u, value, "page {page} order {order}");
            *u = value;
        }
    }
}

fn run(p: u32, nr_blocks: usize, nr_cpus: usize, ops: &[Op]) {
    let pool: StdPool = pool(p, nr_blocks, nr_cpus);
    let total = nr_blocks << p;
    let mut model = Model {
        used: vec![false; total],
        live: Vec::new(),
        freed: Vec::new(),
    };
    for op in ops {
        match *op {
            Op::Alloc { cpu, order } => match pool.alloc(cpu, order) {
                Ok(page) => {
                    assert_eq!(page % (1 << order), 0, "misaligned chunk");
                    assert!(page + (1 << order) <= total);
                    model.set(page, order, true);
                    model.live.push((page, order));
                    model
                        .freed
                        .retain(|&(f, _)| f < page || f >= page + (1 << order));
                }
                Err(AllocError::OutOfMemory) => {
                    assert!(
                        !model.fits(order),
                        "order {order} fits but alloc failed: {op:?}"
                    )
                }
                Err(e) => panic!("unexpected {e:?}"),
            },
            Op::Free { cpu, pick } => {
                if !model.live.is_empty() {
                    let (page, order) = model.live.swap_remove(pick % model.live.len());
                    free_checked(&pool, cpu, page, order, p);
                    model.set(page, order, false);
                    model.freed.push((page, order));
                }
            }
            Op::FreeByOwner { cpu, pick } => {
                if !model.live.is_empty() {
                    let (page, order) = model.live.swap_remove(pick % model.live.len());
                    let cpu = match pool.block_info(page >> p).unwrap().kind {
                        BlockKind::Owned(owner) => owner as usize,
                        _ => cpu,
                    };
                    free_checked(&pool, cpu, page, order, p);
                    model.set(page, order, false);
                    model.freed.push((page, order));
                }
            }
            Op::FreedWrongOrder { cpu, pick, delta } => {
                if !model.freed.is_empty() {
                    let (page, order) = model.freed[pick % model.freed.len()];
                    let wrong = (order + delta) % (p + 1);
                    let got = pool.free(cpu, page, wrong);
                    if page % (1 << wrong) != 0 {
                        assert_eq!(got, Err(FreeError::Misaligned));
                    } else {
                        assert_eq!(got, Err(FreeError::DoubleFree));
                    }
                }
            }
            Op::DoubleFree { cpu, pick } => {
                if !model.freed.is_empty() {
                    let (page, order) = model.freed[pick % model.freed.len()];
                    assert_eq!(pool.free(cpu, page, order), Err(FreeError::DoubleFree));
                }
            }
            Op::WrongOrder { cpu, pick, delta } => {
                if !model.live.is_empty() {
                    let (page, order) = model.live[pick % model.live.len()];
                    let wrong = (order + delta) % (p + 1);
                    let got = pool.free(cpu, page, wrong);
                    if page % (1 << wrong) != 0 {
                        assert_eq!(got, Err(FreeError::Misaligned));
                    } else {
                        assert_eq!(got, Err(FreeError::WrongOrder));
                    }
                }
            }
            Op::TailFree { cpu, pick } => {
                if let Some(&(page, order)) = model
                    .live
                    .iter()
                    .cycle()
                    .skip(pick % model.live.len().max(1))
                    .take(model.live.len())
                    .find(|&&(_, order)| order > 0)
                {
                    let tail = page + (1 << order) - 1;
                    assert_eq!(pool.free(cpu, tail, 0), Err(FreeError::NotAllocated));
                }
            }
            Op::OutOfPool { cpu } => {
                assert_eq!(pool.free(cpu, total, 0), Err(FreeError::OutOfPool));
            }
            Op::Drain { cpu } => {
                pool.drain_cpu(cpu);
                // Drained: nothing cached, hot included, and nothing owned.
                assert_eq!(pool.cpu_free_pages(cpu), Some(0));
                for block in 0..nr_blocks {
                    let info = pool.block_info(block).unwrap();
                    assert_ne!(info.kind, BlockKind::Owned(cpu as u32));
                }
            }
            Op::Absorb { cpu } => {
                pool.absorb_remote(cpu);
            }
            Op::Policy {
                ownership,
                recovery,
                high,
                batch,
            } => pool
                .set_policy(Policy {
                    ownership,
                    fragment_recovery: recovery,
                    high,
                    batch,
                })
                .unwrap(),
        }
        if let Err(e) = pool.verify() {
            panic!("after {op:?}: {e}");
        }
        check_hot(&pool, nr_blocks, nr_cpus);
        let live_pages: usize = model.live.iter().map(|&(_, o)| 1usize << o).sum();
        assert_eq!(pool.outstanding_pages(), live_pages as u64);
    }
    // Free everything from a CPU chosen by the sequence: blocks must be whole again.
    let last_cpu = ops.len() % nr_cpus;
    for (page, order) in model.live.drain(..) {
        pool.free(last_cpu, page, order).unwrap();
    }
    assert_all_free(&pool);
}

/// Frees a live allocation and checks where it went: a free by the block's
/// owner of an order `<= 3` parks it on the owner's hot stack.
fn free_checked(pool: &StdPool, cpu: usize, page: usize, order: u32, p: u32) {
    let kind = pool.block_info(page >> p).unwrap().kind;
    let before = pool.cpu_stats(cpu).unwrap();
    assert_eq!(pool.free(cpu, page, order), Ok(()));
    let after = pool.cpu_stats(cpu).unwrap();
    let hot = kind == BlockKind::Owned(cpu as u32) && order <= 3;
    assert_eq!(after.frees_hot - before.frees_hot, u64::from(hot));
    if hot && after.trims == before.trims && after.hot_merged == before.hot_merged {
        // Nothing merged it since: it is still hot.
        assert!(pool.block_info(page >> p).unwrap().hot_pages >= 1 << order);
        assert_eq!(pool.free(cpu, page, order), Err(FreeError::DoubleFree));
    }
}

/// Hot pages: only in owned blocks, counted in their owners' caches.
fn check_hot(pool: &StdPool, nr_blocks: usize, nr_cpus: usize) {
    let mut hot_by_cpu = vec![0usize; nr_cpus];
    let mut hot = 0;
    for block in 0..nr_blocks {
        let info = pool.block_info(block).unwrap();
        if info.hot_pages != 0 {
            match info.kind {
                BlockKind::Owned(cpu) => hot_by_cpu[cpu as usize] += info.hot_pages as usize,
                kind => panic!("block {block} is {kind:?} with hot pages"),
            }
        }
        hot += info.hot_pages as usize;
    }
    assert_eq!(pool.fragmentation().hot_pages, hot);
    for (cpu, &pages) in hot_by_cpu.iter().enumerate() {
        assert!(pool.cpu_free_pages(cpu).unwrap() >= pages);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Small blocks make the exhaustive model checks cheap and hit every corner.
    #[test]
    fn small_blocks(
        p in 1u32..=4,
        nr_blocks in 1usize..=6,
        nr_cpus in 1usize..=4,
        ops in (1usize..=4, 1u32..=4).prop_flat_map(|(c, p)| prop::collection::vec(op(c, p), 1..80)),
    ) {
        // Ops were generated for up to 4 CPUs and order 4: clamp into this pool.
        let ops: Vec<Op> = ops.into_iter().map(|op| clamp(op, nr_cpus, p)).collect();
        run(p, nr_blocks, nr_cpus, &ops);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).map_or(32, |n: u32| (n / 50).max(1)),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// The x86-64 block order, with a few blocks.
    #[test]
    fn pageblock_order_9(
        nr_cpus in 1usize..=3,
        ops in prop::collection::vec(op(3, 9), 1..60),
    ) {
        let ops: Vec<Op> = ops.into_iter().map(|op| clamp(op, nr_cpus, 9)).collect();
        run(9, 3, nr_cpus, &ops);
    }
}

fn clamp(op: Op, nr_cpus: usize, p: u32) -> Op {
    let c = |cpu: usize| cpu % nr_cpus;
    match op {
        Op::Alloc { cpu, order } => Op::Alloc {
            cpu: c(cpu),
            order: order.min(p),
        },
        Op::Free { cpu, pick } => Op::Free { cpu: c(cpu), pick },
        Op::FreeByOwner { cpu, pick } => Op::FreeByOwner { cpu: c(cpu), pick },
        Op::FreedWrongOrder { cpu, pick, delta } => Op::FreedWrongOrder {
            cpu: c(cpu),
            pick,
            delta: (delta - 1) % p + 1,
        },
        Op::DoubleFree { cpu, pick } => Op::DoubleFree { cpu: c(cpu), pick },
        Op::WrongOrder { cpu, pick, delta } => Op::WrongOrder {
            cpu: c(cpu),
            pick,
            delta: (delta - 1) % p + 1,
        },
        Op::TailFree { cpu, pick } => Op::TailFree { cpu: c(cpu), pick },
        Op::OutOfPool { cpu } => Op::OutOfPool { cpu: c(cpu) },
        Op::Drain { cpu } => Op::Drain { cpu: c(cpu) },
        Op::Absorb { cpu } => Op::Absorb { cpu: c(cpu) },
        Op::Policy {
            ownership,
            recovery,
            high,
            batch,
        } => Op::Policy {
            ownership,
            recovery,
            high: high % (5 << p),
            batch: (batch - 1) % (1 << p) + 1,
        },
    }
}
