// SPDX-License-Identifier: GPL-2.0

//! The suite's SVG plots of numbers: ns/op bars, the remote sweep, churn fragmentation.

use super::{alloc_cpu_count, backends_in, churn_runs, groups, sweep_runs, SuiteData};
use crate::abi;
use crate::bench::{self, Backend, Run};
use crate::svg;

/// The colour of a backend in every plot.
pub fn backend_color(b: Backend) -> svg::RGBColor {
    match b {
        Backend::Pool => svg::RGBColor(0x1f, 0x77, 0xb4),
        Backend::PoolClassic => svg::RGBColor(0xff, 0x7f, 0x0e),
        Backend::Kernel => svg::RGBColor(0x2c, 0xa0, 0x2c),
        Backend::Floor => svg::RGBColor(0x7f, 0x7f, 0x7f),
    }
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
    let series: Vec<(String, svg::RGBColor)> = backends
        .iter()
        .map(|b| (b.name().to_string(), backend_color(*b)))
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

/// `remote_cpus.svg`: ns/op of the remote sweep against the number of allocating CPUs.
pub fn plot_remote_cpus(data: &SuiteData) -> Option<String> {
    let sweep = sweep_runs(data);
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
                color: backend_color(b),
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

/// `churn_fragmentation.svg`: free-block fraction (solid) and unusable index (dashed) over time.
pub fn plot_churn(data: &SuiteData) -> Option<String> {
    let runs = churn_runs(data);
    if runs.is_empty() {
        return None;
    }
    let mut series = Vec::new();
    for run in runs {
        let b = run.params.backend;
        let samples = &run.result.samples;
        let ms = |s: &abi::BenchSample| s.ns as f64 / 1e6;
        // A line of this backend: solid for the free-block fraction, dashed for the index.
        let line = |what: &str, dashed: bool, points: Vec<(f64, f64)>| svg::Series {
            name: format!("{}: {what}", b.name()),
            color: backend_color(b),
            dashed,
            points,
        };
        series.push(line(
            "free-block fraction",
            false,
            samples
                .iter()
                .filter_map(|s| bench::free_block_fraction(s).map(|f| (ms(s), f)))
                .collect(),
        ));
        series.push(line(
            "unusable index",
            true,
            samples
                .iter()
                .map(|s| (ms(s), bench::unusable_index(s)))
                .collect(),
        ));
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
