/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * pcpbuddy: the /dev/pcpbuddy ioctl ABI.
 *
 * Every structure starts fixed-size and only grows at the end; PCPBUDDY_ABI_VERSION
 * changes when a structure or command changes meaning. The ioctl numbers encode
 * the structure size, so a caller built against another layout gets -ENOTTY.
 * See Documentation/ioctl.md.
 */
#ifndef _UAPI_LINUX_PCPBUDDY_H
#define _UAPI_LINUX_PCPBUDDY_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define PCPBUDDY_ABI_VERSION	2	/* 2: struct pcpbuddy_bench grew peak_map */
#define PCPBUDDY_IOC_MAGIC	0xB7

/* Where the pool's pageblocks come from (module parameter "source"). */
enum pcpbuddy_source {
	PCPBUDDY_SOURCE_AUTO	= 0,	/* cma, then contig, then pages, per block */
	PCPBUDDY_SOURCE_CMA	= 1,	/* cma_alloc() on the default CMA area */
	PCPBUDDY_SOURCE_CONTIG	= 2,	/* alloc_contig_pages() */
	PCPBUDDY_SOURCE_PAGES	= 3,	/* alloc_pages(pageblock_order) */
};

/* PCPBUDDY_IOC_INFO: what the loaded module is and what it runs on. */
struct pcpbuddy_info {
	__u32 abi_version;	/* PCPBUDDY_ABI_VERSION of the module */
	__u32 block_order;	/* the kernel's pageblock_order (a field named so would clash with the macro) */
	__u32 page_size;	/* PAGE_SIZE in bytes */
	__u32 nr_cpu_ids;	/* highest possible CPU number + 1 */
	__u32 source;		/* enum pcpbuddy_source asked for at load */
	__s32 node;		/* NUMA node asked for at load, -1 = any */
	__u64 size_bytes;	/* pool size asked for at load */
	__u64 nr_pages;		/* pages in the pool */
	__u64 outstanding_pages; /* pages allocated and not yet freed */
	__u64 metadata_bytes;	/* memory the pool's bookkeeping uses, outside the pool */
};

/* PCPBUDDY_IOC_ALLOC: allocate 2^order pages; the open file owns the handle. */
struct pcpbuddy_alloc {
	__u32 order;	/* in: 0..block_order */
	__s32 cpu;	/* in: where it runs: -1 = the calling CPU, else an online CPU
			 * (in process context there, through the exported API) */
	__u32 flags;	/* in: PCPBUDDY_ALLOC_* */
	__u32 handle;	/* out: for PCPBUDDY_IOC_FREE */
	__u64 pfn;	/* out: page frame number of the first page */
};
#define PCPBUDDY_ALLOC_FILL	(1U << 0)	/* write a pattern into every page */

/* PCPBUDDY_IOC_FREE: free a handle's pages. */
struct pcpbuddy_free {
	__u32 handle;	/* in: from PCPBUDDY_IOC_ALLOC on this file */
	__s32 cpu;	/* in: where it runs: -1 = the calling CPU, else an online CPU (a CPU
			 * that does not own the block frees remotely) */
	__u32 order;	/* in: the order it was allocated with; another order is refused
			 * (-EINVAL) by the allocator's own check and the handle stays */
	__u32 flags;	/* in: PCPBUDDY_FREE_* */
};
#define PCPBUDDY_FREE_CHECK	(1U << 0)	/* check the ALLOC_FILL pattern first: -EIO if changed */

/* PCPBUDDY_IOC_GET_POLICY / PCPBUDDY_IOC_SET_POLICY: the run-time policy switches. */
struct pcpbuddy_policy {
	__u32 ownership;	/* 1: CPUs own whole pageblocks; 0: classic per-CPU batching */
	__u32 fragment_recovery; /* 1: refill recovers partly used blocks first */
	__u32 high;		/* pages a CPU cache may hold before it is trimmed */
	__u32 batch;		/* pages moved per refill or trim, > 0 */
};

/* PCPBUDDY_IOC_DRAIN: return a CPU's cache (-1: every CPU's) to the global pool. */

/* PCPBUDDY_IOC_BENCH: an in-kernel microbenchmark (Documentation/benchmarks.md). */
enum pcpbuddy_bench_pattern {
	PCPBUDDY_BENCH_REPEAT	= 0,	/* alloc + free the same run, in a loop */
	PCPBUDDY_BENCH_BULK	= 1,	/* alloc batch runs, then free them */
	PCPBUDDY_BENCH_RAND	= 2,	/* alloc batch runs, exchange across CPUs, free (only frees timed) */
	PCPBUDDY_BENCH_REMOTE	= 3,	/* alloc CPUs feed free CPUs through per-CPU rings */
	PCPBUDDY_BENCH_EXIT	= 4,	/* one CPU frees a large set another CPU allocated */
	PCPBUDDY_BENCH_CHURN	= 5,	/* random orders 0..order and lifetimes; fragmentation sampled */
	PCPBUDDY_BENCH_FOLIO	= 6,	/* repeat with folios: pool folios vs folio_alloc()/folio_put() */
	PCPBUDDY_BENCH_SOFTIRQ	= 7,	/* alloc in softirq, free in process context elsewhere, and back */
	PCPBUDDY_BENCH_NR_PATTERNS
};

enum pcpbuddy_bench_backend {
	PCPBUDDY_BACKEND_POOL		= 0,	/* the pool through its exported API, ownership on */
	PCPBUDDY_BACKEND_POOL_CLASSIC	= 1,	/* the same, ownership off (classic per-CPU batching) */
	PCPBUDDY_BACKEND_KERNEL		= 2,	/* alloc_pages() / __free_pages() (folio_alloc/put) */
	PCPBUDDY_BACKEND_FLOOR		= 3,	/* a bare per-CPU array push/pop of page pointers */
	PCPBUDDY_BENCH_NR_BACKENDS
};

#define PCPBUDDY_BENCH_MAX_CPUS		64
#define PCPBUDDY_BENCH_MAX_SAMPLES	32

/* One CPU's part of a run. Times are ktime_get() nanoseconds. */
struct pcpbuddy_bench_cpu {
	__u32 cpu;
	__u32 role;		/* PCPBUDDY_BENCH_ROLE_* */
	__u64 allocs;		/* allocations made */
	__u64 frees;		/* frees made */
	__u64 alloc_ns;		/* time in timed alloc phases (0: the pattern does not separate) */
	__u64 free_ns;		/* time in timed free phases (0: the pattern does not separate) */
	__u64 total_ns;		/* this CPU's whole timed loop */
	__u64 failures;		/* allocations that failed (pool or memory exhausted) */
	__u64 reserved;
};
#define PCPBUDDY_BENCH_ROLE_ALLOC	(1U << 0)
#define PCPBUDDY_BENCH_ROLE_FREE	(1U << 1)

/* Deltas of the pool's counters over the run (zero for kernel and floor). */
struct pcpbuddy_bench_counters {
	__u64 global_locks;
	__u64 refill_recover;
	__u64 refill_claim;
	__u64 refill_degrade;
	__u64 frees_local;
	__u64 frees_remote;
	__u64 frees_loose;
	__u64 absorbs;
	__u64 merges_local;
	__u64 merges_global;
	__u64 drains;
	__u64 trims;
	__u64 reclaims;
	__u64 blocks_claimed;
	__u64 blocks_returned;
	__u64 fragments_created;
	__u64 fragments_recovered;
	__u64 fallbacks;
};

/* Fragmentation of the pool at one moment of a churn run (pool backends only). */
struct pcpbuddy_bench_sample {
	__u64 ns;		/* since the start of the run */
	__u32 free_pages;
	__u32 free_blocks;	/* wholly free blocks */
	__u32 owned_blocks;
	__u32 fragment_blocks;
	__u32 shared_blocks;
	__u32 unusable_max_milli; /* unusable free space index at block_order, x1000 */
};

/* A pool block's state (struct pcpbuddy_bench_block, debugfs "blocks"). */
enum pcpbuddy_block_state {
	PCPBUDDY_BLOCK_FREE	= 0,	/* wholly free, in the global pool */
	PCPBUDDY_BLOCK_OWNED	= 1,	/* owned by a CPU (owner): its free pages are that CPU's cache */
	PCPBUDDY_BLOCK_FRAGMENT	= 2,	/* drained while partly allocated; free pages global */
	PCPBUDDY_BLOCK_SHARED	= 3,	/* split without ownership (classic batching, degrade mode) */
	PCPBUDDY_BLOCK_NR_STATES
};
#define PCPBUDDY_BLOCK_NO_OWNER	0xffff	/* owner of a block no CPU owns */

/* One pool block at the churn peak (PCPBUDDY_BENCH_PEAK_MAP), in the pool's block order. */
struct pcpbuddy_bench_block {
	__u8 state;		/* enum pcpbuddy_block_state */
	__u8 reserved;		/* 0 */
	__u16 owner;		/* PCPBUDDY_BLOCK_OWNED: the owning CPU; else PCPBUDDY_BLOCK_NO_OWNER */
	__u32 free_pages;	/* pages in the block's free units (not cached or parked ones) */
};

/* pcpbuddy_bench.flags */
#define PCPBUDDY_BENCH_PEAK_MAP	(1U << 0)	/* churn, pool backends: fill peak_map (below) */

struct pcpbuddy_bench {
	/* in */
	__u32 pattern;		/* enum pcpbuddy_bench_pattern */
	__u32 backend;		/* enum pcpbuddy_bench_backend */
	__u32 order;		/* run order; churn: the largest order */
	__u32 batch;		/* bulk/rand/exit/softirq: runs per round per CPU; remote: ring
				 * size; 0 = default */
	__u64 alloc_cpus;	/* CPUs (bits 0..63) that allocate */
	__u64 free_cpus;	/* remote/exit/rand/softirq: CPUs that free; 0: remote and softirq
				 * = lowest alloc CPU, exit = the next alloc CPU, rand = alloc_cpus */
	__u64 ops;		/* allocations per allocating CPU (the last round of a round-based
				 * pattern is cut to fit) */
	__u32 seed;		/* rand/churn: random seed */
	__u32 flags;		/* PCPBUDDY_BENCH_*; other bits 0 */
	/* out */
	__u64 elapsed_ns;	/* from the start barrier to the last CPU's end */
	__u32 nr_cpus;		/* entries of cpus[] filled */
	__u32 nr_samples;	/* entries of samples[] filled */
	struct pcpbuddy_bench_counters counters;
	struct pcpbuddy_bench_cpu cpus[PCPBUDDY_BENCH_MAX_CPUS];
	struct pcpbuddy_bench_sample samples[PCPBUDDY_BENCH_MAX_SAMPLES];
	/* Since ABI 2 (PCPBUDDY_IOC_BENCH_V1 is the command without them). With
	 * PCPBUDDY_BENCH_PEAK_MAP: every block of the pool at the churn peak, the sample of the
	 * run with the fewest wholly free blocks (then the fewest free pages; the first of
	 * equals). Without: all 0. */
	__u64 peak_map;		/* in: user address of peak_map_len struct pcpbuddy_bench_block */
	__u32 peak_map_len;	/* in: entries there, >= 1; fewer than the pool's blocks: the
				 * first peak_map_len blocks */
	__u32 peak_map_nr;	/* out: the pool's blocks; min(this, peak_map_len) entries written */
	struct pcpbuddy_bench_sample peak;	/* out: the sample the map was taken with */
};
/* The size of struct pcpbuddy_bench in ABI 1, before peak_map: its command is still served
 * (the fields after it read as 0 and are not written back). */
#define PCPBUDDY_BENCH_V1_SIZE	5328

/*
 * PCPBUDDY_IOC_REPLAY: replays a recorded allocation trace (Documentation/benchmarks.md,
 * "Replay") on one backend: one kthread per CPU of the run, each running, in trace order, the
 * operations of the recorded CPUs mapped onto it (recorded cpu % number of CPUs of the run).
 */
#define PCPBUDDY_REPLAY_MAX_OPS		(1U << 22)
#define PCPBUDDY_REPLAY_SAMPLES		3

/* One operation of a trace (8 bytes). */
struct pcpbuddy_replay_op {
	__u32 id;	/* an allocation: its number, 0, 1, 2, ... in trace order; a free: the
			 * number of an earlier allocation not freed yet */
	__u16 cpu;	/* the recorded CPU (any value: mapped with % onto the run's CPUs) */
	__u8 order;	/* 0..block_order; a free repeats its allocation's order */
	__u8 flags;	/* PCPBUDDY_REPLAY_OP_*; other bits 0 */
};
#define PCPBUDDY_REPLAY_OP_FREE	(1U << 0)	/* a free (else an allocation) */

/* One thread's part of a replay. Times are ktime_get() nanoseconds. */
struct pcpbuddy_replay_cpu {
	__u32 cpu;		/* the CPU the thread ran on */
	__u32 recorded_cpus;	/* recorded CPUs mapped onto it */
	__u64 ops;		/* operations in its stream (over-budget ones left out) */
	__u64 allocs;		/* allocations made */
	__u64 frees;		/* frees made in the timed part */
	__u64 remote_frees;	/* of those, of an allocation another thread made */
	__u64 failures;		/* allocations the backend could not serve */
	__u64 skipped_frees;	/* frees of those failed allocations, not made */
	__u64 frees_at_end;	/* its allocations still live at the end, freed untimed after */
	__u64 total_ns;		/* the thread's stream, waits excluded */
	__u64 wait_ns;		/* time spent waiting for another thread's allocation */
};

struct pcpbuddy_replay {
	/* in */
	__u64 ops;		/* user address of nr_ops struct pcpbuddy_replay_op */
	__u64 nr_ops;		/* 1..PCPBUDDY_REPLAY_MAX_OPS */
	__u64 cpu_mask;		/* CPUs to replay on (bits 0..63); 0 = every online CPU below 64 */
	__u32 backend;		/* enum pcpbuddy_bench_backend */
	__u32 flags;		/* must be 0 */
	/* out */
	__u64 elapsed_ns;	/* from the start barrier to the last thread's end of stream */
	__u64 nr_allocs;	/* allocation operations in the trace */
	__u64 over_budget;	/* allocations left out (with their frees): they would have taken
				 * the live set, in trace order, above the pool's size */
	__u64 peak_live_pages;	/* the largest live set in trace order, over-budget ones left out */
	__u32 nr_cpus;		/* entries of cpus[] filled */
	__u32 nr_samples;	/* entries of samples[] filled (pool backends) */
	struct pcpbuddy_bench_counters counters;	/* over the timed part */
	struct pcpbuddy_replay_cpu cpus[PCPBUDDY_BENCH_MAX_CPUS];
	/* The pool's fragmentation: at the end of the trace (its live set still held), after the
	 * frees at the end, after draining every cache. ns: since the start barrier. */
	struct pcpbuddy_bench_sample samples[PCPBUDDY_REPLAY_SAMPLES];
};

#define PCPBUDDY_IOC_INFO	_IOR(PCPBUDDY_IOC_MAGIC, 0x00, struct pcpbuddy_info)
#define PCPBUDDY_IOC_ALLOC	_IOWR(PCPBUDDY_IOC_MAGIC, 0x01, struct pcpbuddy_alloc)
#define PCPBUDDY_IOC_FREE	_IOW(PCPBUDDY_IOC_MAGIC, 0x02, struct pcpbuddy_free)
#define PCPBUDDY_IOC_GET_POLICY	_IOR(PCPBUDDY_IOC_MAGIC, 0x03, struct pcpbuddy_policy)
#define PCPBUDDY_IOC_SET_POLICY	_IOW(PCPBUDDY_IOC_MAGIC, 0x04, struct pcpbuddy_policy)
#define PCPBUDDY_IOC_VERIFY	_IO(PCPBUDDY_IOC_MAGIC, 0x05)	/* 0, or -EUCLEAN */
#define PCPBUDDY_IOC_DRAIN	_IOW(PCPBUDDY_IOC_MAGIC, 0x06, __s32)
#define PCPBUDDY_IOC_BENCH	_IOWR(PCPBUDDY_IOC_MAGIC, 0x07, struct pcpbuddy_bench)
#define PCPBUDDY_IOC_BENCH_V1	_IOC(_IOC_READ | _IOC_WRITE, PCPBUDDY_IOC_MAGIC, 0x07, \
				     PCPBUDDY_BENCH_V1_SIZE)
#define PCPBUDDY_IOC_REPLAY	_IOWR(PCPBUDDY_IOC_MAGIC, 0x08, struct pcpbuddy_replay)

#endif /* _UAPI_LINUX_PCPBUDDY_H */
