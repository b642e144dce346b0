/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C glue's functions that Rust calls (declared again, by hand, in
 * rust/glue.rs: an out-of-tree module cannot run bindgen on its own headers).
 */
#ifndef _PCPBUDDY_GLUE_H
#define _PCPBUDDY_GLUE_H

#include <linux/types.h>

struct page;
struct task_struct;

const char *pcpbuddy_glue_source_param(void);
unsigned int pcpbuddy_glue_pageblock_order(void);
unsigned long pcpbuddy_glue_page_to_pfn(const struct page *page);
struct page *pcpbuddy_glue_pfn_to_page(unsigned long pfn);
void *pcpbuddy_glue_page_address(const struct page *page);
bool pcpbuddy_glue_node_online(int nid);
int pcpbuddy_glue_local_memory_node(void);
bool pcpbuddy_glue_cpu_online(unsigned int cpu);
bool pcpbuddy_glue_in_task(void);
struct task_struct *pcpbuddy_glue_kthread_on_cpu(int (*fn)(void *), void *data, unsigned int cpu);
int pcpbuddy_glue_kthread_stop(struct task_struct *t);
void pcpbuddy_glue_cond_resched(void);
struct page *pcpbuddy_glue_cma_alloc(unsigned int order);
bool pcpbuddy_glue_cma_release(struct page *page, unsigned int order);
bool pcpbuddy_glue_cma_available(void);

#endif /* _PCPBUDDY_GLUE_H */
