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

#define PCPBUDDY_ABI_VERSION	1
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
	__s32 cpu;	/* in: whose cache: -1 = the calling CPU, else an online CPU */
	__u32 flags;	/* in: PCPBUDDY_ALLOC_* */
	__u32 handle;	/* out: for PCPBUDDY_IOC_FREE */
	__u64 pfn;	/* out: page frame number of the first page */
};
#define PCPBUDDY_ALLOC_FILL	(1U << 0)	/* write a pattern into every page */

/* PCPBUDDY_IOC_FREE: free a handle's pages. */
struct pcpbuddy_free {
	__u32 handle;	/* in: from PCPBUDDY_IOC_ALLOC on this file */
	__s32 cpu;	/* in: who frees: -1 = the calling CPU, else an online CPU (a CPU that
			 * does not own the block frees remotely) */
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

#define PCPBUDDY_IOC_INFO	_IOR(PCPBUDDY_IOC_MAGIC, 0x00, struct pcpbuddy_info)
#define PCPBUDDY_IOC_ALLOC	_IOWR(PCPBUDDY_IOC_MAGIC, 0x01, struct pcpbuddy_alloc)
#define PCPBUDDY_IOC_FREE	_IOW(PCPBUDDY_IOC_MAGIC, 0x02, struct pcpbuddy_free)
#define PCPBUDDY_IOC_GET_POLICY	_IOR(PCPBUDDY_IOC_MAGIC, 0x03, struct pcpbuddy_policy)
#define PCPBUDDY_IOC_SET_POLICY	_IOW(PCPBUDDY_IOC_MAGIC, 0x04, struct pcpbuddy_policy)
#define PCPBUDDY_IOC_VERIFY	_IO(PCPBUDDY_IOC_MAGIC, 0x05)	/* 0, or -EUCLEAN */
#define PCPBUDDY_IOC_DRAIN	_IOW(PCPBUDDY_IOC_MAGIC, 0x06, __s32)

#endif /* _UAPI_LINUX_PCPBUDDY_H */
