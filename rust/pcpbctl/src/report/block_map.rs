// SPDX-License-Identifier: GPL-2.0

//! `block_map.svg`: the pool's blocks drawn as grids, per pool backend the churn run's peak and
//! the pool after the run, side by side.
//!
//! What the module returns limits the peak panel: the run's samples count blocks by state
//! (`struct pcpbuddy_bench_sample`) but do not say which blocks nor their owners, and debugfs
//! `blocks` can only be read after the run has freed everything. The peak panel therefore shows
//! the counts of the sample with the fewest free blocks, in state order, and says so; the
//! after panel is debugfs `blocks` block by block, owners as numbers.

use super::{churn_runs, SuiteData};
use crate::abi::BenchSample;
use crate::bench::{self, Backend};
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

/// The peak panel: a sample's counts as cells in state order.
fn peak_panel(samples: &[BenchSample]) -> Option<Panel> {
    let (i, s) = peak_sample(samples)?;
    let mut cells = Vec::new();
    for (state, n) in [
        ("owned", s.owned_blocks),
        ("fragment", s.fragment_blocks),
        ("shared", s.shared_blocks),
        ("free", s.free_blocks),
    ] {
        cells.extend((0..n).map(|_| Cell {
            state: state.into(),
            label: String::new(),
        }));
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
        cells: blocks
            .iter()
            .map(|b| Cell {
                state: b.state.clone(),
                label: b.owner.map(|o| o.to_string()).unwrap_or_default(),
            })
            .collect(),
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
                panels.extend(peak_panel(&run.result.samples));
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
