// SPDX-License-Identifier: GPL-2.0

//! `pcpbctl trace`: `import` (a tracefs recording into a replay file), `info` (a replay file's
//! summary) and `replay` (`PCPBUDDY_IOC_REPLAY` of replay files on every backend), with what
//! the replays come to: ns/op, pool ÷ kernel, global-lock acquisitions per 1000 operations, the
//! share of remote frees, fragmentation after.

use crate::abi::{self, BenchCounters, BenchSample, ReplayCpu, ReplayOp};
use crate::bench::{self, Backend};
use crate::commands::{print_json, Progress};
use crate::cpulist;
use crate::device::Device;
use crate::error::{create_dir_all, errno, write_file, Error, Result};
use crate::signal;
use crate::table::{self, Table};
use crate::trace::{self, Summary, TraceFile};
use nix::errno::Errno;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The facts of a recording, next to it: `build.trace` -> `build.meta`.
fn meta_path(raw: &Path) -> PathBuf {
    let name = raw
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.trim_end_matches(".gz").trim_end_matches(".trace");
    raw.with_file_name(format!("{stem}.meta"))
}

/// The summary of a trace as rows of `(what, value)`.
pub fn summary_rows(name: &str, meta: &serde_json::Value, s: &Summary) -> Vec<(String, String)> {
    let rec = &meta["recorded"];
    let mut rows = vec![("trace".to_string(), name.to_string())];
    if rec.is_object() {
        rows.push((
            "recorded".into(),
            format!(
                "{}, {} CPUs, {} s, kernel {}",
                rec["workload"].as_str().unwrap_or("?"),
                rec["cpus"],
                rec["seconds"],
                rec["kernel"].as_str().unwrap_or("?")
            ),
        ));
    }
    let pct = |x: Option<f64>| {
        x.map(|x| format!("{:.1} %", x * 100.0))
            .unwrap_or("-".into())
    };
    rows.extend([
        (
            "events".into(),
            format!("{} ({} lost by the ring buffers)", s.events, s.lost_events),
        ),
        (
            "ops".into(),
            format!("{} ({} allocations, {} frees)", s.ops, s.allocs, s.frees),
        ),
        ("orders seen (allocations)".into(), s.orders_text()),
        (
            "CPUs".into(),
            cpulist::format(&s.cpus.iter().map(|&c| u32::from(c)).collect::<Vec<_>>()),
        ),
        (
            "remote frees".into(),
            format!("{} ({})", s.remote_frees, pct(s.remote_share())),
        ),
        (
            "dropped frees (allocated before the window)".into(),
            format!("{} ({} pages)", s.dropped_frees, s.dropped_pages),
        ),
        (
            "unmatched allocations (freed at the end of the replay)".into(),
            format!("{} ({} pages)", s.unmatched_allocs, s.unmatched_pages),
        ),
        (
            "split allocations (freed whole at their last piece)".into(),
            format!("{} ({} piece frees)", s.split_allocs, s.piece_frees),
        ),
        (
            "frees of lost events (inserted)".into(),
            s.implicit_frees.to_string(),
        ),
        (
            "batched duplicates (ignored)".into(),
            s.batched_duplicates.to_string(),
        ),
        (
            "peak live set".into(),
            format!(
                "{} pages ({:.1} MiB)",
                s.peak_live_pages,
                s.peak_live_pages as f64 / 256.0
            ),
        ),
    ]);
    if s.cut_events > 0 {
        rows.push((
            "events after --max-ops (left out)".into(),
            s.cut_events.to_string(),
        ));
    }
    rows
}

fn print_rows(rows: &[(String, String)]) {
    let mut t = Table::new(&["", ""])
        .align(1, table::Align::Left)
        .align(0, table::Align::Left);
    for (k, v) in rows {
        t.row(vec![k.clone(), v.clone()]);
    }
    // The header row of a two-column list says nothing: drop it.
    print!(
        "{}",
        t.render()
            .lines()
            .skip(1)
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    );
}

/// `pcpbctl trace import RAW OUT`.
pub fn import(
    raw: &Path,
    out: &Path,
    name: Option<&str>,
    max_ops: Option<u64>,
    json: bool,
) -> Result<()> {
    let (ops, summary) = trace::import(trace::open(raw)?, max_ops)
        .map_err(|e| Error::new(format!("{}: {}", raw.display(), e.message)))?;
    if ops.is_empty() {
        return Err(Error::new(format!(
            "{}: no mm_page_* events",
            raw.display()
        )));
    }
    let name = name.map(str::to_string).unwrap_or_else(|| {
        let n = out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        n.split('.').next().unwrap_or("trace").to_string()
    });
    let recorded = trace::read_meta(&meta_path(raw));
    let mut meta = serde_json::json!({
        "name": name,
        "source": raw.file_name().map(|n| n.to_string_lossy().into_owned()),
        "tool": concat!("pcpbctl ", env!("CARGO_PKG_VERSION")),
        "summary": summary,
    });
    if recorded.as_object().is_some_and(|m| !m.is_empty()) {
        meta["recorded"] = recorded;
    }
    let file = TraceFile { meta, ops };
    file.write(out)?;
    if json {
        print_json(&file.meta);
    } else {
        print_rows(&summary_rows(&name, &file.meta, &summary));
        let size = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
        println!("wrote {} ({} bytes)", out.display(), size);
    }
    Ok(())
}

/// `pcpbctl trace info FILE...`.
pub fn info(files: &[PathBuf], json: bool) -> Result<()> {
    let mut all = Vec::new();
    for (i, path) in files.iter().enumerate() {
        let f = TraceFile::read(path)?;
        let s = f
            .summary()
            .ok_or_else(|| Error::new(format!("{}: no summary", path.display())))?;
        if json {
            let mut m = f.meta.clone();
            m["file"] = path.display().to_string().into();
            all.push(m);
        } else {
            if i > 0 {
                println!();
            }
            print_rows(&summary_rows(&f.name(), &f.meta, &s));
        }
    }
    if json {
        print_json(&all);
    }
    Ok(())
}

/// The result of one replay, with only the filled entries of the arrays.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Outcome {
    pub elapsed_ns: u64,
    pub nr_allocs: u64,
    pub over_budget: u64,
    pub peak_live_pages: u64,
    pub counters: BenchCounters,
    pub cpus: Vec<ReplayCpu>,
    pub samples: Vec<BenchSample>,
}

/// One replay: a trace on a backend.
#[derive(Clone, Debug, Serialize)]
pub struct ReplayRun {
    pub trace: String,
    pub backend: Backend,
    pub result: Outcome,
}

/// What a replay comes to.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReplaySummary {
    pub threads: usize,
    /// Operations made: allocations (also failed) and frees (also skipped), timed part.
    pub ops: u64,
    pub failures: u64,
    pub skipped_frees: u64,
    pub frees_at_end: u64,
    pub over_budget: u64,
    /// Sum of the threads' time / sum of their operations.
    pub ns_per_op: Option<f64>,
    /// The threads' own ns/op, lowest and highest.
    pub ns_per_op_min: Option<f64>,
    pub ns_per_op_max: Option<f64>,
    /// Time spent waiting for another thread's allocation, of all the threads' time.
    pub wait_share: Option<f64>,
    /// Frees of an allocation another thread made, of all frees.
    pub remote_share: Option<f64>,
    pub global_lock_per_1000_ops: Option<f64>,
    /// Wholly free blocks / blocks at the end of the trace and after draining every cache.
    pub free_block_fraction_end: Option<f64>,
    pub free_block_fraction_drained: Option<f64>,
    /// Unusable free space index at block_order at the end of the trace.
    pub unusable_end: Option<f64>,
}

fn thread_ops(c: &ReplayCpu) -> u64 {
    c.allocs + c.failures + c.frees + c.skipped_frees
}

/// Computes the summary of a replay.
pub fn summarize(run: &ReplayRun) -> ReplaySummary {
    let cpus = &run.result.cpus;
    let ops: u64 = cpus.iter().map(thread_ops).sum();
    let total: u64 = cpus.iter().map(|c| c.total_ns).sum();
    let wait: u64 = cpus.iter().map(|c| c.wait_ns).sum();
    let frees: u64 = cpus.iter().map(|c| c.frees).sum();
    let remote: u64 = cpus.iter().map(|c| c.remote_frees).sum();
    let per: Vec<f64> = cpus
        .iter()
        .filter(|c| thread_ops(c) > 0)
        .map(|c| c.total_ns as f64 / thread_ops(c) as f64)
        .collect();
    let spread = bench::Spread::of(&per);
    let sample = |i: usize| run.result.samples.get(i);
    ReplaySummary {
        threads: cpus.len(),
        ops,
        failures: cpus.iter().map(|c| c.failures).sum(),
        skipped_frees: cpus.iter().map(|c| c.skipped_frees).sum(),
        frees_at_end: cpus.iter().map(|c| c.frees_at_end).sum(),
        over_budget: run.result.over_budget,
        ns_per_op: (ops > 0).then(|| total as f64 / ops as f64),
        ns_per_op_min: spread.map(|s| s.min),
        ns_per_op_max: spread.map(|s| s.max),
        wait_share: (total + wait > 0).then(|| wait as f64 / (total + wait) as f64),
        remote_share: (frees > 0).then(|| remote as f64 / frees as f64),
        global_lock_per_1000_ops: if run.backend.is_pool() {
            bench::glock_per_1000(run.result.counters.global_locks, ops)
        } else {
            None
        },
        free_block_fraction_end: sample(0).and_then(bench::free_block_fraction),
        free_block_fraction_drained: sample(2).and_then(bench::free_block_fraction),
        unusable_end: sample(0).map(bench::unusable_index),
    }
}

/// The ns/op of `backend` among the replays of one trace.
fn ns_of(runs: &[&ReplayRun], backend: Backend) -> Option<f64> {
    runs.iter()
        .find(|r| r.backend == backend)
        .and_then(|r| summarize(r).ns_per_op)
}

/// The table of the replays of one trace (a row per backend).
pub fn table(runs: &[&ReplayRun]) -> Table {
    let mut t = Table::new(&[
        "backend",
        "threads",
        "ops",
        "ns/op (min..max)",
        "÷kernel",
        "glock/1k",
        "remote",
        "wait",
        "failed",
        "over budget",
        "freed at end",
        "free blocks end→drained",
        "unusable end",
    ])
    .align(0, table::Align::Left);
    let kernel = ns_of(runs, Backend::Kernel);
    let pct = |x: Option<f64>| {
        x.map(|x| format!("{:.1}%", x * 100.0))
            .unwrap_or("-".into())
    };
    let frac = |x: Option<f64>| x.map(|x| format!("{x:.2}")).unwrap_or("-".into());
    for r in runs {
        let s = summarize(r);
        let spread = match (s.ns_per_op, s.ns_per_op_min, s.ns_per_op_max) {
            (Some(a), Some(lo), Some(hi)) if table::ns(Some(lo)) != table::ns(Some(hi)) => format!(
                "{} ({}..{})",
                table::ns(Some(a)),
                table::ns(Some(lo)),
                table::ns(Some(hi))
            ),
            (a, _, _) => table::ns(a),
        };
        let ratio = bench::ratio(s.ns_per_op, kernel)
            .map(|x| format!("{x:.2}x"))
            .unwrap_or("-".into());
        t.row(vec![
            r.backend.name().into(),
            s.threads.to_string(),
            s.ops.to_string(),
            spread,
            ratio,
            s.global_lock_per_1000_ops
                .map(|g| format!("{g:.2}"))
                .unwrap_or("-".into()),
            pct(s.remote_share),
            pct(s.wait_share),
            s.failures.to_string(),
            s.over_budget.to_string(),
            s.frees_at_end.to_string(),
            match (s.free_block_fraction_end, s.free_block_fraction_drained) {
                (None, None) => "-".into(),
                (a, b) => format!("{}→{}", frac(a), frac(b)),
            },
            frac(s.unusable_end),
        ]);
    }
    t
}

/// The header line of a trace's table.
fn heading(f: &TraceFile) -> String {
    let s = f.summary().unwrap_or_default();
    format!(
        "replay {}: {} ops, orders {}, recorded CPUs {}, remote frees {}, peak live {} pages",
        f.name(),
        f.ops.len(),
        s.orders_text(),
        s.cpus.len(),
        s.remote_share()
            .map(|x| format!("{:.1}%", x * 100.0))
            .unwrap_or("-".into()),
        s.peak_live_pages
    )
}

/// The operations in the ioctl's form.
pub fn abi_ops(ops: &[trace::Op]) -> Vec<ReplayOp> {
    ops.iter()
        .map(|o| ReplayOp {
            id: o.id,
            cpu: o.cpu,
            order: o.order,
            flags: if o.free { abi::REPLAY_OP_FREE } else { 0 },
        })
        .collect()
}

fn replay_error(dev: &Device, err: &std::io::Error, what: &str) -> Error {
    dev.run_error(
        "PCPBUDDY_IOC_REPLAY",
        what,
        err,
        "the module refused the trace or the CPUs (EINVAL): an order above its block_order, a CPU offline?",
        "pages are outstanding in the pool or a benchmark runs; replays need an idle pool (EBUSY)",
    )
}

/// `pcpbctl trace replay` options.
pub struct ReplayOptions {
    pub files: Vec<PathBuf>,
    pub cpus: Option<Vec<u32>>,
    pub backends: Vec<Backend>,
    pub progress: bool,
    /// Write replay.md and replay.json there.
    pub out: Option<PathBuf>,
    /// Where the numbers come from (`--mode`).
    pub mode: String,
}

/// The Markdown report of replays (`--out`).
pub fn markdown(files: &[TraceFile], runs: &[ReplayRun], mode: &str) -> String {
    let mut md = String::from("# Replays of recorded allocation traces\n\n");
    md.push_str(&format!(
        "{} traces, each replayed through `PCPBUDDY_IOC_REPLAY` on every backend in the same boot. \
         Mode: {}. Method and columns: Documentation/benchmarks.md, \"Replay\".\n\n",
        files.len(),
        mode
    ));
    for f in files {
        let name = f.name();
        let group: Vec<&ReplayRun> = runs.iter().filter(|r| r.trace == name).collect();
        md.push_str(&format!("## {}\n\n{}\n\n", name, heading(f)));
        if let Some(s) = f.summary() {
            for (k, v) in summary_rows(&name, &f.meta, &s).iter().skip(1) {
                md.push_str(&format!("* {k}: {v}\n"));
            }
            md.push('\n');
        }
        if group.is_empty() {
            md.push_str("(no replay completed)\n\n");
            continue;
        }
        md.push_str("```\n");
        md.push_str(&table(&group).render());
        md.push_str("```\n\n");
    }
    md
}

/// The filled part of a `PCPBUDDY_IOC_REPLAY` answer.
pub fn outcome(r: &abi::Replay) -> Outcome {
    Outcome {
        elapsed_ns: r.elapsed_ns,
        nr_allocs: r.nr_allocs,
        over_budget: r.over_budget,
        peak_live_pages: r.peak_live_pages,
        counters: r.counters,
        cpus: r.cpus[..(r.nr_cpus as usize).min(abi::BENCH_MAX_CPUS)].to_vec(),
        samples: r.samples[..(r.nr_samples as usize).min(abi::REPLAY_SAMPLES)].to_vec(),
    }
}

/// `pcpbctl trace replay FILE...`.
pub fn replay(device: &Path, opts: &ReplayOptions, json: bool) -> Result<()> {
    let online = cpulist::online()?;
    let mask = match &opts.cpus {
        Some(cpus) => {
            crate::commands::check_cpus(cpus, &online, "--cpus")?;
            cpulist::to_mask(cpus)?
        }
        None => 0,
    };
    let mut files = Vec::new();
    for path in &opts.files {
        let f = TraceFile::read(path)?;
        if f.ops.len() as u64 > abi::REPLAY_MAX_OPS {
            return Err(Error::new(format!(
                "{}: {} operations, more than a replay takes ({}): import it with --max-ops",
                path.display(),
                f.ops.len(),
                abi::REPLAY_MAX_OPS
            )));
        }
        files.push(f);
    }
    let dev = Device::open(device)?;
    signal::catch_interrupts();
    let progress = Progress::new(opts.progress);
    let mut runs = Vec::new();
    let mut interrupted = false;
    'traces: for f in &files {
        let ops = abi_ops(&f.ops);
        for &backend in &opts.backends {
            let what = format!("replay {}: {}", f.name(), backend.name());
            progress.show(&format!("{what}…"));
            if signal::interrupted() {
                interrupted = true;
                break 'traces;
            }
            match dev.replay(&ops, backend.abi(), mask) {
                Ok(r) => runs.push(ReplayRun {
                    trace: f.name(),
                    backend,
                    result: outcome(&r),
                }),
                Err(e) if errno(&e) == Some(Errno::EINTR) => {
                    interrupted = true;
                    break 'traces;
                }
                Err(e) => {
                    progress.done();
                    return Err(replay_error(&dev, &e, &what));
                }
            }
        }
        progress.done();
        if !json {
            let group: Vec<&ReplayRun> = runs.iter().filter(|r| r.trace == f.name()).collect();
            println!("{}", heading(f));
            print!("{}", table(&group).render());
            println!();
        }
    }
    progress.done();
    let records: Vec<serde_json::Value> = runs
        .iter()
        .map(|r| serde_json::json!({ "trace": r.trace, "backend": r.backend, "result": r.result, "summary": summarize(r) }))
        .collect();
    if json {
        print_json(&records);
    }
    if let Some(dir) = &opts.out {
        create_dir_all(dir)?;
        let md = dir.join("replay.md");
        write_file(&md, markdown(&files, &runs, &opts.mode))?;
        let js = dir.join("replay.json");
        let text = serde_json::to_string_pretty(&records).expect("replays serialize") + "\n";
        write_file(&js, text)?;
        if !json {
            println!("wrote {} and {}", md.display(), js.display());
        }
    }
    if interrupted {
        return Err(Error::interrupted("trace replay"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::Op;

    fn cpu(allocs: u64, frees: u64, remote: u64, total_ns: u64, wait_ns: u64) -> ReplayCpu {
        ReplayCpu {
            allocs,
            frees,
            remote_frees: remote,
            total_ns,
            wait_ns,
            ..Default::default()
        }
    }

    fn run(backend: Backend, ns: u64) -> ReplayRun {
        ReplayRun {
            trace: "t".into(),
            backend,
            result: Outcome {
                counters: BenchCounters {
                    global_locks: 3,
                    ..Default::default()
                },
                cpus: vec![
                    cpu(100, 100, 50, 200 * ns, 0),
                    cpu(50, 50, 0, 50 * ns, 100 * ns),
                ],
                samples: if backend.is_pool() {
                    vec![
                        BenchSample {
                            free_blocks: 2,
                            owned_blocks: 2,
                            unusable_max_milli: 500,
                            ..Default::default()
                        },
                        BenchSample::default(),
                        BenchSample {
                            free_blocks: 4,
                            ..Default::default()
                        },
                    ]
                } else {
                    vec![]
                },
                ..Default::default()
            },
        }
    }

    #[test]
    fn summary_of_a_replay() {
        let s = summarize(&run(Backend::Pool, 10));
        assert_eq!(s.ops, 300);
        assert_eq!(s.ns_per_op, Some(2500.0 / 300.0));
        assert_eq!((s.ns_per_op_min, s.ns_per_op_max), (Some(5.0), Some(10.0)));
        assert_eq!(s.remote_share, Some(1.0 / 3.0));
        assert_eq!(s.wait_share, Some(1000.0 / 3500.0));
        assert_eq!(s.global_lock_per_1000_ops, Some(10.0));
        assert_eq!(s.free_block_fraction_end, Some(0.5));
        assert_eq!(s.free_block_fraction_drained, Some(1.0));
        assert_eq!(s.unusable_end, Some(0.5));
        let k = summarize(&run(Backend::Kernel, 20));
        assert_eq!(
            (k.global_lock_per_1000_ops, k.free_block_fraction_end),
            (None, None)
        );
        let runs = [run(Backend::Pool, 10), run(Backend::Kernel, 20)];
        let refs: Vec<&ReplayRun> = runs.iter().collect();
        let text = table(&refs).render();
        let pool = text.lines().nth(1).unwrap();
        assert!(pool.contains("0.50x"), "{text}");
        assert!(pool.contains("0.50→1.00"), "{text}");
    }

    #[test]
    fn ops_in_the_abi_form_and_meta_paths() {
        let ops = abi_ops(&[
            Op {
                id: 0,
                cpu: 3,
                order: 9,
                free: false,
            },
            Op {
                id: 0,
                cpu: 1,
                order: 9,
                free: true,
            },
        ]);
        assert_eq!(
            ops[0],
            ReplayOp {
                id: 0,
                cpu: 3,
                order: 9,
                flags: 0
            }
        );
        assert_eq!(ops[1].flags, abi::REPLAY_OP_FREE);
        assert_eq!(
            meta_path(Path::new("/r/build.trace")),
            PathBuf::from("/r/build.meta")
        );
        assert_eq!(
            meta_path(Path::new("/r/build.trace.gz")),
            PathBuf::from("/r/build.meta")
        );
    }
}
