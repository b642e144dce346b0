//! Results and output: a repetition's and a run's summary, the Markdown and JSON reports.

use std::fmt::{self, Write as _};

use pcpbuddy_core::{CpuCounters, GlobalCounters};

use crate::config::{Options, Pattern, RunConfig};
use crate::machine::Machine;
use crate::patterns::ThreadResult;
use crate::platform::BLOCK_ORDER;

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Spread {
    pub(crate) min: f64,
    pub(crate) avg: f64,
    pub(crate) max: f64,
}

impl Spread {
    pub(crate) fn of(values: &[f64]) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        Some(Spread {
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            avg: values.iter().sum::<f64>() / values.len() as f64,
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }
}

/// One timed repetition, summarised.
pub(crate) struct Rep {
    pub(crate) threads: Vec<ThreadResult>,
    /// ns per pair (repeat).
    pub(crate) pair: Option<Spread>,
    pub(crate) alloc: Option<Spread>,
    pub(crate) free: Option<Spread>,
    pub(crate) key: f64,
    pub(crate) cpu: CpuCounters,
    pub(crate) global: GlobalCounters,
}

impl Rep {
    pub(crate) fn new(
        cfg: &RunConfig,
        threads: Vec<ThreadResult>,
        cpu: CpuCounters,
        global: GlobalCounters,
    ) -> Self {
        let per = |f: &dyn Fn(&ThreadResult) -> Option<f64>| {
            Spread::of(&threads.iter().filter_map(f).collect::<Vec<_>>())
        };
        let div = |ns: u64, n: u64| (n > 0).then(|| ns as f64 / n as f64);
        let (pair, alloc, free) = match cfg.pattern {
            Pattern::Repeat => (per(&|t| div(t.total_ns, t.allocs)), None, None),
            Pattern::Bulk | Pattern::Rand => (
                None,
                per(&|t| div(t.alloc_ns, t.allocs)),
                per(&|t| div(t.free_ns, t.frees)),
            ),
            // Producers allocate, thread 0 frees; each is timed over its whole loop.
            Pattern::Remote => (
                None,
                per(&|t| div(t.total_ns, t.allocs)),
                per(&|t| (t.allocs == 0).then(|| div(t.total_ns, t.frees)).flatten()),
            ),
            // Thread 0's pairs; the others' bulk phases.
            Pattern::Interfere => (
                per(&|t| (t.rank == 0).then(|| div(t.total_ns, t.allocs)).flatten()),
                per(&|t| (t.rank > 0).then(|| div(t.alloc_ns, t.allocs)).flatten()),
                per(&|t| (t.rank > 0).then(|| div(t.free_ns, t.frees)).flatten()),
            ),
        };
        // The repetitions are ordered by what the pattern is about.
        let key = match cfg.pattern {
            Pattern::Interfere => pair.map_or(0.0, |p| p.avg),
            _ => [pair, alloc, free].iter().flatten().map(|s| s.avg).sum(),
        };
        Self {
            threads,
            pair,
            alloc,
            free,
            key,
            cpu,
            global,
        }
    }

    pub(crate) fn allocs(&self) -> u64 {
        self.threads.iter().map(|t| t.allocs).sum()
    }

    pub(crate) fn frees(&self) -> u64 {
        self.threads.iter().map(|t| t.frees).sum()
    }

    pub(crate) fn failures(&self) -> u64 {
        self.threads.iter().map(|t| t.failures).sum()
    }

    /// What the repetitions are ordered by to pick the median.
    pub(crate) fn key(&self) -> f64 {
        self.key
    }

    /// Global-lock acquisitions (on behalf of the CPUs, as the module's benchmark counts them)
    /// per 1000 allocations and frees.
    pub(crate) fn glock_per_1000(&self) -> f64 {
        self.cpu.global_locks as f64 * 1000.0 / (self.allocs() + self.frees()).max(1) as f64
    }

    /// Share of the frees that went to another CPU's block (parked, lock-free).
    pub(crate) fn remote_share(&self) -> f64 {
        self.cpu.frees_remote as f64 / self.frees().max(1) as f64
    }
}

/// A run's result: the median timed repetition, and every repetition's key.
pub(crate) struct RunResult {
    pub(crate) cfg: RunConfig,
    pub(crate) median: Rep,
    pub(crate) keys: Vec<f64>,
    pub(crate) pinned: bool,
}

/// A JSON value, enough for the report.
pub(crate) enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

pub(crate) fn obj(fields: Vec<(&str, Json)>) -> Json {
    Json::Obj(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

pub(crate) fn num(v: impl Into<f64>) -> Json {
    Json::Num(v.into())
}

pub(crate) fn spread_json(s: Option<Spread>) -> Json {
    s.map_or(Json::Null, |s| {
        obj(vec![
            ("min", num(s.min)),
            ("avg", num(s.avg)),
            ("max", num(s.max)),
        ])
    })
}

/// A counter snapshot as an object (`for_each` gives every field's name).
pub(crate) fn counters_json(for_each: impl FnOnce(&mut dyn FnMut(&str, &str, u64))) -> Json {
    let mut fields = Vec::new();
    for_each(&mut |name: &str, element: &str, value: u64| {
        let key = if element.is_empty() {
            name.to_string()
        } else {
            format!("{name}.{element}")
        };
        fields.push((key, Json::Num(value as f64)));
    });
    Json::Obj(fields)
}

pub(crate) fn write_str_json(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Json::Null => f.write_str("null"),
            Json::Bool(b) => write!(f, "{b}"),
            Json::Num(n) if !n.is_finite() => f.write_str("null"),
            Json::Num(n) if n.fract() == 0.0 && n.abs() < 1e15 => write!(f, "{}", *n as i64),
            Json::Num(n) => write!(f, "{n:.3}"),
            Json::Str(s) => write_str_json(f, s),
            Json::Arr(items) => {
                f.write_char('[')?;
                for (i, item) in items.iter().enumerate() {
                    write!(f, "{}{item}", if i > 0 { ", " } else { "" })?;
                }
                f.write_char(']')
            }
            Json::Obj(fields) => {
                f.write_char('{')?;
                for (i, (k, v)) in fields.iter().enumerate() {
                    f.write_str(if i > 0 { ", " } else { "" })?;
                    write_str_json(f, k)?;
                    write!(f, ": {v}")?;
                }
                f.write_char('}')
            }
        }
    }
}

pub(crate) fn json_report(
    o: &Options,
    m: &Machine,
    results: &[RunResult],
    seconds: f64,
    load: (f64, f64),
) -> Json {
    let runs = results
        .iter()
        .map(|r| {
            let rep = &r.median;
            let pool = r.cfg.backend.is_pool();
            obj(vec![
                ("pattern", Json::Str(r.cfg.pattern.name().into())),
                ("backend", Json::Str(r.cfg.backend.name().into())),
                ("order", num(r.cfg.order)),
                ("threads", num(r.cfg.threads as u32)),
                ("ops_per_thread", num(r.cfg.ops as f64)),
                ("batch", num(r.cfg.batch as u32)),
                ("pinned", Json::Bool(r.pinned)),
                ("pair_ns", spread_json(rep.pair)),
                ("alloc_ns", spread_json(rep.alloc)),
                ("free_ns", spread_json(rep.free)),
                ("allocs", num(rep.allocs() as f64)),
                ("frees", num(rep.frees() as f64)),
                ("failures", num(rep.failures() as f64)),
                (
                    "global_lock_per_1000_ops",
                    if pool {
                        num(rep.glock_per_1000())
                    } else {
                        Json::Null
                    },
                ),
                (
                    "remote_free_share",
                    if pool {
                        num(rep.remote_share())
                    } else {
                        Json::Null
                    },
                ),
                (
                    "rep_keys_ns",
                    Json::Arr(r.keys.iter().map(|&k| num(k)).collect()),
                ),
                (
                    "per_thread",
                    Json::Arr(
                        rep.threads
                            .iter()
                            .map(|t| {
                                obj(vec![
                                    ("rank", num(t.rank as u32)),
                                    ("cpu", t.cpu.map_or(Json::Null, |c| num(c as u32))),
                                    ("allocs", num(t.allocs as f64)),
                                    ("frees", num(t.frees as f64)),
                                    ("failures", num(t.failures as f64)),
                                    ("alloc_ns", num(t.alloc_ns as f64)),
                                    ("free_ns", num(t.free_ns as f64)),
                                    ("total_ns", num(t.total_ns as f64)),
                                ])
                            })
                            .collect(),
                    ),
                ),
                (
                    "cpu_counters",
                    if pool {
                        counters_json(|f| rep.cpu.for_each(f))
                    } else {
                        Json::Null
                    },
                ),
                (
                    "global_counters",
                    if pool {
                        counters_json(|f| rep.global.for_each(f))
                    } else {
                        Json::Null
                    },
                ),
            ])
        })
        .collect();
    obj(vec![
        ("profile", Json::Str(m.profile.clone())),
        ("debug_assertions", Json::Bool(m.debug_assertions)),
        ("overflow_checks", Json::Bool(m.overflow_checks)),
        ("cpu_model", Json::Str(m.cpu_model.clone())),
        ("hypervisor", Json::Bool(m.hypervisor)),
        ("kernel", Json::Str(m.kernel.clone())),
        (
            "cpus",
            Json::Arr(m.cpus.iter().map(|&c| num(c as u32)).collect()),
        ),
        ("pin", Json::Bool(o.pin)),
        ("scheduling", Json::Str(m.scheduling.clone())),
        (
            "pinned",
            Json::Bool(o.pin && results.iter().all(|r| r.pinned)),
        ),
        ("clock_read_ns", num(m.clock_ns)),
        (
            "line_transfer_ns",
            m.line_ns.map_or(Json::Null, |l| {
                obj(vec![
                    ("min", num(l.min)),
                    ("median", num(l.avg)),
                    ("max", num(l.max)),
                ])
            }),
        ),
        ("others_cpu_percent_during_run", num(load.0)),
        ("steal_percent_during_run", num(load.1)),
        ("loadavg_before", Json::Str(m.loadavg.clone())),
        ("qemu_processes_before", num(m.qemu_running as u32)),
        ("pool_mb", num(o.pool_mb as u32)),
        ("block_order", num(BLOCK_ORDER)),
        ("blocks", num(o.nr_blocks() as u32)),
        ("ops_order0", num(o.ops as f64)),
        ("reps", num(o.reps as u32)),
        ("quick", Json::Bool(o.quick)),
        ("seconds", num(seconds)),
        ("runs", Json::Arr(runs)),
    ])
}

pub(crate) fn cell(s: Option<Spread>) -> String {
    s.map_or("–".into(), |s| {
        format!("{:.1} / {:.1} / {:.1}", s.min, s.avg, s.max)
    })
}

/// How far apart the timed repetitions were: (slowest − fastest) / median.
pub(crate) fn rep_spread(r: &RunResult) -> String {
    let min = r.keys.iter().copied().fold(f64::INFINITY, f64::min);
    let max = r.keys.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if r.keys.len() < 2 {
        return "–".into();
    }
    format!("{:.0} %", (max - min) / r.median.key() * 100.0)
}

pub(crate) fn pattern_title(p: Pattern) -> &'static str {
    match p {
        Pattern::Repeat => "alloc + free of the same run, ns per pair (the fast path)",
        Pattern::Bulk => "alloc `batch` runs, then free them; each phase timed",
        Pattern::Rand => {
            "alloc `batch` runs; barrier; free another thread's set (a different one each \
             round, one's own one round in N); barrier"
        }
        Pattern::Remote => {
            "threads 1..N−1 allocate and push into a ring each; thread 0 pops and frees \
             (alloc: producers' loop per allocation; free: thread 0's loop per free)"
        }
        Pattern::Interfere => {
            "thread 0 runs repeat at order 0 (ns/pair) while threads 1..N−1 run bulk at the \
             row's order on the same pool (their alloc and free ns/op): false sharing between \
             the slow paths' writes and the fast path's data would slow thread 0"
        }
    }
}

pub(crate) fn markdown(
    o: &Options,
    m: &Machine,
    results: &[RunResult],
    seconds: f64,
    load: (f64, f64),
) -> String {
    let mut s = String::new();
    let pinned = o.pin && results.iter().all(|r| r.pinned);
    let _ = writeln!(
        s,
        "## Host-native contention (`rust/core/benches/contention/`)\n"
    );
    let _ = writeln!(
        s,
        "The allocator core (the same source files the module compiles) on the host, one OS \
         thread per \"CPU\", each owning its magazine, calling `Pool::alloc`/`Pool::free` \
         directly; spinlocks like the kernel's, per-CPU data cache-line aligned as in the \
         module.\n\n\
         * **Can show**: real atomics and real cache-line transfers between real cores: false \
         sharing, lock contention, the cost of remote frees and of the refill/flush paths, the \
         core's instructions at full speed.\n\
         * **Cannot show**: the kernel. No interrupts off/on around each call, no `struct page` \
         (no refcount check, no page ↔ index arithmetic, no `FrameTable` lookup), no per-CPU \
         segment addressing (`this_cpu_ptr`), no NMI check; the host may preempt a thread at \
         any point (also while it holds a spinlock), which no kernel thread with interrupts off \
         suffers. The kernel adds those costs per call (see `Documentation/core.md`, *Fast \
         paths*).\n"
    );
    let cpu_list = m
        .cpus
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let rows = [
        ("profile", m.profile.clone()),
        (
            "CPU",
            format!(
                "{} ({} CPUs usable: {cpu_list}){}",
                m.cpu_model,
                m.cpus.len(),
                if m.hypervisor {
                    "; a virtual machine (hypervisor flag): the \"cores\" are the host's vCPU \
                     threads"
                } else {
                    ""
                }
            ),
        ),
        ("kernel", m.kernel.clone()),
        (
            "threads pinned",
            if pinned {
                "yes: thread i on the i-th usable CPU (sched_setaffinity)".into()
            } else if o.pin {
                "no: sched_setaffinity failed for some thread".into()
            } else {
                "no (--no-pin)".into()
            },
        ),
        ("scheduling", m.scheduling.clone()),
        (
            "pool",
            format!(
                "{} MiB = {} blocks of order {BLOCK_ORDER} (2 MiB); a fresh pool per run",
                o.pool_mb,
                o.nr_blocks()
            ),
        ),
        (
            "operations",
            format!(
                "{} allocations per allocating thread at order 0, max(N >> k, N >> 3) at order \
                 k; one warm-up repetition (1/8 of that), then {} timed, the median shown",
                o.ops, o.reps
            ),
        ),
        (
            "cache-line transfer",
            m.line_ns
                .map_or("not measured (one CPU, or --quick)".into(), |l| {
                    format!(
                    "{:.0} / {:.0} / {:.0} ns (min / median / max of 10 batches) one way between \
                     the first two CPUs, ping-pong on one atomic: the unit of every cross-thread \
                     cost below",
                    l.min, l.avg, l.max
                )
                }),
        ),
        (
            "clock",
            format!(
                "`Instant::now()` costs {:.1} ns; bulk and rand read it twice per phase of \
                 `batch` operations",
                m.clock_ns
            ),
        ),
        (
            "other load",
            format!(
                "before the run: load average {}, {} qemu-system process(es); during it: {}",
                m.loadavg,
                m.qemu_running,
                if load.0.is_nan() {
                    "too short to tell".into()
                } else {
                    format!(
                        "other processes used {:.1} % of all CPUs' time, the hypervisor stole \
                         {:.1} %",
                        load.0, load.1
                    )
                }
            ),
        ),
        (
            "run time",
            format!("{seconds:.1} s{}", if o.quick { " (--quick)" } else { "" }),
        ),
    ];
    let _ = writeln!(s, "| | |\n|---|---|");
    for (k, v) in rows {
        let _ = writeln!(s, "| {k} | {v} |");
    }
    let _ = writeln!(
        s,
        "\nns/op cells are min / avg / max over the threads. `glock/1k`: global-lock \
         acquisitions made on behalf of the CPUs per 1000 allocations and frees; `remote`: share \
         of the frees that went lock-free to another CPU's block (parked); both from the pool's \
         counters over the timed repetition (pool backends only). `reps`: (slowest − fastest) / \
         median of the timed repetitions."
    );

    for &pattern in &o.patterns {
        let runs: Vec<&RunResult> = results
            .iter()
            .filter(|r| r.cfg.pattern == pattern)
            .collect();
        let _ = writeln!(s, "\n### {}: {}\n", pattern.name(), pattern_title(pattern));
        if runs.is_empty() {
            let _ = writeln!(s, "No runs (remote needs at least 2 threads).");
            continue;
        }
        if pattern == Pattern::Repeat {
            let _ = writeln!(
                s,
                "| order | backend | threads | ns/pair | glock/1k | remote | failures | reps |\n\
                 |---|---|---|---|---|---|---|---|"
            );
        } else if pattern == Pattern::Interfere {
            let _ = writeln!(
                s,
                "| order | backend | threads | batch | thread 0 ns/pair (order 0) | others' alloc \
                 ns/op | others' free ns/op | glock/1k | remote | failures | reps |\n\
                 |---|---|---|---|---|---|---|---|---|---|---|"
            );
        } else {
            let _ = writeln!(
                s,
                "| order | backend | threads | batch | alloc ns/op | free ns/op | glock/1k | \
                 remote | failures | reps |\n|---|---|---|---|---|---|---|---|---|---|"
            );
        }
        for r in &runs {
            let rep = &r.median;
            let (glock, remote) = if r.cfg.backend.is_pool() {
                (
                    format!("{:.2}", rep.glock_per_1000()),
                    format!("{:.0} %", rep.remote_share() * 100.0),
                )
            } else {
                ("–".into(), "–".into())
            };
            let head = format!(
                "| {} | {} | {} |",
                r.cfg.order,
                r.cfg.backend.name(),
                r.cfg.threads
            );
            if pattern == Pattern::Repeat {
                let _ = writeln!(
                    s,
                    "{head} {} | {glock} | {remote} | {} | {} |",
                    cell(rep.pair),
                    rep.failures(),
                    rep_spread(r)
                );
            } else if pattern == Pattern::Interfere {
                let _ = writeln!(
                    s,
                    "{head} {} | {} | {} | {} | {glock} | {remote} | {} | {} |",
                    r.cfg.batch,
                    cell(rep.pair),
                    cell(rep.alloc),
                    cell(rep.free),
                    rep.failures(),
                    rep_spread(r)
                );
            } else {
                let _ = writeln!(
                    s,
                    "{head} {} | {} | {} | {glock} | {remote} | {} | {} |",
                    r.cfg.batch,
                    cell(rep.alloc),
                    cell(rep.free),
                    rep.failures(),
                    rep_spread(r)
                );
            }
        }
        if matches!(pattern, Pattern::Repeat | Pattern::Interfere) {
            let lines = scaling(&runs);
            if !lines.is_empty() {
                let what = if pattern == Pattern::Repeat {
                    "N threads ÷ 1 thread (ns per pair; 1.0 = no slowdown)"
                } else {
                    "thread 0 with N−1 others ÷ thread 0 alone (ns per pair; 1.0 = untouched)"
                };
                let _ = writeln!(s, "\n{what}:\n");
                for line in lines {
                    let _ = writeln!(s, "* {line}");
                }
            }
        }
    }
    s
}

/// Repeat's scaling: each thread's ns per pair with N threads over the 1-thread run's.
pub(crate) fn scaling(runs: &[&RunResult]) -> Vec<String> {
    let mut lines = Vec::new();
    for one in runs.iter().filter(|r| r.cfg.threads == 1) {
        let Some(base) = one.median.pair else {
            continue;
        };
        for many in runs.iter().filter(|r| {
            r.cfg.threads > 1 && r.cfg.order == one.cfg.order && r.cfg.backend == one.cfg.backend
        }) {
            if let Some(p) = many.median.pair {
                lines.push(format!(
                    "order {} {}, {} threads: avg {:.2}, slowest thread {:.2}",
                    one.cfg.order,
                    one.cfg.backend.name(),
                    many.cfg.threads,
                    p.avg / base.avg,
                    p.max / base.avg
                ));
            }
        }
    }
    lines
}
