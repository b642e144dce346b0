// SPDX-License-Identifier: GPL-2.0
/*
 * pcpbuddy_stress: a stress test of pcpbuddy's exported API, loaded by
 * selftests/pcpbuddy/test_stress.sh while that script takes CPUs offline and
 * online, drains caches and changes the pool's policy.
 *
 * One kthread per CPU online at load (not bound to a CPU: CPUs go offline under
 * them) makes API calls until @ops operations (allocations tried + frees) are
 * done in total. Each step of a thread is one call of a few frees then a few
 * allocations, made in one calling context picked at random:
 *
 *   process context (GFP_KERNEL mostly: may wait for other CPUs' caches),
 *   preemption disabled, interrupts disabled, bottom halves disabled,
 *   soft interrupt (a timer_list, a soft hrtimer or a BH work item: all three
 *   survive CPU hotplug), hard interrupt (smp_call_function_single() to a
 *   random other CPU; another one is tried if it is offline, and the call
 *   runs here with interrupts disabled after four tries).
 *
 * The context a call really ran in is read inside it (in_hardirq(), ...) and
 * counted. Orders are weighted to 0 (order k with probability 2^-(k+1), up to
 * pageblock_order); a quarter of the allocations are folios, and now and then
 * a folio of the pageblock order; some calls use the bulk functions; an eighth
 * ask for __GFP_ZERO (checked). Every page handed out is marked in a bitmap (a
 * page handed out twice fails at once) and stamped in its first and last word
 * (checked before the free). The run's bookkeeping record lives in its first
 * page, between the stamps, so nothing is allocated for it.
 *
 * Most runs are handed to another thread (an llist inbox per thread) which
 * frees them, mostly remotely, in a context of its own; others are freed by
 * the thread that allocated them, a step or many later; some are held long
 * (a few until the end). Now and then one thread takes every pageblock it can
 * get (GFP_KERNEL) and hands them all out: exhaustion, the waits for other
 * CPUs' caches, atomic allocations failing meanwhile. pcpbuddy_get_info() is
 * called from soft and hard interrupt context now and then.
 *
 * An allocation that fails is counted, not an error (see pcpbuddy.h). At the
 * end everything is freed, the counts are printed, and the module says
 * "pcpbuddy_stress: ok", or prints "pcpbuddy_stress: FAIL ..." lines and fails
 * to load (-EINVAL).
 */
#include <linux/bitmap.h>
#include <linux/completion.h>
#include <linux/cpumask.h>
#include <linux/delay.h>
#include <linux/gfp.h>
#include <linux/hrtimer.h>
#include <linux/kthread.h>
#include <linux/llist.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pcpbuddy.h>
#include <linux/prandom.h>
#include <linux/random.h>
#include <linux/sched/debug.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/timer.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>

static unsigned long ops = 1000000;
module_param(ops, ulong, 0444);
MODULE_PARM_DESC(ops, "operations (allocations tried + frees) in total, over all threads");
static unsigned int seed;
module_param(seed, uint, 0444);
MODULE_PARM_DESC(seed, "seed of the threads' choices (0: random; printed)");
static unsigned int hog_every = 4000;
module_param(hog_every, uint, 0444);
MODULE_PARM_DESC(hog_every, "a thread takes every pageblock it can in about one step of this many (0: never)");

#define MAX_ALLOC	12	/* allocations per call */
#define MAX_FREE	24	/* frees per call */
#define SLOW_CALL	3	/* times more in a call that waits for a timer or an IPI */
#define OWN_MAX		48	/* runs a thread keeps to free itself */
#define NR_LONG		16	/* long holders per thread */
#define NR_FOREVER	4	/* of which held to the end (mostly) */
#define LONG_STEPS	20000	/* the longest a long holder is held, in steps */
#define MAX_ERRORS	50	/* the run stops after this many */

static atomic_t errors;
static bool stopping;

#define check(cond, ...) do {						\
	if (unlikely(!(cond))) {					\
		if (atomic_inc_return(&errors) <= 20)			\
			pr_err("pcpbuddy_stress: FAIL " __VA_ARGS__);	\
		if (atomic_read(&errors) >= MAX_ERRORS)			\
			WRITE_ONCE(stopping, true);			\
	}								\
} while (0)

/* ------------------------------------------------------------ contexts */

/* The context a call ran in, as seen from inside it. */
enum kind { K_PROCESS, K_ATOMIC, K_IRQS_OFF, K_BH_OFF, K_SOFTIRQ, K_HARDIRQ, NR_KINDS };

static const char *const kind_name[NR_KINDS] = {
	"process", "preempt-off", "irqs-off", "bh-off", "softirq", "hardirq",
};

static enum kind current_kind(void)
{
	if (in_hardirq())
		return K_HARDIRQ;
	if (in_serving_softirq())
		return K_SOFTIRQ;
	if (irqs_disabled())
		return K_IRQS_OFF;
	if (in_softirq())
		return K_BH_OFF;
	if (preempt_count())
		return K_ATOMIC;
	return K_PROCESS;
}

/* How a thread gets a call into a context. */
enum mech { M_TASK, M_PREEMPT, M_IRQS, M_BH, M_TIMER, M_HRTIMER, M_BHWORK, M_IPI, NR_MECHS };

static const char *const mech_name[NR_MECHS] = {
	"task", "preempt_disable", "local_irq_save", "local_bh_disable", "timer_list",
	"hrtimer_soft", "bh_work", "ipi",
};

/* ------------------------------------------------------------ marks and stamps */

/* One bit per page of the pool's span (pfn - base): set while handed out. */
static unsigned long *handed_out;
static unsigned long span_base, span_pages;
static struct pcpbuddy_info pool_info;

/*
 * Marks 2^order pages handed out; a page already marked was handed out twice.
 * A run aligned to its order (the pool's are) takes one atomic operation per
 * word of the bitmap, not one per page: atomics are dear under emulation.
 */
static void mark(struct page *page, unsigned int order, bool out)
{
	unsigned long pfn = page_to_pfn(page), nr = 1UL << order, i;

	if (IS_ALIGNED(pfn, nr) && pfn >= span_base && pfn + nr <= span_base + span_pages) {
		unsigned long bit = pfn - span_base;
		atomic_long_t *word = (atomic_long_t *)&handed_out[BIT_WORD(bit)];
		unsigned long mask = nr >= BITS_PER_LONG ? ~0UL : ((1UL << nr) - 1) << (bit % BITS_PER_LONG);
		unsigned long old;

		for (i = 0; i < max(nr / BITS_PER_LONG, 1UL); i++) {
			if (out) {
				old = atomic_long_fetch_or(mask, &word[i]);
				check(!(old & mask), "pfn %#lx handed out twice (order-%u run at %#lx)\n",
				      span_base + (BIT_WORD(bit) + i) * BITS_PER_LONG + __ffs(old & mask),
				      order, pfn);
			} else {
				old = atomic_long_fetch_andnot(mask, &word[i]);
				check((old & mask) == mask,
				      "pfn %#lx freed but not handed out (order-%u run at %#lx)\n",
				      span_base + (BIT_WORD(bit) + i) * BITS_PER_LONG +
				      __ffs(~old & mask), order, pfn);
			}
		}
		return;
	}
	for (i = 0; i < nr; i++) {
		unsigned long bit = pfn + i - span_base;

		if (bit >= span_pages) {
			check(0, "pfn %#lx outside the pool's span\n", pfn + i);
			return;
		}
		if (out)
			check(!test_and_set_bit(bit, handed_out),
			      "pfn %#lx handed out twice\n", pfn + i);
		else
			check(test_and_clear_bit(bit, handed_out),
			      "pfn %#lx freed but not handed out\n", pfn + i);
	}
}

static unsigned long stamp_of(unsigned long pfn, u64 gen)
{
	return pfn * 0x9e3779b97f4a7c15UL ^ gen;
}

#define LAST_WORD	(PAGE_SIZE / sizeof(long) - 1)

/* Writes (or checks) a stamp in the first and the last word of every page of a run. */
static void stamp(struct page *page, unsigned int order, u64 gen, bool verify)
{
	unsigned long pfn = page_to_pfn(page), i;

	for (i = 0; i < (1UL << order); i++) {
		unsigned long *mem = page_address(page + i);

		if (verify)
			check(mem[0] == stamp_of(pfn + i, gen) && mem[LAST_WORD] == ~stamp_of(pfn + i, gen),
			      "stamp of pfn %#lx (order-%u run at %#lx) overwritten: %#lx %#lx\n",
			      pfn + i, order, pfn, mem[0], mem[LAST_WORD]);
		else {
			mem[0] = stamp_of(pfn + i, gen);
			mem[LAST_WORD] = ~stamp_of(pfn + i, gen);
		}
	}
}

/* ------------------------------------------------------------ runs and their records */

enum run_kind { RUN_PAGES, RUN_FOLIO };

/* The bookkeeping of a run handed out, inside its first page, between the stamps. */
struct rec {
	struct llist_node node;
	unsigned long magic;	/* REC_MAGIC ^ pfn while the run is out */
	u64 gen;		/* its stamp */
	u32 alloc_cpu;		/* the CPU it was allocated on */
	u8 order, kind;
};

#define REC_MAGIC	0x5354524553534d41UL
#define REC_OFFSET	64

static struct rec *rec_of(struct page *page)
{
	return page_address(page) + REC_OFFSET;
}

static struct page *page_of(struct rec *rec)
{
	return virt_to_page((void *)rec - REC_OFFSET);
}

/* A private singly linked list of records. */
struct rec_list {
	struct llist_node *first;
	unsigned int nr;
};

static void list_push(struct rec_list *l, struct rec *rec)
{
	rec->node.next = l->first;
	l->first = &rec->node;
	l->nr++;
}

static struct rec *list_pop(struct rec_list *l)
{
	struct llist_node *n = l->first;

	if (!n)
		return NULL;
	l->first = n->next;
	l->nr--;
	return llist_entry(n, struct rec, node);
}

/* ------------------------------------------------------------ the threads */

struct counts {
	u64 allocs[NR_KINDS], alloc_fails[NR_KINDS], frees[NR_KINDS], infos[NR_KINDS];
	u64 mechs[NR_MECHS], mech_ns[NR_MECHS];
	u64 alloc_pages, free_pages, folios, block_folios, bulk_allocs, bulk_frees, zeroed;
	u64 fails_may_block, cross_cpu_frees, handoffs, long_holds, ipi_offline, ipi_fallback;
	u64 hogs, hog_blocks, hog_ns;
};

struct alloc_req {
	struct page *page;	/* out */
	u64 gen;
	gfp_t gfp;
	u8 order, kind;
};

/* One call: frees, then allocations, in one context. */
struct call {
	struct worker *w;
	unsigned int nr_free, nr_alloc;
	bool bulk_alloc, bulk_free, want_info;
	struct rec *frees[SLOW_CALL * MAX_FREE];
	struct alloc_req allocs[SLOW_CALL * MAX_ALLOC];
	struct page *bulk[SLOW_CALL * MAX_FREE];
};

struct worker {
	unsigned int index;
	struct task_struct *task;
	struct llist_head inbox;	/* runs other threads handed to this one */
	struct rec_list backlog;	/* taken from the inbox, to free */
	struct rec_list own;		/* allocated here, to free here */
	struct rec *longs[NR_LONG];
	u64 long_until[NR_LONG];
	u64 steps;
	struct rnd_state rnd;
	struct call call;
	struct counts n;
	struct timer_list timer;
	struct hrtimer hrtimer;
	struct work_struct bh_work;
	struct completion done;
};

static struct worker *workers;
static unsigned int nr_workers;
static atomic64_t ops_done;
static atomic_t producing;	/* threads that may still hand runs to others */
static atomic_t running;
static atomic_t hog_busy;
static DECLARE_COMPLETION(all_done);

static u32 rnd(struct worker *w)
{
	return prandom_u32_state(&w->rnd);
}

/* A random number below @n (> 0). */
static u32 below(struct worker *w, u32 n)
{
	return rnd(w) % n;
}

static u64 rnd64(struct worker *w)
{
	return (u64)rnd(w) << 32 | rnd(w);
}

/* ------------------------------------------------------------ inside a call (any context) */

/* A run just handed out: check it, mark and stamp it, write its record. */
static void took(struct worker *w, enum kind k, struct page *page, unsigned int order,
		 unsigned int kind, gfp_t gfp, u64 gen)
{
	unsigned long pfn = page_to_pfn(page);
	struct rec *rec;

	w->n.allocs[k]++;
	w->n.alloc_pages += 1UL << order;
	check(page_ref_count(page) == 2, "pfn %#lx handed out with refcount %d, want 2\n", pfn,
	      page_ref_count(page));
	if (kind == RUN_FOLIO) {
		struct folio *folio = page_folio(page);

		w->n.folios++;
		if (order == pageblock_order)
			w->n.block_folios++;
		check(&folio->page == page && folio_order(folio) == order &&
		      (!order || folio_test_large(folio)),
		      "order-%u folio at pfn %#lx has order %u\n", order, pfn, folio_order(folio));
	} else {
		check(!PageHead(page) && !PageTail(page), "order-%u pages at pfn %#lx compound\n",
		      order, pfn);
	}
	if (gfp & __GFP_ZERO) {
		unsigned long i;

		w->n.zeroed++;
		if (order <= 2) {
			check(!memchr_inv(page_address(page), 0, PAGE_SIZE << order),
			      "__GFP_ZERO order-%u run at pfn %#lx not zeroed\n", order, pfn);
		} else {
			for (i = 0; i < (1UL << order); i++) {
				unsigned long *mem = page_address(page + i);

				check(!mem[0] && !mem[1] && !mem[LAST_WORD / 2] && !mem[LAST_WORD],
				      "__GFP_ZERO order-%u run at pfn %#lx: page %lu not zeroed\n",
				      order, pfn, i);
			}
		}
	}
	mark(page, order, true);
	stamp(page, order, gen, false);
	rec = rec_of(page);
	rec->magic = REC_MAGIC ^ pfn;
	rec->gen = gen;
	rec->order = order;
	rec->kind = kind;
	rec->alloc_cpu = raw_smp_processor_id();
}

/* A run about to be freed: its record, stamps and mark; false if it must not be freed. */
static bool giving_back(struct worker *w, struct rec *rec)
{
	struct page *page = page_of(rec);
	unsigned long pfn = page_to_pfn(page);

	if (rec->magic != (REC_MAGIC ^ pfn) || rec->order > pageblock_order) {
		check(0, "record of pfn %#lx overwritten (magic %#lx order %u): kept\n", pfn,
		      rec->magic, rec->order);
		return false;
	}
	stamp(page, rec->order, rec->gen, true);
	mark(page, rec->order, false);
	rec->magic = 0;
	if (rec->alloc_cpu != raw_smp_processor_id())
		w->n.cross_cpu_frees++;
	w->n.free_pages += 1UL << rec->order;
	return true;
}

static void do_frees(struct call *c, enum kind k)
{
	struct worker *w = c->w;
	unsigned int i, nr_bulk = 0, bulk_order = 0;
	int ret;

	for (i = 0; i < c->nr_free; i++) {
		struct rec *rec = c->frees[i];
		struct page *page = page_of(rec);
		unsigned int order = rec->order, kind = rec->kind;

		if (!giving_back(w, rec))
			continue;
		w->n.frees[k]++;
		if (c->bulk_free && kind == RUN_PAGES && (!nr_bulk || order == bulk_order)) {
			bulk_order = order;
			c->bulk[nr_bulk++] = page;
			continue;
		}
		ret = kind == RUN_FOLIO ? pcpbuddy_free_folio(page_folio(page))
					: pcpbuddy_free_pages(page, order);
		check(ret == 0, "%s free of order-%u %s at pfn %#lx: %d\n", kind_name[k], order,
		      kind == RUN_FOLIO ? "folio" : "pages", page_to_pfn(page), ret);
	}
	if (nr_bulk) {
		w->n.bulk_frees++;
		ret = pcpbuddy_free_pages_bulk(c->bulk, nr_bulk, bulk_order);
		check(ret == 0, "%s bulk free of %u order-%u runs: %d\n", kind_name[k], nr_bulk,
		      bulk_order, ret);
	}
}

static void do_allocs(struct call *c, enum kind k)
{
	struct worker *w = c->w;
	unsigned int i, got;

	if (c->bulk_alloc && c->nr_alloc) {
		struct alloc_req *r0 = &c->allocs[0];

		w->n.bulk_allocs++;
		got = pcpbuddy_alloc_pages_bulk(r0->gfp, r0->order, c->nr_alloc, c->bulk);
		check(got <= c->nr_alloc, "bulk alloc of %u runs gave %u\n", c->nr_alloc, got);
		for (i = 0; i < c->nr_alloc; i++)
			c->allocs[i].page = i < got ? c->bulk[i] : NULL;
	} else {
		for (i = 0; i < c->nr_alloc; i++) {
			struct alloc_req *r = &c->allocs[i];

			if (r->kind == RUN_FOLIO) {
				struct folio *folio = pcpbuddy_alloc_folio(r->gfp, r->order);

				r->page = folio ? &folio->page : NULL;
			} else {
				r->page = pcpbuddy_alloc_pages(r->gfp, r->order);
			}
		}
	}
	for (i = 0; i < c->nr_alloc; i++) {
		struct alloc_req *r = &c->allocs[i];

		if (r->page) {
			took(w, k, r->page, r->order, r->kind, r->gfp, r->gen);
		} else {
			w->n.alloc_fails[k]++;
			if (gfpflags_allow_blocking(r->gfp) && k == K_PROCESS)
				w->n.fails_may_block++;
		}
	}
}

static void do_info(struct call *c, enum kind k)
{
	struct pcpbuddy_info info;
	int ret = pcpbuddy_get_info(&info);

	c->w->n.infos[k]++;
	check(ret == 0 && info.nr_pages == pool_info.nr_pages &&
	      info.block_order == pool_info.block_order &&
	      info.outstanding_pages <= info.nr_pages,
	      "get_info in %s context: %d, nr_pages %llu outstanding %llu\n", kind_name[k], ret,
	      info.nr_pages, info.outstanding_pages);
}

static void do_call(void *data)
{
	struct call *c = data;
	enum kind k = current_kind();

	do_frees(c, k);
	do_allocs(c, k);
	if (c->want_info)
		do_info(c, k);
}

/* ------------------------------------------------------------ getting into a context */

static void timer_fn(struct timer_list *t)
{
	struct worker *w = timer_container_of(w, t, timer);

	do_call(&w->call);
	complete(&w->done);
}

static enum hrtimer_restart hrtimer_fn(struct hrtimer *t)
{
	struct worker *w = container_of(t, struct worker, hrtimer);

	do_call(&w->call);
	complete(&w->done);
	return HRTIMER_NORESTART;
}

static void bh_work_fn(struct work_struct *work)
{
	struct worker *w = container_of(work, struct worker, bh_work);

	do_call(&w->call);
	complete(&w->done);
}

/*
 * A random online CPU other than this one (this one if it is the only one);
 * one time in four any possible CPU, which may be offline, or go offline
 * before the IPI is sent.
 */
static unsigned int other_cpu(struct worker *w)
{
	const struct cpumask *mask = below(w, 4) ? cpu_online_mask : cpu_possible_mask;
	unsigned int here = raw_smp_processor_id(), n = cpumask_weight(mask), cpu;

	cpu = cpumask_nth(below(w, n ? n : 1), mask);
	if (cpu >= nr_cpu_ids)
		cpu = cpumask_first(cpu_online_mask);
	if (cpu == here)
		cpu = cpumask_next_wrap(here, cpu_online_mask);
	return cpu < nr_cpu_ids ? cpu : here;
}

/* Hard interrupt context: an IPI to another CPU; if it is offline, another one. */
static void run_in_hardirq(struct worker *w)
{
	unsigned long flags;
	int tries, ret = -ENXIO;

	for (tries = 0; tries < 4 && ret == -ENXIO; tries++) {
		ret = smp_call_function_single(other_cpu(w), do_call, &w->call, 1);
		if (ret == -ENXIO)
			w->n.ipi_offline++;
		else
			check(ret == 0, "smp_call_function_single: %d\n", ret);
	}
	if (ret) {
		/* Not run: no CPU could take it. Here, with interrupts disabled. */
		w->n.ipi_fallback++;
		local_irq_save(flags);
		do_call(&w->call);
		local_irq_restore(flags);
	}
}

static void run_call(struct worker *w, enum mech m)
{
	u64 start = ktime_get_ns();
	unsigned long flags;

	w->n.mechs[m]++;
	switch (m) {
	case M_TASK:
		do_call(&w->call);
		break;
	case M_PREEMPT:
		preempt_disable();
		do_call(&w->call);
		preempt_enable();
		break;
	case M_IRQS:
		local_irq_save(flags);
		do_call(&w->call);
		local_irq_restore(flags);
		break;
	case M_BH:
		local_bh_disable();
		do_call(&w->call);
		local_bh_enable();
		break;
	case M_TIMER:
		reinit_completion(&w->done);
		mod_timer(&w->timer, jiffies);
		wait_for_completion(&w->done);
		break;
	case M_HRTIMER:
		reinit_completion(&w->done);
		hrtimer_start(&w->hrtimer, ns_to_ktime(below(w, 20000)), HRTIMER_MODE_REL_SOFT);
		wait_for_completion(&w->done);
		break;
	case M_BHWORK:
		reinit_completion(&w->done);
		queue_work(system_bh_wq, &w->bh_work);
		wait_for_completion(&w->done);
		break;
	case M_IPI:
		run_in_hardirq(w);
		break;
	default:
		break;
	}
	w->n.mech_ns[m] += ktime_get_ns() - start;
}

/* ------------------------------------------------------------ a thread's steps */

/* Order k with probability 2^-(k+1), pageblock_order with the rest. */
static unsigned int random_order(struct worker *w)
{
	return __builtin_ctz(rnd(w) | (1U << pageblock_order));
}

static gfp_t random_gfp(struct worker *w, enum mech m)
{
	u32 r = below(w, 100);
	gfp_t gfp;

	if (m == M_TASK)
		gfp = r < 70 ? GFP_KERNEL : r < 85 ? GFP_ATOMIC : GFP_NOWAIT;
	else	/* the pool never sleeps, whatever the gfp says (pcpbuddy.h) */
		gfp = r < 50 ? GFP_ATOMIC : r < 90 ? GFP_NOWAIT : GFP_KERNEL;
	if (!below(w, 8))
		gfp |= __GFP_ZERO;
	return gfp;
}

/* Hands a run to another thread, which will free it. */
static void hand_off(struct worker *w, struct rec *rec)
{
	unsigned int to = below(w, nr_workers);

	if (to == w->index)
		to = (to + 1) % nr_workers;
	w->n.handoffs++;
	llist_add(&rec->node, &workers[to].inbox);
}

/* A new run: to another thread (mostly), to keep and free here, or to hold long. */
static void place(struct worker *w, struct rec *rec)
{
	u32 r = below(w, 100);
	unsigned int slot;

	if (r < 3) {
		slot = below(w, NR_LONG);
		if (!w->longs[slot]) {
			w->n.long_holds++;
			w->longs[slot] = rec;
			w->long_until[slot] = slot < NR_FOREVER ? U64_MAX
							      : w->steps + 1 + below(w, LONG_STEPS);
			return;
		}
	}
	if (nr_workers > 1 && (r < 65 || w->own.nr >= OWN_MAX))
		hand_off(w, rec);
	else
		list_push(&w->own, rec);
}

static enum mech random_mech(struct worker *w)
{
	/*
	 * Out of 32. A call through a timer waits for the next tick (4 ms at
	 * HZ=250), an IPI for the other CPU (milliseconds under emulation, when
	 * vCPUs outnumber host cores): those are rarer and carry more.
	 */
	static const u8 weights[NR_MECHS] = {
		[M_TASK] = 8, [M_PREEMPT] = 5, [M_IRQS] = 5, [M_BH] = 5,
		[M_TIMER] = 1, [M_HRTIMER] = 1, [M_BHWORK] = 4, [M_IPI] = 3,
	};
	u32 r = below(w, 32);
	enum mech m;

	for (m = 0; m < NR_MECHS - 1; m++) {
		if (r < weights[m])
			return m;
		r -= weights[m];
	}
	return M_IPI;
}

/*
 * One step: pick the frees (runs handed to us first, then our own, then long
 * holders whose time has come) and, while @producing, the allocations; make
 * the call in a random context; place what it got.
 */
static void step(struct worker *w, bool producing)
{
	struct call *c = &w->call;
	enum mech m = random_mech(w);
	unsigned int scale = m == M_TIMER || m == M_HRTIMER || m == M_IPI ? SLOW_CALL : 1;
	unsigned int i, max_free = 1 + below(w, scale * MAX_FREE), keep;
	struct llist_node *in, *next;

	w->steps++;
	for (in = llist_del_all(&w->inbox); in; in = next) {
		next = in->next;
		list_push(&w->backlog, llist_entry(in, struct rec, node));
	}
	c->nr_free = 0;
	while (c->nr_free < max_free && w->backlog.nr)
		c->frees[c->nr_free++] = list_pop(&w->backlog);
	keep = producing ? below(w, OWN_MAX) : 0;
	while (c->nr_free < max_free && w->own.nr > keep)
		c->frees[c->nr_free++] = list_pop(&w->own);
	for (i = 0; i < NR_LONG && c->nr_free < max_free; i++) {
		struct rec *rec = w->longs[i];

		if (!rec || (producing && w->steps < w->long_until[i] &&
			     !(w->long_until[i] == U64_MAX && !below(w, 50000))))
			continue;
		w->longs[i] = NULL;
		/* Half of them go to another thread (remote frees of old blocks). */
		if (producing && nr_workers > 1 && below(w, 2))
			hand_off(w, rec);
		else
			c->frees[c->nr_free++] = rec;
	}
	c->bulk_free = !below(w, 4);
	c->bulk_alloc = false;
	c->nr_alloc = 0;
	if (producing) {
		c->nr_alloc = below(w, scale * MAX_ALLOC + 1);
		if (c->nr_alloc >= 2 && !below(w, 8)) {
			/* One bulk call: runs of one order, plain pages. */
			unsigned int order = min(random_order(w), 3U);
			gfp_t gfp = random_gfp(w, m);

			c->bulk_alloc = true;
			for (i = 0; i < c->nr_alloc; i++) {
				c->allocs[i].order = order;
				c->allocs[i].kind = RUN_PAGES;
				c->allocs[i].gfp = gfp;
				c->allocs[i].gen = rnd64(w);
			}
		} else {
			for (i = 0; i < c->nr_alloc; i++) {
				struct alloc_req *r = &c->allocs[i];

				r->kind = below(w, 4) ? RUN_PAGES : RUN_FOLIO;
				r->order = random_order(w);
				if (!below(w, 512)) {
					r->kind = RUN_FOLIO;
					r->order = pageblock_order;
				}
				r->gfp = random_gfp(w, m);
				r->gen = rnd64(w);
			}
		}
	}
	c->want_info = !below(w, 8);
	run_call(w, m);
	for (i = 0; i < c->nr_alloc; i++)
		if (c->allocs[i].page)
			place(w, rec_of(c->allocs[i].page));
	atomic64_add(c->nr_free + c->nr_alloc, &ops_done);
}

/*
 * Every pageblock this thread can get (GFP_KERNEL: it may wait for the other
 * CPUs' caches), then all of them handed to the other threads.
 */
static void hog(struct worker *w)
{
	u64 start = ktime_get_ns();
	struct rec_list got = {};
	struct page *page;
	struct rec *rec;

	w->n.hogs++;
	while (got.nr < (pool_info.nr_pages >> pageblock_order) && !READ_ONCE(stopping)) {
		bool folio = below(w, 2);

		if (folio) {
			struct folio *f = pcpbuddy_alloc_folio(GFP_KERNEL, pageblock_order);

			page = f ? &f->page : NULL;
		} else {
			page = pcpbuddy_alloc_pages(GFP_KERNEL, pageblock_order);
		}
		if (!page) {
			w->n.alloc_fails[K_PROCESS]++;
			w->n.fails_may_block++;
			break;
		}
		took(w, K_PROCESS, page, pageblock_order, folio ? RUN_FOLIO : RUN_PAGES,
		     GFP_KERNEL, rnd64(w));
		list_push(&got, rec_of(page));
		cond_resched();
	}
	w->n.hog_blocks += got.nr;
	w->n.hog_ns += ktime_get_ns() - start;
	atomic64_add(got.nr + 1, &ops_done);
	while ((rec = list_pop(&got))) {
		if (nr_workers > 1)
			hand_off(w, rec);
		else
			list_push(&w->own, rec);
	}
}

/* Whether the thread still holds runs of its own or runs handed to it and taken in. */
static bool holds(struct worker *w)
{
	unsigned int i;

	for (i = 0; i < NR_LONG; i++)
		if (w->longs[i])
			return true;
	return w->own.nr || w->backlog.nr;
}

static int worker_fn(void *data)
{
	struct worker *w = data;

	while (atomic64_read(&ops_done) < ops && !READ_ONCE(stopping)) {
		if (hog_every && !below(w, hog_every) && !atomic_cmpxchg(&hog_busy, 0, 1)) {
			hog(w);
			atomic_set(&hog_busy, 0);
		}
		step(w, true);
		cond_resched();
	}
	/*
	 * Give back what this thread holds, long holders too, and what the others
	 * hand it meanwhile. From here on this thread hands nothing on.
	 */
	while (holds(w)) {
		step(w, false);
		cond_resched();
	}
	smp_mb__before_atomic();	/* our last llist_add() before the count */
	atomic_dec(&producing);
	for (;;) {
		/* Nothing can arrive once every thread stopped producing and the inbox is empty. */
		bool last = atomic_read_acquire(&producing) == 0;

		if (llist_empty(&w->inbox) && !w->backlog.nr) {
			if (last)
				break;
			usleep_range(1000, 2000);
			continue;
		}
		step(w, false);
		cond_resched();
	}
	if (atomic_dec_and_test(&running))
		complete(&all_done);
	return 0;
}

/* ------------------------------------------------------------ setup and the end */

/* Sizes the handed-out bitmap from the pool's pages: the whole pool once, at the block order. */
static int span_init(void)
{
	unsigned long nr_blocks = pool_info.nr_pages >> pool_info.block_order;
	unsigned long n = 0, lo = ULONG_MAX, hi = 0, i;
	struct page **pages;

	pages = vmalloc_array(nr_blocks, sizeof(*pages));
	if (!pages)
		return -ENOMEM;
	while (n < nr_blocks && (pages[n] = pcpbuddy_alloc_pages(GFP_KERNEL, pageblock_order))) {
		lo = min(lo, page_to_pfn(pages[n]));
		hi = max(hi, page_to_pfn(pages[n]) + (1UL << pageblock_order));
		n++;
	}
	for (i = 0; i < n; i++)
		check(pcpbuddy_free_pages(pages[i], pageblock_order) == 0, "span free refused\n");
	vfree(pages);
	if (n != nr_blocks) {
		pr_err("pcpbuddy_stress: FAIL the whole pool at the start: %lu of %lu blocks\n", n,
		       nr_blocks);
		return -EINVAL;
	}
	span_base = round_down(lo, BITS_PER_LONG);
	span_pages = hi - span_base;
	handed_out = bitmap_zalloc(span_pages, GFP_KERNEL);
	return handed_out ? 0 : -ENOMEM;
}

static void report(struct counts *t, unsigned long ms)
{
	u64 allocs = 0, fails = 0, frees = 0;
	unsigned int k, m;

	for (k = 0; k < NR_KINDS; k++) {
		allocs += t->allocs[k];
		fails += t->alloc_fails[k];
		frees += t->frees[k];
	}
	pr_info("pcpbuddy_stress: %llu ops (%lu asked) by %u threads in %lu ms, seed %u\n",
		(u64)atomic64_read(&ops_done), ops, nr_workers, ms, seed);
	pr_info("pcpbuddy_stress: allocs %llu (%llu pages; folios %llu, of the pageblock order %llu; bulk calls %llu; zeroed %llu), failed %llu (in process context with a gfp that may block: %llu)\n",
		allocs, t->alloc_pages, t->folios, t->block_folios, t->bulk_allocs, t->zeroed,
		fails, t->fails_may_block);
	pr_info("pcpbuddy_stress: frees %llu (%llu pages; on another CPU than the allocation %llu; bulk calls %llu); runs handed to another thread %llu, long holds %llu\n",
		frees, t->free_pages, t->cross_cpu_frees, t->bulk_frees, t->handoffs,
		t->long_holds);
	for (k = 0; k < NR_KINDS; k++)
		pr_info("pcpbuddy_stress: context %s: allocs %llu failed %llu frees %llu get_info %llu\n",
			kind_name[k], t->allocs[k], t->alloc_fails[k], t->frees[k], t->infos[k]);
	for (m = 0; m < NR_MECHS; m++)
		pr_info("pcpbuddy_stress: calls via %s: %llu, %llu us each\n", mech_name[m],
			t->mechs[m], t->mechs[m] ? div64_u64(t->mech_ns[m], t->mechs[m] * 1000) : 0);
	pr_info("pcpbuddy_stress: IPI target offline %llu times, call made here after 4 tries %llu times\n",
		t->ipi_offline, t->ipi_fallback);
	pr_info("pcpbuddy_stress: hogs %llu took %llu pageblocks in %llu ms\n", t->hogs,
		t->hog_blocks, div_u64(t->hog_ns, NSEC_PER_MSEC));
	check(allocs == frees && t->alloc_pages == t->free_pages,
	      "%llu runs (%llu pages) allocated, %llu (%llu pages) freed\n", allocs,
	      t->alloc_pages, frees, t->free_pages);
	for (k = 0; k < NR_KINDS; k++)
		check(t->allocs[k] && t->frees[k], "no alloc or no free in %s context\n",
		      kind_name[k]);
}

static int __init pcpbuddy_stress_init(void)
{
	unsigned long last_progress = jiffies;
	u64 start = ktime_get_ns();
	u64 last_ops = 0;
	struct counts *total;
	unsigned int i;
	int ret;

	ret = pcpbuddy_get_info(&pool_info);
	if (ret || pool_info.block_order != pageblock_order || pool_info.outstanding_pages) {
		pr_err("pcpbuddy_stress: FAIL get_info = %d: order %u, %llu pages outstanding\n",
		       ret, pool_info.block_order, pool_info.outstanding_pages);
		return -EINVAL;
	}
	if (!seed)
		seed = get_random_u32() | 1;
	ret = span_init();
	if (ret)
		return ret;
	total = kzalloc(sizeof(*total), GFP_KERNEL);
	nr_workers = num_online_cpus();
	workers = kvcalloc(nr_workers, sizeof(*workers), GFP_KERNEL);
	if (!workers || !total) {
		ret = -ENOMEM;
		goto out;
	}
	atomic_set(&producing, nr_workers);
	atomic_set(&running, nr_workers);
	for (i = 0; i < nr_workers; i++) {
		struct worker *w = &workers[i];

		w->index = i;
		w->call.w = w;
		init_llist_head(&w->inbox);
		prandom_seed_state(&w->rnd, (u64)seed << 16 | i);
		timer_setup(&w->timer, timer_fn, 0);
		hrtimer_setup(&w->hrtimer, hrtimer_fn, CLOCK_MONOTONIC, HRTIMER_MODE_REL_SOFT);
		INIT_WORK(&w->bh_work, bh_work_fn);
		init_completion(&w->done);
		w->task = kthread_create(worker_fn, w, "pcpbuddy_stress/%u", i);
		if (IS_ERR(w->task)) {
			ret = PTR_ERR(w->task);
			pr_err("pcpbuddy_stress: FAIL kthread_create: %d\n", ret);
			while (i--)
				kthread_stop_put(workers[i].task);
			goto out;
		}
		get_task_struct(w->task);
	}
	pr_info("pcpbuddy_stress: %u threads, %lu ops, seed %u, pool of %llu pages\n", nr_workers,
		ops, seed, pool_info.nr_pages);
	for (i = 0; i < nr_workers; i++)
		wake_up_process(workers[i].task);
	/* Progress every 10 s; a run that stops moving for a minute is reported (it may hang). */
	while (!wait_for_completion_timeout(&all_done, 10 * HZ)) {
		u64 now = atomic64_read(&ops_done);

		pr_info("pcpbuddy_stress: %llu ops, %d threads running\n", now,
			atomic_read(&running));
		if (now != last_ops) {
			last_ops = now;
			last_progress = jiffies;
		} else if (time_after(jiffies, last_progress + 60 * HZ)) {
			check(0, "no progress for 60 s at %llu ops; the threads:\n", now);
			for (i = 0; i < nr_workers; i++)
				sched_show_task(workers[i].task);
			last_progress = jiffies;
		}
	}
	for (i = 0; i < nr_workers; i++) {
		struct worker *w = &workers[i];
		unsigned int j;

		kthread_stop_put(w->task);
		timer_shutdown_sync(&w->timer);
		hrtimer_cancel(&w->hrtimer);
		cancel_work_sync(&w->bh_work);
		for (j = 0; j < sizeof(w->n) / sizeof(u64); j++)
			((u64 *)total)[j] += ((u64 *)&w->n)[j];
	}
	report(total, div_u64(ktime_get_ns() - start, NSEC_PER_MSEC));
	check(bitmap_empty(handed_out, span_pages), "%u pages still marked handed out\n",
	      bitmap_weight(handed_out, span_pages));
	ret = pcpbuddy_get_info(&pool_info);
	check(ret == 0 && pool_info.outstanding_pages == 0,
	      "get_info at the end: %d, %llu pages outstanding\n", ret,
	      pool_info.outstanding_pages);
	ret = atomic_read(&errors) ? -EINVAL : 0;
	if (ret)
		pr_err("pcpbuddy_stress: FAIL %d errors\n", atomic_read(&errors));
	else
		pr_info("pcpbuddy_stress: ok\n");
out:
	kvfree(workers);
	kfree(total);
	bitmap_free(handed_out);
	return ret;
}

static void __exit pcpbuddy_stress_exit(void)
{
}

module_init(pcpbuddy_stress_init);
module_exit(pcpbuddy_stress_exit);
MODULE_DESCRIPTION("pcpbuddy in-kernel API stress test (selftest)");
MODULE_LICENSE("GPL");
