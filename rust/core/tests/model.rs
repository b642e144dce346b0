//! Property tests: random sequences of alloc (pages and folios), free (valid and invalid,
//! by the owner or any CPU), drain, magazine flush, absorb and policy switches over several
//! simulated CPUs, checked after every step against a reference model (a page-occupancy array
//! plus the live allocations), the model of compound blocks in `common`, and the invariant
//! checker with every magazine.
//!
//! Cases: `PROPTEST_CASES` (default 256 here; `scripts/host-tests.sh` runs 10,000).

mod common;

use proptest::prelude::*;

use common::{assert_all_free, magazines, pool, StdPool};
use pcpbuddy_core::{AllocError, BlockKind, FreeError, Magazine, Policy};

#[derive(Clone, Debug)]
enum Op {
    Alloc {
        cpu: usize,
        order: u32,
        folio: bool,
    },
    Free {
        cpu: usize,
        pick: usize,
    },
    /// Free from the CPU that owns the block (the magazine path), if any.
    FreeByOwner {
        cpu: usize,
        pick: usize,
    },
    /// Free a freed page (maybe cached) again with another order.
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
    /// Free a folio as pages or pages as a folio.
    WrongKind {
        cpu: usize,
        pick: usize,
    },
    TailFree {
        cpu: usize,
        pick: usize,
    },
    OutOfPool {
        cpu: usize,
    },
    /// Drain a CPU's cache from anywhere (its magazine stays).
    Drain {
        cpu: usize,
    },
    /// A CPU returns its magazine (its own flush, or an IPI).
    Flush {
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
        10 => (cpu.clone(), 0..=p, any::<bool>(), 0..8u32).prop_map(move |(cpu, order, small, f)| {
            // Bias towards small orders, as real traffic is; some folios.
            Op::Alloc { cpu, order: if small { order.min(1) } else { order }, folio: f == 0 }
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
        1 => (cpu.clone(), any::<usize>()).prop_map(|(cpu, pick)| Op::WrongKind { cpu, pick }),
        1 => (cpu.clone(), any::<usize>()).prop_map(|(cpu, pick)| Op::TailFree { cpu, pick }),
        1 => cpu.clone().prop_map(|cpu| Op::OutOfPool { cpu }),
        1 => cpu.clone().prop_map(|cpu| Op::Drain { cpu }),
        1 => cpu.clone().prop_map(|cpu| Op::Flush { cpu }),
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

/// A live allocation of the model.
#[derive(Clone, Copy, Debug)]
struct Live {
    page: usize,
    order: u32,
    folio: bool,
}

/// The reference model.
struct Model {
    used: Vec<bool>,
    live: Vec<Live>,
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

struct Sim {
    pool: StdPool,
    mags: Vec<Magazine>,
    model: Model,
    p: u32,
}

impl Sim {
    fn alloc(&mut self, cpu: usize, order: u32, folio: bool) -> Result<usize, AllocError> {
        let a = self.pool.alloc(&mut self.mags[cpu], order, folio)?;
        self.pool.platform().hand_out(a, order, folio);
        Ok(a.page)
    }

    fn free(&mut self, cpu: usize, live: Live) -> Result<(), FreeError> {
        self.pool
            .free(&mut self.mags[cpu], live.page, live.order, live.folio)
    }

    fn owner_or(&self, page: usize, cpu: usize) -> usize {
        match self.pool.block_info(page >> self.p).unwrap().kind {
            BlockKind::Owned(owner) => owner as usize,
            _ => cpu,
        }
    }

    fn step(&mut self, op: &Op) {
        let p = self.p;
        let total = self.model.used.len();
        match *op {
            Op::Alloc { cpu, order, folio } => {
                let mut got = self.alloc(cpu, order, folio);
                if got == Err(AllocError::OutOfMemory) {
                    // Other CPUs' magazines are out of reach of a reclaim: the kernel asks
                    // them to flush (an IPI) and retries.
                    for other in 0..self.mags.len() {
                        self.pool.flush_magazine(&mut self.mags[other]);
                    }
                    got = self.alloc(cpu, order, folio);
                }
                match got {
                    Ok(page) => {
                        assert_eq!(page % (1 << order), 0, "misaligned chunk");
                        assert!(page + (1 << order) <= total);
                        self.model.set(page, order, true);
                        self.model.live.push(Live { page, order, folio });
                        self.model
                            .freed
                            .retain(|&(f, _)| f < page || f >= page + (1 << order));
                    }
                    Err(AllocError::OutOfMemory) => assert!(
                        !self.model.fits(order),
                        "order {order} fits but alloc failed: {op:?}"
                    ),
                    Err(e) => panic!("unexpected {e:?}"),
                }
            }
            Op::Free { cpu, pick } | Op::FreeByOwner { cpu, pick } => {
                if !self.model.live.is_empty() {
                    let live = self.model.live.swap_remove(pick % self.model.live.len());
                    let cpu = match op {
                        Op::FreeByOwner { .. } => self.owner_or(live.page, cpu),
                        _ => cpu,
                    };
                    assert_eq!(self.free(cpu, live), Ok(()));
                    self.model.set(live.page, live.order, false);
                    self.model.freed.push((live.page, live.order));
                }
            }
            Op::FreedWrongOrder { cpu, pick, delta } => {
                if !self.model.freed.is_empty() {
                    let (page, order) = self.model.freed[pick % self.model.freed.len()];
                    let wrong = (order + delta) % (p + 1);
                    let got = self.pool.free(&mut self.mags[cpu], page, wrong, false);
                    if !page.is_multiple_of(1 << wrong) {
                        assert_eq!(got, Err(FreeError::Misaligned));
                    } else {
                        assert_eq!(got, Err(FreeError::DoubleFree));
                    }
                }
            }
            Op::DoubleFree { cpu, pick } => {
                if !self.model.freed.is_empty() {
                    let (page, order) = self.model.freed[pick % self.model.freed.len()];
                    for folio in [false, true] {
                        let got = self.pool.free(&mut self.mags[cpu], page, order, folio);
                        assert_eq!(got, Err(FreeError::DoubleFree));
                    }
                }
            }
            Op::WrongOrder { cpu, pick, delta } => {
                if !self.model.live.is_empty() {
                    let live = self.model.live[pick % self.model.live.len()];
                    let wrong = (live.order + delta) % (p + 1);
                    let got = self
                        .pool
                        .free(&mut self.mags[cpu], live.page, wrong, live.folio);
                    if !live.page.is_multiple_of(1 << wrong) {
                        assert_eq!(got, Err(FreeError::Misaligned));
                    } else {
                        assert_eq!(got, Err(FreeError::WrongOrder));
                    }
                }
            }
            Op::WrongKind { cpu, pick } => {
                if !self.model.live.is_empty() {
                    let live = self.model.live[pick % self.model.live.len()];
                    let got =
                        self.pool
                            .free(&mut self.mags[cpu], live.page, live.order, !live.folio);
                    assert_eq!(got, Err(FreeError::WrongKind));
                }
            }
            Op::TailFree { cpu, pick } => {
                let n = self.model.live.len();
                if let Some(live) = (0..n)
                    .map(|i| self.model.live[(pick + i) % n])
                    .find(|live| live.order > 0)
                {
                    let tail = live.page + (1 << live.order) - 1;
                    let got = self.pool.free(&mut self.mags[cpu], tail, 0, false);
                    assert_eq!(got, Err(FreeError::NotAllocated));
                }
            }
            Op::OutOfPool { cpu } => {
                let got = self.pool.free(&mut self.mags[cpu], total, 0, false);
                assert_eq!(got, Err(FreeError::OutOfPool));
            }
            Op::Drain { cpu } => {
                self.pool.drain_cpu(cpu);
                // Drained: nothing cached behind the lock, and nothing owned.
                assert_eq!(self.pool.cpu_free_pages(cpu), Some(0));
                for block in 0..self.pool.geometry().nr_blocks() {
                    let info = self.pool.block_info(block).unwrap();
                    assert_ne!(info.kind, BlockKind::Owned(cpu as u32));
                }
            }
            Op::Flush { cpu } => {
                self.pool.flush_magazine(&mut self.mags[cpu]);
                assert!(self.mags[cpu].is_empty());
            }
            Op::Absorb { cpu } => {
                self.pool.absorb_remote(cpu);
            }
            Op::Policy {
                ownership,
                recovery,
                high,
                batch,
            } => self
                .pool
                .set_policy(Policy {
                    ownership,
                    fragment_recovery: recovery,
                    high,
                    batch,
                })
                .unwrap(),
        }
        common::verify(&self.pool, &self.mags);
        let live_pages: usize = self.model.live.iter().map(|l| 1usize << l.order).sum();
        assert_eq!(self.pool.outstanding_pages(), live_pages as u64);
    }
}

fn run(p: u32, nr_blocks: usize, nr_cpus: usize, ops: &[Op]) {
    let pool: StdPool = pool(p, nr_blocks, nr_cpus);
    let mags = magazines(&pool);
    let mut sim = Sim {
        pool,
        mags,
        model: Model {
            used: vec![false; nr_blocks << p],
            live: Vec::new(),
            freed: Vec::new(),
        },
        p,
    };
    for op in ops {
        sim.step(op);
    }
    // Free everything from a CPU chosen by the sequence: blocks must be whole again.
    let last_cpu = ops.len() % nr_cpus;
    for live in std::mem::take(&mut sim.model.live) {
        sim.free(last_cpu, live).unwrap();
    }
    assert_all_free(&sim.pool, &mut sim.mags);
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
    let d = |delta: u32| (delta - 1) % p + 1;
    match op {
        Op::Alloc { cpu, order, folio } => Op::Alloc {
            cpu: c(cpu),
            order: order.min(p),
            folio,
        },
        Op::Free { cpu, pick } => Op::Free { cpu: c(cpu), pick },
        Op::FreeByOwner { cpu, pick } => Op::FreeByOwner { cpu: c(cpu), pick },
        Op::FreedWrongOrder { cpu, pick, delta } => Op::FreedWrongOrder {
            cpu: c(cpu),
            pick,
            delta: d(delta),
        },
        Op::DoubleFree { cpu, pick } => Op::DoubleFree { cpu: c(cpu), pick },
        Op::WrongOrder { cpu, pick, delta } => Op::WrongOrder {
            cpu: c(cpu),
            pick,
            delta: d(delta),
        },
        Op::WrongKind { cpu, pick } => Op::WrongKind { cpu: c(cpu), pick },
        Op::TailFree { cpu, pick } => Op::TailFree { cpu: c(cpu), pick },
        Op::OutOfPool { cpu } => Op::OutOfPool { cpu: c(cpu) },
        Op::Drain { cpu } => Op::Drain { cpu: c(cpu) },
        Op::Flush { cpu } => Op::Flush { cpu: c(cpu) },
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
