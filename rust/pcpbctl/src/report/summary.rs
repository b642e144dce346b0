// SPDX-License-Identifier: GPL-2.0

//! `summary.json`: one record per run, for machines.

use super::{Series, SuiteRun};
use crate::abi::{ROLE_ALLOC, ROLE_FREE};
use crate::bench::{self, Backend, Pattern};
use serde::Serialize;

/// One line of `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Record {
    pub pattern: Pattern,
    pub order: u32,
    pub backend: Backend,
    pub series: Series,
    /// CPUs that took part.
    pub cpus: usize,
    /// CPUs that allocated / freed (by role).
    pub alloc_cpus: usize,
    pub free_cpus: usize,
    /// Operations: allocations + frees over all CPUs.
    pub ops: u64,
    /// Average over CPUs of each CPU's ns/op.
    pub ns_per_op: Option<f64>,
    pub ns_per_op_min: Option<f64>,
    pub ns_per_op_max: Option<f64>,
    /// Average over CPUs of ns per allocation / per free; null where the pattern does not time
    /// them apart.
    pub alloc_ns_per_op: Option<f64>,
    pub free_ns_per_op: Option<f64>,
    /// Pool backends only; null for kernel and floor.
    pub global_lock_per_1000_ops: Option<f64>,
    pub failures: u64,
    pub elapsed_ns: u64,
    pub mode: String,
}

/// The record of a run.
pub fn record(run: &SuiteRun, mode: &str) -> Record {
    let s = bench::summarize(&run.run);
    let cpus = &run.run.result.cpus;
    Record {
        pattern: run.run.params.pattern,
        order: run.run.params.order,
        backend: run.run.params.backend,
        series: run.series,
        cpus: s.cpus,
        alloc_cpus: cpus.iter().filter(|c| c.role & ROLE_ALLOC != 0).count(),
        free_cpus: cpus.iter().filter(|c| c.role & ROLE_FREE != 0).count(),
        ops: s.ops,
        ns_per_op: s.ns_per_op.map(|x| x.avg),
        ns_per_op_min: s.ns_per_op.map(|x| x.min),
        ns_per_op_max: s.ns_per_op.map(|x| x.max),
        alloc_ns_per_op: s.alloc_ns_per_op.map(|x| x.avg),
        free_ns_per_op: s.free_ns_per_op.map(|x| x.avg),
        global_lock_per_1000_ops: s.global_lock_per_1000_ops,
        failures: s.failures,
        elapsed_ns: run.run.result.elapsed_ns,
        mode: mode.to_string(),
    }
}
