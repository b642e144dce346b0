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
};

#define PCPBUDDY_IOC_INFO	_IOR(PCPBUDDY_IOC_MAGIC, 0x00, struct pcpbuddy_info)

#endif /* _UAPI_LINUX_PCPBUDDY_H */
