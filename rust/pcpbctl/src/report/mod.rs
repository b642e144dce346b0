// SPDX-License-Identifier: GPL-2.0

//! What people and machines read about benchmark runs: the per-(pattern, order) tables of
//! `pcpbctl bench`, and the suite's `summary.json` records, `report.md` and SVG plots.
//!
//! Everything here turns data into text; the suite (suite.rs) does the running and the writing.
//! This file holds the suite's data, which runs each part reads, and `render`; the parts:
//! `summary` (summary.json), `tables`, `charts`, `block_map`, `markdown` (report.md), `date`.

mod block_map;
mod charts;
mod date;
mod markdown;
mod summary;
mod tables;
#[cfg(test)]
mod tests;

pub use block_map::plot_block_map;
pub use charts::{backend_color, plot_churn, plot_ns_per_op, plot_remote_cpus};
pub use date::utc_date;
pub use summary::{record, Record};
pub use tables::{bench_table, ratio_text, summary_table};

use crate::abi::{Info, Policy, ROLE_ALLOC};
use crate::bench::{self, Backend, Pattern, Run};
use crate::debugfs::Block;
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

/// The runs of the remote sweep.
fn sweep_runs(data: &SuiteData) -> Vec<&Run> {
    data.runs
        .iter()
        .filter(|r| r.series == Series::RemoteSweep)
        .map(|r| &r.run)
        .collect()
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
    files.push((
        "report.md".to_string(),
        markdown::markdown(data, &main, &has),
    ));
    files.extend(plots.into_iter().map(|(n, s)| (n.to_string(), s)));
    files
}
