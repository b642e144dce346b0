// SPDX-License-Identifier: GPL-2.0

//! `pcpbctl`: the user-space tool of pcpbuddy.
//!
//! It talks to the module through `/dev/pcpbuddy` (Documentation/ioctl.md) and reads
//! `/sys/kernel/debug/pcpbuddy/` (Documentation/debugfs.md): pool information, statistics, the
//! block map, the run-time policy, the invariant checker, in-kernel benchmarks, and the benchmark
//! suite with its Markdown report and SVG plots. Usage: Documentation/pcpbctl.md.
//!
//! Like bpftool: subcommands, `--json` for machines, aligned tables for people, and on error one
//! line `pcpbctl: ...` on stderr and a non-zero exit (130 after Ctrl-C).

mod abi;
mod bench;
mod commands;
mod cpulist;
mod debugfs;
mod device;
mod error;
mod replay;
mod report;
mod signal;
mod suite;
mod svg;
mod sweep;
mod table;
mod trace;

use bench::{Backend, Pattern};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "pcpbctl",
    version,
    about = "Inspect, tune and benchmark the pcpbuddy page pool",
    after_help = "See Documentation/pcpbctl.md."
)]
struct Cli {
    /// Machine-readable JSON output instead of tables.
    #[arg(short, long, global = true)]
    json: bool,
    /// The device node.
    #[arg(long, global = true, default_value = device::DEFAULT_PATH, value_name = "PATH")]
    device: PathBuf,
    /// The module's debugfs directory.
    #[arg(long, global = true, default_value = debugfs::DEFAULT_DIR, value_name = "DIR")]
    debugfs: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Describe the loaded module and its pool (PCPBUDDY_IOC_INFO).
    Info,
    /// Pool statistics from debugfs: global counters and a per-CPU table.
    Stats {
        /// Every counter of one CPU.
        #[arg(long, value_name = "N")]
        cpu: Option<u32>,
    },
    /// The pool's pageblocks from debugfs, with a summary by state.
    Blocks,
    /// Show the run-time policy, or set KEY=VALUE (ownership, fragment_recovery, high, batch).
    Policy {
        /// Settings to change, e.g. ownership=0 batch=64.
        #[arg(value_name = "KEY=VALUE")]
        settings: Vec<String>,
    },
    /// Run the pool's invariant checker (PCPBUDDY_IOC_VERIFY); the pool must be idle.
    Verify,
    /// Run an in-kernel benchmark once per order and backend (PCPBUDDY_IOC_BENCH).
    Bench(BenchArgs),
    /// Run the standard benchmark set and write summary.json, raw.json, report.md and plots.
    Suite(SuiteArgs),
    /// bulk, remote and trace replays on 1, 2, 4, ... CPUs, every backend: sweep.md, sweep.json,
    /// a plot per series.
    Sweep(SweepArgs),
    /// Recorded allocation traces: import a tracefs recording, show a replay file, replay.
    #[command(subcommand)]
    Trace(TraceCommand),
}

#[derive(Subcommand)]
enum TraceCommand {
    /// Turn a tracefs recording (scripts/record-traces.sh) into a replay file (.pcpt[.gz]).
    Import {
        /// The recording: tracefs's `trace` output (gzip-compressed or not).
        raw: PathBuf,
        /// The replay file to write (gzip-compressed when it ends in .gz).
        out: PathBuf,
        /// The trace's name [default: OUT's name up to the first dot].
        #[arg(long)]
        name: Option<String>,
        /// Keep only the first N operations (the rest of the recording is left out).
        #[arg(long, value_name = "N")]
        max_ops: Option<u64>,
    },
    /// Show the summary of replay files.
    Info {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Replay traces on every backend (PCPBUDDY_IOC_REPLAY).
    Replay(ReplayArgs),
}

#[derive(clap::Args)]
struct ReplayArgs {
    /// Replay files (.pcpt or .pcpt.gz).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// CPUs to replay on, e.g. 0-3 [default: all online CPUs]; recorded CPU c runs on the
    /// (c % n)-th of them.
    #[arg(long, value_parser = parse_cpus, value_name = "LIST")]
    cpus: Option<CpuList>,
    #[command(flatten)]
    backends: BackendsArg,
    /// Also write replay.md and replay.json into DIR.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Where the numbers come from, for replay.md (as `suite --mode`).
    #[arg(long, default_value = "unspecified", value_name = "LABEL")]
    mode: String,
    /// Show progress on stderr even when it is not a terminal.
    #[arg(long)]
    progress: bool,
}

/// `--backends` of `bench` and `trace replay`.
#[derive(clap::Args)]
struct BackendsArg {
    /// Backends, run in this order.
    #[arg(
        id = "backends",
        long = "backends",
        value_parser = parse_backend,
        value_delimiter = ',',
        default_value = "pool,pool-classic,kernel,floor",
        value_name = "LIST"
    )]
    list: Vec<Backend>,
}

fn parse_pattern(s: &str) -> Result<Pattern, String> {
    bench::parse_pattern(s).map_err(|e| e.message)
}

fn parse_backend(s: &str) -> Result<Backend, String> {
    bench::parse_backend(s.trim()).map_err(|e| e.message)
}

fn parse_order(s: &str) -> Result<u32, String> {
    bench::parse_order(s).map_err(|e| e.message)
}

/// A CPU list argument (`0-3,5`), kept whole: clap would take a `Vec` for repeated options.
#[derive(Clone, Debug, PartialEq)]
struct CpuList(Vec<u32>);

fn parse_cpus(s: &str) -> Result<CpuList, String> {
    cpulist::parse(s).map(CpuList).map_err(|e| e.message)
}

#[derive(clap::Args)]
struct BenchArgs {
    /// repeat, bulk, rand, remote, exit, churn, folio or softirq.
    #[arg(value_parser = parse_pattern)]
    pattern: Pattern,
    /// Orders to run, one run set per order (churn: the largest order).
    #[arg(long, value_parser = parse_order, value_delimiter = ',', default_value = "0,9", value_name = "LIST")]
    order: Vec<u32>,
    /// Allocating CPUs, e.g. 0-3,5 [default: all online CPUs].
    #[arg(long, value_parser = parse_cpus, value_name = "LIST")]
    cpus: Option<CpuList>,
    /// Freeing CPUs (remote, exit, rand) [default: the kernel's choice for the pattern].
    #[arg(long, value_parser = parse_cpus, value_name = "LIST")]
    free_cpus: Option<CpuList>,
    /// Allocations per allocating CPU [default: max(2000, 100000 >> order)].
    #[arg(long, value_name = "N")]
    ops: Option<u64>,
    /// Runs per round (bulk, rand, exit) or ring size (remote); 0 = the kernel's default.
    #[arg(long, default_value_t = 0, value_name = "N")]
    batch: u32,
    /// Random seed (rand, churn).
    #[arg(long, default_value_t = 1, value_name = "N")]
    seed: u32,
    #[command(flatten)]
    backends: BackendsArg,
    /// Show progress on stderr even when it is not a terminal.
    #[arg(long)]
    progress: bool,
}

#[derive(clap::Args)]
struct SuiteArgs {
    /// Where to write the results.
    #[arg(long, default_value = "results/latest", value_name = "DIR")]
    out: PathBuf,
    /// Small operation counts (20000 at order 0 .. 500 at order 9): minutes under emulation.
    #[arg(long, conflicts_with = "long")]
    quick: bool,
    /// Ten times the --quick operation counts.
    #[arg(long)]
    long: bool,
    /// Where the numbers come from, for the report: e.g. "TCG wall-clock",
    /// "TCG icount (deterministic)", "KVM", "bare metal".
    #[arg(long, default_value = "unspecified", value_name = "LABEL")]
    mode: String,
    /// Show progress on stderr even when it is not a terminal.
    #[arg(long)]
    progress: bool,
}

#[derive(clap::Args)]
struct SweepArgs {
    /// Where to write the results.
    #[arg(long, default_value = "results/sweep", value_name = "DIR")]
    out: PathBuf,
    /// The largest CPU count [default: every online CPU].
    #[arg(long, value_name = "N")]
    max_cpus: Option<usize>,
    /// For a wall-clock run under emulation: the host's cores; rows above are marked.
    #[arg(long, value_name = "N")]
    host_cores: Option<usize>,
    /// Allocations per allocating CPU [default: as the suite's, 20000 at order 0 .. 500].
    #[arg(long, value_name = "N")]
    ops: Option<u64>,
    /// Trace files to replay at each CPU count too.
    #[arg(long, value_name = "FILE", value_delimiter = ',')]
    traces: Vec<PathBuf>,
    /// Where the numbers come from, for the report.
    #[arg(long, default_value = "unspecified", value_name = "LABEL")]
    mode: String,
    /// Show progress on stderr even when it is not a terminal.
    #[arg(long)]
    progress: bool,
}

fn run(cli: Cli) -> error::Result<()> {
    match cli.command {
        Command::Info => commands::info(&cli.device, cli.json),
        Command::Stats { cpu } => commands::stats(&cli.debugfs, cpu, cli.json),
        Command::Blocks => commands::blocks(&cli.debugfs, cli.json),
        Command::Policy { settings } => commands::policy(&cli.device, &settings, cli.json),
        Command::Verify => commands::verify(&cli.device),
        Command::Bench(a) => {
            let opts = commands::BenchOptions {
                pattern: a.pattern,
                orders: a.order,
                cpus: a.cpus.map(|c| c.0),
                free_cpus: a.free_cpus.map(|c| c.0).unwrap_or_default(),
                ops: a.ops,
                batch: a.batch,
                seed: a.seed,
                backends: a.backends.list,
                progress: a.progress,
            };
            commands::bench(&cli.device, &opts, cli.json)
        }
        Command::Trace(TraceCommand::Import {
            raw,
            out,
            name,
            max_ops,
        }) => replay::import(&raw, &out, name.as_deref(), max_ops, cli.json),
        Command::Trace(TraceCommand::Info { files }) => replay::info(&files, cli.json),
        Command::Trace(TraceCommand::Replay(a)) => replay::replay(
            &cli.device,
            &replay::ReplayOptions {
                files: a.files,
                cpus: a.cpus.map(|c| c.0),
                backends: a.backends.list,
                progress: a.progress,
                out: a.out,
                mode: a.mode,
            },
            cli.json,
        ),
        Command::Suite(a) => suite::run(&suite::SuiteOptions {
            out: a.out,
            long: a.long,
            mode: a.mode,
            progress: a.progress,
            device: cli.device,
            debugfs: cli.debugfs,
        }),
        Command::Sweep(a) => sweep::run(&sweep::SweepOptions {
            out: a.out,
            max_cpus: a.max_cpus,
            host_cores: a.host_cores,
            traces: a.traces,
            ops: a.ops,
            mode: a.mode,
            progress: a.progress,
            device: cli.device,
        }),
    }
}

/// clap's message for a command-line error as one line: its text up to the usage, joined.
fn usage_error_line(rendered: &str) -> String {
    let head = rendered.split("\n\n").next().unwrap_or(rendered);
    let text = head.strip_prefix("error: ").unwrap_or(head);
    let joined: Vec<&str> = text.split_whitespace().collect();
    format!("{} (see pcpbctl --help)", joined.join(" "))
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            eprintln!("pcpbctl: {}", usage_error_line(&e.to_string()));
            std::process::exit(2);
        }
    };
    if let Err(e) = run(cli) {
        eprintln!("pcpbctl: {}", e.message);
        std::process::exit(e.status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn bench_arguments_parse() {
        let cli = Cli::try_parse_from([
            "pcpbctl",
            "bench",
            "remote",
            "--order",
            "0,3",
            "--cpus",
            "1-3",
            "--free-cpus",
            "0",
            "--backends",
            "kernel,pool",
            "--json",
        ])
        .unwrap();
        assert!(cli.json);
        let Command::Bench(a) = cli.command else {
            panic!("not bench")
        };
        assert_eq!(a.pattern, Pattern::Remote);
        assert_eq!(a.order, vec![0, 3]);
        assert_eq!(a.cpus, Some(CpuList(vec![1, 2, 3])));
        assert_eq!(a.backends.list, vec![Backend::Kernel, Backend::Pool]);
        let d = Cli::try_parse_from(["pcpbctl", "bench", "repeat"]).unwrap();
        let Command::Bench(a) = d.command else {
            panic!("not bench")
        };
        assert_eq!(a.order, vec![0, 9]);
        assert_eq!(a.backends.list, Backend::ALL.to_vec());
        assert!(Cli::try_parse_from(["pcpbctl", "bench", "nope"]).is_err());
        assert!(Cli::try_parse_from(["pcpbctl", "suite", "--quick", "--long"]).is_err());
        let t = Cli::try_parse_from([
            "pcpbctl",
            "trace",
            "replay",
            "a.pcpt",
            "b.pcpt.gz",
            "--cpus",
            "0-1",
            "--backends",
            "pool,kernel",
        ])
        .unwrap();
        let Command::Trace(TraceCommand::Replay(r)) = t.command else {
            panic!("not trace replay")
        };
        assert_eq!(r.files.len(), 2);
        assert_eq!(r.cpus, Some(CpuList(vec![0, 1])));
        assert_eq!(r.backends.list, vec![Backend::Pool, Backend::Kernel]);
        assert!(Cli::try_parse_from(["pcpbctl", "trace", "import", "raw"]).is_err());
        assert!(Cli::try_parse_from(["pcpbctl", "trace", "info"]).is_err());
        let e = Cli::try_parse_from(["pcpbctl", "bench"]).err().unwrap();
        assert_eq!(
            usage_error_line(&e.to_string()),
            "the following required arguments were not provided: <PATTERN> (see pcpbctl --help)"
        );
    }
}
