// SPDX-License-Identifier: GPL-2.0

//! `block_map.svg`: the pool's blocks drawn as grids, per pool backend the churn run's peak and
//! the pool after the run, side by side.
//!
//! Both panels go block by block, in index order, each owned block shaded and numbered by its
//! owner CPU. The peak panel is the run's peak map (`PCPBUDDY_BENCH_PEAK_MAP`: the module reads
//! every block with the sample that has the fewest wholly free blocks); the after panel is
//! debugfs `blocks`, read once the run has freed everything. A run without a peak map (the
//! module took no sample) falls back to the counts of its emptiest sample, in state order.

use super::{churn_runs, SuiteData};
use crate::abi::BenchSample;
use crate::bench::{self, Backend, PeakMap, Run};
use crate::debugfs::{Block, BlockSummary};
use crate::svg::{self, Cell, Panel};

/// The sample of a churn run with the fewest wholly free blocks (the first of equals).
pub fn peak_sample(samples: &[BenchSample]) -> Option<(usize, &BenchSample)> {
    samples
        .iter()
        .enumerate()
        .filter(|(_, s)| bench::sample_blocks(s) > 0)
        .min_by(|(_, a), (_, b)| {
            let f = |s: &BenchSample| bench::free_block_fraction(s).unwrap_or(1.0);
            f(a).total_cmp(&f(b))
        })
}

/// `free 14, owned 112, fragment 2, shared 0` of a sample.
pub fn sample_line(s: &BenchSample) -> String {
    format!(
        "{} free, {} owned, {} fragment, {} shared",
        s.free_blocks, s.owned_blocks, s.fragment_blocks, s.shared_blocks
    )
}

/// `blocks per owner: CPU 0 14, CPU 1 12` of some blocks' owners (the first eight CPUs).
pub fn owners_line(owners: impl Iterator<Item = Option<u32>>) -> String {
    let mut per_cpu = std::collections::BTreeMap::new();
    for cpu in owners.flatten() {
        *per_cpu.entry(cpu).or_insert(0u32) += 1;
    }
    if per_cpu.is_empty() {
        return "no block owned".into();
    }
    let mut parts: Vec<String> = per_cpu
        .iter()
        .take(8)
        .map(|(cpu, n)| format!("CPU {cpu} {n}"))
        .collect();
    if per_cpu.len() > 8 {
        parts.push("…".into());
    }
    format!("blocks per owner: {}", parts.join(", "))
}

/// A cell per block: its state, and its owner as number and shade.
fn cell(state: &str, owner: Option<u32>) -> Cell {
    Cell {
        state: state.into(),
        label: owner.map(|o| o.to_string()).unwrap_or_default(),
        owner,
    }
}

/// The peak panel: the run's peak map, or else the counts of its emptiest sample.
fn peak_panel(run: &Run) -> Option<Panel> {
    match &run.result.peak_map {
        Some(map) => Some(map_panel(map)),
        None => counts_panel(&run.result.samples),
    }
}

/// The peak map block by block.
fn map_panel(map: &PeakMap) -> Panel {
    let mut caption = vec![
        format!(
            "at the churn peak, {:.1} ms in (fewest free blocks)",
            map.sample.ns as f64 / 1e6
        ),
        sample_line(&map.sample),
        owners_line(map.blocks.iter().map(|b| b.owner)),
    ];
    if map.blocks.len() < map.nr_blocks as usize {
        caption.push(format!(
            "the first {} of {} blocks",
            map.blocks.len(),
            map.nr_blocks
        ));
    }
    Panel {
        caption,
        cells: map.blocks.iter().map(|b| cell(b.state, b.owner)).collect(),
    }
}

/// A sample's counts as cells in state order.
fn counts_panel(samples: &[BenchSample]) -> Option<Panel> {
    let (i, s) = peak_sample(samples)?;
    let mut cells = Vec::new();
    for (state, n) in [
        ("owned", s.owned_blocks),
        ("fragment", s.fragment_blocks),
        ("shared", s.shared_blocks),
        ("free", s.free_blocks),
    ] {
        cells.extend((0..n).map(|_| cell(state, None)));
    }
    Some(Panel {
        caption: vec![
            format!(
                "at the churn peak: sample {} of {}, {:.1} ms",
                i + 1,
                samples.len(),
                s.ns as f64 / 1e6
            ),
            sample_line(s),
            "counts by state (samples name no block, no owner)".into(),
        ],
        cells,
    })
}

/// The after panel: debugfs `blocks` in index order, owner CPUs as labels.
fn after_panel(blocks: &[Block]) -> Panel {
    let summary = BlockSummary::of(blocks).line();
    // `N blocks: ...; M free pages, P pending` on two lines.
    let (states, pages) = summary.split_once("; ").unwrap_or((&summary, ""));
    Panel {
        caption: vec![
            "after the run (debugfs blocks, block by block)".into(),
            states.to_string(),
            pages.to_string(),
        ],
        cells: blocks.iter().map(|b| cell(&b.state, b.owner)).collect(),
    }
}

/// `block_map.svg`: a row per pool backend with a churn run or a block map.
pub fn plot_block_map(data: &SuiteData) -> Option<String> {
    let churn = churn_runs(data);
    let mut backends: Vec<Backend> = churn.iter().map(|r| r.params.backend).collect();
    for (b, _) in &data.block_maps {
        if !backends.contains(b) {
            backends.push(*b);
        }
    }
    let rows: Vec<(String, Vec<Panel>)> = backends
        .into_iter()
        .map(|b| {
            let mut panels = Vec::new();
            if let Some(run) = churn.iter().find(|r| r.params.backend == b) {
                panels.extend(peak_panel(run));
            }
            if let Some((_, blocks)) = data.block_maps.iter().find(|(x, _)| *x == b) {
                panels.push(after_panel(blocks));
            }
            (format!("churn with {}", b.name()), panels)
        })
        .filter(|(_, panels)| !panels.is_empty())
        .collect();
    if rows.is_empty() {
        return None;
    }
    Some(svg::block_map("pool block map, churn", &rows))
}
