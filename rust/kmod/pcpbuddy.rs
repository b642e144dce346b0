// SPDX-License-Identifier: GPL-2.0

//! pcpbuddy: an alternate page pool with per-CPU caches that own whole pageblocks.
//!
//! At load the module reserves memory from the kernel ([`reserve`]) and runs its own allocator
//! over it. The pool is reachable from other kernel code ([`api`], `include/linux/pcpbuddy.h`),
//! from user space ([`chardev`], `/dev/pcpbuddy`) and for inspection ([`debugfs`]).
//! See `Documentation/` and `README.md`.

use kernel::{
    bindings,
    miscdevice::{MiscDeviceOptions, MiscDeviceRegistration},
    prelude::*,
};

mod api;
mod bench;
mod chardev;
mod debugfs;
mod front;
mod glue;
mod hotplug;
mod kernel_platform;
mod kernel_pool;
/// The allocator core, compiled into the module from the very files that the host crate
/// `rust/core` tests (see `Documentation/core.md`). Its items are `pub` for the host crate, so
/// unreachable from here.
#[path = "../core/src/lib.rs"]
#[allow(unreachable_pub)]
mod pcpcore;
mod rawlock;
mod replay;
mod reserve;
mod table;
mod trace;
mod uapi;

use kernel_pool::{Config, KernelPool};
use reserve::SourcePolicy;

module! {
    type: PcpBuddyModule,
    name: "pcpbuddy",
    authors: ["pcpbuddy developers"],
    description: "Page pool with per-CPU caches that own whole pageblocks",
    license: "GPL",
    params: {
        size_mb: u32 {
            default: 64,
            description: "Pool size in MiB, a multiple of the pageblock size (default 64)",
        },
        node: i32 {
            default: -1,
            description: "NUMA node to take memory from, -1 for any (default -1)",
        },
        ownership: bool {
            default: true,
            description: "CPUs own whole pageblocks (false: classic per-CPU batching)",
        },
        fragment_recovery: bool {
            default: true,
            description: "Refill recovers partly used blocks before claiming free ones",
        },
        high: u32 {
            default: 0,
            description: "Pages a CPU cache may hold before it is trimmed (0: its share of the pool, 2 to 16 pageblocks)",
        },
        batch: u32 {
            default: 0,
            description: "Pages moved per refill or trim (0: 64)",
        },
    },
}

/// The module. Fields are dropped in declaration order: the interfaces go before the pool.
#[pin_data]
struct PcpBuddyModule {
    #[pin]
    _misc: MiscDeviceRegistration<chardev::PoolDevice>,
    #[pin]
    _debugfs: debugfs::Tree,
    _hotplug: hotplug::Hotplug,
    _pool: PublishedPool,
}

/// Keeps the pool published for as long as the module lives.
///
/// # Invariants
///
/// While a `PublishedPool` lives, the module's pool is published: [`KernelPool::get`] returns it.
struct PublishedPool;

impl PublishedPool {
    fn new(config: Config) -> Result<Self> {
        let pool = KernelPool::new(config)?;
        let mut policy = pool.core().policy();
        policy.ownership = module_parameters::ownership.value();
        policy.fragment_recovery = module_parameters::fragment_recovery.value();
        // By default a CPU may cache its share of the pool, between 2 and 16 blocks: a stream
        // of block-order allocations then stays off the global lock.
        let nr_cpus = kernel::cpu::nr_cpu_ids().max(1) as usize;
        let share = (pool.blocks().len() / nr_cpus).clamp(2, 16);
        policy.high = (share << pool.block_order()) as u32;
        if module_parameters::high.value() != 0 {
            policy.high = module_parameters::high.value();
        }
        if module_parameters::batch.value() != 0 {
            policy.batch = module_parameters::batch.value();
        }
        pool.core().set_policy(policy).map_err(|_| EINVAL)?;
        KernelPool::publish(pool);
        // INVARIANT: published just above; withdrawn only in `drop`.
        Ok(Self)
    }
}

impl Drop for PublishedPool {
    fn drop(&mut self) {
        // SAFETY: `PublishedPool` is the last field of the module, so the misc device and the
        // debugfs tree are already unregistered; the exported API cannot be called because no
        // module that uses it can still be loaded while we are being removed.
        unsafe { KernelPool::withdraw() };
    }
}

/// Reads and validates the module parameters.
fn config() -> Result<Config> {
    let source_param = glue::source_param();
    let source = SourcePolicy::parse(source_param).inspect_err(|_| {
        pr_err!(
            "source={:?}: expected auto, cma, contig or pages\n",
            source_param
        );
    })?;
    let size_mb = module_parameters::size_mb.value();
    // Shifts and masks, not `/` and `%`: objtool in 7.3 does not know that Rust's
    // `panic_const_{div,rem}_by_zero` do not return and warns about every runtime divisor.
    let block_mask = (kernel::page::PAGE_SIZE << glue::pageblock_order()) as u64 - 1;
    let size_bytes = u64::from(size_mb) << 20;
    if size_bytes == 0 || size_bytes & block_mask != 0 {
        pr_err!(
            "size_mb={}: must be a positive multiple of {} MiB\n",
            size_mb,
            (block_mask + 1) >> 20
        );
        return Err(EINVAL);
    }
    let node = module_parameters::node.value();
    if node != bindings::NUMA_NO_NODE && !glue::node_online(node) {
        pr_err!("node={}: not an online NUMA node\n", node);
        return Err(EINVAL);
    }
    Ok(Config {
        size_mb,
        source,
        node,
    })
}

impl kernel::InPlaceModule for PcpBuddyModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            _pool: PublishedPool::new(config()?)?,
            _hotplug: hotplug::Hotplug::register()?,
            _debugfs <- debugfs::create(),
            _misc <- MiscDeviceRegistration::register(MiscDeviceOptions { name: c"pcpbuddy" }),
        })
    }
}
