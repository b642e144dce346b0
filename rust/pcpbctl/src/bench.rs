// SPDX-License-Identifier: GPL-2.0

//! Benchmark runs and what is computed from them: ns/op per CPU and across CPUs, global-lock
//! acquisitions per 1000 operations, ratios between backends, fragmentation from churn samples.
//!
//! Everything here is pure: a [`Run`] is the parameters of one `PCPBUDDY_IOC_BENCH` call and its
//! result, and the tests build runs by hand.

use crate::abi::{BenchBlock, BenchCounters, BenchCpu, BenchSample, BlockState, ROLE_ALLOC};
use crate::error::{Error, Result};
use serde::Serialize;

pub use crate::abi::{Backend, Pattern};

/// The value of `all` named `name`, or an error that lists the names.
fn by_name<T: Copy>(
    kind: &str,
    all: &[T],
    name_of: fn(T) -> &'static str,
    name: &str,
) -> Result<T> {
    all.iter()
        .copied()
        .find(|&v| name_of(v) == name)
        .ok_or_else(|| {
            let names: Vec<&str> = all.iter().map(|&v| name_of(v)).collect();
            Error::new(format!("unknown {kind} '{name}' ({})", names.join(", ")))
        })
}

/// The pattern named `name` on the command line.
pub fn parse_pattern(name: &str) -> Result<Pattern> {
    by_name("pattern", &Pattern::ALL, Pattern::name, name)
}

/// The backend named `name` on the command line.
pub fn parse_backend(name: &str) -> Result<Backend> {
    by_name("backend", &Backend::ALL, Backend::name, name)
}

/// Operations per allocating CPU when none are given: `max(floor, base >> order)`.
///
/// `pcpbctl bench` uses base 100000 and floor 2000 (100000 at order 0, 2000 from order 6 on:
/// each order-9 operation moves 512 times the memory of an order-0 one); the suite's `--quick`
/// uses 20000 and 500, `--long` ten times both.
pub fn default_ops(order: u32, base: u64, floor: u64) -> u64 {
    (base >> order.min(63)).max(floor)
}

/// An order on the command line (0..31; the kernel refuses those above its `block_order`).
pub fn parse_order(text: &str) -> Result<u32> {
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|&o| o < 32)
        .ok_or_else(|| Error::new(format!("bad order '{}'", text.trim())))
}

/// The parameters of one run (the `in` half of `struct pcpbuddy_bench`).
#[derive(Clone, Debug, Serialize)]
pub struct Params {
    pub pattern: Pattern,
    pub backend: Backend,
    pub order: u32,
    /// 0: the kernel's default.
    pub batch: u32,
    pub alloc_cpus: Vec<u32>,
    /// Empty: the kernel's default for the pattern.
    pub free_cpus: Vec<u32>,
    /// Allocations per allocating CPU.
    pub ops: u64,
    pub seed: u32,
    /// Ask for the block map at the churn peak (`PCPBUDDY_BENCH_PEAK_MAP`; churn on a pool
    /// backend).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub peak_map: bool,
}

impl Params {
    /// A run with the kernel's default batch.
    pub fn new(
        pattern: Pattern,
        backend: Backend,
        order: u32,
        alloc: &[u32],
        free: &[u32],
        ops: u64,
        seed: u32,
    ) -> Params {
        Params {
            pattern,
            backend,
            order,
            batch: 0,
            alloc_cpus: alloc.to_vec(),
            free_cpus: free.to_vec(),
            ops,
            seed,
            peak_map: false,
        }
    }

    /// The freeing CPUs as a list, or `default` when the kernel chooses them.
    pub fn free_cpus_text(&self, default: &str) -> String {
        if self.free_cpus.is_empty() {
            default.to_string()
        } else {
            crate::cpulist::format(&self.free_cpus)
        }
    }

    /// The batch, or `default` for the kernel's.
    pub fn batch_text(&self) -> String {
        if self.batch == 0 {
            "default".to_string()
        } else {
            self.batch.to_string()
        }
    }

    /// The parameters on one line, as `pcpbctl` prints them when the kernel refuses them.
    pub fn describe(&self) -> String {
        format!(
            "pattern={} backend={} order={} batch={} cpus={} free-cpus={} ops={} seed={}",
            self.pattern.name(),
            self.backend.name(),
            self.order,
            self.batch,
            crate::cpulist::format(&self.alloc_cpus),
            if self.free_cpus.is_empty() {
                "default".to_string()
            } else {
                crate::cpulist::format(&self.free_cpus)
            },
            self.ops,
            self.seed
        )
    }
}

/// The `out` half of `struct pcpbuddy_bench`, with only the filled entries of the arrays.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Outcome {
    pub elapsed_ns: u64,
    pub counters: BenchCounters,
    pub cpus: Vec<BenchCpu>,
    pub samples: Vec<BenchSample>,
    /// The block map at the churn peak, when asked for and a sample was taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_map: Option<PeakMap>,
}

/// A pool block at the churn peak (`struct pcpbuddy_bench_block`, by name).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PeakBlock {
    /// `free`, `owned`, `fragment` or `shared` (as debugfs `blocks` says).
    pub state: &'static str,
    /// The owning CPU of an `owned` block.
    pub owner: Option<u32>,
    pub free_pages: u32,
}

/// The pool block by block at the churn peak: the sample with the fewest wholly free blocks,
/// then the fewest free pages (Documentation/ioctl.md).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PeakMap {
    /// The sample the map was taken with (its counts are the map's).
    pub sample: BenchSample,
    /// The pool's blocks; `blocks` holds the first of them (all, unless the buffer was short).
    pub nr_blocks: u32,
    pub blocks: Vec<PeakBlock>,
}

impl PeakMap {
    /// The map of `sample` from the module's entries.
    pub fn new(sample: BenchSample, nr_blocks: u32, entries: &[BenchBlock]) -> PeakMap {
        let blocks = entries
            .iter()
            .map(|e| PeakBlock {
                state: BlockState::from_abi(u32::from(e.state)).map_or("unknown", BlockState::name),
                owner: (e.owner != crate::abi::BLOCK_NO_OWNER).then_some(u32::from(e.owner)),
                free_pages: e.free_pages,
            })
            .collect();
        PeakMap {
            sample,
            nr_blocks,
            blocks,
        }
    }
}

/// One run: what was asked and what came back.
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    pub params: Params,
    pub result: Outcome,
}

/// Minimum, average and maximum of a value across CPUs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Spread {
    pub min: f64,
    pub avg: f64,
    pub max: f64,
}

impl Spread {
    /// The spread of some values; `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let avg = values.iter().sum::<f64>() / values.len() as f64;
        Some(Spread { min, avg, max })
    }
}

/// A CPU's time per operation: `total_ns / allocs` for a CPU that allocated, `total_ns / frees`
/// for one that only freed; `None` for a CPU that did neither.
pub fn cpu_ns_per_op(c: &BenchCpu) -> Option<f64> {
    let allocating = c.role & ROLE_ALLOC != 0 || c.role == 0;
    if allocating && c.allocs > 0 {
        Some(c.total_ns as f64 / c.allocs as f64)
    } else if c.frees > 0 {
        Some(c.total_ns as f64 / c.frees as f64)
    } else if c.allocs > 0 {
        Some(c.total_ns as f64 / c.allocs as f64)
    } else {
        None
    }
}

/// A CPU's time per allocation, where the pattern times allocations apart (`alloc_ns > 0`).
pub fn cpu_alloc_ns_per_op(c: &BenchCpu) -> Option<f64> {
    (c.alloc_ns > 0 && c.allocs > 0).then(|| c.alloc_ns as f64 / c.allocs as f64)
}

/// A CPU's time per free, where the pattern times frees apart (`free_ns > 0`).
pub fn cpu_free_ns_per_op(c: &BenchCpu) -> Option<f64> {
    (c.free_ns > 0 && c.frees > 0).then(|| c.free_ns as f64 / c.frees as f64)
}

/// What a run comes to.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// CPUs that took part (`nr_cpus`).
    pub cpus: usize,
    pub allocs: u64,
    pub frees: u64,
    /// `allocs + frees` over all CPUs.
    pub ops: u64,
    pub failures: u64,
    /// Per-CPU ns/op across CPUs.
    pub ns_per_op: Option<Spread>,
    /// Per-CPU ns per allocation across CPUs (`None`: the pattern does not separate).
    pub alloc_ns_per_op: Option<Spread>,
    /// Per-CPU ns per free across CPUs (`None`: the pattern does not separate).
    pub free_ns_per_op: Option<Spread>,
    /// `counters.global_locks * 1000 / ops` for the pool backends; `None` for the others.
    pub global_lock_per_1000_ops: Option<f64>,
}

/// Global-lock acquisitions per 1000 operations.
pub fn glock_per_1000(global_locks: u64, ops: u64) -> Option<f64> {
    (ops > 0).then(|| global_locks as f64 * 1000.0 / ops as f64)
}

/// Computes the summary of a run.
pub fn summarize(run: &Run) -> Summary {
    let cpus = &run.result.cpus;
    let allocs: u64 = cpus.iter().map(|c| c.allocs).sum();
    let frees: u64 = cpus.iter().map(|c| c.frees).sum();
    let ops = allocs + frees;
    let collect =
        |f: fn(&BenchCpu) -> Option<f64>| -> Vec<f64> { cpus.iter().filter_map(f).collect() };
    Summary {
        cpus: cpus.len(),
        allocs,
        frees,
        ops,
        failures: cpus.iter().map(|c| c.failures).sum(),
        ns_per_op: Spread::of(&collect(cpu_ns_per_op)),
        alloc_ns_per_op: Spread::of(&collect(cpu_alloc_ns_per_op)),
        free_ns_per_op: Spread::of(&collect(cpu_free_ns_per_op)),
        global_lock_per_1000_ops: if run.params.backend.is_pool() {
            glock_per_1000(run.result.counters.global_locks, ops)
        } else {
            None
        },
    }
}

/// `a / b`, when both are there and `b` is positive.
pub fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// The ratio lines printed under each table: (numerator, denominator).
pub const RATIOS: [(Backend, Backend); 4] = [
    (Backend::Pool, Backend::Kernel),
    (Backend::Pool, Backend::Floor),
    (Backend::PoolClassic, Backend::Kernel),
    (Backend::Pool, Backend::PoolClassic),
];

/// The average ns/op of `backend` among some runs of one (pattern, order).
pub fn avg_ns_of(runs: &[&Run], backend: Backend) -> Option<f64> {
    runs.iter()
        .find(|r| r.params.backend == backend)
        .and_then(|r| summarize(r).ns_per_op)
        .map(|s| s.avg)
}

/// `(label, ratio)` for each of [`RATIOS`] whose two backends ran, e.g. `("pool / kernel", 0.62)`.
pub fn ratio_lines(runs: &[&Run]) -> Vec<(String, f64)> {
    RATIOS
        .iter()
        .filter_map(|&(a, b)| {
            ratio(avg_ns_of(runs, a), avg_ns_of(runs, b))
                .map(|r| (format!("{} / {}", a.name(), b.name()), r))
        })
        .collect()
}

/// The blocks of the pool at a sample: all four states add up to the pool.
pub fn sample_blocks(s: &BenchSample) -> u32 {
    s.free_blocks + s.owned_blocks + s.fragment_blocks + s.shared_blocks
}

/// Wholly free blocks / blocks at a sample.
pub fn free_block_fraction(s: &BenchSample) -> Option<f64> {
    let blocks = sample_blocks(s);
    (blocks > 0).then(|| s.free_blocks as f64 / blocks as f64)
}

/// The unusable free space index at `block_order` at a sample (0..1).
pub fn unusable_index(s: &BenchSample) -> f64 {
    s.unusable_max_milli as f64 / 1000.0
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::abi::ROLE_FREE;

    /// A CPU's result.
    pub fn cpu(
        cpu: u32,
        role: u32,
        allocs: u64,
        frees: u64,
        alloc_ns: u64,
        free_ns: u64,
        total_ns: u64,
    ) -> BenchCpu {
        BenchCpu {
            cpu,
            role,
            allocs,
            frees,
            alloc_ns,
            free_ns,
            total_ns,
            failures: 0,
            reserved: 0,
        }
    }

    /// A synthetic run of `pattern`/`backend` at `order` whose CPUs take `ns` per operation each.
    pub fn run(
        pattern: Pattern,
        backend: Backend,
        order: u32,
        ns: &[u64],
        global_locks: u64,
    ) -> Run {
        let ops = 1000;
        let cpus: Vec<BenchCpu> = ns
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                cpu(
                    i as u32,
                    ROLE_ALLOC | ROLE_FREE,
                    ops,
                    ops,
                    n * ops / 2,
                    n * ops / 2,
                    n * ops,
                )
            })
            .collect();
        let samples = if pattern == Pattern::Churn && backend.is_pool() {
            (0..8)
                .map(|i| BenchSample {
                    ns: i * 1_000_000,
                    free_pages: 1000,
                    free_blocks: 16 - i as u32,
                    owned_blocks: i as u32,
                    fragment_blocks: 0,
                    shared_blocks: 0,
                    unusable_max_milli: 100 * i as u32,
                })
                .collect()
        } else {
            Vec::new()
        };
        Run {
            params: Params {
                pattern,
                backend,
                order,
                batch: 0,
                alloc_cpus: (0..ns.len() as u32).collect(),
                free_cpus: Vec::new(),
                ops,
                seed: 1,
                peak_map: false,
            },
            result: Outcome {
                elapsed_ns: ns.iter().max().copied().unwrap_or(0) * ops,
                counters: BenchCounters {
                    global_locks,
                    ..Default::default()
                },
                cpus,
                samples,
                peak_map: None,
            },
        }
    }

    #[test]
    fn per_cpu_ns_per_op() {
        let c = cpu(0, ROLE_ALLOC, 100, 100, 3000, 2000, 6000);
        assert_eq!(cpu_ns_per_op(&c), Some(60.0));
        assert_eq!(cpu_alloc_ns_per_op(&c), Some(30.0));
        assert_eq!(cpu_free_ns_per_op(&c), Some(20.0));
        // A free-only CPU is timed per free; a pattern that does not separate gives no split.
        let f = cpu(1, ROLE_FREE, 0, 300, 0, 0, 6000);
        assert_eq!(cpu_ns_per_op(&f), Some(20.0));
        assert_eq!(cpu_alloc_ns_per_op(&f), None);
        assert_eq!(cpu_free_ns_per_op(&f), None);
        assert_eq!(cpu_ns_per_op(&cpu(2, ROLE_ALLOC, 0, 0, 0, 0, 10)), None);
    }

    #[test]
    fn summary_spreads_and_glock() {
        let r = run(Pattern::Repeat, Backend::Pool, 0, &[10, 20, 30], 6);
        let s = summarize(&r);
        assert_eq!(s.cpus, 3);
        assert_eq!(s.ops, 6000);
        assert_eq!(
            s.ns_per_op,
            Some(Spread {
                min: 10.0,
                avg: 20.0,
                max: 30.0
            })
        );
        assert_eq!(s.alloc_ns_per_op.unwrap().avg, 10.0);
        assert_eq!(s.global_lock_per_1000_ops, Some(1.0));
        // Kernel and floor have no pool counters.
        let k = run(Pattern::Repeat, Backend::Kernel, 0, &[10], 6);
        assert_eq!(summarize(&k).global_lock_per_1000_ops, None);
    }

    #[test]
    fn ratios_between_backends() {
        let runs = [
            run(Pattern::Bulk, Backend::Pool, 0, &[31], 1),
            run(Pattern::Bulk, Backend::PoolClassic, 0, &[40], 1),
            run(Pattern::Bulk, Backend::Kernel, 0, &[50], 0),
            run(Pattern::Bulk, Backend::Floor, 0, &[10], 0),
        ];
        let refs: Vec<&Run> = runs.iter().collect();
        let lines = ratio_lines(&refs);
        assert_eq!(lines[0], ("pool / kernel".to_string(), 0.62));
        assert_eq!(lines[1], ("pool / floor".to_string(), 3.1));
        assert_eq!(lines[2], ("pool-classic / kernel".to_string(), 0.8));
        assert_eq!(lines[3].0, "pool / pool-classic");
        assert_eq!(ratio(Some(1.0), Some(0.0)), None);
        assert_eq!(ratio_lines(&refs[..1]), vec![]);
    }

    #[test]
    fn defaults_and_lists() {
        assert_eq!(default_ops(0, 100_000, 2000), 100_000);
        assert_eq!(default_ops(1, 100_000, 2000), 50_000);
        assert_eq!(default_ops(9, 100_000, 2000), 2000);
        assert_eq!(default_ops(9, 20_000, 500), 500);
        assert_eq!(parse_order(" 9").unwrap(), 9);
        assert!(parse_order("x").is_err());
        assert!(parse_order("40").is_err());
        assert_eq!(parse_backend("pool-classic").unwrap(), Backend::PoolClassic);
        assert_eq!(
            parse_backend("slab").unwrap_err().message,
            "unknown backend 'slab' (pool, pool-classic, kernel, floor)"
        );
        assert_eq!(parse_pattern("remote").unwrap(), Pattern::Remote);
        assert_eq!(
            parse_pattern("x").unwrap_err().message,
            "unknown pattern 'x' (repeat, bulk, rand, remote, exit, churn, folio, softirq)"
        );
        assert_eq!(Pattern::Churn.abi(), 5);
        assert_eq!(Backend::Floor.abi(), 3);
    }

    #[test]
    fn fragmentation_from_samples() {
        let s = BenchSample {
            ns: 0,
            free_pages: 0,
            free_blocks: 3,
            owned_blocks: 4,
            fragment_blocks: 2,
            shared_blocks: 3,
            unusable_max_milli: 250,
        };
        assert_eq!(free_block_fraction(&s), Some(0.25));
        assert_eq!(unusable_index(&s), 0.25);
    }
}
