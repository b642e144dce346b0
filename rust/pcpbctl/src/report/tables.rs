// SPDX-License-Identifier: GPL-2.0

//! The report's tables: `pcpbctl bench`'s per-(pattern, order) table, the suite's summary, and
//! the per-pattern spread, counter and remote-sweep tables.

use super::{alloc_cpu_count, backends_in, groups, sweep_runs, SuiteData};
use crate::abi;
use crate::bench::{self, Backend, Run, Spread};
use crate::table::{self, Table};

/// `45.2 (40.1..50.3)`, or just `45.2` when all CPUs agree.
pub fn spread(s: Option<Spread>) -> String {
    match s {
        None => "-".into(),
        Some(s) if table::ns(Some(s.min)) == table::ns(Some(s.max)) => table::ns(Some(s.avg)),
        Some(s) => format!(
            "{} ({}..{})",
            table::ns(Some(s.avg)),
            table::ns(Some(s.min)),
            table::ns(Some(s.max))
        ),
    }
}

/// The table `pcpbctl bench` prints for one (pattern, order): a row per backend.
pub fn bench_table(runs: &[&Run]) -> Table {
    let mut t = Table::new(&[
        "backend",
        "cpus",
        "ns/op avg (min..max)",
        "alloc ns/op",
        "free ns/op",
        "glock/1k ops",
        "failures",
    ]);
    for run in runs {
        let s = bench::summarize(run);
        t.row(vec![
            run.params.backend.name().into(),
            s.cpus.to_string(),
            spread(s.ns_per_op),
            table::ns(s.alloc_ns_per_op.map(|x| x.avg)),
            table::ns(s.free_ns_per_op.map(|x| x.avg)),
            table::rate(s.global_lock_per_1000_ops),
            s.failures.to_string(),
        ]);
    }
    t
}

/// `pool / kernel = 0.62x` lines for one (pattern, order).
pub fn ratio_text(runs: &[&Run]) -> String {
    bench::ratio_lines(runs)
        .into_iter()
        .map(|(label, r)| format!("{label} = {}\n", table::ratio(Some(r))))
        .collect()
}

/// The summary table: a row per (pattern, order, backend), with ratios to kernel and floor.
pub fn summary_table(runs: &[&Run]) -> Table {
    let mut t = Table::new(&[
        "pattern",
        "order",
        "backend",
        "cpus",
        "ns/op avg (min..max)",
        "alloc",
        "free",
        "÷kernel",
        "÷floor",
        "glock/1k",
        "failures",
    ])
    .align(2, table::Align::Left);
    for ((pattern, order), group) in groups(runs.iter().copied()) {
        let kernel = bench::avg_ns_of(&group, Backend::Kernel);
        let floor = bench::avg_ns_of(&group, Backend::Floor);
        for run in group {
            let s = bench::summarize(run);
            let avg = s.ns_per_op.map(|x| x.avg);
            t.row(vec![
                pattern.name().into(),
                order.to_string(),
                run.params.backend.name().into(),
                s.cpus.to_string(),
                spread(s.ns_per_op),
                table::ns(s.alloc_ns_per_op.map(|x| x.avg)),
                table::ns(s.free_ns_per_op.map(|x| x.avg)),
                table::ratio(bench::ratio(avg, kernel)),
                table::ratio(bench::ratio(avg, floor)),
                table::rate(s.global_lock_per_1000_ops),
                s.failures.to_string(),
            ]);
        }
    }
    t
}

/// The counters table of one (pattern, order): non-zero counter deltas of the pool backends.
pub(super) fn counters_table(runs: &[&Run]) -> Option<Table> {
    let pools: Vec<&Run> = runs
        .iter()
        .copied()
        .filter(|r| r.params.backend.is_pool())
        .collect();
    if pools.is_empty() {
        return None;
    }
    let mut headers = vec!["counter".to_string()];
    headers.extend(pools.iter().map(|r| r.params.backend.name().to_string()));
    let mut t = Table::new(&headers);
    let values: Vec<Vec<(&'static str, u64)>> = pools
        .iter()
        .map(|r| counter_list(&r.result.counters))
        .collect();
    for (i, (name, _)) in values[0].iter().enumerate() {
        if values.iter().all(|v| v[i].1 == 0) {
            continue;
        }
        let mut row = vec![name.to_string()];
        row.extend(values.iter().map(|v| v[i].1.to_string()));
        t.row(row);
    }
    Some(t)
}

/// The counters of `struct pcpbuddy_bench_counters` by name, in ABI order.
pub fn counter_list(c: &abi::BenchCounters) -> Vec<(&'static str, u64)> {
    abi::BenchCounters::NAMES
        .into_iter()
        .zip(c.values())
        .collect()
}

/// The per-backend spread table of a pattern section.
pub(super) fn spread_table(runs: &[&Run]) -> Table {
    let mut t = Table::new(&[
        "backend",
        "cpus",
        "ns/op min",
        "avg",
        "max",
        "alloc min..max",
        "free min..max",
        "elapsed ms",
    ]);
    let range = |s: Option<Spread>| match s {
        None => "-".to_string(),
        Some(s) => format!("{}..{}", table::ns(Some(s.min)), table::ns(Some(s.max))),
    };
    for run in runs {
        let s = bench::summarize(run);
        t.row(vec![
            run.params.backend.name().into(),
            s.cpus.to_string(),
            table::ns(s.ns_per_op.map(|x| x.min)),
            table::ns(s.ns_per_op.map(|x| x.avg)),
            table::ns(s.ns_per_op.map(|x| x.max)),
            range(s.alloc_ns_per_op),
            range(s.free_ns_per_op),
            format!("{:.1}", run.result.elapsed_ns as f64 / 1e6),
        ]);
    }
    t
}

pub(super) fn sweep_table(data: &SuiteData) -> Table {
    let sweep = sweep_runs(data);
    let backends = backends_in(&sweep);
    let mut headers = vec!["alloc CPUs".to_string()];
    headers.extend(backends.iter().map(|b| format!("{} ns/op", b.name())));
    let mut t = Table::new(&headers);
    let mut counts: Vec<usize> = sweep.iter().map(|r| alloc_cpu_count(r)).collect();
    counts.sort_unstable();
    counts.dedup();
    for n in counts {
        let mut row = vec![n.to_string()];
        for b in &backends {
            let v = sweep
                .iter()
                .find(|r| r.params.backend == *b && alloc_cpu_count(r) == n)
                .and_then(|r| bench::summarize(r).ns_per_op);
            row.push(table::ns(v.map(|s| s.avg)));
        }
        t.row(row);
    }
    t
}
