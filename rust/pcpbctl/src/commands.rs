// SPDX-License-Identifier: GPL-2.0

//! The subcommands other than `suite`: `info`, `stats`, `blocks`, `policy`, `verify`, `bench`.

use crate::abi::{self, Policy};
use crate::bench::{self, Backend, Params, Pattern, Run};
use crate::cpulist;
use crate::debugfs::{self, BlockSummary, Debugfs};
use crate::device::Device;
use crate::error::{errno, Error, Result};
use crate::report;
use crate::signal;
use crate::table::Table;
use nix::errno::Errno;
use std::io::{IsTerminal, Write};
use std::path::Path;

/// Prints a JSON value, pretty, on stdout.
pub fn print_json(value: &impl serde::Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON output serializes")
    );
}

/// `pcpbctl info`.
pub fn info(device: &Path, json: bool) -> Result<()> {
    let dev = Device::open(device)?;
    let info = dev.info().map_err(|e| dev.error("PCPBUDDY_IOC_INFO", &e))?;
    if json {
        let mut value = serde_json::to_value(info).expect("info serializes");
        value["source_name"] = abi::source_name(info.source).into();
        print_json(&value);
        return Ok(());
    }
    let mut t = Table::new(&["field", "value"]).align(1, crate::table::Align::Left);
    let version = if info.abi_version == abi::ABI_VERSION {
        info.abi_version.to_string()
    } else {
        format!(
            "{} (pcpbctl knows {}: results may be misread)",
            info.abi_version,
            abi::ABI_VERSION
        )
    };
    let node = if info.node < 0 {
        format!("{} (any)", info.node)
    } else {
        info.node.to_string()
    };
    for (k, v) in [
        ("abi_version", version),
        ("block_order", info.block_order.to_string()),
        ("page_size", info.page_size.to_string()),
        ("nr_cpu_ids", info.nr_cpu_ids.to_string()),
        ("source", abi::source_name(info.source).to_string()),
        ("node", node),
        (
            "size",
            format!("{} MiB ({} bytes)", info.size_bytes >> 20, info.size_bytes),
        ),
        ("nr_pages", info.nr_pages.to_string()),
        ("outstanding_pages", info.outstanding_pages.to_string()),
        ("metadata_bytes", info.metadata_bytes.to_string()),
    ] {
        t.row(vec![k.into(), v]);
    }
    print!("{}", t.render());
    Ok(())
}

/// The per-CPU columns of `pcpbctl stats`.
const CPU_COLUMNS: [&str; 11] = [
    "allocs",
    "frees_fast",
    "frees_local",
    "frees_remote",
    "parked_units",
    "absorbs",
    "refill_recover",
    "refill_claim",
    "refill_degrade",
    "global_locks",
    "cached_pages",
];

/// The text of `pcpbctl stats` (without `--cpu`).
pub fn stats_text(stats: &debugfs::Stats) -> String {
    let mut out = String::new();
    let mut g = Table::new(&["global", "value"]);
    for (k, v) in &stats.global {
        g.row(vec![k.clone(), v.to_string()]);
    }
    out.push_str(&g.render());
    out.push('\n');
    let mut headers = vec!["cpu"];
    headers.extend(CPU_COLUMNS);
    let mut t = Table::new(&headers);
    let cell = |c: &debugfs::Counters, name: &str| {
        debugfs::counter(c, name)
            .map(|v| v.to_string())
            .unwrap_or_else(|| "-".into())
    };
    for (cpu, counters) in &stats.cpus {
        let mut row = vec![cpu.to_string()];
        row.extend(CPU_COLUMNS.iter().map(|name| cell(counters, name)));
        t.row(row);
    }
    let mut total = vec!["total".to_string()];
    total.extend(CPU_COLUMNS.iter().map(|name| {
        if *name == "cached_pages" && debugfs::counter(&stats.total, name).is_none() {
            let sum: u64 = stats
                .cpus
                .iter()
                .filter_map(|(_, c)| debugfs::counter(c, name))
                .sum();
            sum.to_string()
        } else {
            cell(&stats.total, name)
        }
    }));
    t.row(total);
    out.push_str(&t.render());
    out
}

/// `pcpbctl stats [--cpu N]`.
pub fn stats(dir: &Path, cpu: Option<u32>, json: bool) -> Result<()> {
    let stats = Debugfs::new(dir).stats()?;
    if let Some(cpu) = cpu {
        if !stats.cpus.iter().any(|(c, _)| *c == cpu) {
            let listed: Vec<u32> = stats.cpus.iter().map(|(c, _)| *c).collect();
            return Err(Error::new(format!(
                "cpu {cpu}: not in {}/stats (CPUs there: {})",
                dir.display(),
                cpulist::format(&listed)
            )));
        }
    }
    if json {
        print_json(&stats.to_json(cpu));
    } else if let Some(cpu) = cpu {
        let mut t = Table::new(&[format!("cpu{cpu}"), "value".into()]);
        for (_, counters) in stats.cpus.iter().filter(|(c, _)| *c == cpu) {
            for (k, v) in counters {
                t.row(vec![k.clone(), v.to_string()]);
            }
        }
        print!("{}", t.render());
    } else {
        print!("{}", stats_text(&stats));
    }
    Ok(())
}

/// The block table of `pcpbctl blocks`.
pub fn blocks_table(blocks: &[debugfs::Block]) -> Table {
    let mut t = Table::new(&[
        "index", "pfn", "source", "state", "owner", "free", "order", "pending",
    ])
    .align(0, crate::table::Align::Right)
    .align(2, crate::table::Align::Left)
    .align(3, crate::table::Align::Left);
    let opt = |v: Option<u32>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
    for b in blocks {
        t.row(vec![
            b.index.to_string(),
            format!("{:#x}", b.pfn),
            b.source.clone(),
            b.state.clone(),
            opt(b.owner),
            b.free.to_string(),
            opt(b.order),
            b.pending.to_string(),
        ]);
    }
    t
}

/// `pcpbctl blocks`.
pub fn blocks(dir: &Path, json: bool) -> Result<()> {
    let blocks = Debugfs::new(dir).blocks()?;
    let summary = BlockSummary::of(&blocks);
    if json {
        print_json(&serde_json::json!({ "blocks": blocks, "summary": summary }));
    } else {
        print!("{}", blocks_table(&blocks).render());
        println!("{}", summary.line());
    }
    Ok(())
}

/// Applies one `KEY=VALUE` to a policy.
pub fn apply_setting(policy: &mut Policy, setting: &str) -> Result<()> {
    let (key, value) = setting.split_once('=').ok_or_else(|| {
        Error::new(format!(
            "policy: '{setting}' is not KEY=VALUE (keys: ownership, fragment_recovery, high, batch)"
        ))
    })?;
    let (key, value) = (key.trim(), value.trim());
    let flag = || match value {
        "1" | "on" | "true" | "yes" => Ok(1),
        "0" | "off" | "false" | "no" => Ok(0),
        _ => Err(Error::new(format!(
            "policy: {key}={value}: a flag is 0 or 1 (on/off)"
        ))),
    };
    let pages = || {
        value
            .parse::<u32>()
            .map_err(|_| Error::new(format!("policy: {key}={value}: not a number of pages")))
    };
    match key {
        "ownership" => policy.ownership = flag()?,
        "fragment_recovery" => policy.fragment_recovery = flag()?,
        "high" => policy.high = pages()?,
        "batch" => match pages()? {
            0 => return Err(Error::new("policy: batch=0: batch must be at least 1")),
            batch => policy.batch = batch,
        },
        _ => {
            return Err(Error::new(format!(
                "policy: unknown key '{key}' (keys: ownership, fragment_recovery, high, batch)"
            )))
        }
    }
    Ok(())
}

fn describe_policy(p: &Policy) -> String {
    format!(
        "ownership={} fragment_recovery={} high={} batch={}",
        p.ownership, p.fragment_recovery, p.high, p.batch
    )
}

/// `pcpbctl policy [KEY=VALUE ...]`.
pub fn policy(device: &Path, settings: &[String], json: bool) -> Result<()> {
    let dev = Device::open(device)?;
    let mut policy = dev
        .get_policy()
        .map_err(|e| dev.error("PCPBUDDY_IOC_GET_POLICY", &e))?;
    if !settings.is_empty() {
        for s in settings {
            apply_setting(&mut policy, s)?;
        }
        dev.set_policy(&policy).map_err(|e| {
            if errno(&e) == Some(Errno::EINVAL) {
                Error::new(format!(
                    "policy: the module refused {} (EINVAL)",
                    describe_policy(&policy)
                ))
            } else {
                dev.error("PCPBUDDY_IOC_SET_POLICY", &e)
            }
        })?;
        policy = dev
            .get_policy()
            .map_err(|e| dev.error("PCPBUDDY_IOC_GET_POLICY", &e))?;
    }
    if json {
        print_json(&policy);
    } else {
        let mut t = Table::new(&["policy", "value"]);
        t.row(vec!["ownership".into(), policy.ownership.to_string()]);
        t.row(vec![
            "fragment_recovery".into(),
            policy.fragment_recovery.to_string(),
        ]);
        t.row(vec!["high".into(), policy.high.to_string()]);
        t.row(vec!["batch".into(), policy.batch.to_string()]);
        print!("{}", t.render());
    }
    Ok(())
}

/// `pcpbctl verify`.
pub fn verify(device: &Path) -> Result<()> {
    let dev = Device::open(device)?;
    match dev.verify() {
        Ok(()) => {
            println!("ok");
            Ok(())
        }
        Err(e) if errno(&e) == Some(Errno::EUCLEAN) => Err(Error::new(
            "verify: pool invariants violated (EUCLEAN); see debugfs verify",
        )),
        Err(e) => Err(dev.error("PCPBUDDY_IOC_VERIFY", &e)),
    }
}

/// Progress lines on stderr: on a terminal one line rewritten in place, with `--progress`
/// elsewhere one line per step; nothing otherwise.
pub struct Progress {
    enabled: bool,
    tty: bool,
}

impl Progress {
    pub fn new(forced: bool) -> Self {
        let tty = std::io::stderr().is_terminal();
        Progress {
            enabled: forced || tty,
            tty,
        }
    }

    pub fn show(&self, msg: &str) {
        if !self.enabled {
            return;
        }
        let mut err = std::io::stderr();
        if self.tty {
            let _ = write!(err, "\r\x1b[K{msg}");
        } else {
            let _ = writeln!(err, "{msg}");
        }
        let _ = err.flush();
    }

    pub fn done(&self) {
        if self.enabled && self.tty {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
        }
    }
}

/// The one-line error for a failed `PCPBUDDY_IOC_BENCH`.
pub fn bench_error(dev: &Device, err: &std::io::Error, params: &Params) -> Error {
    let what = format!(
        "bench {} order {}: {}",
        params.pattern.name(),
        params.order,
        params.backend.name()
    );
    dev.run_error(
        "PCPBUDDY_IOC_BENCH",
        &what,
        err,
        &format!(
            "the module refused the parameters (EINVAL): {}",
            params.describe()
        ),
        "pages are outstanding in the pool; benchmarks need an idle pool (EBUSY)",
    )
}

/// Checks that CPUs are online and below 64.
pub fn check_cpus(cpus: &[u32], online: &[u32], option: &str) -> Result<()> {
    cpulist::to_mask(cpus)?;
    let offline: Vec<u32> = cpus
        .iter()
        .copied()
        .filter(|c| !online.contains(c))
        .collect();
    if !offline.is_empty() {
        return Err(Error::new(format!(
            "{option} {}: not online (online: {})",
            cpulist::format(&offline),
            cpulist::format(online)
        )));
    }
    Ok(())
}

/// `pcpbctl bench` options.
pub struct BenchOptions {
    pub pattern: Pattern,
    pub orders: Vec<u32>,
    pub cpus: Option<Vec<u32>>,
    pub free_cpus: Vec<u32>,
    pub ops: Option<u64>,
    pub batch: u32,
    pub seed: u32,
    pub backends: Vec<Backend>,
    pub progress: bool,
}

/// `pcpbctl bench`.
pub fn bench(device: &Path, opts: &BenchOptions, json: bool) -> Result<()> {
    let online = cpulist::online()?;
    let cpus = opts.cpus.clone().unwrap_or_else(|| online.clone());
    check_cpus(&cpus, &online, "--cpus")?;
    check_cpus(&opts.free_cpus, &online, "--free-cpus")?;
    let dev = Device::open(device)?;
    signal::catch_interrupts();
    let progress = Progress::new(opts.progress);
    let mut runs: Vec<Run> = Vec::new();
    let total = opts.orders.len() * opts.backends.len();
    for &order in &opts.orders {
        let first = runs.len();
        for &backend in &opts.backends {
            let params = Params {
                pattern: opts.pattern,
                backend,
                order,
                batch: opts.batch,
                alloc_cpus: cpus.clone(),
                free_cpus: opts.free_cpus.clone(),
                ops: opts
                    .ops
                    .unwrap_or_else(|| bench::default_ops(order, 100_000, 2000)),
                peak_map: false,
                seed: opts.seed,
            };
            progress.show(&format!(
                "bench {} order {}: {} ({}/{})…",
                opts.pattern.name(),
                order,
                backend.name(),
                runs.len() + 1,
                total
            ));
            if signal::interrupted() {
                progress.done();
                return Err(Error::interrupted("bench"));
            }
            let result = dev.bench(&params).map_err(|e| {
                progress.done();
                bench_error(&dev, &e, &params)
            })?;
            runs.push(Run { params, result });
        }
        progress.done();
        if !json {
            let group: Vec<&Run> = runs[first..].iter().collect();
            let p = &group[0].params;
            println!(
                "bench {} order {}: cpus {}, free-cpus {}, {} ops per allocating CPU, batch {}, seed {}",
                opts.pattern.name(),
                order,
                cpulist::format(&p.alloc_cpus),
                p.free_cpus_text("default"),
                p.ops,
                p.batch_text(),
                p.seed
            );
            print!("{}", report::bench_table(&group).render());
            print!("{}", report::ratio_text(&group));
            println!();
        }
    }
    if json {
        let out: Vec<serde_json::Value> = runs
            .iter()
            .map(|r| {
                serde_json::json!({
                    "params": r.params,
                    "result": r.result,
                    "summary": bench::summarize(r),
                })
            })
            .collect();
        print_json(&out);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_settings() {
        let mut p = Policy {
            ownership: 1,
            fragment_recovery: 1,
            high: 512,
            batch: 32,
        };
        apply_setting(&mut p, "ownership=off").unwrap();
        apply_setting(&mut p, "high=1024").unwrap();
        apply_setting(&mut p, "batch = 64").unwrap();
        assert_eq!(
            p,
            Policy {
                ownership: 0,
                fragment_recovery: 1,
                high: 1024,
                batch: 64
            }
        );
        assert!(apply_setting(&mut p, "batch=0").is_err());
        assert!(apply_setting(&mut p, "ownership=2").is_err());
        assert!(apply_setting(&mut p, "colour=blue").is_err());
        assert!(apply_setting(&mut p, "high").is_err());
        assert_eq!(
            p.batch, 64,
            "a refused setting changes nothing it did not reach"
        );
    }

    #[test]
    fn stats_and_blocks_text() {
        let s = debugfs::parse_stats(debugfs::tests::STATS).unwrap();
        let text = stats_text(&s);
        assert!(text.starts_with("global"));
        assert!(text
            .lines()
            .any(|l| l.split_whitespace().eq(["lock_acquisitions", "12"])));
        let last = text.lines().last().unwrap();
        assert!(last.starts_with("total"));
        assert!(last.trim_end().ends_with("47"), "{last}");
        let b = debugfs::parse_blocks(debugfs::tests::BLOCKS).unwrap();
        let t = blocks_table(&b).render();
        assert!(t.lines().nth(1).unwrap().contains("0x6fe00  cma     owned"));
    }

    #[test]
    fn cpu_checks() {
        assert!(check_cpus(&[0, 1], &[0, 1, 2], "--cpus").is_ok());
        let e = check_cpus(&[2, 3, 4], &[0, 1, 2], "--cpus").unwrap_err();
        assert_eq!(e.message, "--cpus 3-4: not online (online: 0-2)");
        assert!(check_cpus(&[64], &[64], "--cpus").is_err());
    }
}
