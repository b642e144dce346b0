// SPDX-License-Identifier: GPL-2.0

//! `report.md`: the suite's report for people, with the tables and the plots.

use super::block_map::{owners_line, peak_sample, sample_line};
use super::tables::{counters_table, spread_table, sweep_table};
use super::{churn_runs, groups, ratio_text, summary_table, SuiteData};
use crate::abi;
use crate::bench::{self, Pattern, Run};
use crate::table::Table;

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

pub(super) fn markdown(data: &SuiteData, main: &[&Run], has: &dyn Fn(&str) -> bool) -> String {
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
            first.free_cpus_text("as the kernel chooses for the pattern"),
            first.ops,
            first.batch_text(),
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
        for run in &runs {
            if let Some(m) = &run.result.peak_map {
                p(&format!(
                    "At the churn peak with `{}` ({:.1} ms in, the fewest free blocks): {}; {}.",
                    run.params.backend.name(),
                    m.sample.ns as f64 / 1e6,
                    sample_line(&m.sample),
                    owners_line(m.blocks.iter().map(|b| b.owner))
                ));
                p("");
            } else if let Some((i, s)) = peak_sample(&run.result.samples) {
                p(&format!(
                    "At the churn peak with `{}` (sample {} of {}): {} (counts; the samples \
                     name no block and no owner).",
                    run.params.backend.name(),
                    i + 1,
                    run.result.samples.len(),
                    sample_line(s)
                ));
                p("");
            }
        }
        for (backend, blocks) in &data.block_maps {
            p(&format!(
                "Block map after churn with `{}`: {}.",
                backend.name(),
                crate::debugfs::BlockSummary::of(blocks).line()
            ));
            p("");
        }
        p("![pool block map at the churn peak and after](block_map.svg)");
        p("");
    }
}
