//! Configuration: patterns, backends, the command line, one run's parameters.

use crate::platform::BLOCK_ORDER;
use crate::{DEFAULT_BATCH, DEFAULT_RING};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Pattern {
    Repeat,
    Bulk,
    Rand,
    Remote,
    /// Thread 0 runs `repeat` at order 0 while the others run `bulk` at the run's order on the
    /// same pool: does their slow-path traffic (global lock, refills, trims) slow down a CPU that
    /// stays on its fast path? It should not: that CPU's data is its own. (Host only.)
    Interfere,
}

impl Pattern {
    pub(crate) const ALL: [Pattern; 5] = [
        Pattern::Repeat,
        Pattern::Bulk,
        Pattern::Rand,
        Pattern::Remote,
        Pattern::Interfere,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Pattern::Repeat => "repeat",
            Pattern::Bulk => "bulk",
            Pattern::Rand => "rand",
            Pattern::Remote => "remote",
            Pattern::Interfere => "interfere",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Backend {
    Pool,
    PoolClassic,
    /// The control for false sharing: every thread has a pool of its own (one CPU, ownership
    /// on), so the threads share no memory at all; only `repeat` and `bulk` (no frees across
    /// threads).
    PoolPrivate,
    Floor,
}

impl Backend {
    pub(crate) const ALL: [Backend; 4] = [
        Backend::Pool,
        Backend::PoolClassic,
        Backend::PoolPrivate,
        Backend::Floor,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Backend::Pool => "pool",
            Backend::PoolClassic => "pool-classic",
            Backend::PoolPrivate => "pool-private",
            Backend::Floor => "floor",
        }
    }

    pub(crate) fn is_pool(self) -> bool {
        self != Backend::Floor
    }

    pub(crate) fn runs(self, pattern: Pattern) -> bool {
        self != Backend::PoolPrivate
            || matches!(
                pattern,
                Pattern::Repeat | Pattern::Bulk | Pattern::Interfere
            )
    }
}

pub(crate) fn parse_list<T: Copy>(
    text: &str,
    all: &[T],
    name: impl Fn(T) -> String,
) -> Result<Vec<T>, String> {
    text.split(',')
        .map(|word| {
            all.iter()
                .copied()
                .find(|&item| name(item) == word.trim())
                .ok_or_else(|| format!("unknown value '{word}'"))
        })
        .collect()
}

pub(crate) struct Options {
    pub(crate) quick: bool,
    pub(crate) json: Option<String>,
    pub(crate) md: Option<String>,
    /// Allocations per allocating thread at order 0; order `k` runs `max(ops >> k, ops >> 3)`.
    pub(crate) ops: u64,
    /// Timed repetitions of every run (after one warm-up); the median is reported.
    pub(crate) reps: usize,
    pub(crate) threads: Vec<usize>,
    pub(crate) patterns: Vec<Pattern>,
    pub(crate) backends: Vec<Backend>,
    pub(crate) orders: Vec<u32>,
    pub(crate) pool_mb: usize,
    pub(crate) pin: bool,
}

pub(crate) const USAGE: &str = "\
usage: contention [--quick] [--json FILE] [--md FILE] [--ops N] [--reps N] [--threads 1,2]
                  [--patterns repeat,bulk,rand,remote]
                  [--backends pool,pool-classic,pool-private,floor]
                  [--orders 0,9] [--pool-mb 256] [--no-pin]
  --quick    a tiny run (seconds) that checks the results and the pool, not the speed
  --ops N    allocations per allocating thread at order 0 (default 2097152; order k runs
             max(N >> k, N >> 3)); --reps N timed repetitions after a warm-up (default 5)
  --threads  thread counts (default 1..=the CPUs this process may run on)
  pool-private (repeat, bulk, interfere): a pool per thread, the no-sharing control";

impl Options {
    pub(crate) fn parse(cpus: usize) -> Result<Self, String> {
        let mut o = Options {
            quick: false,
            json: None,
            md: None,
            ops: 1 << 21,
            reps: 5,
            threads: (1..=cpus.max(1)).collect(),
            patterns: Pattern::ALL.to_vec(),
            backends: Backend::ALL.to_vec(),
            orders: vec![0, BLOCK_ORDER],
            pool_mb: 256,
            pin: true,
        };
        let mut ops = None;
        let mut reps = None;
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
            let number = |v: String| {
                v.parse::<u64>()
                    .map_err(|_| format!("bad number '{v}'"))
                    .and_then(|n| {
                        if n == 0 {
                            Err("0 is not allowed".into())
                        } else {
                            Ok(n)
                        }
                    })
            };
            match arg.as_str() {
                // `cargo bench` passes it to every bench target.
                "--bench" => {}
                "--quick" => o.quick = true,
                "--no-pin" => o.pin = false,
                "--json" => o.json = Some(value()?),
                "--md" => o.md = Some(value()?),
                "--ops" => ops = Some(number(value()?)?),
                "--reps" => reps = Some(number(value()?)? as usize),
                "--pool-mb" => o.pool_mb = number(value()?)? as usize,
                "--threads" => {
                    o.threads = value()?
                        .split(',')
                        .map(|w| number(w.trim().to_string()).map(|n| n as usize))
                        .collect::<Result<_, _>>()?;
                }
                "--patterns" => {
                    o.patterns = parse_list(&value()?, &Pattern::ALL, |p| p.name().into())?
                }
                "--backends" => {
                    o.backends = parse_list(&value()?, &Backend::ALL, |b| b.name().into())?
                }
                "--orders" => {
                    o.orders = value()?
                        .split(',')
                        .map(|w| match w.trim().parse::<u32>() {
                            Ok(k) if k <= BLOCK_ORDER => Ok(k),
                            _ => Err(format!("bad order '{w}' (0..={BLOCK_ORDER})")),
                        })
                        .collect::<Result<_, _>>()?;
                }
                "-h" | "--help" => return Err(USAGE.into()),
                _ => return Err(format!("unknown argument '{arg}'\n{USAGE}")),
            }
        }
        if o.quick {
            o.ops = 4096;
            o.reps = 1;
        }
        o.ops = ops.unwrap_or(o.ops);
        o.reps = reps.unwrap_or(o.reps);
        if (o.pool_mb << 20) >> (BLOCK_ORDER + 12) == 0 {
            return Err("--pool-mb: less than one 2 MiB block".into());
        }
        Ok(o)
    }

    pub(crate) fn nr_blocks(&self) -> usize {
        (self.pool_mb << 20) >> (BLOCK_ORDER + 12)
    }
}

/// One run: a pattern, a backend, an order, a thread count.
#[derive(Clone, Copy)]
pub(crate) struct RunConfig {
    pub(crate) pattern: Pattern,
    pub(crate) backend: Backend,
    pub(crate) order: u32,
    pub(crate) threads: usize,
    /// Allocations per allocating thread in a timed repetition.
    pub(crate) ops: u64,
    /// Runs per round (bulk, rand) or ring slots (remote).
    pub(crate) batch: usize,
    pub(crate) reps: usize,
}

impl RunConfig {
    pub(crate) fn new(
        pattern: Pattern,
        backend: Backend,
        order: u32,
        threads: usize,
        o: &Options,
    ) -> Self {
        let producers = match pattern {
            Pattern::Remote | Pattern::Interfere => threads - 1,
            _ => threads,
        };
        // As the kernel: the runs in flight of all threads fit in half the pool.
        let pool_pages = o.nr_blocks() << BLOCK_ORDER;
        let fit = ((pool_pages >> order) / 2 / producers.max(1)).max(1);
        let batch = match pattern {
            Pattern::Repeat => 1,
            Pattern::Remote => 1 << DEFAULT_RING.min(fit).ilog2(),
            _ => DEFAULT_BATCH.min(fit),
        };
        Self {
            pattern,
            backend,
            order,
            threads,
            // interfere: thread 0's repeat is at order 0.
            ops: if pattern == Pattern::Interfere {
                o.ops
            } else {
                (o.ops >> order).max(o.ops >> 3).max(1)
            },
            batch,
            reps: o.reps,
        }
    }

    pub(crate) fn warmup_ops(&self) -> u64 {
        (self.ops / 8).max(self.batch as u64)
    }
}
