// SPDX-License-Identifier: GPL-2.0

//! `pcpbctl suite`: the standard set of runs, written out as `summary.json`, `raw.json`,
//! `report.md` and SVG plots.

use crate::bench::{self, Backend, Params, Pattern};
use crate::commands::{bench_error, Progress};
use crate::cpulist;
use crate::debugfs::Debugfs;
use crate::device::Device;
use crate::error::{create_dir_all, errno, write_file, Error, Result};
use crate::report::{self, Series, SuiteData, SuiteRun};
use crate::signal;
use nix::errno::Errno;
use std::path::{Path, PathBuf};

/// `pcpbctl suite` options.
pub struct SuiteOptions {
    pub out: PathBuf,
    pub long: bool,
    pub mode: String,
    pub progress: bool,
    pub device: PathBuf,
    pub debugfs: PathBuf,
}

/// The seed of every run of the suite: runs are reproducible.
const SEED: u32 = 1;

/// Operations per allocating CPU at `order`: 20000 at order 0 halving per order down to 500
/// (`--quick`), ten times that with `--long`.
pub fn suite_ops(order: u32, long: bool) -> u64 {
    bench::default_ops(order, 20_000, 500) * if long { 10 } else { 1 }
}

/// The runs of the suite, in order: every pattern at orders 0 and `block_order` (churn once, at
/// `block_order`; folio at 2 and `block_order`) on all online CPUs with every backend, then the
/// remote sweep at order 0.
///
/// `remote` and `softirq` free on the first online CPU and allocate on the others (with one
/// CPU, that CPU does both); the other patterns allocate on all online CPUs and leave the
/// freeing CPUs to the kernel's default for the pattern. The churn runs of the pool backends
/// ask for the block map at the peak.
pub fn plan(online: &[u32], block_order: u32, long: bool) -> Vec<(Series, Params)> {
    let cpus: Vec<u32> = online.iter().copied().filter(|&c| c < 64).collect();
    let params = |pattern, backend, order, alloc: &[u32], free: &[u32]| {
        Params::new(
            pattern,
            backend,
            order,
            alloc,
            free,
            suite_ops(order, long),
            SEED,
        )
    };
    let mut plan = Vec::new();
    for pattern in Pattern::ALL {
        let orders = match pattern {
            Pattern::Churn => vec![block_order],
            // A small folio and one of the pageblock order (the one the pool keeps compound).
            Pattern::Folio => vec![2, block_order],
            _ => vec![0, block_order],
        };
        let split = matches!(pattern, Pattern::Remote | Pattern::Softirq);
        let (alloc, free): (&[u32], &[u32]) = if split && cpus.len() >= 2 {
            (&cpus[1..], &cpus[..1])
        } else {
            (&cpus, &[])
        };
        for order in orders {
            for backend in Backend::ALL {
                let mut p = params(pattern, backend, order, alloc, free);
                // The block map at the peak, for report/block_map.rs.
                p.peak_map = pattern == Pattern::Churn && backend.is_pool();
                plan.push((Series::Main, p));
            }
        }
    }
    for n in 1..cpus.len() {
        for backend in Backend::ALL {
            plan.push((
                Series::RemoteSweep,
                params(Pattern::Remote, backend, 0, &cpus[1..=n], &cpus[..1]),
            ));
        }
    }
    plan
}

/// `uname -r`.
fn kernel_release() -> String {
    match nix::sys::utsname::uname() {
        Ok(uts) => uts.release().to_string_lossy().into_owned(),
        Err(_) => "unknown".into(),
    }
}

fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    report::utc_date(secs)
}

/// Writes the suite's files into `dir`.
fn write_files(dir: &Path, data: &SuiteData) -> Result<Vec<PathBuf>> {
    create_dir_all(dir)?;
    let mut files = report::render(data);
    let raw = serde_json::json!({
        "tool": concat!("pcpbctl ", env!("CARGO_PKG_VERSION")),
        "date": data.date,
        "kernel": data.kernel,
        "cpus": data.cpus,
        "mode": data.mode,
        "size": data.size,
        "info": data.info,
        "policy": data.policy,
        "runs": data.runs,
        "failed": data.failed.iter().map(|(p, e)| serde_json::json!({"params": p, "error": e})).collect::<Vec<_>>(),
        "block_maps": data.block_maps.iter().map(|(b, blocks)| serde_json::json!({"after": b, "blocks": blocks})).collect::<Vec<_>>(),
        "notes": data.notes,
    });
    files.insert(
        1,
        (
            "raw.json".into(),
            serde_json::to_string_pretty(&raw).expect("raw results serialize") + "\n",
        ),
    );
    let mut written = Vec::new();
    for (name, content) in files {
        let path = dir.join(name);
        write_file(&path, content)?;
        written.push(path);
    }
    Ok(written)
}

/// `pcpbctl suite`.
pub fn run(opts: &SuiteOptions) -> Result<()> {
    let online = cpulist::online()?;
    let dev = Device::open(&opts.device)?;
    let info = dev.info().map_err(|e| dev.error("PCPBUDDY_IOC_INFO", &e))?;
    if info.outstanding_pages > 0 {
        return Err(Error::new(format!(
            "suite: {} pages are outstanding in the pool; benchmarks need an idle pool",
            info.outstanding_pages
        )));
    }
    let mut data = SuiteData {
        date: now_utc(),
        kernel: kernel_release(),
        cpus: online.len(),
        mode: opts.mode.clone(),
        size: if opts.long { "long (ops x10)" } else { "quick" }.into(),
        info: Some(info),
        policy: dev.get_policy().ok(),
        ..Default::default()
    };
    if online.len() < 2 {
        data.notes.push(
            "one online CPU: remote runs allocate and free on it, and there is no CPU-count sweep."
                .into(),
        );
    }
    if online.iter().any(|&c| c >= 64) {
        data.notes
            .push("CPUs above 63 were left out (benchmarks run on CPUs 0-63 only).".into());
    }
    let plan = plan(&online, info.block_order, opts.long);
    signal::catch_interrupts();
    let progress = Progress::new(opts.progress);
    let debugfs = Debugfs::new(&opts.debugfs);
    let mut interrupted = false;
    for (i, (series, params)) in plan.iter().enumerate() {
        if signal::interrupted() {
            interrupted = true;
            break;
        }
        let sweep = if *series == Series::RemoteSweep {
            format!(" ({} alloc CPUs)", params.alloc_cpus.len())
        } else {
            String::new()
        };
        progress.show(&format!(
            "[{}/{}] bench {} order {}{}: {}…",
            i + 1,
            plan.len(),
            params.pattern.name(),
            params.order,
            sweep,
            params.backend.name()
        ));
        match dev.bench(params) {
            Ok(result) => {
                if params.pattern == Pattern::Churn && params.backend.is_pool() {
                    match debugfs.blocks() {
                        Ok(blocks) => data.block_maps.push((params.backend, blocks)),
                        Err(e) => {
                            let note = format!("no block map after churn: {}", e.message);
                            if !data.notes.contains(&note) {
                                data.notes.push(note);
                            }
                        }
                    }
                }
                data.runs.push(SuiteRun {
                    series: *series,
                    run: bench::Run {
                        params: params.clone(),
                        result,
                    },
                });
            }
            Err(e) => match errno(&e) {
                Some(Errno::EINTR) => {
                    interrupted = true;
                    break;
                }
                Some(Errno::EINVAL | Errno::ENOMEM | Errno::EIO) => {
                    data.failed
                        .push((params.clone(), bench_error(&dev, &e, params).message));
                }
                _ => {
                    progress.done();
                    return Err(bench_error(&dev, &e, params));
                }
            },
        }
    }
    progress.done();
    if interrupted {
        data.notes.push(format!(
            "interrupted (Ctrl-C) after {} of {} runs: the results are partial.",
            data.runs.len() + data.failed.len(),
            plan.len()
        ));
    }
    let written = write_files(&opts.out, &data)?;
    let main: Vec<&bench::Run> = data
        .runs
        .iter()
        .filter(|r| r.series == Series::Main)
        .map(|r| &r.run)
        .collect();
    print!("{}", report::summary_table(&main).render());
    for (params, err) in &data.failed {
        println!("failed: {}: {}", params.describe(), err);
    }
    println!(
        "wrote {} files to {} (report.md, summary.json, raw.json and {} SVG plot files)",
        written.len(),
        opts.out.display(),
        written
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "svg"))
            .count()
    );
    if interrupted {
        return Err(Error::interrupted("suite"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_covers_the_standard_set() {
        let plan = plan(&[0, 1, 2, 3], 9, false);
        let main: Vec<&Params> = plan
            .iter()
            .filter(|(s, _)| *s == Series::Main)
            .map(|(_, p)| p)
            .collect();
        // 7 patterns at 2 orders, churn at 1, times 4 backends.
        assert_eq!(main.len(), 15 * 4);
        assert!(main
            .iter()
            .filter(|p| p.pattern == Pattern::Folio)
            .all(|p| p.order == 2 || p.order == 9));
        assert!(main
            .iter()
            .filter(|p| p.pattern == Pattern::Churn)
            .all(|p| p.order == 9));
        let remote = main.iter().find(|p| p.pattern == Pattern::Remote).unwrap();
        assert_eq!(
            (remote.alloc_cpus.clone(), remote.free_cpus.clone()),
            (vec![1, 2, 3], vec![0])
        );
        let bulk9 = main
            .iter()
            .find(|p| p.pattern == Pattern::Bulk && p.order == 9)
            .unwrap();
        assert_eq!((bulk9.ops, bulk9.alloc_cpus.len()), (500, 4));
        let sweep: Vec<usize> = plan
            .iter()
            .filter(|(s, p)| *s == Series::RemoteSweep && p.backend == Backend::Pool)
            .map(|(_, p)| p.alloc_cpus.len())
            .collect();
        assert_eq!(sweep, vec![1, 2, 3]);
        assert_eq!(suite_ops(0, true), 200_000);
        // One CPU: no sweep, remote on the single CPU.
        let single = super::plan(&[0], 9, false);
        assert_eq!(single.len(), 60);
    }

    #[test]
    fn writes_the_files() {
        let dir = std::env::temp_dir().join(format!("pcpbctl-suite-{}", std::process::id()));
        let data = SuiteData {
            date: report::utc_date(0),
            kernel: kernel_release(),
            cpus: 1,
            mode: "unspecified".into(),
            size: "quick".into(),
            runs: vec![SuiteRun {
                series: Series::Main,
                run: crate::bench::tests::run(Pattern::Repeat, Backend::Pool, 0, &[10], 1),
            }],
            ..Default::default()
        };
        let written = write_files(&dir.join("out"), &data).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            ["summary.json", "raw.json", "report.md", "ns_per_op.svg"]
        );
        let raw: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("out/raw.json")).unwrap())
                .unwrap();
        assert_eq!(raw["runs"][0]["params"]["pattern"], "repeat");
        assert_eq!(raw["runs"][0]["series"], "main");
        assert_eq!(raw["runs"][0]["result"]["cpus"][0]["allocs"], 1000);
        let _ = std::fs::remove_dir_all(&dir);
        assert!(!kernel_release().is_empty());
    }
}
