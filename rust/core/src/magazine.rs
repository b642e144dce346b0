//! A CPU's magazine: the front of its cache, touched only by that CPU.
//!
//! Small free units (orders `0..=MAG_MAX_ORDER`) wait here unmerged, like the mainline per-CPU
//! page lists in front of the zone's buddy: an allocation of such an order pops one, a free
//! pushes one, whoever holds the unit's block (a unit of a block someone else holds goes to the
//! holder when the magazine gives it back). Neither takes a lock or needs a locked instruction
//! beyond the free's validating compare-and-swap (see `pool/front.rs`): in the kernel, the
//! magazine is reached only by its own CPU with interrupts disabled for the few instructions it
//! takes, and by nobody else while the CPU is online (other CPUs ask it to flush, with an IPI, or
//! wait until it is dead).
//!
//! The magazine also carries the CPU's [`Outbox`] of remote-free notifications.

use super::remote::Outbox;

/// Highest order with a magazine stack (mainline's `PAGE_ALLOC_COSTLY_ORDER`): larger orders
/// go to the cache under its lock.
pub const MAG_MAX_ORDER: u32 = 3;

const NR_MAG_ORDERS: usize = MAG_MAX_ORDER as usize + 1;

/// Stack capacity per order, in units (the policy's `high` may set lower limits). Full: the
/// older half goes back to the blocks.
const MAG_CAP: [usize; NR_MAG_ORDERS] = [256, 64, 32, 16];

const MAG_OFFSETS: [usize; NR_MAG_ORDERS + 1] = {
    let mut offsets = [0; NR_MAG_ORDERS + 1];
    let mut k = 0;
    while k < NR_MAG_ORDERS {
        offsets[k + 1] = offsets[k] + MAG_CAP[k];
        k += 1;
    }
    offsets
};

const MAG_SLOTS: usize = MAG_OFFSETS[NR_MAG_ORDERS];

/// One CPU's magazine.
///
/// # Invariants
///
/// Entry `i < len[k]` of stack `k` is the first page of a `CACHED` unit of exactly order `k`,
/// not compound, cached by this magazine: no other magazine or loose stack lists it, and no
/// holder touches it (whatever its block's state is now). `cpu` is the CPU it belongs to.
/// `1 <= limit[k] <= MAG_CAP[k]`.
pub struct Magazine {
    cpu: u32,
    len: [u16; NR_MAG_ORDERS],
    /// Units a stack may hold before a free flushes it: from the policy's `high`, refreshed
    /// on every slow path.
    limit: [u16; NR_MAG_ORDERS],
    /// The `high` the limits were computed from (`u32::MAX`: none yet).
    limits_for: u32,
    slots: [u32; MAG_SLOTS],
    pub(crate) outbox: Outbox,
}

impl Magazine {
    /// An empty magazine for CPU `cpu`.
    pub const fn new(cpu: u32) -> Self {
        Self {
            cpu,
            len: [0; NR_MAG_ORDERS],
            limit: [
                MAG_CAP[0] as u16,
                MAG_CAP[1] as u16,
                MAG_CAP[2] as u16,
                MAG_CAP[3] as u16,
            ],
            limits_for: u32::MAX,
            slots: [0; MAG_SLOTS],
            outbox: Outbox::new(),
        }
    }

    /// The CPU this magazine belongs to.
    #[inline]
    pub fn cpu(&self) -> usize {
        self.cpu as usize
    }

    /// Units stack `k` may hold now (`k <= MAG_MAX_ORDER`).
    pub(crate) fn limit(&self, k: u32) -> usize {
        usize::from(self.limit[k as usize])
    }

    /// Sets the stacks' limits from the policy's `high` (pages): stack `k` holds at most
    /// `high >> (k + 2)` units, so that the four stacks together stay within `high`.
    /// Cheap when `high` did not change (every slow path calls it).
    #[inline]
    pub(crate) fn set_limits(&mut self, high: u32) {
        if high != self.limits_for {
            self.compute_limits(high);
        }
    }

    #[cold]
    fn compute_limits(&mut self, high: u32) {
        self.limits_for = high;
        for (k, (limit, cap)) in self.limit.iter_mut().zip(MAG_CAP).enumerate() {
            *limit = ((high as usize) >> (k + 2)).clamp(1, cap) as u16;
        }
    }

    /// Units on stack `k` (0 for orders without a stack).
    pub fn len(&self, k: u32) -> usize {
        self.len.get(k as usize).map_or(0, |&len| usize::from(len))
    }

    /// Whether stack `k` is at its limit; `k <= MAG_MAX_ORDER`.
    #[inline(always)]
    pub(crate) fn is_full(&self, k: u32) -> bool {
        self.len[k as usize] >= self.limit[k as usize]
    }

    /// Pushes a unit; `k <= MAG_MAX_ORDER` and the stack is not full.
    #[inline(always)]
    pub(crate) fn push(&mut self, k: u32, page: usize) {
        let k = k as usize;
        let len = usize::from(self.len[k]);
        debug_assert!(len < MAG_CAP[k]);
        // No overflow: offsets and lengths are below `MAG_SLOTS` (invariant), and the index is
        // bounds-checked anyway.
        self.slots[MAG_OFFSETS[k].wrapping_add(len)] = page as u32;
        self.len[k] = self.len[k].wrapping_add(1);
    }

    /// Pops the most recently pushed unit of order `k`, if any; `k <= MAG_MAX_ORDER`.
    #[inline(always)]
    pub(crate) fn pop(&mut self, k: u32) -> Option<usize> {
        let k = k as usize;
        let len = self.len[k].checked_sub(1)?;
        self.len[k] = len;
        Some(self.slots[MAG_OFFSETS[k].wrapping_add(usize::from(len))] as usize)
    }

    /// Removes the `count` oldest units of stack `k` (the bottom), calling `f` for each, and
    /// moves the rest down.
    pub(crate) fn drain_oldest(&mut self, k: u32, count: usize, mut f: impl FnMut(usize)) {
        let len = self.len(k);
        let count = count.min(len);
        let base = MAG_OFFSETS[k as usize];
        for &page in &self.slots[base..base + count] {
            f(page as usize);
        }
        self.slots.copy_within(base + count..base + len, base);
        self.len[k as usize] = (len - count) as u16;
    }

    /// The units of order `k` (empty for orders without a stack).
    pub fn units(&self, k: u32) -> &[u32] {
        if k > MAG_MAX_ORDER {
            return &[];
        }
        let base = MAG_OFFSETS[k as usize];
        &self.slots[base..base + self.len(k)]
    }

    /// Free pages on the stacks.
    pub fn pages(&self) -> usize {
        (0..=MAG_MAX_ORDER).map(|k| self.len(k) << k).sum()
    }

    /// Whether the stacks are empty and no notification is owed.
    // Host tests only: the module never asks (`MODULE` is the kernel's cfg for module builds).
    #[cfg(not(MODULE))]
    pub fn is_empty(&self) -> bool {
        self.len.iter().all(|&len| len == 0) && self.outbox.is_empty()
    }
}
