// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/debug/pcpbuddy/`: the pool's state for people and scripts.
//!
//! Formats are documented in `Documentation/debugfs.md`: `key: value` lines, or a table with a
//! header line, so that scripts can parse them with `awk`. Keys only ever get added.

use crate::{
    pcpcore::{block::BlockKind, error::FreeError, policy::Policy, stats::CpuStats},
    pool::Pool,
};
use core::fmt;
use kernel::{debugfs::Scope, prelude::*, uaccess::UserSliceReader};

/// The debugfs tree; removed when dropped.
pub(crate) type Tree = Scope<()>;

/// Creates `/sys/kernel/debug/pcpbuddy/` and its files.
pub(crate) fn create() -> impl PinInit<Tree> {
    Scope::dir((), c"pcpbuddy", |data, dir| {
        dir.read_callback_file(c"info", data, &show_info);
        dir.read_callback_file(c"stats", data, &show_stats);
        dir.read_callback_file(c"blocks", data, &show_blocks);
        dir.read_callback_file(c"fragmentation", data, &show_fragmentation);
        dir.read_write_callback_file(c"policy", data, &show_policy, &write_policy);
        dir.read_callback_file(c"verify", data, &show_verify);
    })
}

/// Runs `f` with the pool, or prints nothing if the module is going away.
fn with_pool(
    f: &mut fmt::Formatter<'_>,
    show: impl FnOnce(&Pool, &mut fmt::Formatter<'_>) -> fmt::Result,
) -> fmt::Result {
    match Pool::get() {
        Some(pool) => show(pool, f),
        None => Ok(()),
    }
}

fn show_info(_: &(), f: &mut fmt::Formatter<'_>) -> fmt::Result {
    with_pool(f, |pool, f| {
        let info = pool.info();
        let config = pool.config();
        writeln!(f, "abi_version: {}", info.abi_version)?;
        writeln!(f, "pageblock_order: {}", info.block_order)?;
        writeln!(f, "page_size: {}", info.page_size)?;
        writeln!(f, "nr_cpu_ids: {}", info.nr_cpu_ids)?;
        writeln!(f, "size_mb: {}", config.size_mb)?;
        writeln!(f, "source: {}", config.source.name())?;
        writeln!(f, "node: {}", config.node)?;
        writeln!(f, "nr_blocks: {}", pool.blocks().len())?;
        writeln!(f, "nr_pages: {}", info.nr_pages)?;
        writeln!(f, "outstanding_pages: {}", info.outstanding_pages)?;
        writeln!(f, "metadata_bytes: {}", info.metadata_bytes)
    })
}

/// A free error's counter name, `free_errors.<kind>`.
struct FreeErrorName(FreeError);

impl fmt::Display for FreeErrorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "free_errors.{}", self.0.name())
    }
}

/// Calls `$emit!(name, value)` for every counter of a `CpuStats`.
macro_rules! cpu_stats_fields {
    ($s:expr, $emit:ident) => {{
        let s: &CpuStats = $s;
        $emit!("allocs", s.allocs);
        $emit!("alloc_pages", s.alloc_pages);
        $emit!("alloc_failures", s.alloc_failures);
        $emit!("alloc_bad_order", s.alloc_bad_order);
        $emit!("freed_pages", s.freed_pages);
        $emit!("frees_local", s.frees_local);
        $emit!("frees_remote", s.frees_remote);
        $emit!("frees_loose", s.frees_loose);
        $emit!("frees_hot", s.frees_hot);
        $emit!("allocs_hot", s.allocs_hot);
        $emit!("hot_merged", s.hot_merged);
        $emit!("absorbs", s.absorbs);
        $emit!("absorbed_pages", s.absorbed_pages);
        $emit!("merges_local", s.merges_local);
        $emit!("refill_recover", s.refill_recover);
        $emit!("refill_claim", s.refill_claim);
        $emit!("refill_degrade", s.refill_degrade);
        $emit!("reclaims", s.reclaims);
        $emit!("fallbacks", s.fallbacks);
        $emit!("trims", s.trims);
        $emit!("drains", s.drains);
        $emit!("global_locks", s.global_locks);
        for error in FreeError::ALL {
            $emit!(FreeErrorName(error), s.free_errors[error.index()]);
        }
    }};
}

fn show_stats(_: &(), f: &mut fmt::Formatter<'_>) -> fmt::Result {
    with_pool(f, |pool, f| {
        let core = pool.core();
        let g = core.global_stats();
        macro_rules! global {
            ($($name:ident),*) => { $(writeln!(f, concat!("global.", stringify!($name), ": {}"), g.$name)?;)* };
        }
        global!(
            lock_acquisitions,
            blocks_claimed,
            blocks_returned,
            fragments_created,
            fragments_recovered,
            fragments_freed,
            shared_created,
            shared_freed,
            chunks_out,
            chunks_in,
            merges_global,
            absorbed_pages,
            direct_allocs
        );
        writeln!(f, "global.free_pages: {}", core.global_free_pages())?;
        writeln!(f, "global.bad_cpu_errors: {}", core.bad_cpu_errors())?;
        writeln!(f, "global.outstanding_pages: {}", core.outstanding_pages())?;
        {
            let total = core.total_cpu_stats();
            macro_rules! emit {
                ($name:expr, $value:expr) => {
                    writeln!(f, "total.{}: {}", $name, $value)?
                };
            }
            cpu_stats_fields!(&total, emit);
        }
        for cpu in 0..core.nr_cpus() {
            let (Some(stats), Some(cached)) = (core.cpu_stats(cpu), core.cpu_free_pages(cpu))
            else {
                continue;
            };
            writeln!(f, "cpu{}.cached_pages: {}", cpu, cached)?;
            macro_rules! emit {
                ($name:expr, $value:expr) => {
                    writeln!(f, "cpu{}.{}: {}", cpu, $name, $value)?
                };
            }
            cpu_stats_fields!(&stats, emit);
        }
        Ok(())
    })
}

fn show_blocks(_: &(), f: &mut fmt::Formatter<'_>) -> fmt::Result {
    with_pool(f, |pool, f| {
        writeln!(
            f,
            "{:>6} {:>12} {:<7} {:<9} {:>5} {:>5} {:>5} {:>7} {:>5}",
            "index", "pfn", "source", "state", "owner", "free", "order", "pending", "hot"
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
            writeln!(f, "{:>7} {:>5}", info.pending_pages, info.hot_pages)?;
        }
        Ok(())
    })
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

fn show_fragmentation(_: &(), f: &mut fmt::Formatter<'_>) -> fmt::Result {
    with_pool(f, |pool, f| {
        let info = pool.core().fragmentation();
        let nr_blocks = pool.blocks().len();
        writeln!(f, "blocks: {}", nr_blocks)?;
        writeln!(f, "free_blocks: {}", info.free_blocks)?;
        writeln!(f, "owned_blocks: {}", info.owned_blocks)?;
        writeln!(f, "fragment_blocks: {}", info.fragment_blocks)?;
        writeln!(f, "shared_blocks: {}", info.shared_blocks)?;
        writeln!(f, "free_pages: {}", info.free_pages)?;
        writeln!(f, "pending_pages: {}", info.pending_pages)?;
        writeln!(f, "hot_pages: {}", info.hot_pages)?;
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
                Ratio(info.free_pages - usable, info.free_pages)
            )?;
        }
        Ok(())
    })
}

fn show_policy(_: &(), f: &mut fmt::Formatter<'_>) -> fmt::Result {
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

fn write_policy(_: &(), reader: &mut UserSliceReader) -> Result {
    let pool = Pool::get().ok_or(ENODEV)?;
    let mut buf = [0u8; 128];
    let len = reader.len();
    if len > buf.len() {
        return Err(EINVAL);
    }
    reader.read_slice(&mut buf[..len])?;
    let text = core::str::from_utf8(&buf[..len]).map_err(|_| EINVAL)?;
    let policy = parse_policy(text, pool.core().policy())?;
    pool.core().set_policy(policy).map_err(|_| EINVAL)
}

fn show_verify(_: &(), f: &mut fmt::Formatter<'_>) -> fmt::Result {
    with_pool(f, |pool, f| {
        // The structural checks hold under traffic; the accounting checks need an idle pool
        // (no allocation or free in flight), which is how the selftests read this file.
        match pool.core().verify_structure() {
            Ok(()) => writeln!(f, "structure: ok")?,
            Err(e) => writeln!(f, "structure: error: {:?}", e)?,
        }
        match pool.core().verify() {
            Ok(()) => writeln!(f, "accounting: ok"),
            Err(e) => writeln!(f, "accounting: error: {:?}", e),
        }
    })
}
