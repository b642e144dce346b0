// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/debug/pcpbuddy/`: the pool's state for people and scripts.
//!
//! Formats are documented in `Documentation/debugfs.md`; they are `key: value` lines (or one
//! line per item with a header) so that scripts can parse them with `awk`.

use crate::pool::Pool;
use core::fmt;
use kernel::{debugfs::Scope, prelude::*};

/// The debugfs tree; removed when dropped.
pub(crate) type Tree = Scope<()>;

/// Creates `/sys/kernel/debug/pcpbuddy/` and its files.
pub(crate) fn create() -> impl PinInit<Tree> {
    Scope::dir((), c"pcpbuddy", |data, dir| {
        dir.read_callback_file(c"info", data, &show_info);
        dir.read_callback_file(c"blocks", data, &show_blocks);
    })
}

fn show_info(_: &(), f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let Some(pool) = Pool::get() else {
        return Ok(());
    };
    let info = pool.info();
    let config = pool.config();
    writeln!(f, "abi_version: {}", info.abi_version)?;
    writeln!(f, "pageblock_order: {}", info.block_order)?;
    writeln!(f, "page_size: {}", info.page_size)?;
    writeln!(f, "nr_cpu_ids: {}", info.nr_cpu_ids)?;
    writeln!(f, "size_mb: {}", config.size_mb)?;
    writeln!(f, "source: {}", config.source.name())?;
    writeln!(f, "node: {}", config.node)
}

fn show_blocks(_: &(), f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let Some(pool) = Pool::get() else {
        return Ok(());
    };
    writeln!(f, "{:>6} {:>12} {:<7}", "index", "pfn", "source")?;
    for (index, block) in pool.blocks().iter().enumerate() {
        writeln!(f, "{:>6} {:>#12x} {:<7}", index, block.pfn(), block.source().name())?;
    }
    Ok(())
}
