// SPDX-License-Identifier: GPL-2.0
/*
 * pcpbuddy C glue: the few things a Rust module built out of tree cannot do
 * itself in Linux 7.3, and nothing else.
 *
 *  - Export symbols. There is no Rust export macro for modules; the functions
 *    are `#[no_mangle] extern "C"` in Rust and exported here (the in-tree
 *    precedent is drivers/gpu/nova-core/nova_core_exports.c).
 *  - Reach macros and inline functions that bindgen cannot translate and for
 *    which rust/helpers has no helper: pageblock_order, page_to_pfn(),
 *    pfn_to_page(), page_address(), node_online(), numa_mem_id(),
 *    cpu_online(), in_task(), cond_resched(), get_task_struct().
 *  - Call CMA: <linux/cma.h> and <linux/dma-map-ops.h> are not in the
 *    kernel's bindings_helper.h, and an out-of-tree module cannot add them.
 *  - A string module parameter: the Rust module! macro takes integers only.
 */
#include <linux/cma.h>
#include <linux/dma-map-ops.h>
#include <linux/export.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pageblock-flags.h>
#include <linux/pcpbuddy.h>

#include "pcpbuddy_glue.h"

static char source[8] = "auto";
module_param_string(source, source, sizeof(source), 0444);
MODULE_PARM_DESC(source, "where pageblocks come from: auto|cma|contig|pages (default auto)");

const char *pcpbuddy_glue_source_param(void)
{
	return source;
}

unsigned int pcpbuddy_glue_pageblock_order(void)
{
	return pageblock_order;
}

unsigned long pcpbuddy_glue_page_to_pfn(const struct page *page)
{
	return page_to_pfn(page);
}

struct page *pcpbuddy_glue_pfn_to_page(unsigned long pfn)
{
	return pfn_to_page(pfn);
}

void *pcpbuddy_glue_page_address(const struct page *page)
{
	return page_address(page);
}

bool pcpbuddy_glue_node_online(int nid)
{
	return nid >= 0 && nid < MAX_NUMNODES && node_online(nid);
}

bool pcpbuddy_glue_in_task(void)
{
	return in_task();
}

bool pcpbuddy_glue_cpu_online(unsigned int cpu)
{
	return cpu < nr_cpu_ids && cpu_online(cpu);
}

/* The memory node of this CPU: alloc_contig_pages() needs a real node id. */
int pcpbuddy_glue_local_memory_node(void)
{
	return numa_mem_id();
}

/* One naturally aligned range of 2^order pages from the default CMA area. */
struct page *pcpbuddy_glue_cma_alloc(unsigned int order)
{
	struct cma *cma = dev_get_cma_area(NULL);

	if (!cma)
		return NULL;
	return cma_alloc(cma, 1UL << order, order, true);
}

bool pcpbuddy_glue_cma_release(struct page *page, unsigned int order)
{
	struct cma *cma = dev_get_cma_area(NULL);

	return cma && cma_release(cma, page, 1UL << order);
}

bool pcpbuddy_glue_cma_available(void)
{
	return dev_get_cma_area(NULL) != NULL;
}

/*
 * A kthread bound to @cpu running @fn(@data), already woken. The caller holds a
 * reference on it (get_task_struct), so that pcpbuddy_glue_kthread_stop() is
 * safe even after @fn returned. kthread_create_on_cpu() is a function but
 * get_task_struct() is inline, and the pair must not be split.
 */
struct task_struct *pcpbuddy_glue_kthread_on_cpu(int (*fn)(void *), void *data, unsigned int cpu)
{
	struct task_struct *t = kthread_create_on_cpu(fn, data, cpu, "pcpbuddy_bench/%u");

	if (IS_ERR(t))
		return NULL;
	get_task_struct(t);
	wake_up_process(t);
	return t;
}

/* Waits for a thread from pcpbuddy_glue_kthread_on_cpu() and drops the reference. */
int pcpbuddy_glue_kthread_stop(struct task_struct *t)
{
	return kthread_stop_put(t);
}

void pcpbuddy_glue_cond_resched(void)
{
	cond_resched();
}

/* The in-kernel API, implemented in rust/api.rs. */
EXPORT_SYMBOL_GPL(pcpbuddy_alloc_pages);
EXPORT_SYMBOL_GPL(pcpbuddy_free_pages);
EXPORT_SYMBOL_GPL(pcpbuddy_alloc_pages_bulk);
EXPORT_SYMBOL_GPL(pcpbuddy_free_pages_bulk);
EXPORT_SYMBOL_GPL(pcpbuddy_get_info);
