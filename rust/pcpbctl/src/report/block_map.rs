// SPDX-License-Identifier: GPL-2.0

//! `block_map.svg`: the pool's blocks (debugfs `blocks`) drawn as a grid.

use super::SuiteData;
use crate::svg;

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
