/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The interface between pcpbuddy's C glue and its Rust code, both ways. The
 * glue functions are declared again, by hand, in rust/kmod/glue.rs, and the Rust
 * entry points are defined in rust/kmod/api.rs: an out-of-tree module cannot run
 * bindgen on its own headers.
 */
#ifndef _PCPBUDDY_GLUE_H
#define _PCPBUDDY_GLUE_H

#include <linux/spinlock_types.h>
#include <linux/types.h>

struct folio;
struct lock_class_key;
struct page;
struct pcpbuddy_info;
struct task_struct;

/* Implemented in C (pcpbuddy_glue.c), called from Rust. */
const char *pcpbuddy_glue_source_param(void);
void pcpbuddy_glue_raw_lock_init(raw_spinlock_t *lock, const char *name,
				 struct lock_class_key *key);
unsigned long pcpbuddy_glue_raw_lock_irqsave(raw_spinlock_t *lock);
bool pcpbuddy_glue_raw_trylock_irqsave(raw_spinlock_t *lock, unsigned long *flags);
void pcpbuddy_glue_raw_unlock_irqrestore(raw_spinlock_t *lock, unsigned long flags);
void pcpbuddy_glue_raw_lock_assert_held(raw_spinlock_t *lock);
unsigned int pcpbuddy_glue_pageblock_order(void);
unsigned long pcpbuddy_glue_page_to_pfn(const struct page *page);
void *pcpbuddy_glue_page_address(const struct page *page);
unsigned long pcpbuddy_glue_memmap_base(void);
unsigned int pcpbuddy_glue_page_struct_size(void);
bool pcpbuddy_glue_node_online(int nid);
int pcpbuddy_glue_local_memory_node(void);
bool pcpbuddy_glue_cpu_online(unsigned int cpu);
bool pcpbuddy_glue_cpu_possible(unsigned int cpu);
struct task_struct *pcpbuddy_glue_kthread_on_cpu(int (*fn)(void *), void *data, unsigned int cpu);
int pcpbuddy_glue_kthread_stop(struct task_struct *t);
void pcpbuddy_glue_cond_resched(void);
struct page *pcpbuddy_glue_cma_alloc(unsigned int order);
bool pcpbuddy_glue_cma_release(struct page *page, unsigned int order);
bool pcpbuddy_glue_cma_available(void);
void pcpbuddy_glue_prep_compound(struct page *page, unsigned int order);
void pcpbuddy_glue_uncompound(struct page *page, unsigned int order);
unsigned int pcpbuddy_glue_folio_order(const struct folio *folio);
bool pcpbuddy_glue_page_is_head(const struct page *page);
void __percpu *pcpbuddy_glue_front_alloc(size_t size, size_t align);
void pcpbuddy_glue_front_free(void __percpu *front);
void *pcpbuddy_glue_front_of(void __percpu *front, unsigned int cpu);
void pcpbuddy_glue_local_publish(unsigned int cpu, const void *pool, void *mag);
int pcpbuddy_glue_cpu_to_node(unsigned int cpu);
int pcpbuddy_glue_nr_node_ids(void);
bool pcpbuddy_glue_node_has_memory(int nid);
int pcpbuddy_glue_node_distance(int from, int to);
int pcpbuddy_glue_page_to_nid(const struct page *page);
struct page *pcpbuddy_glue_contig_alloc_node(unsigned long nr_pages, gfp_t gfp, int nid);
void pcpbuddy_glue_flush_all_magazines(const void *pool);
void pcpbuddy_glue_flush_this_magazine(const void *pool);
void pcpbuddy_glue_cancel_flush_work(void);
struct folio *pcpbuddy_glue_folio_alloc(gfp_t gfp, unsigned int order);
void pcpbuddy_glue_folio_put(struct folio *folio);
void pcpbuddy_glue_run_in_softirq(unsigned int cpu, void (*fn)(void *), void *data);
void __percpu *pcpbuddy_glue_floor_create(void);
void pcpbuddy_glue_floor_destroy(void __percpu *floor);
void pcpbuddy_glue_floor_reset(void __percpu *floor, unsigned int nr);
struct page *pcpbuddy_glue_floor_alloc(void __percpu *floor, gfp_t gfp, unsigned int order);
int pcpbuddy_glue_floor_free(void __percpu *floor, struct page *page, unsigned int order);

/* Implemented in Rust (rust/kmod/api.rs), called from C. */

/* What pcpbuddy_rs_free() is freeing. */
#define PCPBUDDY_FREE_PAGES	0	/* pages: check and reset the refcount too */
#define PCPBUDDY_FREE_FOLIO	1	/* a folio pcpbuddy_rs_prepare_free_folio() accepted */

/* What pcpbuddy_rs_alloc() returns: in two registers, not through memory. */
struct pcpbuddy_rs_allocation {
	struct page *page;	/* the first page, or NULL */
	bool compound;		/* the caller must make the pages a compound page */
};

/* Interrupts disabled, @front is this CPU's magazine. */
struct pcpbuddy_rs_allocation pcpbuddy_rs_alloc(const void *pool, void *mag, unsigned int order,
					       bool folio);
/* Interrupts disabled, @front is this CPU's magazine. 0 or -errno. */
int pcpbuddy_rs_free(const void *pool, void *mag, struct page *page, unsigned int order, int kind);
/* Any context but NMI: checks a folio free and undoes a small folio's compound state. */
int pcpbuddy_rs_prepare_free_folio(struct folio *folio, unsigned int *order);
/* Whether returning every magazine could let an allocation of @order succeed. */
bool pcpbuddy_rs_may_have_more(unsigned int order);
/*
 * Interrupts disabled, @front is this CPU's magazine (or a dead CPU's); @pool
 * is the Rust pool that owns it, or NULL for the published one.
 */
void pcpbuddy_rs_flush_local(const void *pool);
/* Counts a call from NMI context; returns -EINVAL. */
int pcpbuddy_rs_refuse_nmi(void);
int pcpbuddy_rs_get_info(struct pcpbuddy_info *info);

#endif /* _PCPBUDDY_GLUE_H */
