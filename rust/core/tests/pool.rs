//! Unit tests of the pool through its public API, one scenario each.

mod common;

use common::{assert_all_free, drain_all, magazines, pool, StdPool};
use pcpbuddy_core::{
    AllocError, BlockKind, DrainKind, Event, FragmentEvent, FreeError, Magazine, Policy,
    RefillPhase,
};

/// A pool and one magazine per CPU, driven from one thread.
struct T {
    pool: StdPool,
    mags: Vec<Magazine>,
}

impl T {
    fn new(p: u32, blocks: usize, cpus: usize) -> Self {
        let pool = pool(p, blocks, cpus);
        let mags = magazines(&pool);
        Self { pool, mags }
    }

    fn try_alloc(&mut self, cpu: usize, order: u32) -> Result<usize, AllocError> {
        self.try_alloc_kind(cpu, order, false)
    }

    fn try_alloc_kind(&mut self, cpu: usize, order: u32, folio: bool) -> Result<usize, AllocError> {
        let a = self.pool.alloc(&mut self.mags[cpu], order, folio)?;
        self.pool.platform().hand_out(a, order, folio);
        Ok(a.page)
    }

    fn alloc(&mut self, cpu: usize, order: u32) -> usize {
        self.try_alloc(cpu, order).unwrap()
    }

    fn free(&mut self, cpu: usize, page: usize, order: u32) -> Result<(), FreeError> {
        self.pool.free(&mut self.mags[cpu], page, order, false)
    }

    fn free_folio(&mut self, cpu: usize, page: usize, order: u32) -> Result<(), FreeError> {
        self.pool.free(&mut self.mags[cpu], page, order, true)
    }

    fn verify(&self) {
        common::verify(&self.pool, &self.mags);
    }

    fn kind(&self, page: usize) -> BlockKind {
        let p = self.pool.geometry().block_order();
        self.pool.block_info(page >> p).unwrap().kind
    }

    fn stats(&self, cpu: usize) -> pcpbuddy_core::CpuCounters {
        self.pool.cpu_stats(cpu).unwrap()
    }

    fn set_policy(&self, f: impl FnOnce(&mut Policy)) {
        let mut policy = self.pool.policy();
        f(&mut policy);
        self.pool.set_policy(policy).unwrap();
    }

    fn done(mut self) {
        assert_all_free(&self.pool, &mut self.mags);
    }
}

#[test]
fn claim_alloc_free_local() {
    let mut t = T::new(4, 4, 2);
    let a = t.alloc(0, 0);
    assert_eq!(t.kind(a), BlockKind::Owned(0));
    let s = t.stats(0);
    assert_eq!((s.refill_claim, s.allocs, s.mag_refills), (1, 1, 1));
    t.free(0, a, 0).unwrap();
    assert_eq!(t.stats(0).frees_fast, 1);
    t.verify();
    t.done();
}

/// The `repeat` pattern: an owner's order-0 pair goes through the magazine alone.
#[test]
fn repeat_pair_stays_in_the_magazine() {
    let mut t = T::new(4, 4, 2);
    let a = t.alloc(0, 0);
    t.free(0, a, 0).unwrap();
    let before = t.stats(0);
    for _ in 0..100 {
        let b = t.alloc(0, 0);
        assert_eq!(b, a, "the last freed page is reused");
        t.free(0, b, 0).unwrap();
    }
    let s = t.stats(0).since(&before);
    assert_eq!((s.allocs - s.allocs_slow, s.frees_fast), (100, 100));
    assert_eq!((s.mag_refills, s.global_locks, s.merges_local), (0, 0, 0));
    t.verify();
    t.done();
}

#[test]
fn remote_free_goes_to_owner() {
    let mut t = T::new(4, 4, 2);
    let pages: Vec<usize> = (0..16).map(|_| t.alloc(0, 0)).collect();
    for &p in &pages {
        t.free(1, p, 0).unwrap();
    }
    let s1 = t.stats(1);
    assert_eq!((s1.frees_remote, s1.frees_fast), (16, 0));
    assert_eq!(s1.global_locks, 0, "a remote free takes no global lock");
    // They wait in CPU 1's magazine, where CPU 1 could hand them out again.
    assert_eq!(t.mags[1].len(0), 16);
    assert_eq!(t.pool.block_info(pages[0] >> 4).unwrap().parked_pages, 0);
    t.verify();
    // What CPU 1's magazine gives back (here: a flush) is parked for the owner, with one
    // notification for the block.
    let mag1 = &mut t.mags[1];
    t.pool.flush_magazine(mag1);
    let s1 = t.stats(1);
    assert_eq!(t.pool.block_info(pages[0] >> 4).unwrap().parked_pages, 16);
    assert_eq!(s1.parked_units, 16);
    assert_eq!(s1.notifies, 1, "16 frees into one block: one notification");
    assert_eq!(s1.global_locks, 0, "parking takes no global lock");
    t.verify();
    // The owner absorbs on its slow path: its block is full, so it absorbs before refilling.
    let again = t.alloc(0, 4);
    let s0 = t.stats(0);
    assert_eq!(s0.absorbed_pages, 16);
    assert_eq!(
        s0.refill_claim, 1,
        "absorbed memory was reused, no new claim"
    );
    t.free(0, again, 4).unwrap();
    t.done();
}

/// The `rand` shape on the freeing side: a page freed by a CPU that does not own it is handed
/// out there again from the magazine, with no handoff to the owner and no slow path.
#[test]
fn remote_free_is_reused_by_the_freeing_cpu() {
    let mut t = T::new(4, 4, 2);
    let a = t.alloc(0, 0);
    t.free(1, a, 0).unwrap();
    let before = t.stats(1);
    assert_eq!(t.alloc(1, 0), a);
    let s = t.stats(1).since(&before);
    assert_eq!(
        (s.allocs, s.allocs_slow, s.parked_units),
        (1, 0, 0),
        "{s:?}"
    );
    assert_eq!(t.kind(a), BlockKind::Owned(0), "the block stays CPU 0's");
    t.verify();
    t.free(0, a, 0).unwrap();
    t.done();
}

/// The `rand` shape: pages freed by another CPU come back into the owner's magazine on its next
/// slow path as they were, not merged into the buddy and split again.
#[test]
fn remote_frees_refill_the_owners_magazine_unmerged() {
    let mut t = T::new(9, 2, 2);
    let pages: Vec<usize> = (0..64).map(|_| t.alloc(0, 0)).collect();
    // Empty CPU 0's order-0 stack, so that its next allocation takes the slow path.
    while t.mags[0].len(0) != 0 {
        let page = t.alloc(0, 0);
        t.free(1, page, 0).unwrap();
    }
    for &p in &pages {
        t.free(1, p, 0).unwrap();
    }
    let mag1 = &mut t.mags[1];
    t.pool.flush_magazine(mag1);
    let before = t.stats(0);
    let a = t.alloc(0, 0);
    let s = t.stats(0).since(&before);
    assert!(s.absorbed_pages >= 64, "{s:?}");
    assert_eq!((s.merges_local, s.mag_refills), (0, 0), "{s:?}");
    assert!(
        pages.contains(&a)
            || t.mags[0]
                .units(0)
                .iter()
                .any(|&u| pages.contains(&(u as usize)))
    );
    t.verify();
    t.free(0, a, 0).unwrap();
    t.done();
}

/// Every kind of event reaches the platform's trace hook, with the right fields.
#[test]
fn trace_events() {
    let mut t = T::new(4, 2, 2);
    t.pool.platform().start_tracing();
    let a = t.alloc(0, 0);
    let events = t.pool.platform().take_events();
    assert!(events.contains(&Event::Refill {
        order: 0,
        phase: RefillPhase::Claim,
        count: 1
    }));
    assert_eq!(
        events.last(),
        Some(&Event::Alloc {
            page: a,
            order: 0,
            folio: false,
            slow: true
        })
    );
    t.free(0, a, 0).unwrap();
    let b = t.alloc(0, 0);
    t.free(1, b, 0).unwrap();
    let c = t.alloc(0, 2);
    let events = t.pool.platform().take_events();
    assert_eq!(
        &events[..3],
        &[
            Event::Free {
                page: a,
                order: 0,
                folio: false,
                remote: false
            },
            Event::Alloc {
                page: b,
                order: 0,
                folio: false,
                slow: false
            },
            Event::Free {
                page: b,
                order: 0,
                folio: false,
                remote: true
            },
        ]
    );
    // The drain of a partly used block makes a fragment; the next refill recovers it (CPU 1's
    // magazine flushed first, so that its allocation must refill).
    for mag in &mut t.mags {
        t.pool.flush_magazine(mag);
    }
    t.pool.platform().take_events();
    t.pool.drain_cpu(0);
    let events = t.pool.platform().take_events();
    let block = c >> 4;
    assert!(events.iter().any(|e| matches!(e,
        Event::Fragment { block: b, event: FragmentEvent::Created, .. } if *b == block)));
    assert!(events.iter().any(|e| matches!(e,
        Event::Drain { cpu: 0, kind: DrainKind::Drain, pages } if *pages > 0)));
    let d = t.alloc(1, 0);
    let events = t.pool.platform().take_events();
    assert!(events.iter().any(|e| matches!(e,
        Event::Fragment { block: b, event: FragmentEvent::Recovered, .. } if *b == block)));
    assert!(events.contains(&Event::Refill {
        order: 0,
        phase: RefillPhase::Recover,
        count: 1
    }));
    t.free(0, c, 2).unwrap();
    t.free(1, d, 0).unwrap();
    // The magazines give everything back (CPU 0 had cached `c` for CPU 1, the block's owner
    // now); then CPU 0 keeps a whole block in its cache.
    for mag in &mut t.mags {
        t.pool.flush_magazine(mag);
    }
    let e = t.alloc(0, 4);
    t.free(0, e, 4).unwrap();
    t.pool.platform().take_events();
    // An allocation that needs more than is free reclaims from the other CPU.
    let whole: Vec<usize> = (0..2).map(|_| t.alloc(1, 4)).collect();
    let events = t.pool.platform().take_events();
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::Reclaim {
                order: 4,
                satisfied: true,
                ..
            }
        )),
        "{events:?}"
    );
    for page in whole {
        t.free(1, page, 4).unwrap();
    }
    t.done();
}

/// The `exit` shape: a CPU that frees many of another CPU's pages and allocates none keeps
/// one full stack of them to reuse and parks the rest for the owner one by one, without
/// flushing its magazine.
#[test]
fn remote_frees_past_a_full_stack_are_parked_at_once() {
    let mut t = T::new(9, 2, 2);
    let pages: Vec<usize> = (0..300).map(|_| t.alloc(0, 0)).collect();
    for &p in &pages {
        t.free(1, p, 0).unwrap();
    }
    let s1 = t.stats(1);
    assert_eq!(t.mags[1].len(0), 256, "the stack at its limit");
    assert_eq!((s1.frees_remote, s1.parked_units), (300, 44), "{s1:?}");
    assert_eq!((s1.mag_flushed, s1.global_locks), (0, 0), "{s1:?}");
    t.verify();
    t.done();
}

#[test]
fn unnotified_remote_frees_are_found_by_the_owners_drain() {
    // Order 4 is above the magazine's: a remote free of it is parked at once, and its
    // notification waits in the outbox until the freeing CPU's next slow path.
    let mut t = T::new(6, 2, 2);
    let pages: Vec<usize> = (0..4).map(|_| t.alloc(0, 4)).collect();
    for &p in &pages {
        t.free(1, p, 4).unwrap();
    }
    assert_eq!(t.stats(1).parked_units, 4);
    assert!(!t.mags[1].is_empty(), "the notification is still owed");
    // A drain scans every owned block whatever the queue says.
    t.pool.drain_cpu(0);
    let magazine_pages = t.mags[0].pages();
    assert_eq!(
        t.pool.block_info(pages[0] >> 6).unwrap().free_pages,
        64 - magazine_pages
    );
    t.done();
}

/// The owner drains its cache while another CPU's magazine caches a page of its block: the
/// block becomes a fragment, and the page reaches the global pool when that magazine flushes.
#[test]
fn cached_remote_free_survives_the_owners_drain() {
    let mut t = T::new(4, 2, 2);
    let a = t.alloc(0, 0);
    t.free(1, a, 0).unwrap();
    let mag = &mut t.mags[0];
    t.pool.flush_magazine(mag);
    t.pool.drain_cpu(0);
    assert_eq!(
        t.kind(a),
        BlockKind::Fragment,
        "CPU 1 still caches a page of it"
    );
    t.verify();
    let mag = &mut t.mags[1];
    t.pool.flush_magazine(mag);
    t.verify();
    t.done();
}

#[test]
fn errors_change_nothing() {
    let mut t = T::new(4, 2, 2);
    let a = t.alloc(0, 2);
    t.verify();
    assert_eq!(t.free(0, a, 1), Err(FreeError::WrongOrder));
    let wrong = if a.is_multiple_of(8) {
        FreeError::WrongOrder
    } else {
        FreeError::Misaligned
    };
    assert_eq!(t.free(1, a, 3), Err(wrong));
    assert_eq!(t.free(0, a + 1, 0), Err(FreeError::NotAllocated));
    assert_eq!(t.free(1, a + 1, 0), Err(FreeError::NotAllocated));
    assert_eq!(t.free(0, a + 2, 2), Err(FreeError::Misaligned));
    assert_eq!(t.free(0, 32, 0), Err(FreeError::OutOfPool));
    assert_eq!(t.free(0, a, 5), Err(FreeError::BadOrder));
    assert_eq!(t.free_folio(1, a, 2), Err(FreeError::WrongKind));
    let mut bad = Magazine::new(7);
    assert_eq!(t.pool.free(&mut bad, a, 2, false), Err(FreeError::BadCpu));
    assert_eq!(t.pool.alloc(&mut bad, 0, false), Err(AllocError::BadCpu));
    assert_eq!(t.try_alloc(0, 5), Err(AllocError::BadOrder));
    t.verify();
    assert_eq!(t.pool.outstanding_pages(), 4);
    t.free(1, a, 2).unwrap();
    // A remote double free is refused synchronously, from any CPU.
    assert_eq!(t.free(1, a, 2), Err(FreeError::DoubleFree));
    assert_eq!(t.free(0, a, 2), Err(FreeError::DoubleFree));
    // A page of a wholly free block.
    assert_eq!(t.free(0, 16, 0), Err(FreeError::DoubleFree));
    // BadCpu has no CPU to be counted on: it has its own counter.
    assert_eq!(t.pool.total_cpu_stats().free_errors_total(), 11);
    assert_eq!(t.pool.bad_cpu_errors(), 2);
    t.done();
}

#[test]
fn cached_double_free_wrong_order_and_tail_are_refused() {
    let mut t = T::new(4, 2, 2);
    let a = t.alloc(0, 1);
    let b = t.alloc(0, 0);
    t.free(0, a, 1).unwrap();
    assert!(t.mags[0].units(1).contains(&(a as u32)));
    // The cached unit is CACHED in the map: every second free of it fails, from the owner or
    // from another CPU, whatever the order, and changes nothing.
    assert_eq!(t.free(0, a, 1), Err(FreeError::DoubleFree));
    assert_eq!(t.free(1, a, 1), Err(FreeError::DoubleFree));
    assert_eq!(t.free(0, a, 0), Err(FreeError::DoubleFree));
    assert_eq!(t.free(1, a + 1, 0), Err(FreeError::DoubleFree));
    let wrong = if b.is_multiple_of(2) {
        FreeError::WrongOrder
    } else {
        FreeError::Misaligned
    };
    assert_eq!(t.free(0, b, 1), Err(wrong));
    assert_eq!(t.free(1, b, 1), Err(wrong));
    t.verify();
    let errors = t.pool.total_cpu_stats().free_errors;
    assert_eq!(errors[FreeError::DoubleFree.index()], 4);
    // A cached page reallocated is live again: its free works.
    let again = t.alloc(0, 1);
    assert_eq!(again, a);
    t.free(1, again, 1).unwrap();
    t.free(0, b, 0).unwrap();
    t.done();
}

#[test]
fn whole_pool_from_one_cpu_after_others_cached() {
    // Memory cached or owned by other CPUs is reclaimed before failing, except what their
    // magazines hold (each CPU flushes its own; the kernel asks with an IPI).
    let mut t = T::new(3, 4, 3);
    let a = t.alloc(1, 0);
    let b = t.alloc(2, 0);
    t.free(1, a, 0).unwrap();
    t.free(2, b, 0).unwrap();
    for cpu in [1, 2] {
        let mag = &mut t.mags[cpu];
        t.pool.flush_magazine(mag);
    }
    let mut got = Vec::new();
    while let Ok(p) = t.try_alloc(0, 3) {
        got.push(p);
    }
    assert_eq!(got.len(), 4);
    assert!(t.stats(0).reclaims > 0);
    assert_eq!(t.try_alloc(0, 0), Err(AllocError::OutOfMemory));
    for p in got {
        t.free(2, p, 3).unwrap();
    }
    t.done();
}

#[test]
fn drain_makes_fragments_and_recovery_takes_them_back() {
    let mut t = T::new(4, 4, 2);
    let a = t.alloc(0, 0);
    let block = a >> 4;
    let mag = &mut t.mags[0];
    t.pool.flush_magazine(mag);
    t.pool.drain_cpu(0);
    assert_eq!(t.kind(a), BlockKind::Fragment);
    assert_eq!(t.pool.global_stats().fragments_created, 1);
    let b = t.alloc(1, 0);
    assert_eq!(b >> 4, block, "phase 0 recovers the fragment first");
    assert_eq!(t.kind(a), BlockKind::Owned(1));
    assert_eq!(t.stats(1).refill_recover, 1);
    t.free(0, a, 0).unwrap();
    t.free(1, b, 0).unwrap();
    t.verify();
    t.done();
}

#[test]
fn frees_into_fragments_are_absorbed_by_the_global_pool() {
    let mut t = T::new(9, 4, 2);
    // Exhaust at order 9 from CPU 0, drain it: every block is a full fragment.
    let blocks: Vec<usize> = (0..4).map(|_| t.alloc(0, 9)).collect();
    t.pool.drain_cpu(0);
    assert!(blocks.iter().all(|&b| t.kind(b) == BlockKind::Fragment));
    // Frees from CPU 1 park in the fragments and notify the global pool; a drain of every
    // CPU (magazines first, as the kernel's drain does) leaves whole free blocks.
    for &b in &blocks {
        t.free(1, b, 9).unwrap();
    }
    let mags = &mut t.mags;
    for mag in mags.iter_mut() {
        t.pool.flush_magazine(mag);
    }
    t.pool.drain_cpu(0);
    t.pool.drain_cpu(1);
    let info = t.pool.fragmentation();
    assert_eq!((info.free_blocks, info.fragment_blocks), (4, 0));
    t.done();
}

#[test]
fn fragmentation_each_hands_every_block_as_counted() {
    let mut t = T::new(4, 4, 2);
    let a = t.alloc(0, 4);
    let b = t.alloc(1, 0);
    let mut seen = Vec::new();
    let info = t
        .pool
        .fragmentation_each(|block, b| seen.push((block, b.kind, b.free_pages)));
    assert_eq!(info, t.pool.fragmentation());
    assert_eq!(seen.len(), 4);
    assert!(seen.iter().enumerate().all(|(i, s)| s.0 == i));
    let count = |k: fn(BlockKind) -> bool| seen.iter().filter(|s| k(s.1)).count();
    assert_eq!(count(|k| k == BlockKind::Free), info.free_blocks);
    assert_eq!(
        count(|k| matches!(k, BlockKind::Owned(_))),
        info.owned_blocks
    );
    assert_eq!(seen.iter().map(|s| s.2).sum::<usize>(), info.free_pages);
    assert_eq!(seen[a >> 4].1, t.kind(a));
    t.free(0, a, 4).unwrap();
    t.free(1, b, 0).unwrap();
    t.done();
}

#[test]
fn recovery_off_uses_fragments_last() {
    let mut t = T::new(4, 2, 2);
    t.set_policy(|p| p.fragment_recovery = false);
    let a = t.alloc(0, 0);
    let mag = &mut t.mags[0];
    t.pool.flush_magazine(mag);
    t.pool.drain_cpu(0);
    let b = t.alloc(1, 0);
    assert_ne!(
        a >> 4,
        b >> 4,
        "a free block is claimed, the fragment is left"
    );
    // Exhaust: the fragment is used through the last-resort path.
    let mut held = vec![b];
    while let Ok(p) = t.try_alloc(1, 0) {
        held.push(p);
    }
    assert_eq!(held.len(), 31);
    assert!(t.stats(1).fallbacks > 0);
    t.verify();
    for p in held {
        t.free(0, p, 0).unwrap();
    }
    t.free(1, a, 0).unwrap();
    t.done();
}

#[test]
fn ownership_off_is_classic_batching() {
    let mut t = T::new(4, 4, 2);
    t.set_policy(|p| {
        p.ownership = false;
        p.high = 8;
        p.batch = 4;
    });
    let pages: Vec<usize> = (0..12).map(|_| t.alloc(0, 0)).collect();
    assert_eq!(t.pool.fragmentation().owned_blocks, 0);
    assert!(t.stats(0).refill_degrade >= 3);
    // Frees go to the freeing CPU's magazine, trimmed at `high`.
    for &p in &pages {
        t.free(1, p, 0).unwrap();
    }
    let s1 = t.stats(1);
    assert_eq!(s1.frees_fast, 12);
    t.verify();
    t.done();
}

#[test]
fn degrade_when_block_does_not_fit_high() {
    let mut t = T::new(4, 4, 1);
    t.set_policy(|p| {
        p.high = 8;
        p.batch = 4;
    });
    let a = t.alloc(0, 0);
    let s = t.stats(0);
    assert_eq!((s.refill_claim, s.refill_degrade), (0, 1));
    assert_eq!(t.kind(a), BlockKind::Shared);
    t.free(0, a, 0).unwrap();
    t.done();
}

#[test]
fn trim_returns_whole_blocks() {
    let mut t = T::new(4, 8, 1);
    t.set_policy(|p| {
        p.high = 32;
        p.batch = 8;
    });
    let pages: Vec<usize> = (0..8).map(|_| t.alloc(0, 4)).collect();
    for &p in &pages {
        t.free(0, p, 4).unwrap();
        assert!(t.pool.cpu_free_pages(0).unwrap() <= 32);
    }
    assert!(t.pool.global_stats().blocks_returned > 0);
    t.done();
}

#[test]
fn magazine_overflow_returns_the_older_half_locally() {
    let mut t = T::new(9, 2, 1);
    // Enough to overflow the order-0 stack (256) more than once; fewer under Miri.
    let n = if cfg!(miri) { 300 } else { 700 };
    let pages: Vec<usize> = (0..n).map(|_| t.alloc(0, 0)).collect();
    let locks = t.stats(0).global_locks;
    for &p in &pages {
        t.free(0, p, 0).unwrap();
        assert!(t.mags[0].len(0) <= 256);
    }
    let s = t.stats(0);
    assert!(s.mag_flushed > 0);
    assert_eq!(
        s.global_locks, locks,
        "overflow returns under the cache lock only"
    );
    t.verify();
    // An order-9 allocation flushes the rest on the slow path, before claiming more.
    let big = t.alloc(0, 9);
    assert!(t.mags[0].pages() == 0);
    t.free(0, big, 9).unwrap();
    t.done();
}

#[test]
fn trim_flushes_the_magazine_and_returns_whole_blocks() {
    let mut t = T::new(4, 4, 1);
    t.set_policy(|p| {
        p.high = 16;
        p.batch = 8;
    });
    let pages: Vec<usize> = (0..48).map(|_| t.alloc(0, 0)).collect();
    for &p in &pages {
        t.free(0, p, 0).unwrap();
        if !cfg!(miri) {
            t.verify();
        }
    }
    t.verify();
    assert!(t.stats(0).trims > 0);
    assert!(t.pool.global_stats().blocks_returned >= 2);
    t.done();
}

#[test]
fn units_cached_in_a_drained_block_stay_the_magazines() {
    let mut t = T::new(4, 2, 2);
    let pages: Vec<usize> = (0..6).map(|_| t.alloc(0, 0)).collect();
    for &p in &pages[..4] {
        t.free(0, p, 0).unwrap();
    }
    let block = pages[0] >> 4;
    let cached = t.mags[0].pages();
    // Another CPU drains CPU 0's cache: the block becomes a fragment, but the magazine's
    // units stay cached (it is the magazine's CPU that returns them).
    t.pool.drain_cpu(0);
    let info = t.pool.block_info(block).unwrap();
    assert_eq!(info.kind, BlockKind::Fragment);
    assert_eq!(info.cached_pages, cached);
    t.verify();
    // CPU 0 still allocates from them without a lock...
    let again = t.alloc(0, 0);
    let s = t.stats(0);
    assert_eq!(s.allocs - s.allocs_slow, 7 - s.mag_refills);
    // ...and its flush parks them for the fragment's holder, the global pool.
    let mag = &mut t.mags[0];
    t.pool.flush_magazine(mag);
    assert_eq!(t.pool.block_info(block).unwrap().cached_pages, 0);
    t.verify();
    t.free(1, again, 0).unwrap();
    for &p in &pages[4..] {
        t.free(1, p, 0).unwrap();
    }
    t.done();
}

#[test]
fn reclaim_takes_owned_blocks_from_another_cpu() {
    let mut t = T::new(4, 1, 2);
    let pages: Vec<usize> = (0..16).map(|_| t.alloc(0, 0)).collect();
    for &p in &pages {
        t.free(0, p, 0).unwrap();
    }
    let mag = &mut t.mags[0];
    t.pool.flush_magazine(mag);
    let big = t.alloc(1, 4);
    assert_eq!(t.stats(0).drains, 1);
    assert_eq!(t.kind(big), BlockKind::Owned(1));
    t.verify();
    t.free(0, big, 4).unwrap();
    t.done();
}

#[test]
fn policy_switches_with_cached_pages() {
    let mut t = T::new(4, 4, 2);
    let a = t.alloc(0, 0);
    let b = t.alloc(0, 2);
    t.free(0, a, 0).unwrap();
    t.free(0, b, 2).unwrap();
    t.set_policy(|p| p.ownership = false);
    // The block stays owned: its cached pages still serve and take its frees.
    let c = t.alloc(0, 0);
    assert_eq!(c, a);
    let d = t.alloc(1, 0);
    assert_eq!(t.kind(d), BlockKind::Shared);
    t.free(0, c, 0).unwrap();
    t.free(0, d, 0).unwrap();
    t.verify();
    t.set_policy(|p| p.ownership = true);
    let e = t.alloc(0, 2);
    assert_eq!(e, b);
    t.verify();
    t.free(1, e, 2).unwrap();
    t.done();
}

// ------------------------------------------------------------ folios

/// A folio of the block order keeps its compound state while cached: the next folio
/// allocation gets it back without preparing anything.
#[test]
fn block_order_folio_stays_compound() {
    let mut t = T::new(9, 4, 2);
    let f = t.try_alloc_kind(0, 9, true).unwrap();
    assert!(t.pool.platform().is_compound(f >> 9));
    t.free_folio(0, f, 9).unwrap();
    assert!(t.pool.block_info(f >> 9).unwrap().compound);
    for _ in 0..10 {
        let g = t.try_alloc_kind(0, 9, true).unwrap();
        assert_eq!(g, f);
        t.free_folio(0, g, 9).unwrap();
    }
    assert_eq!(t.stats(0).folios_kept, 10);
    // Freed remotely, it stays compound too.
    let g = t.try_alloc_kind(0, 9, true).unwrap();
    t.free_folio(1, g, 9).unwrap();
    let mag = &mut t.mags[1];
    t.pool.flush_magazine(mag);
    // Parked for its owner, which absorbs it on its next slow path (or now).
    assert_eq!(t.pool.absorb_remote(0), 512);
    let h = t.try_alloc_kind(0, 9, true).unwrap();
    assert_eq!(h, f);
    assert_eq!(t.stats(0).folios_kept, 12);
    t.free_folio(0, h, 9).unwrap();
    assert_eq!(t.stats(0).compound_undone, 0);
    t.done();
}

/// A whole block freed by its owner stays cached as one unit: the next block-order allocation
/// takes it back without touching the buddy or the lists; trims and drains put it back first.
#[test]
fn owner_keeps_the_last_whole_block_cached() {
    let mut t = T::new(9, 4, 2);
    let f = t.try_alloc_kind(0, 9, true).unwrap();
    let other = t.try_alloc_kind(0, 9, false).unwrap();
    t.free_folio(0, f, 9).unwrap();
    let info = t.pool.block_info(f >> 9).unwrap();
    assert_eq!(
        (info.free_pages, info.cached_pages, info.compound),
        (0, 512, true)
    );
    t.verify();
    // The second whole block goes back into its buddy: the slot is taken.
    t.free(0, other, 9).unwrap();
    assert_eq!(t.pool.block_info(other >> 9).unwrap().free_pages, 512);
    t.verify();
    // A folio takes the cached one (compound, kept); plain pages take the plain block.
    let g = t.try_alloc_kind(0, 9, true).unwrap();
    assert_eq!(g, f);
    let h = t.try_alloc_kind(0, 9, false).unwrap();
    assert_eq!(h, other);
    assert_eq!(t.stats(0).compound_undone, 0);
    t.free_folio(0, g, 9).unwrap();
    t.free(0, h, 9).unwrap();
    // A drain puts the cached block back and gives both back whole.
    t.pool.drain_cpu(0);
    for page in [f, other] {
        assert_eq!(t.kind(page), BlockKind::Free);
    }
    assert!(t.pool.block_info(f >> 9).unwrap().compound);
    t.verify();
    t.done();
}

#[test]
fn compound_block_is_undone_only_when_split_or_handed_out_plain() {
    let mut t = T::new(9, 1, 1);
    let f = t.try_alloc_kind(0, 9, true).unwrap();
    t.free_folio(0, f, 9).unwrap();
    // The only block is compound: an order-0 allocation must split it.
    let a = t.alloc(0, 0);
    assert_eq!(t.stats(0).compound_undone, 1);
    assert!(!t.pool.platform().is_compound(0));
    t.free(0, a, 0).unwrap();
    let mag = &mut t.mags[0];
    t.pool.flush_magazine(mag);
    // A plain order-9 allocation of a compound block undoes it too.
    let f = t.try_alloc_kind(0, 9, true).unwrap();
    t.free_folio(0, f, 9).unwrap();
    let b = t.alloc(0, 9);
    assert_eq!(t.stats(0).compound_undone, 2);
    assert_eq!(t.free_folio(0, b, 9), Err(FreeError::WrongKind));
    t.free(0, b, 9).unwrap();
    t.done();
}

#[test]
fn small_folios_are_marked_and_checked() {
    let mut t = T::new(4, 2, 2);
    let f = t.try_alloc_kind(0, 2, true).unwrap();
    assert_eq!(t.pool.check_free(f, 2, true), Ok(()));
    assert_eq!(t.pool.check_free(f, 2, false), Err(FreeError::WrongKind));
    assert_eq!(t.free(0, f, 2), Err(FreeError::WrongKind));
    t.free_folio(1, f, 2).unwrap();
    assert_eq!(t.free_folio(1, f, 2), Err(FreeError::DoubleFree));
    // Order-0 folios are plain pages with the folio mark.
    let g = t.try_alloc_kind(0, 0, true).unwrap();
    t.free_folio(0, g, 0).unwrap();
    t.done();
}

#[test]
fn exhaustion_at_block_order_is_reversible() {
    let mut t = T::new(9, 4, 2);
    let mut held = Vec::new();
    while let Ok(b) = t.try_alloc(0, 9) {
        held.push(b);
    }
    assert_eq!(held.len(), 4);
    for b in held {
        t.free(1, b, 9).unwrap();
    }
    drain_all(&t.pool, &mut t.mags);
    assert_eq!(t.pool.fragmentation().free_blocks, 4);
    t.done();
}

#[test]
fn metadata_size() {
    use pcpbuddy_core::{BlockMeta, CpuCache, Geometry, GlobalPool};
    let header = std::mem::size_of::<BlockMeta>();
    assert_eq!(header, 128, "two cache lines: shared and holder-only");
    for p in [3, 9, 10] {
        let geo = Geometry::new(p, 1).unwrap();
        let map = geo.map_lines_per_block() * 64 + geo.bitmap_lines_per_block() * 64;
        println!(
            "P={p}: BlockMeta {header} B + map and bitmaps {map} B = {} B per block",
            header + map
        );
    }
    println!(
        "CpuCache {} B, Magazine {} B, GlobalPool {} B",
        std::mem::size_of::<CpuCache>(),
        std::mem::size_of::<Magazine>(),
        std::mem::size_of::<GlobalPool>()
    );
    let geo = Geometry::new(9, 1).unwrap();
    let p9 = header + (geo.map_lines_per_block() + geo.bitmap_lines_per_block()) * 64;
    assert!(
        p9 <= 1024,
        "P=9 metadata {p9} B exceeds 1 KiB per 2 MiB block"
    );
}
