// SPDX-License-Identifier: GPL-2.0

//! What people and machines read about benchmark runs: the per-(pattern, order) tables of
//! `pcpbctl bench`, and the suite's `summary.json` records, `report.md` and SVG plots.
//!
//! Everything here turns data into text; the suite (suite.rs) does the running and the writing.

use crate::abi::{self, Info, Policy, ROLE_ALLOC, ROLE_FREE};
use crate::bench::{self, Backend, Pattern, Run, Spread};
use crate::debugfs::Block;
use crate::svg;
use crate::table::{self, Table};
use serde::Serialize;

/// Which part of the suite a run belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Series {
    /// Every pattern at orders 0 and 9 on all online CPUs.
    Main,
    /// `remote` at order 0, one freeing CPU and 1..N-1 allocating CPUs.
    RemoteSweep,
}

/// A run of the suite.
#[derive(Clone, Debug, Serialize)]
pub struct SuiteRun {
    pub series: Series,
    #[serde(flatten)]
    pub run: Run,
}

/// Everything the suite collected.
#[derive(Clone, Debug, Default)]
pub struct SuiteData {
    /// `YYYY-MM-DD HH:MM UTC`.
    pub date: String,
    /// `uname -r`.
    pub kernel: String,
    /// Online CPUs.
    pub cpus: usize,
    /// `--mode`: where the numbers come from.
    pub mode: String,
    /// `quick` or `long`.
    pub size: String,
    pub info: Option<Info>,
    pub policy: Option<Policy>,
    pub runs: Vec<SuiteRun>,
    /// Runs the kernel refused or that failed, with the error.
    pub failed: Vec<(bench::Params, String)>,
    /// The pool's block map after the churn run of each pool backend.
    pub block_maps: Vec<(Backend, Vec<Block>)>,
    /// Things the reader should know (interrupted, debugfs missing, ...).
    pub notes: Vec<String>,
}

/// One line of `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Record {
    pub pattern: Pattern,
    pub order: u32,
    pub backend: Backend,
    pub series: Series,
    /// CPUs that took part.
    pub cpus: usize,
    /// CPUs that allocated / freed (by role).
    pub alloc_cpus: usize,
    pub free_cpus: usize,
    /// Operations: allocations + frees over all CPUs.
    pub ops: u64,
    /// Average over CPUs of each CPU's ns/op.
    pub ns_per_op: Option<f64>,
    pub ns_per_op_min: Option<f64>,
    pub ns_per_op_max: Option<f64>,
    /// Average over CPUs of ns per allocation / per free; null where the pattern does not time
    /// them apart.
    pub alloc_ns_per_op: Option<f64>,
    pub free_ns_per_op: Option<f64>,
    /// Pool backends only; null for kernel and floor.
    pub global_lock_per_1000_ops: Option<f64>,
    pub failures: u64,
    pub elapsed_ns: u64,
    pub mode: String,
}

/// The record of a run.
pub fn record(run: &SuiteRun, mode: &str) -> Record {
    let s = bench::summarize(&run.run);
    let cpus = &run.run.result.cpus;
    Record {
        pattern: run.run.params.pattern,
        order: run.run.params.order,
        backend: run.run.params.backend,
        series: run.series,
        cpus: s.cpus,
        alloc_cpus: cpus.iter().filter(|c| c.role & ROLE_ALLOC != 0).count(),
        free_cpus: cpus.iter().filter(|c| c.role & ROLE_FREE != 0).count(),
        ops: s.ops,
        ns_per_op: s.ns_per_op.map(|x| x.avg),
        ns_per_op_min: s.ns_per_op.map(|x| x.min),
        ns_per_op_max: s.ns_per_op.map(|x| x.max),
        alloc_ns_per_op: s.alloc_ns_per_op.map(|x| x.avg),
        free_ns_per_op: s.free_ns_per_op.map(|x| x.avg),
        global_lock_per_1000_ops: s.global_lock_per_1000_ops,
        failures: s.failures,
        elapsed_ns: run.run.result.elapsed_ns,
        mode: mode.to_string(),
    }
}

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

/// Runs grouped by (pattern, order), groups and runs in the order they came.
pub fn groups<'a>(runs: impl IntoIterator<Item = &'a Run>) -> Vec<((Pattern, u32), Vec<&'a Run>)> {
    let mut out: Vec<((Pattern, u32), Vec<&Run>)> = Vec::new();
    for run in runs {
        let key = (run.params.pattern, run.params.order);
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(run),
            None => out.push((key, vec![run])),
        }
    }
    out
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

/// The colour of a backend in every plot.
pub fn backend_color(b: Backend) -> &'static str {
    match b {
        Backend::Pool => "#1f77b4",
        Backend::PoolClassic => "#ff7f0e",
        Backend::Kernel => "#2ca02c",
        Backend::Floor => "#7f7f7f",
    }
}

fn main_runs(data: &SuiteData) -> Vec<&Run> {
    data.runs
        .iter()
        .filter(|r| r.series == Series::Main)
        .map(|r| &r.run)
        .collect()
}

fn backends_in(runs: &[&Run]) -> Vec<Backend> {
    Backend::ALL
        .into_iter()
        .filter(|b| runs.iter().any(|r| r.params.backend == *b))
        .collect()
}

/// `ns_per_op.svg`: grouped bars, a group per (pattern, order), a bar per backend, log scale.
pub fn plot_ns_per_op(runs: &[&Run]) -> Option<String> {
    if runs.is_empty() {
        return None;
    }
    let backends = backends_in(runs);
    let groups = groups(runs.iter().copied());
    let labels: Vec<String> = groups
        .iter()
        .map(|((p, o), _)| format!("{} o{}", p.name(), o))
        .collect();
    let values: Vec<Vec<Option<f64>>> = groups
        .iter()
        .map(|(_, g)| backends.iter().map(|b| bench::avg_ns_of(g, *b)).collect())
        .collect();
    let series: Vec<(String, String)> = backends
        .iter()
        .map(|b| (b.name().to_string(), backend_color(*b).to_string()))
        .collect();
    Some(svg::bar_chart(
        "ns per operation (average over CPUs; lower is better)",
        "ns/op",
        &labels,
        &series,
        &values,
        true,
    ))
}

/// The number of allocating CPUs of a run.
fn alloc_cpu_count(run: &Run) -> usize {
    run.result
        .cpus
        .iter()
        .filter(|c| c.role & ROLE_ALLOC != 0)
        .count()
        .max(if run.result.cpus.is_empty() {
            run.params.alloc_cpus.len()
        } else {
            0
        })
}

/// `remote_cpus.svg`: ns/op of the remote sweep against the number of allocating CPUs.
pub fn plot_remote_cpus(data: &SuiteData) -> Option<String> {
    let sweep: Vec<&Run> = data
        .runs
        .iter()
        .filter(|r| r.series == Series::RemoteSweep)
        .map(|r| &r.run)
        .collect();
    if sweep.is_empty() {
        return None;
    }
    let series: Vec<svg::Series> = backends_in(&sweep)
        .into_iter()
        .map(|b| {
            let mut points: Vec<(f64, f64)> = sweep
                .iter()
                .filter(|r| r.params.backend == b)
                .filter_map(|r| {
                    let avg = bench::summarize(r).ns_per_op?.avg;
                    Some((alloc_cpu_count(r) as f64, avg))
                })
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            svg::Series {
                name: b.name().into(),
                color: backend_color(b).into(),
                dashed: false,
                points,
            }
        })
        .collect();
    Some(svg::line_chart(
        "remote, order 0: ns/op by allocating CPUs (one CPU frees)",
        "allocating CPUs",
        "ns/op",
        &series,
        None,
        true,
    ))
}

fn churn_runs(data: &SuiteData) -> Vec<&Run> {
    data.runs
        .iter()
        .map(|r| &r.run)
        .filter(|r| {
            r.params.pattern == Pattern::Churn
                && r.params.backend.is_pool()
                && !r.result.samples.is_empty()
        })
        .collect()
}

/// `churn_fragmentation.svg`: free-block fraction (solid) and unusable index (dashed) over time.
pub fn plot_churn(data: &SuiteData) -> Option<String> {
    let runs = churn_runs(data);
    if runs.is_empty() {
        return None;
    }
    let mut series = Vec::new();
    for run in runs {
        let b = run.params.backend;
        let ms = |s: &abi::BenchSample| s.ns as f64 / 1e6;
        series.push(svg::Series {
            name: format!("{}: free-block fraction", b.name()),
            color: backend_color(b).into(),
            dashed: false,
            points: run
                .result
                .samples
                .iter()
                .filter_map(|s| bench::free_block_fraction(s).map(|f| (ms(s), f)))
                .collect(),
        });
        series.push(svg::Series {
            name: format!("{}: unusable index", b.name()),
            color: backend_color(b).into(),
            dashed: true,
            points: run
                .result
                .samples
                .iter()
                .map(|s| (ms(s), bench::unusable_index(s)))
                .collect(),
        });
    }
    Some(svg::line_chart(
        "churn: fragmentation over time",
        "time since start (ms)",
        "fraction",
        &series,
        Some((0.0, 1.0)),
        false,
    ))
}

/// `block_map.svg`: the pool's blocks after churn, one panel per pool backend.
pub fn plot_block_map(data: &SuiteData) -> Option<String> {
    if data.block_maps.is_empty() {
        return None;
    }
    let panels: Vec<(String, Vec<svg::Cell>)> = data
        .block_maps
        .iter()
        .map(|(backend, blocks)| {
            let summary = crate::debugfs::BlockSummary::of(blocks);
            (
                format!("after churn with {}: {}", backend.name(), summary.line()),
                blocks
                    .iter()
                    .map(|b| svg::Cell {
                        state: b.state.clone(),
                        label: b.owner.map(|o| o.to_string()).unwrap_or_default(),
                    })
                    .collect(),
            )
        })
        .collect();
    Some(svg::block_map("pool block map (debugfs blocks)", &panels))
}

/// What a mode label means for the numbers.
pub fn mode_sentence(mode: &str) -> &'static str {
    let m = mode.to_ascii_lowercase();
    if m.contains("icount") {
        "Under TCG with -icount the guest clock advances with instructions executed, not real \
         time: the numbers are deterministic and compare code paths (work per operation), but \
         show no cache-miss, atomic or contention cost."
    } else if m.contains("tcg") {
        "Under TCG (software emulation) absolute ns/op are tens of times those of hardware and \
         noisy, and caches and atomics are not modelled faithfully: read the ratios between \
         backends of the same run, and those loosely."
    } else if m.contains("kvm") {
        "Under KVM the guest runs on real CPUs: numbers are close to the hardware's, but vCPUs \
         can be preempted by the host, so check the min..max spreads."
    } else if m.contains("bare") || m.contains("metal") {
        "On bare metal: these are the machine's own numbers."
    } else {
        "The environment was not given (--mode): treat absolute numbers with care; the ratios \
         between backends of the same run are the meaningful part."
    }
}

/// One sentence per pattern, from the ABI header.
pub fn pattern_sentence(p: Pattern) -> &'static str {
    match p {
        Pattern::Repeat => "Each CPU allocates and frees the same run in a loop: the fast path.",
        Pattern::Bulk => "Each CPU allocates a batch of runs, then frees them: refill and drain.",
        Pattern::Rand => {
            "CPUs allocate batches, exchange them across CPUs and free them elsewhere (only the \
             frees are timed)."
        }
        Pattern::Remote => {
            "Allocating CPUs feed freeing CPUs through per-CPU rings (the RFC's synthetic): \
             remote frees."
        }
        Pattern::Exit => "One CPU frees a large set another CPU allocated (a process exit).",
        Pattern::Churn => {
            "Random orders up to the run order with random lifetimes; the pool's fragmentation \
             is sampled."
        }
        Pattern::Folio => {
            "Each CPU allocates and frees the same folio in a loop: pool folios against \
             folio_alloc() + folio_put()."
        }
        Pattern::Softirq => {
            "Allocating CPUs allocate in soft interrupt context, freeing CPUs free in process \
             context, and back (a NIC receive ring)."
        }
    }
}

/// The counters table of one (pattern, order): non-zero counter deltas of the pool backends.
fn counters_table(runs: &[&Run]) -> Option<Table> {
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
    vec![
        ("global_locks", c.global_locks),
        ("refill_recover", c.refill_recover),
        ("refill_claim", c.refill_claim),
        ("refill_degrade", c.refill_degrade),
        ("frees_local", c.frees_local),
        ("frees_remote", c.frees_remote),
        ("frees_loose", c.frees_loose),
        ("absorbs", c.absorbs),
        ("merges_local", c.merges_local),
        ("merges_global", c.merges_global),
        ("drains", c.drains),
        ("trims", c.trims),
        ("reclaims", c.reclaims),
        ("blocks_claimed", c.blocks_claimed),
        ("blocks_returned", c.blocks_returned),
        ("fragments_created", c.fragments_created),
        ("fragments_recovered", c.fragments_recovered),
        ("fallbacks", c.fallbacks),
    ]
}

/// The per-backend spread table of a pattern section.
fn spread_table(runs: &[&Run]) -> Table {
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

/// The files the suite writes, as (name, content).
pub fn render(data: &SuiteData) -> Vec<(String, String)> {
    let mut files = Vec::new();
    let records: Vec<Record> = data.runs.iter().map(|r| record(r, &data.mode)).collect();
    files.push((
        "summary.json".to_string(),
        serde_json::to_string_pretty(&records).expect("records serialize") + "\n",
    ));
    let mut plots: Vec<(&str, String)> = Vec::new();
    let main = main_runs(data);
    if let Some(s) = plot_ns_per_op(&main) {
        plots.push(("ns_per_op.svg", s));
    }
    if let Some(s) = plot_remote_cpus(data) {
        plots.push(("remote_cpus.svg", s));
    }
    if let Some(s) = plot_churn(data) {
        plots.push(("churn_fragmentation.svg", s));
    }
    if let Some(s) = plot_block_map(data) {
        plots.push(("block_map.svg", s));
    }
    let has = |name: &str| plots.iter().any(|(n, _)| *n == name);
    files.push(("report.md".to_string(), markdown(data, &main, &has)));
    files.extend(plots.into_iter().map(|(n, s)| (n.to_string(), s)));
    files
}

fn markdown(data: &SuiteData, main: &[&Run], has: &dyn Fn(&str) -> bool) -> String {
    let mut md = String::new();
    let mut p = |s: &str| {
        md.push_str(s);
        md.push('\n');
    };
    p("# pcpbuddy benchmark report");
    p("");
    p(&format!("* date: {}", data.date));
    p(&format!("* kernel: `{}`", data.kernel));
    p(&format!("* online CPUs: {}", data.cpus));
    p(&format!("* mode: **{}**", data.mode));
    p(&format!("* suite size: {}", data.size));
    if let Some(i) = &data.info {
        p(&format!(
            "* pool: {} MiB, {} pages, source `{}`, node {}, pageblock order {}, ABI {}",
            i.size_bytes >> 20,
            i.nr_pages,
            abi::source_name(i.source),
            i.node,
            i.block_order,
            i.abi_version
        ));
    }
    if let Some(pol) = &data.policy {
        p(&format!(
            "* policy at start: ownership {}, fragment_recovery {}, high {}, batch {} (the `pool` \
             and `pool-classic` backends set ownership themselves)",
            pol.ownership, pol.fragment_recovery, pol.high, pol.batch
        ));
    }
    p("");
    p(mode_sentence(&data.mode));
    p("");
    for note in &data.notes {
        p(&format!("> **Note:** {note}"));
        p("");
    }
    p("## Summary");
    p("");
    p(
        "ns/op is each CPU's timed loop divided by its operations (allocations; frees for a CPU \
       that only frees), averaged over CPUs, min..max in brackets; lower is better. `÷kernel` and \
       `÷floor` divide a backend's average by the kernel's and the floor's in the same \
       (pattern, order): below 1.00x is faster than the kernel's allocator; the floor (a bare \
       per-CPU array) is the machine's limit. `glock/1k`: global-lock acquisitions per 1000 \
       operations (pool backends only; the design aims at a handful).",
    );
    p("");
    p(&summary_table(main).markdown());
    if has("ns_per_op.svg") {
        p("![ns/op by pattern, order and backend](ns_per_op.svg)");
        p("");
    }
    for ((pattern, order), group) in groups(main.iter().copied()) {
        p(&format!("## {} — order {}", pattern.name(), order));
        p("");
        p(pattern_sentence(pattern));
        p("");
        let first = &group[0].params;
        p(&format!(
            "Allocating CPUs {}, freeing CPUs {}, {} allocations per allocating CPU, batch {}, \
             seed {}.",
            crate::cpulist::format(&first.alloc_cpus),
            if first.free_cpus.is_empty() {
                "as the kernel chooses for the pattern".to_string()
            } else {
                crate::cpulist::format(&first.free_cpus)
            },
            first.ops,
            if first.batch == 0 {
                "default".to_string()
            } else {
                first.batch.to_string()
            },
            first.seed
        ));
        p("");
        p(&spread_table(&group).markdown());
        let ratios = ratio_text(&group);
        if !ratios.is_empty() {
            for line in ratios.lines() {
                p(&format!("* {line}"));
            }
            p("");
        }
        if let Some(t) = counters_table(&group) {
            if !t.is_empty() {
                p("Pool counter deltas over the run (non-zero only):");
                p("");
                p(&t.markdown());
            }
        }
        if pattern == Pattern::Remote && has("remote_cpus.svg") {
            p("### By number of allocating CPUs (order 0, one freeing CPU)");
            p("");
            p(&sweep_table(data).markdown());
            p("![remote ns/op by allocating CPUs](remote_cpus.svg)");
            p("");
        }
        if pattern == Pattern::Churn {
            churn_section(data, &mut p, has);
        }
    }
    if !data.failed.is_empty() {
        p("## Runs that failed");
        p("");
        for (params, err) in &data.failed {
            p(&format!("* `{}`: {}", params.describe(), err));
        }
        p("");
    }
    p("## Files");
    p("");
    p(
        "`summary.json` (one record per run, see Documentation/pcpbctl.md), `raw.json` (every \
       ioctl result in full), the SVG plots above.",
    );
    md
}

/// The remote sweep as a table: a row per CPU count, a column per backend.
fn sweep_table(data: &SuiteData) -> Table {
    let sweep: Vec<&Run> = data
        .runs
        .iter()
        .filter(|r| r.series == Series::RemoteSweep)
        .map(|r| &r.run)
        .collect();
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

fn churn_section(data: &SuiteData, p: &mut dyn FnMut(&str), has: &dyn Fn(&str) -> bool) {
    let runs = churn_runs(data);
    if !runs.is_empty() {
        let mut t = Table::new(&[
            "backend",
            "samples",
            "free-block fraction: first",
            "last",
            "unusable index: max",
            "last",
        ]);
        for run in &runs {
            let s = &run.result.samples;
            let frac = |x: Option<&abi::BenchSample>| {
                x.and_then(bench::free_block_fraction)
                    .map(|f| format!("{f:.3}"))
                    .unwrap_or_else(|| "-".into())
            };
            let max_unusable = s.iter().map(bench::unusable_index).fold(0.0, f64::max);
            t.row(vec![
                run.params.backend.name().into(),
                s.len().to_string(),
                frac(s.first()),
                frac(s.last()),
                format!("{max_unusable:.3}"),
                s.last()
                    .map(|x| format!("{:.3}", bench::unusable_index(x)))
                    .unwrap_or_else(|| "-".into()),
            ]);
        }
        p(
            "Fragmentation sampled during the run (free-block fraction: wholly free blocks / \
           blocks, higher is better; unusable index at the pageblock order, lower is better):",
        );
        p("");
        p(&t.markdown());
    }
    if has("churn_fragmentation.svg") {
        p("![churn fragmentation over time](churn_fragmentation.svg)");
        p("");
    }
    if has("block_map.svg") {
        for (backend, blocks) in &data.block_maps {
            p(&format!(
                "Block map after churn with `{}`: {}.",
                backend.name(),
                crate::debugfs::BlockSummary::of(blocks).line()
            ));
            p("");
        }
        p("![pool block map after churn](block_map.svg)");
        p("");
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar (Howard
/// Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `YYYY-MM-DD HH:MM UTC` for seconds since the epoch.
pub fn utc_date(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rest = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::tests::run;
    use crate::debugfs::parse_blocks;

    fn synthetic() -> SuiteData {
        let mut runs = Vec::new();
        for pattern in Pattern::ALL {
            let orders: &[u32] = if pattern == Pattern::Churn {
                &[9]
            } else {
                &[0, 9]
            };
            for &order in orders {
                for (i, b) in Backend::ALL.into_iter().enumerate() {
                    let ns = [30 + 10 * i as u64 + order as u64, 35 + 10 * i as u64];
                    runs.push(SuiteRun {
                        series: Series::Main,
                        run: run(pattern, b, order, &ns, if b.is_pool() { 4 } else { 0 }),
                    });
                }
            }
        }
        for n in 1..4u64 {
            for b in Backend::ALL {
                let ns: Vec<u64> = (0..=n).map(|_| 20 * n + b.abi() as u64).collect();
                let mut r = run(Pattern::Remote, b, 0, &ns, 1);
                r.result.cpus[0].role = ROLE_FREE;
                for c in &mut r.result.cpus[1..] {
                    c.role = ROLE_ALLOC;
                }
                runs.push(SuiteRun {
                    series: Series::RemoteSweep,
                    run: r,
                });
            }
        }
        SuiteData {
            date: utc_date(0),
            kernel: "7.3.0-test".into(),
            cpus: 4,
            mode: "TCG wall-clock".into(),
            size: "quick".into(),
            info: Some(Info {
                abi_version: 1,
                block_order: 9,
                page_size: 4096,
                size_bytes: 64 << 20,
                nr_pages: 16384,
                ..Default::default()
            }),
            policy: Some(Policy {
                ownership: 1,
                fragment_recovery: 1,
                high: 1024,
                batch: 64,
            }),
            runs,
            failed: vec![],
            block_maps: vec![(
                Backend::Pool,
                parse_blocks(crate::debugfs::tests::BLOCKS).unwrap(),
            )],
            notes: vec!["synthetic data".into()],
        }
    }

    #[test]
    fn records_have_the_schema() {
        let data = synthetic();
        let r = record(&data.runs[0], "KVM");
        let json = serde_json::to_value(&r).unwrap();
        for key in [
            "pattern",
            "order",
            "backend",
            "cpus",
            "ops",
            "ns_per_op",
            "alloc_ns_per_op",
            "free_ns_per_op",
            "global_lock_per_1000_ops",
            "failures",
            "mode",
        ] {
            assert!(json.get(key).is_some(), "{key}");
        }
        assert_eq!(json["pattern"], "repeat");
        assert_eq!(json["backend"], "pool");
        assert_eq!(json["mode"], "KVM");
        assert_eq!(json["cpus"], 2);
        assert_eq!(json["ops"], 4000);
        assert_eq!(json["ns_per_op"], 32.5);
        // 4 global locks over 4000 operations.
        assert_eq!(json["global_lock_per_1000_ops"], 1.0);
        let k = record(&data.runs[2], "KVM");
        assert_eq!(k.backend, Backend::Kernel);
        assert_eq!(k.global_lock_per_1000_ops, None);
        assert_eq!(
            serde_json::to_value(&k).unwrap()["global_lock_per_1000_ops"],
            serde_json::Value::Null
        );
    }

    #[test]
    fn renders_every_file() {
        let data = synthetic();
        let files = render(&data);
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "summary.json",
                "report.md",
                "ns_per_op.svg",
                "remote_cpus.svg",
                "churn_fragmentation.svg",
                "block_map.svg"
            ]
        );
        let get = |n: &str| &files.iter().find(|(f, _)| f == n).unwrap().1;
        let summary: serde_json::Value = serde_json::from_str(get("summary.json")).unwrap();
        assert_eq!(summary.as_array().unwrap().len(), data.runs.len());
        let md = get("report.md");
        assert!(md.contains("* kernel: `7.3.0-test`"));
        assert!(md.contains("* mode: **TCG wall-clock**"));
        assert!(md.contains("Under TCG (software emulation)"));
        assert!(md.contains("![ns/op by pattern, order and backend](ns_per_op.svg)"));
        assert!(md.contains("(remote_cpus.svg)"));
        assert!(md.contains("(churn_fragmentation.svg)"));
        assert!(md.contains("(block_map.svg)"));
        assert!(md.contains("## remote — order 0"));
        assert!(md.contains("* pool / kernel = "));
        assert!(md.contains("| global_locks |"));
        // 15 (pattern, order) groups of 4 backends, in the summary table.
        assert_eq!(md.matches("| repeat | 0 |").count(), 4);
        // The bars: one per main run, plus the background and the legend keys.
        assert_eq!(get("ns_per_op.svg").matches("<rect").count(), 1 + 60 + 4);
        assert_eq!(get("remote_cpus.svg").matches("<circle").count(), 12);
        assert!(get("block_map.svg").contains(">1</text>"));
    }

    #[test]
    fn bench_table_and_ratios() {
        let runs = [
            run(Pattern::Bulk, Backend::Pool, 0, &[31], 1),
            run(Pattern::Bulk, Backend::Kernel, 0, &[50], 0),
        ];
        let refs: Vec<&Run> = runs.iter().collect();
        let text = bench_table(&refs).render();
        assert!(text.starts_with("backend "));
        assert!(text.contains("pool"));
        assert_eq!(ratio_text(&refs), "pool / kernel = 0.62x\n");
        assert_eq!(
            spread(Some(Spread {
                min: 1.0,
                avg: 2.0,
                max: 3.0
            })),
            "2.00 (1.00..3.00)"
        );
    }

    #[test]
    fn dates() {
        assert_eq!(utc_date(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_date(951_782_400 + 3600 + 120), "2000-02-29 01:02 UTC");
        assert_eq!(civil_from_days(20_000), (2024, 10, 4));
    }
}
