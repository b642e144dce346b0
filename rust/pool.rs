// SPDX-License-Identifier: GPL-2.0

//! The pool as the rest of the module sees it: its configuration and the one global instance.
//!
//! Every interface of the module (the misc device, debugfs, the exported C API) reaches the pool
//! through [`Pool::get`]. The instance is published in `init` before any interface is registered
//! and withdrawn in `exit` after all of them are gone, so an interface never sees it missing.

use crate::{
    glue,
    reserve::{Pageblock, SourcePolicy},
    uapi,
};
use kernel::{
    prelude::*,
    sync::atomic::{Acquire, Atomic, Release},
};

/// What the pool was asked for at load (module parameters, validated).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Config {
    /// Pool size in MiB.
    pub(crate) size_mb: u32,
    /// Where its pageblocks come from.
    pub(crate) source: SourcePolicy,
    /// NUMA node, or `NUMA_NO_NODE`.
    pub(crate) node: i32,
}

/// The pool.
pub(crate) struct Pool {
    config: Config,
    pageblock_order: u32,
    /// The reserved memory, one entry per pageblock, in reservation order.
    blocks: KVVec<Pageblock>,
}

/// The published pool, or null while the module is not (or no longer) live.
static POOL: Atomic<*mut Pool> = Atomic::new(core::ptr::null_mut());

impl Pool {
    /// Creates the pool described by `config`, reserving all of its memory.
    ///
    /// Fails with `ENOMEM` (and a message saying how much it got) if the sources cannot supply
    /// `size_mb`; everything reserved so far is given back.
    pub(crate) fn new(config: Config) -> Result<KBox<Self>> {
        let order = glue::pageblock_order();
        let block_shift = kernel::page::PAGE_SHIFT as u32 + order;
        // `config()` checked that the size is a multiple of the block size.
        let nr_blocks = ((config.size_mb as usize) << 20) >> block_shift;
        let mut blocks = KVVec::with_capacity(nr_blocks, GFP_KERNEL)?;
        for _ in 0..nr_blocks {
            match Pageblock::acquire_any(config.source, order, config.node) {
                Ok(block) => blocks.push(block, GFP_KERNEL)?,
                Err(e) => {
                    pr_err!(
                        "source={}: reserved only {} of {} MiB ({} of {} pageblocks): {:?}\n",
                        config.source.name(),
                        (blocks.len() << block_shift) >> 20,
                        config.size_mb,
                        blocks.len(),
                        nr_blocks,
                        e
                    );
                    // Dropping `blocks` gives back what we got.
                    return Err(ENOMEM);
                }
            }
        }
        Ok(KBox::new(
            Self {
                config,
                pageblock_order: order,
                blocks,
            },
            GFP_KERNEL,
        )?)
    }

    /// The reserved pageblocks.
    pub(crate) fn blocks(&self) -> &[Pageblock] {
        &self.blocks
    }

    /// Publishes `pool` as the module's pool.
    pub(crate) fn publish(pool: KBox<Self>) {
        POOL.store(KBox::into_raw(pool), Release);
    }

    /// Withdraws and drops the published pool.
    ///
    /// # Safety
    ///
    /// No interface that reaches the pool through [`Pool::get`] may be registered any more, and
    /// no reference obtained from it may still be live.
    pub(crate) unsafe fn withdraw() {
        let pool = POOL.xchg(core::ptr::null_mut(), Acquire);
        if !pool.is_null() {
            // SAFETY: `pool` came from `KBox::into_raw` in `publish`, and by the caller's promise
            // nothing refers to it any more.
            drop(unsafe { KBox::from_raw(pool) });
        }
    }

    /// The published pool, if the module is live.
    pub(crate) fn get() -> Option<&'static Self> {
        let pool = POOL.load(Acquire);
        // SAFETY: A non-null `POOL` points to the pool published by `publish`, which stays
        // valid until `withdraw`; `withdraw` runs only after every interface that calls `get`
        // is unregistered, so no caller can hold the reference past it.
        unsafe { pool.as_ref() }
    }

    /// The pool's description for user space and in-kernel users.
    pub(crate) fn info(&self) -> uapi::Info {
        uapi::Info {
            abi_version: uapi::ABI_VERSION,
            block_order: self.pageblock_order,
            page_size: kernel::page::PAGE_SIZE as u32,
            nr_cpu_ids: kernel::cpu::nr_cpu_ids(),
            source: self.config.source.uapi(),
            node: self.config.node,
            size_bytes: u64::from(self.config.size_mb) << 20,
        }
    }

    /// The configuration the pool was loaded with.
    pub(crate) fn config(&self) -> &Config {
        &self.config
    }
}
