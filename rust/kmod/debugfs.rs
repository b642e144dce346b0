// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/debug/pcpbuddy/`: the pool's state for people and scripts.
//!
//! Formats are documented in `Documentation/debugfs.md`: `key: value` lines, or a table with a
//! header line, so that scripts can parse them with `awk`. Keys only ever get added.

//!
//! With one pool per NUMA node (`node=-1`), `node<N>/` holds `info`, `stats`, `blocks` and
//! `fragmentation` of node N's pool; the top-level `info` shows totals over the pools, `stats`,
//! `blocks` and `fragmentation` the first pool's (the lowest node's), `verify` checks every pool
//! and `policy` sets every pool's.

use crate::{
    kernel_pool::KernelPool,
    nodes::NodePools,
    pcpcore::{block::BlockKind, policy::Policy, stats::CpuCounters},
};
use core::fmt;
use kernel::{debugfs::Scope, prelude::*, str::CString, uaccess::UserSliceReader};

/// A node pool's directory: the pool's slot in [`NodePools`].
pub(crate) struct Slot(usize);

/// The debugfs tree (its data: the node pools' directories); removed when dropped.
pub(crate) type Tree = Scope<KVec<Slot>>;

/// Creates `/sys/kernel/debug/pcpbuddy/` and its files. Call with the pools published.
pub(crate) fn create() -> impl PinInit<Tree> {
    let mut slots = KVec::new();
    if let Some(pools) = NodePools::get().filter(|pools| pools.per_node()) {
        for pool in pools.iter() {
            // Best effort: a directory that cannot be allocated is left out.
            let _ = slots.push(Slot(pool.slot()), GFP_KERNEL);
        }
    }
    Scope::dir(slots, c"pcpbuddy", |slots, dir| {
        dir.read_callback_file(c"info", slots, &show_info);
        dir.read_callback_file(c"stats", slots, &|_, f| with_pool(f, show_stats));
        dir.read_callback_file(c"blocks", slots, &|_, f| with_pool(f, show_blocks));
        dir.read_callback_file(c"fragmentation", slots, &|_, f| {
            with_pool(f, show_fragmentation)
        });
        dir.read_write_callback_file(c"policy", slots, &show_policy, &write_policy);
        dir.read_callback_file(c"verify", slots, &show_verify);
        for slot in slots.iter() {
            let Some(pool) = NodePools::get().and_then(|pools| pools.pool(slot.0)) else {
                continue;
            };
            let Ok(name) = CString::try_from_fmt(fmt!("node{}", pool.node())) else {
                continue;
            };
            let node = dir.dir(&name);
            node.read_callback_file(c"info", slot, &|slot, f| with_slot(slot, f, show_pool_info));
            node.read_callback_file(c"stats", slot, &|slot, f| with_slot(slot, f, show_stats));
            node.read_callback_file(c"blocks", slot, &|slot, f| with_slot(slot, f, show_blocks));
            node.read_callback_file(c"fragmentation", slot, &|slot, f| {
                with_slot(slot, f, show_fragmentation)
            });
        }
    })
}

/// Runs `show` with the first pool, or prints nothing if the module is going away.
fn with_pool(
    f: &mut fmt::Formatter<'_>,
    show: impl FnOnce(&KernelPool, &mut fmt::Formatter<'_>) -> fmt::Result,
) -> fmt::Result {
    match KernelPool::get() {
        Some(pool) => show(pool, f),
        None => Ok(()),
    }
}

/// Runs `show` with the pool in `slot`, or prints nothing if the module is going away.
fn with_slot(
    slot: &Slot,
    f: &mut fmt::Formatter<'_>,
    show: impl FnOnce(&KernelPool, &mut fmt::Formatter<'_>) -> fmt::Result,
) -> fmt::Result {
    match NodePools::get().and_then(|pools| pools.pool(slot.0)) {
        Some(pool) => show(pool, f),
        None => Ok(()),
    }
}

/// The `info` keys of `info` (one pool's, or the totals), up to `metadata_bytes`.
fn write_info(
    f: &mut fmt::Formatter<'_>,
    info: &crate::uapi::Info,
    source: &str,
    nr_blocks: usize,
) -> fmt::Result {
    writeln!(f, "abi_version: {}", info.abi_version)?;
    writeln!(f, "pageblock_order: {}", info.block_order)?;
    writeln!(f, "page_size: {}", info.page_size)?;
    writeln!(f, "nr_cpu_ids: {}", info.nr_cpu_ids)?;
    writeln!(f, "size_mb: {}", info.size_bytes >> 20)?;
    writeln!(f, "source: {}", source)?;
    writeln!(f, "node: {}", info.node)?;
    writeln!(f, "nr_blocks: {}", nr_blocks)?;
    writeln!(f, "nr_pages: {}", info.nr_pages)?;
    writeln!(f, "outstanding_pages: {}", info.outstanding_pages)?;
    writeln!(f, "metadata_bytes: {}", info.metadata_bytes)
}

/// The module's description: totals over the pools, and how many there are.
fn show_info(_: &KVec<Slot>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let Some(pools) = NodePools::get() else {
        return Ok(());
    };
    let nr_blocks = pools.iter().map(|pool| pool.blocks().len()).sum();
    let source = pools.first().config().source.name();
    write_info(f, &pools.info(), source, nr_blocks)?;
    writeln!(f, "nr_pools: {}", pools.iter().count())?;
    write!(f, "pool_nodes:")?;
    for pool in pools.iter() {
        write!(f, " {}", pool.node())?;
    }
    writeln!(f)
}

/// One node pool's description (`node<N>/info`).
fn show_pool_info(pool: &KernelPool, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let source = pool.config().source.name();
    write_info(f, &pool.info(), source, pool.blocks().len())
}

/// Writes `<prefix>.<name>: <value>` for every counter of a CPU.
fn write_cpu_counters(
    f: &mut fmt::Formatter<'_>,
    prefix: fmt::Arguments<'_>,
    c: &CpuCounters,
) -> fmt::Result {
    let mut result = Ok(());
    c.for_each(|name, element, value| {
        if result.is_ok() {
            result = if element.is_empty() {
                writeln!(f, "{}.{}: {}", prefix, name, value)
            } else {
                writeln!(f, "{}.{}.{}: {}", prefix, name, element, value)
            };
        }
    });
    result
}

fn show_stats(pool: &KernelPool, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let core = pool.core();
    let mut result = Ok(());
    core.global_stats().for_each(|name, _, value| {
        if result.is_ok() {
            result = writeln!(f, "global.{}: {}", name, value);
        }
    });
    result?;
    writeln!(f, "global.free_pages: {}", core.global_free_pages())?;
    writeln!(f, "global.bad_cpu_errors: {}", core.bad_cpu_errors())?;
    writeln!(f, "global.outstanding_pages: {}", core.outstanding_pages())?;
    write_cpu_counters(f, format_args!("total"), &core.total_cpu_stats())?;
    for cpu in 0..core.nr_cpus() {
        let (Some(stats), Some(cached)) = (core.cpu_stats(cpu), core.cpu_free_pages(cpu)) else {
            continue;
        };
        writeln!(f, "cpu{}.cached_pages: {}", cpu, cached)?;
        write_cpu_counters(f, format_args!("cpu{}", cpu), &stats)?;
    }
    Ok(())
}

fn show_blocks(pool: &KernelPool, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    writeln!(
        f,
        "{:>6} {:>12} {:<7} {:<9} {:>5} {:>5} {:>5} {:>6} {:>6} {:>8}",
        "index", "pfn", "source", "state", "owner", "free", "order", "parked", "cached", "compound"
    )?;
    for (index, block) in pool.blocks().iter().enumerate() {
        let Some(info) = pool.core().block_info(index) else {
            continue;
        };
        write!(
            f,
            "{:>6} {:>#12x} {:<7} {:<9} ",
            index,
            block.pfn(),
            block.source().name(),
            info.kind.name()
        )?;
        match info.kind {
            BlockKind::Owned(cpu) => write!(f, "{:>5} ", cpu)?,
            _ => write!(f, "{:>5} ", "-")?,
        }
        write!(f, "{:>5} ", info.free_pages)?;
        match info.largest_free_order {
            Some(order) => write!(f, "{:>5} ", order)?,
            None => write!(f, "{:>5} ", "-")?,
        }
        writeln!(
            f,
            "{:>6} {:>6} {:>8}",
            info.parked_pages,
            info.cached_pages,
            u32::from(info.compound)
        )?;
    }
    Ok(())
}

/// `numerator / denominator` as "0.123" (thousandths, rounded down); "0.000" for 0/0.
struct Ratio(usize, usize);

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `checked_div`, not `/`: no panic path (and no objtool complaint about one).
        let milli = (self.0 * 1000).checked_div(self.1).unwrap_or(0);
        write!(f, "{}.{:03}", milli / 1000, milli % 1000)
    }
}

fn show_fragmentation(pool: &KernelPool, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let info = pool.core().fragmentation();
    let nr_blocks = pool.blocks().len();
    writeln!(f, "blocks: {}", nr_blocks)?;
    writeln!(f, "free_blocks: {}", info.free_blocks)?;
    writeln!(f, "owned_blocks: {}", info.owned_blocks)?;
    writeln!(f, "fragment_blocks: {}", info.fragment_blocks)?;
    writeln!(f, "shared_blocks: {}", info.shared_blocks)?;
    writeln!(f, "free_pages: {}", info.free_pages)?;
    writeln!(f, "parked_pages: {}", info.parked_pages)?;
    writeln!(f, "cached_pages: {}", info.cached_pages)?;
    writeln!(
        f,
        "free_block_fraction: {}",
        Ratio(info.free_blocks, nr_blocks)
    )?;
    // The kernel's unusable free space index (mm/vmstat.c): the fraction of free memory
    // that cannot serve an allocation of this order.
    writeln!(
        f,
        "{:>5} {:>10} {:>12} {:>8}",
        "order", "free_units", "usable_pages", "unusable"
    )?;
    for order in 0..=pool.block_order() {
        let usable = info.usable_pages(order);
        writeln!(
            f,
            "{:>5} {:>10} {:>12} {:>8}",
            order,
            info.free_units_by_order[order as usize],
            usable,
            Ratio(info.free_pages.saturating_sub(usable), info.free_pages)
        )?;
    }
    Ok(())
}

fn show_policy(_: &KVec<Slot>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    with_pool(f, |pool, f| {
        let p = pool.core().policy();
        writeln!(f, "ownership: {}", u32::from(p.ownership))?;
        writeln!(f, "fragment_recovery: {}", u32::from(p.fragment_recovery))?;
        writeln!(f, "high: {}", p.high)?;
        writeln!(f, "batch: {}", p.batch)
    })
}

/// Applies `key value` (or `key=value`, `key: value`) lines to `policy`.
pub(crate) fn parse_policy(text: &str, mut policy: Policy) -> Result<Policy> {
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (key, value) = line
            .split_once(|c: char| c == '=' || c == ':' || c.is_whitespace())
            .ok_or(EINVAL)?;
        let value: u32 = value.trim().parse().map_err(|_| EINVAL)?;
        let flag = || match value {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(EINVAL),
        };
        match key.trim() {
            "ownership" => policy.ownership = flag()?,
            "fragment_recovery" => policy.fragment_recovery = flag()?,
            "high" => policy.high = value,
            "batch" => policy.batch = value,
            _ => return Err(EINVAL),
        }
    }
    Ok(policy)
}

/// Sets the policy of every pool.
fn write_policy(_: &KVec<Slot>, reader: &mut UserSliceReader) -> Result {
    let pools = NodePools::get().ok_or(ENODEV)?;
    let pool = pools.first();
    let mut buf = [0u8; 128];
    let len = reader.len();
    if len > buf.len() {
        return Err(EINVAL);
    }
    reader.read_slice(&mut buf[..len])?;
    let text = core::str::from_utf8(&buf[..len]).map_err(|_| EINVAL)?;
    let policy = parse_policy(text, pool.core().policy())?;
    for pool in pools.iter() {
        pool.core().set_policy(policy).map_err(|_| EINVAL)?;
    }
    Ok(())
}

/// Checks every pool: "ok" only if all are.
fn show_verify(_: &KVec<Slot>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let Some(pools) = NodePools::get() else {
        return Ok(());
    };
    // The structural checks hold under traffic; the accounting checks need an idle pool
    // (no allocation or free in flight), which is how the selftests read this file, and
    // every magazine returned first (an IPI to each CPU).
    let structure = pools
        .iter()
        .try_for_each(|pool| pool.core().verify_structure());
    match structure {
        Ok(()) => writeln!(f, "structure: ok")?,
        Err(e) => writeln!(f, "structure: error: {}", e)?,
    }
    crate::glue::flush_all_published_magazines();
    match pools.iter().try_for_each(|pool| pool.core().verify(&[])) {
        Ok(()) => writeln!(f, "accounting: ok"),
        Err(e) => writeln!(f, "accounting: error: {}", e),
    }
}
