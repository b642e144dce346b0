// SPDX-License-Identifier: GPL-2.0
/*
 * pcpbuddy C glue: the few things a Rust module built out of tree cannot do
 * itself in Linux 7.3, and nothing else.
 *
 *  - The exported API's entry points (EXPORT_SYMBOL_GPL has no Rust form for
 *    modules; the in-tree precedent is drivers/gpu/nova-core/nova_core_exports.c).
 *    Each is the CPU-local critical section around a call into Rust:
 *    local_irq_save(), this CPU's pool and magazine (two per-CPU reads), the Rust call,
 *    local_irq_restore(). Those are inline functions and per-CPU addressing
 *    that Rust in 7.3 can only reach through out-of-line helpers, which would
 *    double the cost of the common path; here they compile to a few
 *    instructions. What the API does is decided in Rust (rust/kmod/api.rs).
 *  - Reach macros and inline functions that bindgen cannot translate and for
 *    which rust/helpers has no helper: pageblock_order, page_to_pfn(),
 *    page_address(), node_online(), numa_mem_id(), cpu_to_node(),
 *    node_distance(), node_state(), page_to_nid(), a node mask,
 *    cpu_online(), alloc_percpu(), per_cpu_ptr(), on_each_cpu(),
 *    cond_resched(), get_task_struct(), folio_order().
 *  - Make and undo compound pages: prep_compound_page() is not exported, and
 *    its pieces (prep_compound_head/tail in mm/internal.h) are not reachable
 *    from a module. The sequences below follow mm/page_alloc.c and
 *    mm/internal.h of 7.3 step by step; a KUnit test compares their result
 *    with a folio from folio_alloc().
 *  - Call CMA: <linux/cma.h> and <linux/dma-map-ops.h> are not in the
 *    kernel's bindings_helper.h, and an out-of-tree module cannot add them.
 *  - A string module parameter: the Rust module! macro takes integers only.
 *  - The benchmark's floor: a bare per-CPU array of page pointers, with the
 *    same call shape as the API (it is the machine's limit, so it must not pay
 *    a Rust helper call per operation either).
 */
#include <linux/cma.h>
#include <linux/dma-map-ops.h>
#include <linux/export.h>
#include <linux/gfp.h>
#include <linux/highmem.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pageblock-flags.h>
#include <linux/pcpbuddy.h>
#include <linux/percpu.h>
#include <linux/poison.h>
#include <linux/smp.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>

#include "pcpbuddy_glue.h"

static char source[8] = "auto";
module_param_string(source, source, sizeof(source), 0444);
MODULE_PARM_DESC(source, "where pageblocks come from: auto|cma|contig|pages (default auto)");

const char *pcpbuddy_glue_source_param(void)
{
	return source;
}

/* ------------------------------------------------------------------ raw spinlocks */

/*
 * The pool's locks are raw_spinlock_t (rust/kmod/rawlock.rs says why); the kernel
 * crate of 7.3 has no raw spinlock, and these are macros. Each lock gets the
 * class its Rust creation site passes (one for the CPU caches, one for the
 * global pool), which raw_spin_lock_init() would not allow.
 */
void pcpbuddy_glue_raw_lock_init(raw_spinlock_t *lock, const char *name,
				 struct lock_class_key *key)
{
#ifdef CONFIG_DEBUG_SPINLOCK
	__raw_spin_lock_init(lock, name, key, LD_WAIT_SPIN);
#else
	raw_spin_lock_init(lock);
#endif
}

unsigned long pcpbuddy_glue_raw_lock_irqsave(raw_spinlock_t *lock)
{
	unsigned long flags;

	raw_spin_lock_irqsave(lock, flags);
	return flags;
}

bool pcpbuddy_glue_raw_trylock_irqsave(raw_spinlock_t *lock, unsigned long *flags)
{
	return raw_spin_trylock_irqsave(lock, *flags);
}

void pcpbuddy_glue_raw_unlock_irqrestore(raw_spinlock_t *lock, unsigned long flags)
{
	raw_spin_unlock_irqrestore(lock, flags);
}

void pcpbuddy_glue_raw_lock_assert_held(raw_spinlock_t *lock)
{
	lockdep_assert_held(lock);
}

unsigned int pcpbuddy_glue_pageblock_order(void)
{
	return pageblock_order;
}

unsigned long pcpbuddy_glue_page_to_pfn(const struct page *page)
{
	return page_to_pfn(page);
}

void *pcpbuddy_glue_page_address(const struct page *page)
{
	return page_address(page);
}

/*
 * The struct page of pfn 0 in the virtual memory map, and the size of a
 * struct page: with them Rust turns a page into a pfn and back with a
 * subtraction and a shift, inline on the fast path.
 */
unsigned long pcpbuddy_glue_memmap_base(void)
{
	BUILD_BUG_ON(!IS_ENABLED(CONFIG_SPARSEMEM_VMEMMAP));
	BUILD_BUG_ON(!is_power_of_2(sizeof(struct page)));
	return (unsigned long)pfn_to_page(0);
}

unsigned int pcpbuddy_glue_page_struct_size(void)
{
	return sizeof(struct page);
}

bool pcpbuddy_glue_node_online(int nid)
{
	return nid >= 0 && nid < MAX_NUMNODES && node_online(nid);
}

bool pcpbuddy_glue_cpu_online(unsigned int cpu)
{
	return cpu < nr_cpu_ids && cpu_online(cpu);
}

bool pcpbuddy_glue_cpu_possible(unsigned int cpu)
{
	return cpu < nr_cpu_ids && cpu_possible(cpu);
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

/* ------------------------------------------------------------------ compound pages */

/*
 * Makes the 2^@order pages at @page one compound page (a folio), as
 * prep_compound_page() and page_rmappable_folio() do for folio_alloc(). The pages are the pool's
 * and the caller holds them, each with its own refcount (the pool's
 * invariant): tails get refcount 0 and no private data, as buddy pages have.
 */
void pcpbuddy_glue_prep_compound(struct page *page, unsigned int order)
{
	struct folio *folio = (struct folio *)page;
	unsigned long i, nr = 1UL << order;

	__SetPageHead(page);
	for (i = 1; i < nr; i++) {
		struct page *tail = page + i;

		set_page_count(tail, 0);
		set_page_private(tail, 0);
		/* prep_compound_tail() */
		tail->mapping = TAIL_MAPPING;
		set_compound_head(tail, page, order);
	}
	/* prep_compound_head(): folio_set_order() first */
	folio->_flags_1 = (folio->_flags_1 & ~0xffUL) | order;
#ifdef NR_PAGES_IN_LARGE_FOLIO
	folio->_nr_pages = 1U << order;
#endif
	atomic_set(&folio->_large_mapcount, -1);
	if (IS_ENABLED(CONFIG_PAGE_MAPCOUNT))
		atomic_set(&folio->_nr_pages_mapped, 0);
	if (IS_ENABLED(CONFIG_MM_ID)) {
		folio->_mm_ids = 0;
		folio->_mm_id_mapcount[0] = -1;
		folio->_mm_id_mapcount[1] = -1;
	}
	if (IS_ENABLED(CONFIG_64BIT) || order > 1) {
		atomic_set(&folio->_pincount, 0);
		atomic_set(&folio->_entire_mapcount, -1);
	}
	if (order > 1)
		INIT_LIST_HEAD(&folio->_deferred_list);
	/* What folio_alloc() adds (page_rmappable_folio()): the folio may be mapped. */
	folio_set_large_rmappable(folio);
}

/*
 * Undoes pcpbuddy_glue_prep_compound(), as __free_pages_prepare() and
 * free_tail_page_prepare() do when the buddy allocator frees a compound page:
 * afterwards every page is a plain page with refcount 1 again (the head's
 * refcount is the caller's business).
 */
void pcpbuddy_glue_uncompound(struct page *page, unsigned int order)
{
	struct folio *folio __maybe_unused = (struct folio *)page;
	unsigned long i, nr = 1UL << order;

	page[1].flags.f &= ~PAGE_FLAGS_SECOND;
#ifdef NR_PAGES_IN_LARGE_FOLIO
	folio->_nr_pages = 0;
#endif
	for (i = 1; i < nr; i++) {
		page[i].mapping = NULL;
		clear_compound_head(&page[i]);
		set_page_count(&page[i], 1);
	}
	__ClearPageHead(page);
}

unsigned int pcpbuddy_glue_folio_order(const struct folio *folio)
{
	return folio_order(folio);
}

bool pcpbuddy_glue_page_is_head(const struct page *page)
{
	return PageHead(page);
}

/* ------------------------------------------------------------------ magazines */

/*
 * Every pool's magazines (a Rust struct each, rust/core/src/magazine.rs), one
 * per CPU, touched only by their own CPU with interrupts disabled (the entry
 * points below, the flush IPI, the hotplug callback on the CPU going down) or,
 * once the CPU is dead, by the CPU that runs its dead callback.
 *
 * pcpbuddy_local is what the entry points use: per CPU, the pool of the CPU's
 * own node (with one pool per node; else the only pool) and the CPU's magazine
 * of it, resolved once at load. Read with interrupts disabled, it costs two
 * per-CPU loads, no more than the global pointer plus this_cpu_ptr() it
 * replaces. NULL while no pool is published.
 */
struct pcpbuddy_local {
	const void *pool;
	void *mag;
};

static DEFINE_PER_CPU(struct pcpbuddy_local, pcpbuddy_local);

void __percpu *pcpbuddy_glue_front_alloc(size_t size, size_t align)
{
	return __alloc_percpu(size, align);
}

void pcpbuddy_glue_front_free(void __percpu *front)
{
	free_percpu(front);
}

void *pcpbuddy_glue_front_of(void __percpu *front, unsigned int cpu)
{
	return per_cpu_ptr(front, cpu);
}

/* Publishes (or, with NULL, withdraws) @cpu's pool and magazine for the entry points. */
void pcpbuddy_glue_local_publish(unsigned int cpu, const void *pool, void *mag)
{
	struct pcpbuddy_local *local = per_cpu_ptr(&pcpbuddy_local, cpu);

	WRITE_ONCE(local->pool, pool);
	WRITE_ONCE(local->mag, mag);
}

int pcpbuddy_glue_cpu_to_node(unsigned int cpu)
{
	return cpu_to_node(cpu);
}

int pcpbuddy_glue_nr_node_ids(void)
{
	return nr_node_ids;
}

bool pcpbuddy_glue_node_has_memory(int nid)
{
	return nid >= 0 && nid < nr_node_ids && node_state(nid, N_MEMORY);
}

int pcpbuddy_glue_node_distance(int from, int to)
{
	return node_distance(from, to);
}

int pcpbuddy_glue_page_to_nid(const struct page *page)
{
	return page_to_nid(page);
}

/*
 * alloc_contig_pages() restricted to node @nid: without a node mask it walks
 * the node's whole zonelist, which falls back to other nodes.
 */
struct page *pcpbuddy_glue_contig_alloc_node(unsigned long nr_pages, gfp_t gfp, int nid)
{
	nodemask_t mask = NODE_MASK_NONE;

	node_set(nid, mask);
	return alloc_contig_pages(nr_pages, gfp, nid, &mask);
}

/* @pool: the Rust pool, or NULL for every published one. */
static void pcpbuddy_flush_local(void *pool)
{
	/* Hard interrupt context, interrupts off: this CPU's magazines are ours. */
	pcpbuddy_rs_flush_local(pool);
}

/*
 * Every online CPU returns its magazine to @pool (NULL: every published pool);
 * waits. Process context, interrupts on. A pool's unload passes itself: it is
 * no longer published by then.
 */
void pcpbuddy_glue_flush_all_magazines(const void *pool)
{
	on_each_cpu(pcpbuddy_flush_local, (void *)pool, 1);
}

/* This CPU returns its magazine (the hotplug teardown, on the CPU going down). */
void pcpbuddy_glue_flush_this_magazine(const void *pool)
{
	unsigned long flags;

	local_irq_save(flags);
	pcpbuddy_flush_local((void *)pool);
	local_irq_restore(flags);
}

/*
 * An allocation failed in a context that may not wait for other CPUs: ask them
 * to return their magazines from process context, for the allocations after.
 */
static void pcpbuddy_flush_work_fn(struct work_struct *work)
{
	pcpbuddy_glue_flush_all_magazines(NULL);
}

static DECLARE_WORK(pcpbuddy_flush_work, pcpbuddy_flush_work_fn);

void pcpbuddy_glue_cancel_flush_work(void)
{
	cancel_work_sync(&pcpbuddy_flush_work);
}

/* ------------------------------------------------------------------ the API */

static void pcpbuddy_zero(struct page *page, unsigned int order)
{
	unsigned long i;

	for (i = 0; i < (1UL << order); i++)
		clear_highpage(page + i);
}

/* One allocation in the CPU-local section; NULL if the pool has nothing. */
static __always_inline struct page *pcpbuddy_alloc_local(unsigned int order, bool folio,
							 bool *compound)
{
	struct pcpbuddy_rs_allocation a = { NULL, false };
	unsigned long flags;
	const void *pool;

	local_irq_save(flags);
	pool = this_cpu_read(pcpbuddy_local.pool);
	if (likely(pool))
		a = pcpbuddy_rs_alloc(pool, this_cpu_read(pcpbuddy_local.mag), order, folio);
	local_irq_restore(flags);
	*compound = a.compound;
	return a.page;
}

static struct page *pcpbuddy_alloc(gfp_t gfp, unsigned int order, bool folio)
{
	bool compound = false;
	struct page *page;

	if (unlikely(in_nmi())) {
		pcpbuddy_rs_refuse_nmi();
		return NULL;
	}
	page = pcpbuddy_alloc_local(order, folio, &compound);
	if (unlikely(!page)) {
		/*
		 * What is left may sit in other CPUs' magazines, which only
		 * they touch. A caller that may block holds no spinlock, so it
		 * may wait for them to return it (as the kernel drains its
		 * per-CPU lists in direct reclaim); others fail now and ask
		 * for it to be done before the next allocation.
		 */
		if (!pcpbuddy_rs_may_have_more(order))
			return NULL;
		if (!gfpflags_allow_blocking(gfp) || in_interrupt() || irqs_disabled()) {
			queue_work(system_wq, &pcpbuddy_flush_work);
			return NULL;
		}
		pcpbuddy_glue_flush_all_magazines(NULL);
		page = pcpbuddy_alloc_local(order, folio, &compound);
		if (!page)
			return NULL;
	}
	if (unlikely(compound))
		pcpbuddy_glue_prep_compound(page, order);
	if (unlikely(gfp & __GFP_ZERO))
		pcpbuddy_zero(page, order);
	return page;
}

struct page *pcpbuddy_alloc_pages(gfp_t gfp, unsigned int order)
{
	return pcpbuddy_alloc(gfp, order, false);
}
EXPORT_SYMBOL_GPL(pcpbuddy_alloc_pages);

struct folio *pcpbuddy_alloc_folio(gfp_t gfp, unsigned int order)
{
	return (struct folio *)pcpbuddy_alloc(gfp, order, true);
}
EXPORT_SYMBOL_GPL(pcpbuddy_alloc_folio);

/* One free in the CPU-local section. */
static __always_inline int pcpbuddy_free_local(struct page *page, unsigned int order, int kind)
{
	unsigned long flags;
	const void *pool;
	int ret = -ENODEV;

	local_irq_save(flags);
	pool = this_cpu_read(pcpbuddy_local.pool);
	if (likely(pool))
		ret = pcpbuddy_rs_free(pool, this_cpu_read(pcpbuddy_local.mag), page, order, kind);
	local_irq_restore(flags);
	return ret;
}

int pcpbuddy_free_pages(struct page *page, unsigned int order)
{
	if (unlikely(in_nmi()))
		return pcpbuddy_rs_refuse_nmi();
	return pcpbuddy_free_local(page, order, PCPBUDDY_FREE_PAGES);
}
EXPORT_SYMBOL_GPL(pcpbuddy_free_pages);

int pcpbuddy_free_folio(struct folio *folio)
{
	unsigned int order;
	int ret;

	if (unlikely(in_nmi()))
		return pcpbuddy_rs_refuse_nmi();
	/* Checked, and a small folio's compound state undone, before it commits. */
	ret = pcpbuddy_rs_prepare_free_folio(folio, &order);
	if (ret)
		return ret;
	return pcpbuddy_free_local(&folio->page, order, PCPBUDDY_FREE_FOLIO);
}
EXPORT_SYMBOL_GPL(pcpbuddy_free_folio);

/* Interrupts stay disabled for at most this many operations of a bulk call. */
#define PCPBUDDY_BULK_CHUNK	32

unsigned long pcpbuddy_alloc_pages_bulk(gfp_t gfp, unsigned int order, unsigned long nr,
					struct page **pages)
{
	unsigned long done = 0, i, end;

	if (unlikely(in_nmi())) {
		pcpbuddy_rs_refuse_nmi();
		return 0;
	}
	if (!pages)
		return 0;
	while (done < nr) {
		unsigned long flags;
		const void *pool;
		void *mag;

		end = min(nr, done + PCPBUDDY_BULK_CHUNK);
		local_irq_save(flags);
		pool = this_cpu_read(pcpbuddy_local.pool);
		mag = this_cpu_read(pcpbuddy_local.mag);
		if (unlikely(!pool)) {
			local_irq_restore(flags);
			return done;
		}
		for (; done < end; done++) {
			/* Not a folio: never to be made compound. */
			pages[done] = pcpbuddy_rs_alloc(pool, mag, order, false).page;
			if (!pages[done])
				break;
		}
		local_irq_restore(flags);
		if (done < end) {
			/* Out of memory: whatever the other CPUs hold, one at a time. */
			struct page *page = pcpbuddy_alloc(gfp & ~__GFP_ZERO, order, false);

			if (!page)
				break;
			pages[done++] = page;
		}
	}
	if (gfp & __GFP_ZERO)
		for (i = 0; i < done; i++)
			pcpbuddy_zero(pages[i], order);
	return done;
}
EXPORT_SYMBOL_GPL(pcpbuddy_alloc_pages_bulk);

int pcpbuddy_free_pages_bulk(struct page **pages, unsigned long nr, unsigned int order)
{
	unsigned long i = 0, end;
	int ret = 0;

	if (unlikely(in_nmi()))
		return pcpbuddy_rs_refuse_nmi();
	if (!pages && nr)
		return -EINVAL;
	while (i < nr) {
		unsigned long flags;
		const void *pool;
		void *mag;

		end = min(nr, i + PCPBUDDY_BULK_CHUNK);
		local_irq_save(flags);
		pool = this_cpu_read(pcpbuddy_local.pool);
		mag = this_cpu_read(pcpbuddy_local.mag);
		if (unlikely(!pool)) {
			local_irq_restore(flags);
			return -ENODEV;
		}
		for (; i < end; i++) {
			int r = pcpbuddy_rs_free(pool, mag, pages[i], order, PCPBUDDY_FREE_PAGES);

			if (r)
				ret = r;
		}
		local_irq_restore(flags);
	}
	return ret;
}
EXPORT_SYMBOL_GPL(pcpbuddy_free_pages_bulk);

int pcpbuddy_get_info(struct pcpbuddy_info *info)
{
	if (unlikely(in_nmi()))
		return pcpbuddy_rs_refuse_nmi();
	return pcpbuddy_rs_get_info(info);
}
EXPORT_SYMBOL_GPL(pcpbuddy_get_info);

/* ------------------------------------------------------------------ benchmark helpers */

/* The kernel's folio allocator, for the benchmark's kernel backend (both are macros/inline). */
struct folio *pcpbuddy_glue_folio_alloc(gfp_t gfp, unsigned int order)
{
	return folio_alloc(gfp, order);
}

void pcpbuddy_glue_folio_put(struct folio *folio)
{
	folio_put(folio);
}

/*
 * Runs @fn(@data) once in soft interrupt context on @cpu (a BH work item on
 * system_bh_wq, the successor of tasklets) and waits for it.
 */
struct pcpbuddy_bh_call {
	struct work_struct work;
	void (*fn)(void *);
	void *data;
};

static void pcpbuddy_bh_fn(struct work_struct *work)
{
	struct pcpbuddy_bh_call *call = container_of(work, struct pcpbuddy_bh_call, work);

	call->fn(call->data);
}

void pcpbuddy_glue_run_in_softirq(unsigned int cpu, void (*fn)(void *), void *data)
{
	struct pcpbuddy_bh_call call = { .fn = fn, .data = data };

	INIT_WORK_ONSTACK(&call.work, pcpbuddy_bh_fn);
	queue_work_on(cpu, system_bh_wq, &call.work);
	flush_work(&call.work);
	destroy_work_on_stack(&call.work);
}

/* ------------------------------------------------------------------ benchmark floor */

/*
 * The floor backend of the benchmark: a per-CPU array of page pointers pushed
 * and popped with preemption disabled, behind calls shaped like the API's. The
 * pointers are tokens, never dereferenced.
 */
#define PCPBUDDY_FLOOR_SLOTS	2048

struct pcpbuddy_floor {
	unsigned int len;
	unsigned int minted;
	struct page *slots[PCPBUDDY_FLOOR_SLOTS];
};

/* One floor run's arrays: its own, passed to every call (no global state to race on). */
void __percpu *pcpbuddy_glue_floor_create(void)
{
	return alloc_percpu(struct pcpbuddy_floor);
}

void pcpbuddy_glue_floor_destroy(void __percpu *floor)
{
	free_percpu(floor);
}

/* Fills this CPU's array with @nr distinct tokens. */
void pcpbuddy_glue_floor_reset(void __percpu *arrays, unsigned int nr)
{
	struct pcpbuddy_floor *floor = get_cpu_ptr((struct pcpbuddy_floor __percpu *)arrays);
	unsigned int i;

	floor->len = min_t(unsigned int, nr, PCPBUDDY_FLOOR_SLOTS);
	floor->minted = PCPBUDDY_FLOOR_SLOTS;
	for (i = 0; i < floor->len; i++)
		floor->slots[i] = (struct page *)(PAGE_OFFSET + ((unsigned long)i << PAGE_SHIFT));
	put_cpu_ptr(arrays);
}

/* Pops a token; an empty array makes a new one (the floor never fails). */
noinline struct page *pcpbuddy_glue_floor_alloc(void __percpu *arrays, gfp_t gfp,
						unsigned int order)
{
	struct pcpbuddy_floor *floor = get_cpu_ptr((struct pcpbuddy_floor __percpu *)arrays);
	struct page *page;

	if (likely(floor->len))
		page = floor->slots[--floor->len];
	else
		page = (struct page *)(PAGE_OFFSET + ((unsigned long)++floor->minted << PAGE_SHIFT));
	put_cpu_ptr(arrays);
	return page;
}

/* Pushes a token back; a full array drops it. */
noinline int pcpbuddy_glue_floor_free(void __percpu *arrays, struct page *page,
				      unsigned int order)
{
	struct pcpbuddy_floor *floor = get_cpu_ptr((struct pcpbuddy_floor __percpu *)arrays);
	int ret = -ENOSPC;

	if (likely(floor->len < PCPBUDDY_FLOOR_SLOTS)) {
		floor->slots[floor->len++] = page;
		ret = 0;
	}
	put_cpu_ptr(arrays);
	return ret;
}
