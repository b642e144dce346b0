//! Unit tests of the pool through its public API.

mod common;

use common::{assert_all_free, pool};
use pcpbuddy_core::{AllocError, BlockKind, FreeError, Policy};

#[test]
fn claim_alloc_free_local() {
    let pool = pool(4, 4, 2);
    let a = pool.alloc(0, 0).unwrap();
    assert_eq!(pool.block_info(a >> 4).unwrap().kind, BlockKind::Owned(0));
    let s = pool.cpu_stats(0).unwrap();
    assert_eq!((s.refill_claim, s.allocs), (1, 1));
    pool.free(0, a, 0).unwrap();
    assert_eq!(pool.cpu_stats(0).unwrap().frees_local, 1);
    pool.verify().unwrap();
    assert_all_free(&pool);
}

#[test]
fn remote_free_goes_to_owner() {
    let pool = pool(4, 4, 2);
    let pages: Vec<usize> = (0..16).map(|_| pool.alloc(0, 0).unwrap()).collect();
    for &p in &pages {
        pool.free(1, p, 0).unwrap();
    }
    let s1 = pool.cpu_stats(1).unwrap();
    assert_eq!(s1.frees_remote, 16);
    assert_eq!(s1.global_locks, 0, "a remote free takes no global lock");
    assert_eq!(pool.block_info(pages[0] >> 4).unwrap().pending_pages, 16);
    pool.verify().unwrap();
    // The owner absorbs on its slow path: the block is full, so the next
    // allocation absorbs before refilling.
    let again = pool.alloc(0, 4).unwrap();
    let s0 = pool.cpu_stats(0).unwrap();
    assert_eq!(s0.absorbed_pages, 16);
    assert_eq!(
        s0.refill_claim, 1,
        "absorbed memory was reused, no new claim"
    );
    pool.free(0, again, 4).unwrap();
    assert_all_free(&pool);
}

#[test]
fn errors_change_nothing() {
    let pool = pool(4, 2, 2);
    let a = pool.alloc(0, 2).unwrap();
    pool.verify().unwrap();
    assert_eq!(pool.free(0, a, 1), Err(FreeError::WrongOrder));
    assert_eq!(pool.free(1, a, 3), Err(FreeError::WrongOrder));
    assert_eq!(pool.free(0, a + 1, 0), Err(FreeError::NotAllocated));
    assert_eq!(pool.free(1, a + 1, 0), Err(FreeError::NotAllocated));
    assert_eq!(pool.free(0, a + 2, 2), Err(FreeError::Misaligned));
    assert_eq!(pool.free(0, 32, 0), Err(FreeError::OutOfPool));
    assert_eq!(pool.free(0, a, 5), Err(FreeError::BadOrder));
    assert_eq!(pool.free(7, a, 2), Err(FreeError::BadCpu));
    assert_eq!(pool.alloc(0, 5), Err(AllocError::BadOrder));
    assert_eq!(pool.alloc(9, 0), Err(AllocError::BadCpu));
    pool.verify().unwrap();
    assert_eq!(pool.outstanding_pages(), 4);
    pool.free(1, a, 2).unwrap();
    // Remote double free is refused synchronously.
    assert_eq!(pool.free(1, a, 2), Err(FreeError::DoubleFree));
    assert_eq!(pool.free(0, a, 2), Err(FreeError::DoubleFree));
    // A page of a wholly free block.
    assert_eq!(pool.free(0, 16, 0), Err(FreeError::DoubleFree));
    // BadCpu has no CPU to be counted on: it has its own counter.
    let errors = pool.total_cpu_stats().free_errors_total();
    assert_eq!(errors, 10);
    assert_eq!(pool.bad_cpu_errors(), 2);
    assert_all_free(&pool);
}

#[test]
fn whole_pool_from_one_cpu_after_others_cached() {
    // Memory cached or owned by other CPUs is reclaimed before failing.
    let pool = pool(3, 4, 3);
    let a = pool.alloc(1, 0).unwrap();
    let b = pool.alloc(2, 0).unwrap();
    pool.free(1, a, 0).unwrap();
    pool.free(2, b, 0).unwrap();
    let mut got = Vec::new();
    while let Ok(p) = pool.alloc(0, 3) {
        got.push(p);
    }
    assert_eq!(got.len(), 4);
    assert!(pool.cpu_stats(0).unwrap().reclaims > 0);
    assert_eq!(pool.alloc(0, 0), Err(AllocError::OutOfMemory));
    for p in got {
        pool.free(2, p, 3).unwrap();
    }
    assert_all_free(&pool);
}

#[test]
fn drain_makes_fragments_and_recovery_takes_them_back() {
    let pool = pool(4, 4, 2);
    let a = pool.alloc(0, 0).unwrap();
    let block = a >> 4;
    pool.drain_cpu(0);
    assert_eq!(pool.block_info(block).unwrap().kind, BlockKind::Fragment);
    let g = pool.global_stats();
    assert_eq!(g.fragments_created, 1);
    // A free into a fragment is queued, not locked.
    let b = pool.alloc(1, 0).unwrap();
    assert_eq!(b >> 4, block, "phase 0 recovers the fragment first");
    assert_eq!(pool.block_info(block).unwrap().kind, BlockKind::Owned(1));
    assert_eq!(pool.cpu_stats(1).unwrap().refill_recover, 1);
    pool.free(0, a, 0).unwrap();
    pool.free(1, b, 0).unwrap();
    pool.verify().unwrap();
    assert_all_free(&pool);
}

#[test]
fn recovery_off_uses_fragments_last() {
    let pool = pool(4, 2, 2);
    pool.set_policy(Policy {
        fragment_recovery: false,
        ..pool.policy()
    })
    .unwrap();
    let a = pool.alloc(0, 0).unwrap();
    pool.drain_cpu(0);
    let b = pool.alloc(1, 0).unwrap();
    assert_ne!(
        a >> 4,
        b >> 4,
        "a free block is claimed, the fragment is left"
    );
    // Exhaust: the fragment is used through the last-resort path.
    let mut held = vec![b];
    while let Ok(p) = pool.alloc(1, 0) {
        held.push(p);
    }
    assert_eq!(held.len(), 31);
    assert!(pool.cpu_stats(1).unwrap().fallbacks > 0);
    pool.verify().unwrap();
    for p in held {
        pool.free(0, p, 0).unwrap();
    }
    pool.free(1, a, 0).unwrap();
    assert_all_free(&pool);
}

#[test]
fn ownership_off_is_classic_batching() {
    let pool = pool(4, 4, 2);
    pool.set_policy(Policy {
        ownership: false,
        high: 8,
        batch: 4,
        ..pool.policy()
    })
    .unwrap();
    let pages: Vec<usize> = (0..12).map(|_| pool.alloc(0, 0).unwrap()).collect();
    assert_eq!(pool.fragmentation().owned_blocks, 0);
    assert!(pool.cpu_stats(0).unwrap().refill_degrade >= 3);
    // Frees go to the freeing CPU's cache (loose), trimmed at `high`.
    for &p in &pages {
        pool.free(1, p, 0).unwrap();
    }
    let s1 = pool.cpu_stats(1).unwrap();
    assert_eq!(s1.frees_loose, 12);
    assert!(s1.trims > 0);
    assert!(pool.cpu_free_pages(1).unwrap() <= 8);
    pool.verify().unwrap();
    assert_all_free(&pool);
}

#[test]
fn degrade_when_block_does_not_fit_high() {
    let pool = pool(4, 4, 1);
    pool.set_policy(Policy {
        high: 8,
        batch: 4,
        ..pool.policy()
    })
    .unwrap();
    let a = pool.alloc(0, 0).unwrap();
    let s = pool.cpu_stats(0).unwrap();
    assert_eq!((s.refill_claim, s.refill_degrade), (0, 1));
    assert_eq!(pool.block_info(a >> 4).unwrap().kind, BlockKind::Shared);
    pool.free(0, a, 0).unwrap();
    assert_all_free(&pool);
}

#[test]
fn trim_returns_whole_blocks() {
    let pool = pool(3, 8, 1);
    pool.set_policy(Policy {
        high: 16,
        batch: 8,
        ..pool.policy()
    })
    .unwrap();
    let pages: Vec<usize> = (0..8).map(|_| pool.alloc(0, 3).unwrap()).collect();
    for &p in &pages {
        pool.free(0, p, 3).unwrap();
        assert!(pool.cpu_free_pages(0).unwrap() <= 16);
    }
    assert!(pool.global_stats().blocks_returned > 0);
    assert_all_free(&pool);
}

#[test]
fn metadata_size() {
    use pcpbuddy_core::{BlockMeta, CpuCache, Geometry, GlobalPool};
    let header = std::mem::size_of::<BlockMeta>();
    for p in [3, 9, 10] {
        let geo = Geometry::new(p, 1).unwrap();
        let map = geo.map_words_per_block() * 8;
        println!(
            "P={p}: BlockMeta {header} B + map {map} B = {} B per block",
            header + map
        );
    }
    println!(
        "CpuCache {} B, GlobalPool {} B",
        std::mem::size_of::<CpuCache>(),
        std::mem::size_of::<GlobalPool>()
    );
    let p9 = header + Geometry::new(9, 1).unwrap().map_words_per_block() * 8;
    assert!(p9 <= 256, "P=9 metadata {p9} B exceeds the 256 B target");
}

// ------------------------------------------------------------ hot stacks

/// The `repeat` pattern: an owner's order-0 alloc+free pair reuses the hot page
/// with no split and no merge.
#[test]
fn hot_pair_does_not_split_or_merge() {
    let pool = pool(4, 4, 2);
    let a = pool.alloc(0, 0).unwrap();
    pool.free(0, a, 0).unwrap();
    assert_eq!(pool.block_info(a >> 4).unwrap().hot_pages, 1);
    assert_eq!(pool.fragmentation().hot_pages, 1);
    let merges = pool.cpu_stats(0).unwrap().merges_local;
    for _ in 0..100 {
        let b = pool.alloc(0, 0).unwrap();
        assert_eq!(b, a, "the hot page is reused");
        pool.free(0, b, 0).unwrap();
    }
    let s = pool.cpu_stats(0).unwrap();
    assert_eq!(s.merges_local, merges, "no merge on the pair path");
    assert_eq!((s.allocs_hot, s.frees_hot, s.frees_local), (100, 101, 101));
    // Hot pages are free in the cache, not in the buddy's free units.
    assert_eq!(pool.cpu_free_pages(0), Some(16));
    assert_eq!(pool.block_info(a >> 4).unwrap().free_pages, 15);
    pool.verify().unwrap();
    assert_all_free(&pool);
}

#[test]
fn hot_double_free_wrong_order_and_tail_are_refused() {
    let pool = pool(4, 2, 2);
    let a = pool.alloc(0, 1).unwrap();
    let b = pool.alloc(0, 0).unwrap();
    pool.free(0, a, 1).unwrap();
    assert_eq!(pool.block_info(a >> 4).unwrap().hot_pages, 2);
    // The hot unit is HELD in the map: every second free of it fails, from the
    // owner or from another CPU, whatever the order, and changes nothing.
    assert_eq!(pool.free(0, a, 1), Err(FreeError::DoubleFree));
    assert_eq!(pool.free(1, a, 1), Err(FreeError::DoubleFree));
    assert_eq!(pool.free(0, a, 0), Err(FreeError::DoubleFree));
    assert_eq!(pool.free(1, a + 1, 0), Err(FreeError::DoubleFree));
    // A live allocation next to hot units keeps its exact-order check.
    let wrong = if b.is_multiple_of(2) {
        FreeError::WrongOrder
    } else {
        FreeError::Misaligned
    };
    assert_eq!(pool.free(0, b, 1), Err(wrong));
    assert_eq!(pool.free(1, b, 1), Err(wrong));
    assert_eq!(pool.block_info(a >> 4).unwrap().hot_pages, 2);
    assert_eq!(pool.block_info(a >> 4).unwrap().pending_pages, 0);
    pool.verify().unwrap();
    let errors = pool.total_cpu_stats().free_errors;
    assert_eq!(errors[FreeError::DoubleFree.index()], 4);
    // A hot page reallocated is live again: its free works.
    let again = pool.alloc(0, 1).unwrap();
    assert_eq!(again, a);
    pool.free(1, again, 1).unwrap();
    pool.free(0, b, 0).unwrap();
    assert_all_free(&pool);
}

#[test]
fn hot_overflow_merges_the_older_half_locally() {
    let pool = pool(9, 2, 1);
    // Enough to overflow the order-0 stack (64) more than once; fewer under Miri.
    let n = if cfg!(miri) { 100 } else { 200 };
    let pages: Vec<usize> = (0..n).map(|_| pool.alloc(0, 0).unwrap()).collect();
    for &p in &pages {
        pool.free(0, p, 0).unwrap();
        assert!(pool.fragmentation().hot_pages <= 64);
    }
    let s = pool.cpu_stats(0).unwrap();
    assert!(s.hot_merged > 0);
    assert_eq!(
        s.global_locks, 1,
        "overflow merges under the cache lock only"
    );
    pool.verify().unwrap();
    // An order-9 allocation merges the rest on the slow path, before claiming.
    let big = pool.alloc(0, 9).unwrap();
    assert_eq!(big >> 9, pages[0] >> 9);
    assert_eq!(pool.cpu_stats(0).unwrap().refill_claim, 1);
    assert_eq!(pool.fragmentation().hot_pages, 0);
    pool.free(0, big, 9).unwrap();
    assert_all_free(&pool);
}

#[test]
fn trim_merges_hot_units_and_returns_whole_blocks() {
    let pool = pool(4, 4, 1);
    pool.set_policy(Policy {
        high: 16,
        batch: 8,
        ..pool.policy()
    })
    .unwrap();
    let pages: Vec<usize> = (0..48).map(|_| pool.alloc(0, 0).unwrap()).collect();
    for &p in &pages {
        pool.free(0, p, 0).unwrap();
        assert!(pool.cpu_free_pages(0).unwrap() <= 16);
        if !cfg!(miri) {
            pool.verify().unwrap();
        }
    }
    pool.verify().unwrap();
    assert!(pool.cpu_stats(0).unwrap().trims > 0);
    assert!(pool.global_stats().blocks_returned >= 2);
    assert_all_free(&pool);
}

#[test]
fn drain_merges_hot_units() {
    let pool = pool(4, 2, 2);
    let pages: Vec<usize> = (0..6).map(|_| pool.alloc(0, 0).unwrap()).collect();
    for &p in &pages[..4] {
        pool.free(0, p, 0).unwrap();
    }
    let block = pages[0] >> 4;
    assert_eq!(pool.block_info(block).unwrap().hot_pages, 4);
    pool.drain_cpu(0);
    let info = pool.block_info(block).unwrap();
    assert_eq!(info.kind, BlockKind::Fragment);
    assert_eq!((info.hot_pages, info.free_pages), (0, 14));
    assert_eq!(pool.cpu_free_pages(0), Some(0));
    pool.verify().unwrap();
    for &p in &pages[4..] {
        pool.free(1, p, 0).unwrap();
    }
    assert_all_free(&pool);
}

#[test]
fn reclaim_takes_hot_pages_from_another_cpu() {
    let pool = pool(4, 1, 2);
    let pages: Vec<usize> = (0..16).map(|_| pool.alloc(0, 0).unwrap()).collect();
    for &p in &pages {
        pool.free(0, p, 0).unwrap();
    }
    // CPU 0 holds the whole pool, all of it hot (unmerged).
    assert_eq!(pool.fragmentation().hot_pages, 16);
    assert_eq!(pool.block_info(0).unwrap().free_pages, 0);
    let big = pool.alloc(1, 4).unwrap();
    assert_eq!(pool.cpu_stats(0).unwrap().drains, 1);
    assert_eq!(pool.block_info(0).unwrap().kind, BlockKind::Owned(1));
    pool.verify().unwrap();
    pool.free(0, big, 4).unwrap();
    assert_all_free(&pool);
}

#[test]
fn policy_switches_with_hot_pages() {
    let pool = pool(4, 4, 2);
    let a = pool.alloc(0, 0).unwrap();
    let b = pool.alloc(0, 2).unwrap();
    pool.free(0, a, 0).unwrap();
    pool.free(0, b, 2).unwrap();
    assert_eq!(pool.fragmentation().hot_pages, 5);
    pool.set_policy(Policy {
        ownership: false,
        ..pool.policy()
    })
    .unwrap();
    // The block stays owned: its hot pages still serve and take its frees.
    let c = pool.alloc(0, 0).unwrap();
    assert_eq!(c, a);
    assert_eq!(pool.cpu_stats(0).unwrap().allocs_hot, 1);
    let d = pool.alloc(1, 0).unwrap();
    assert_eq!(pool.block_info(d >> 4).unwrap().kind, BlockKind::Shared);
    pool.free(0, c, 0).unwrap();
    pool.free(0, d, 0).unwrap();
    pool.verify().unwrap();
    pool.set_policy(Policy {
        ownership: true,
        ..pool.policy()
    })
    .unwrap();
    let e = pool.alloc(0, 2).unwrap();
    assert_eq!(e, b);
    pool.verify().unwrap();
    pool.free(1, e, 2).unwrap();
    assert_all_free(&pool);
}

#[test]
fn absorb_merges_the_blocks_hot_units_first() {
    let pool = pool(4, 2, 2);
    let pages: Vec<usize> = (0..4).map(|_| pool.alloc(0, 0).unwrap()).collect();
    pool.free(0, pages[0], 0).unwrap();
    pool.free(0, pages[1], 0).unwrap();
    pool.free(1, pages[2], 0).unwrap();
    let info = pool.block_info(pages[0] >> 4).unwrap();
    assert_eq!((info.hot_pages, info.pending_pages), (2, 1));
    pool.verify().unwrap();
    assert_eq!(pool.absorb_remote(0), 1);
    let info = pool.block_info(pages[0] >> 4).unwrap();
    assert_eq!((info.hot_pages, info.pending_pages), (0, 0));
    assert_eq!(info.free_pages, 15);
    assert_eq!(pool.cpu_free_pages(0), Some(15));
    pool.verify().unwrap();
    pool.free(1, pages[3], 0).unwrap();
    assert_all_free(&pool);
}
