// SPDX-License-Identifier: GPL-2.0

//! `pcpbctl sweep`: `bulk`, `remote` and trace replays on 1, 2, 4, … CPUs, every backend in the
//! same boot: how each allocator's cost moves with the number of CPUs (Documentation/
//! benchmarks.md, "CPU sweeps"). Writes `sweep.md`, `sweep.json` and one plot per series.

use crate::abi;
use crate::bench::{self, Backend, Params, Pattern, Run};
use crate::commands::{bench_error, Progress};
use crate::cpulist;
use crate::device::Device;
use crate::error::{create_dir_all, describe, errno, write_file, Error, Result};
use crate::replay::{self, ReplayRun};
use crate::report::backend_color;
use crate::signal;
use crate::svg;
use crate::table::Table;
use crate::trace::TraceFile;
use nix::errno::Errno;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// `pcpbctl sweep` options.
pub struct SweepOptions {
    pub out: PathBuf,
    /// Largest CPU count (default: every online CPU, at most 64).
    pub max_cpus: Option<usize>,
    /// The host's cores, when the run is wall-clock under emulation: counts above it are
    /// marked (their vCPUs were time-sliced).
    pub host_cores: Option<usize>,
    pub traces: Vec<PathBuf>,
    pub ops: Option<u64>,
    pub mode: String,
    pub progress: bool,
    pub device: PathBuf,
}

/// One point: a series (pattern and order, or a trace) on `cpus` CPUs with one backend.
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    pub series: String,
    pub cpus: usize,
    pub backend: Backend,
    /// The CPUs' own time per operation, averaged over the CPUs.
    pub ns_per_op: f64,
    /// Elapsed time over all operations: falls as 1/CPUs when the CPUs scale perfectly on real
    /// hardware; under `-icount` (one vCPU runs at a time) it is the work per operation.
    pub elapsed_per_op: f64,
    pub global_locks_per_1000: Option<f64>,
}

/// The CPU counts of a sweep up to `max`: 1, 2, 4, … and `max` itself.
pub fn counts(max: usize) -> Vec<usize> {
    let mut counts: Vec<usize> = (0..usize::BITS)
        .map(|i| 1usize << i)
        .take_while(|&n| n < max)
        .collect();
    if max > 0 {
        counts.push(max);
    }
    counts
}

fn point_of_bench(series: &str, cpus: usize, run: &Run) -> Option<Point> {
    let s = bench::summarize(run);
    let ops = s.ops;
    Some(Point {
        series: series.into(),
        cpus,
        backend: run.params.backend,
        ns_per_op: s.ns_per_op?.avg,
        elapsed_per_op: (ops > 0).then(|| run.result.elapsed_ns as f64 / ops as f64)?,
        global_locks_per_1000: s.global_lock_per_1000_ops,
    })
}

fn point_of_replay(cpus: usize, run: &ReplayRun) -> Option<Point> {
    let s = replay::summarize(run);
    Some(Point {
        series: format!("replay {}", run.trace),
        cpus,
        backend: run.backend,
        ns_per_op: s.ns_per_op?,
        elapsed_per_op: (s.ops > 0).then(|| run.result.elapsed_ns as f64 / s.ops as f64)?,
        global_locks_per_1000: s.global_lock_per_1000_ops,
    })
}

/// The runs of one sweep step: `bulk` at orders 0 and `block_order` on the first `n` CPUs;
/// `remote` at order 0 with the first CPU freeing and the next `n - 1` allocating (n >= 2).
pub fn plan(cpus: &[u32], n: usize, block_order: u32, ops: Option<u64>) -> Vec<(String, Params)> {
    let params = |pattern, backend, order, alloc: &[u32], free: &[u32]| {
        let ops = ops.unwrap_or_else(|| bench::default_ops(order, 20_000, 500));
        Params::new(pattern, backend, order, alloc, free, ops, 1)
    };
    let mut plan = Vec::new();
    for order in [0, block_order] {
        for backend in Backend::ALL {
            plan.push((
                format!("bulk order {order}"),
                params(Pattern::Bulk, backend, order, &cpus[..n], &[]),
            ));
        }
    }
    if n >= 2 {
        for backend in Backend::ALL {
            plan.push((
                "remote order 0".into(),
                params(Pattern::Remote, backend, 0, &cpus[1..n], &cpus[..1]),
            ));
        }
    }
    plan
}

/// `pcpbctl sweep`.
pub fn run(opts: &SweepOptions) -> Result<()> {
    let online: Vec<u32> = cpulist::online()?.into_iter().filter(|&c| c < 64).collect();
    let max = opts.max_cpus.unwrap_or(online.len()).min(online.len());
    if max == 0 {
        return Err(Error::new("sweep: --max-cpus must be at least 1"));
    }
    let dev = Device::open(&opts.device)?;
    let info = dev.info().map_err(|e| dev.error("PCPBUDDY_IOC_INFO", &e))?;
    let mut traces = Vec::new();
    for path in &opts.traces {
        let f = TraceFile::read(path)?;
        if f.ops.len() as u64 > abi::REPLAY_MAX_OPS {
            return Err(Error::new(format!(
                "{}: too many operations for a replay",
                path.display()
            )));
        }
        traces.push(f);
    }
    signal::catch_interrupts();
    let progress = Progress::new(opts.progress);
    let mut points = Vec::new();
    let mut failed = Vec::new();
    'steps: for n in counts(max) {
        for (series, params) in plan(&online, n, info.block_order, opts.ops) {
            if signal::interrupted() {
                break 'steps;
            }
            progress.show(&format!(
                "sweep {n} CPUs: {series}, {}…",
                params.backend.name()
            ));
            match dev.bench(&params) {
                Ok(result) => {
                    let run = Run { params, result };
                    points.extend(point_of_bench(&series, n, &run));
                }
                Err(e) if errno(&e) == Some(Errno::EINTR) => break 'steps,
                Err(e) => failed.push(format!(
                    "{series} on {n} CPUs, {}: {}",
                    params.backend.name(),
                    bench_error(&dev, &e, &params).message
                )),
            }
        }
        let mask = cpulist::to_mask(&online[..n])?;
        for f in &traces {
            let ops = replay::abi_ops(&f.ops);
            for backend in Backend::ALL {
                if signal::interrupted() {
                    break 'steps;
                }
                progress.show(&format!(
                    "sweep {n} CPUs: replay {}, {}…",
                    f.name(),
                    backend.name()
                ));
                match dev.replay(&ops, backend.abi(), mask) {
                    Ok(r) => {
                        let run = ReplayRun {
                            trace: f.name(),
                            backend,
                            result: replay::outcome(&r),
                        };
                        points.extend(point_of_replay(n, &run));
                    }
                    Err(e) if errno(&e) == Some(Errno::EINTR) => break 'steps,
                    Err(e) => failed.push(format!(
                        "replay {} on {n} CPUs, {}: {}",
                        f.name(),
                        backend.name(),
                        describe(&e)
                    )),
                }
            }
        }
    }
    progress.done();
    let md = markdown(&points, &failed, &opts.mode, opts.host_cores);
    print!("{md}");
    write_files(&opts.out, &points, &md)
}

/// The series in the order they first appear.
pub(crate) fn series_names(points: &[Point]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for p in points {
        if !names.contains(&p.series) {
            names.push(p.series.clone());
        }
    }
    names
}

pub(crate) fn file_stem(series: &str) -> String {
    format!(
        "sweep_{}",
        series
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect::<String>()
    )
}

/// `sweep.md`: a table per series (rows: CPUs; columns: each backend's ns/op and elapsed/op).
pub fn markdown(
    points: &[Point],
    failed: &[String],
    mode: &str,
    host_cores: Option<usize>,
) -> String {
    let mut md = String::from("# CPU sweep\n\n");
    md.push_str(&format!(
        "Mode: {mode}. Each row is one run per backend on that many CPUs, in the same boot. \
         **ns/op**: each CPU's own time per operation, averaged over the CPUs; **elapsed/op**: \
         the run's elapsed time over all its operations (on real hardware it falls as 1/CPUs \
         when an allocator scales; under `-icount`, where one vCPU runs at a time, it is the \
         work per operation and ns/op grows with the CPUs). Method: Documentation/\
         benchmarks.md, \"CPU sweeps\".\n\n"
    ));
    if let Some(cores) = host_cores {
        md.push_str(&format!(
            "> **Warning:** wall-clock under emulation: rows above {cores} CPUs (the host's \
             cores) had vCPUs time-sliced; their numbers mean little.\n\n"
        ));
    }
    for series in series_names(points) {
        let group: Vec<&Point> = points.iter().filter(|p| p.series == series).collect();
        let backends: Vec<Backend> = Backend::ALL
            .into_iter()
            .filter(|b| group.iter().any(|p| p.backend == *b))
            .collect();
        let mut headers = vec!["CPUs".to_string()];
        for b in &backends {
            headers.push(format!("{} ns/op", b.name()));
            headers.push(format!("{} elapsed/op", b.name()));
        }
        headers.push("pool glock/1k".into());
        let mut t = Table::new(&headers);
        let mut cpus: Vec<usize> = group.iter().map(|p| p.cpus).collect();
        cpus.sort_unstable();
        cpus.dedup();
        for n in cpus {
            let mut row = vec![n.to_string()];
            for b in &backends {
                match group.iter().find(|p| p.cpus == n && p.backend == *b) {
                    Some(p) => {
                        row.push(format!("{:.0}", p.ns_per_op));
                        row.push(format!("{:.0}", p.elapsed_per_op));
                    }
                    None => row.extend(["-".to_string(), "-".to_string()]),
                }
            }
            row.push(
                group
                    .iter()
                    .find(|p| p.cpus == n && p.backend == Backend::Pool)
                    .and_then(|p| p.global_locks_per_1000)
                    .map_or("-".into(), |g| format!("{g:.2}")),
            );
            t.row(row);
        }
        md.push_str(&format!("## {series}\n\n{}\n", t.markdown()));
        md.push_str(&format!(
            "![{series}: ns/op by CPUs]({}.svg)\n\n",
            file_stem(&series)
        ));
    }
    if !failed.is_empty() {
        md.push_str("## Runs that failed\n\n");
        for f in failed {
            md.push_str(&format!("* {f}\n"));
        }
        md.push('\n');
    }
    md
}

/// The plot of one series: ns/op against CPUs, a line per backend.
pub fn plot(points: &[Point], series: &str) -> String {
    let lines: Vec<svg::Series> = Backend::ALL
        .into_iter()
        .filter_map(|b| {
            let mut pts: Vec<(f64, f64)> = points
                .iter()
                .filter(|p| p.series == series && p.backend == b)
                .map(|p| (p.cpus as f64, p.ns_per_op))
                .collect();
            if pts.is_empty() {
                return None;
            }
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            Some(svg::Series {
                name: b.name().into(),
                color: backend_color(b),
                dashed: false,
                points: pts,
            })
        })
        .collect();
    svg::line_chart(
        &format!("{series}: ns/op by CPUs"),
        "CPUs",
        "ns/op",
        &lines,
        None,
        true,
    )
}

fn write_files(dir: &Path, points: &[Point], md: &str) -> Result<()> {
    create_dir_all(dir)?;
    write_file(&dir.join("sweep.md"), md)?;
    let json = serde_json::to_string_pretty(points).expect("points serialize") + "\n";
    write_file(&dir.join("sweep.json"), json)?;
    for series in series_names(points) {
        let path = dir.join(format!("{}.svg", file_stem(&series)));
        write_file(&path, plot(points, &series))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_double_up_to_the_limit() {
        assert_eq!(counts(1), [1]);
        assert_eq!(counts(2), [1, 2]);
        assert_eq!(counts(4), [1, 2, 4]);
        assert_eq!(counts(6), [1, 2, 4, 6]);
        assert!(counts(0).is_empty());
    }

    #[test]
    fn plan_sweeps_bulk_and_remote() {
        let cpus = [0, 1, 2, 3];
        let one = plan(&cpus, 1, 9, Some(100));
        assert_eq!(one.len(), 8, "bulk at two orders, no remote on one CPU");
        let four = plan(&cpus, 4, 9, None);
        assert_eq!(four.len(), 12);
        let (name, remote) = &four[8];
        assert_eq!(name, "remote order 0");
        assert_eq!(
            (remote.alloc_cpus.as_slice(), remote.free_cpus.as_slice()),
            (&[1, 2, 3][..], &[0][..])
        );
        assert_eq!(four[0].1.alloc_cpus, [0, 1, 2, 3]);
    }

    #[test]
    fn markdown_and_plot() {
        let p = |cpus, backend, ns| Point {
            series: "bulk order 0".into(),
            cpus,
            backend,
            ns_per_op: ns,
            elapsed_per_op: ns / cpus as f64,
            global_locks_per_1000: (backend == Backend::Pool).then_some(0.5),
        };
        let points = [
            p(1, Backend::Pool, 100.0),
            p(2, Backend::Pool, 110.0),
            p(1, Backend::Kernel, 300.0),
        ];
        let md = markdown(&points, &[], "test", Some(2));
        assert!(md.contains("## bulk order 0"));
        assert!(md.contains("| 2 | 110 | 55 | - | - | 0.50 |"), "{md}");
        assert!(md.contains("rows above 2 CPUs"));
        assert!(md.contains("(sweep_bulk_order_0.svg)"));
        let svg = plot(&points, "bulk order 0");
        assert_eq!(svg.matches("<circle").count(), 3);
    }
}
