// SPDX-License-Identifier: GPL-2.0
/*
 * pcpbuddy_consumer: an in-kernel user of pcpbuddy's exported API, loaded by
 * the selftests (selftests/pcpbuddy/test_consumer.sh). What it checks depends
 * on test=:
 *
 *  all (default):
 *   1. pcpbuddy_get_info(), from process and from hard interrupt context;
 *   2. one kthread per online CPU, together, for @rounds rounds: each allocates
 *      @batch runs (orders 0..2, some folios, __GFP_ZERO every other round) in
 *      one calling context and frees the previous worker's runs in another.
 *      The contexts cycle through process context, interrupts disabled,
 *      bottom halves disabled, soft interrupt (a BH work item) and hard
 *      interrupt (an IPI, run on another CPU). Every page handed out is
 *      marked in a bitmap (a page handed out twice is caught at once) and
 *      stamped over its extent (checked before it is freed);
 *   3. folios: order, size, address, reference count and the compound head of
 *      every tail, against a folio from folio_alloc() of the same order, over
 *      many cycles; a folio of the pageblock order comes back without being
 *      prepared again (debugfs counts it);
 *   4. reference counts: a page is handed out with 2 (the user's and the
 *      pool's); a free with an extra reference is refused (-EBUSY) and works
 *      once it is dropped; a stray put_page() of the user's reference is
 *      harmless;
 *   5. misuse, single-threaded: a foreign page, a wrong order, a folio freed as
 *      pages, a tail page, a double free, NULL, a too-large order, each
 *      refused without harm;
 *   6. nothing is left outstanding.
 *  split: the pool must be one pageblock: a folio of the pageblock order is
 *   freed, then an order-0 allocation must split it (debugfs counts the undo).
 *  leak: keeps one page until it is unloaded and does not free it then (the
 *   test of pcpbuddy's unload that withholds blocks still in use).
 *
 * It fails to load (-EINVAL, with "pcpbuddy_consumer: FAIL ..." in dmesg) if
 * anything is wrong, and says "pcpbuddy_consumer: ok" otherwise.
 */
#include <linux/bitmap.h>
#include <linux/completion.h>
#include <linux/cpumask.h>
#include <linux/gfp.h>
#include <linux/highmem.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pcpbuddy.h>
#include <linux/poison.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/vmalloc.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

static unsigned int rounds = 40;
module_param(rounds, uint, 0444);
static unsigned int batch = 16;
module_param(batch, uint, 0444);
static char *test = "all";
module_param(test, charp, 0444);

#define MAX_BATCH	64

static atomic_t errors;

#define check(cond, ...) do {						\
	if (!(cond)) {							\
		pr_err("pcpbuddy_consumer: FAIL " __VA_ARGS__);		\
		atomic_inc(&errors);					\
	}								\
} while (0)

/* ------------------------------------------------------------ calling contexts */

enum ctx { CTX_TASK, CTX_IRQS_OFF, CTX_BH_OFF, CTX_SOFTIRQ, CTX_HARDIRQ, NR_CTX };

static const char *const ctx_name[NR_CTX] = {
	"process", "irqs-off", "bh-off", "softirq", "hardirq",
};

struct bh_call {
	struct work_struct work;
	void (*fn)(void *);
	void *data;
};

static void bh_fn(struct work_struct *work)
{
	struct bh_call *call = container_of(work, struct bh_call, work);

	call->fn(call->data);
}

/*
 * Runs @fn(@data) in context @ctx: here (with interrupts or bottom halves
 * disabled for the duration), in soft interrupt context on this CPU, or in
 * hard interrupt context on @other (an IPI). Process context; waits.
 */
static void run_in(enum ctx ctx, unsigned int other, void (*fn)(void *), void *data)
{
	unsigned long flags;
	struct bh_call call;

	switch (ctx) {
	case CTX_TASK:
		fn(data);
		break;
	case CTX_IRQS_OFF:
		local_irq_save(flags);
		fn(data);
		local_irq_restore(flags);
		break;
	case CTX_BH_OFF:
		local_bh_disable();
		fn(data);
		local_bh_enable();
		break;
	case CTX_SOFTIRQ:
		call.fn = fn;
		call.data = data;
		INIT_WORK_ONSTACK(&call.work, bh_fn);
		queue_work_on(raw_smp_processor_id(), system_bh_wq, &call.work);
		flush_work(&call.work);
		destroy_work_on_stack(&call.work);
		break;
	case CTX_HARDIRQ:
		smp_call_function_single(other, fn, data, 1);
		break;
	default:
		break;
	}
}

/* ------------------------------------------------------------ marks and stamps */

/* One bit per page of the pool's span (pfn - base): set while handed out. */
static unsigned long *handed_out;
static unsigned long span_base, span_pages;

/* Marks 2^order pages handed out; a page already marked was handed out twice. */
static void mark(struct page *page, unsigned int order, bool out)
{
	unsigned long pfn = page_to_pfn(page), i;

	for (i = 0; i < (1UL << order); i++) {
		unsigned long bit = pfn + i - span_base;

		if (bit >= span_pages) {
			check(0, "pfn %#lx outside the span seen so far\n", pfn + i);
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

static unsigned long stamp_of(struct page *page, unsigned long i, unsigned long gen)
{
	return (page_to_pfn(page) + i) * 0x9e3779b97f4a7c15UL ^ gen;
}

/* Writes (or checks) a stamp at both ends of every page of a run. */
static void stamp(struct page *page, unsigned int order, unsigned long gen, bool verify)
{
	unsigned long i, last = PAGE_SIZE / sizeof(long) - 1;

	for (i = 0; i < (1UL << order); i++) {
		unsigned long *mem = kmap_local_page(page + i);

		if (verify)
			check(mem[0] == stamp_of(page, i, gen) && mem[last] == ~stamp_of(page, i, gen),
			      "stamp of pfn %#lx overwritten: the page was handed out twice\n",
			      page_to_pfn(page) + i);
		else {
			mem[0] = stamp_of(page, i, gen);
			mem[last] = ~stamp_of(page, i, gen);
		}
		kunmap_local(mem);
	}
}

/* ------------------------------------------------------------ the workers */

struct run {
	struct page *page;
	unsigned int order;
	bool folio;
};

struct ctx_call {
	struct run runs[MAX_BATCH];
	unsigned int n;
	gfp_t gfp;
	int ret;
	struct pcpbuddy_info info;
	int info_ret;
};

/* Allocates call->n runs (orders and kinds preset); in any context but NMI. */
static void ctx_alloc(void *data)
{
	struct ctx_call *call = data;
	unsigned int i;

	for (i = 0; i < call->n; i++) {
		struct run *r = &call->runs[i];

		if (r->folio) {
			struct folio *folio = pcpbuddy_alloc_folio(call->gfp, r->order);

			r->page = folio ? &folio->page : NULL;
		} else {
			r->page = pcpbuddy_alloc_pages(call->gfp, r->order);
		}
	}
	call->info_ret = pcpbuddy_get_info(&call->info);
}

static void ctx_free(void *data)
{
	struct ctx_call *call = data;
	unsigned int i;

	call->ret = 0;
	for (i = 0; i < call->n; i++) {
		struct run *r = &call->runs[i];
		int ret;

		if (!r->page)
			continue;
		ret = r->folio ? pcpbuddy_free_folio(page_folio(r->page))
			       : pcpbuddy_free_pages(r->page, r->order);
		if (ret)
			call->ret = ret;
	}
}

struct worker {
	unsigned int index, cpu, other;
	struct ctx_call call;
};

static struct worker *workers;
static unsigned int nr_workers;
static atomic_t running;
static DECLARE_COMPLETION(all_done);

/* A barrier for the workers: the last to arrive starts the next phase. */
static atomic_t arrived;
static unsigned int phase;
static DECLARE_WAIT_QUEUE_HEAD(phase_wq);

static void barrier_wait(void)
{
	unsigned int my_phase = READ_ONCE(phase);

	if (atomic_inc_return(&arrived) == nr_workers) {
		atomic_set(&arrived, 0);
		WRITE_ONCE(phase, my_phase + 1);
		wake_up_all(&phase_wq);
	} else {
		wait_event(phase_wq, READ_ONCE(phase) != my_phase);
	}
}

static int worker_fn(void *data)
{
	struct worker *w = data;
	struct worker *prev = &workers[(w->index + nr_workers - 1) % nr_workers];

	for (unsigned int r = 0; r < rounds; r++) {
		enum ctx alloc_ctx = (r + w->index) % NR_CTX;
		enum ctx free_ctx = (r + w->index + 2) % NR_CTX;
		unsigned int i;

		w->call.n = batch;
		w->call.gfp = GFP_ATOMIC | (r & 1 ? __GFP_ZERO : 0);
		for (i = 0; i < batch; i++) {
			w->call.runs[i].order = (r + i) % 3;
			w->call.runs[i].folio = (r + i) % 4 == 1;
		}
		run_in(alloc_ctx, w->other, ctx_alloc, &w->call);
		check(w->call.info_ret == 0, "get_info in %s context: %d\n",
		      ctx_name[alloc_ctx], w->call.info_ret);
		for (i = 0; i < w->call.n; i++) {
			struct run *run = &w->call.runs[i];

			check(run->page, "cpu %u: %s alloc of order %u failed\n", w->cpu,
			      ctx_name[alloc_ctx], run->order);
			if (!run->page)
				continue;
			check(page_ref_count(run->page) == 2, "refcount %d, want 2\n",
			      page_ref_count(run->page));
			if (run->folio && run->order)
				check(folio_order(page_folio(run->page)) == run->order,
				      "folio order %u, want %u\n",
				      folio_order(page_folio(run->page)), run->order);
			if (w->call.gfp & __GFP_ZERO) {
				void *mem = page_address(run->page);

				check(!memchr_inv(mem, 0, PAGE_SIZE << run->order),
				      "__GFP_ZERO run not zeroed\n");
			}
			mark(run->page, run->order, true);
			stamp(run->page, run->order, r, false);
		}
		barrier_wait();
		/* Free the previous worker's runs, mostly remote frees, in another context. */
		for (i = 0; i < prev->call.n; i++) {
			struct run *run = &prev->call.runs[i];

			if (!run->page)
				continue;
			stamp(run->page, run->order, r, true);
			mark(run->page, run->order, false);
		}
		/* Only this worker touches prev->call until the next barrier. */
		run_in(free_ctx, w->other, ctx_free, &prev->call);
		check(prev->call.ret == 0, "free in %s context: %d\n", ctx_name[free_ctx],
		      prev->call.ret);
		barrier_wait();
	}
	if (atomic_dec_and_test(&running))
		complete(&all_done);
	return 0;
}

/* Sizes the handed-out bitmap from the pool's pages seen in a first allocation pass. */
static int span_init(void)
{
	struct pcpbuddy_info info;
	struct page **pages;
	unsigned long n = 0, lo = ULONG_MAX, hi = 0, i;
	int ret = pcpbuddy_get_info(&info);

	if (ret)
		return ret;
	/* The whole pool once, to learn its pfn span (blocks may be anywhere). */
	pages = vmalloc_array(info.nr_pages >> info.block_order, sizeof(*pages));
	if (!pages)
		return -ENOMEM;
	while (n < (info.nr_pages >> info.block_order) &&
	       (pages[n] = pcpbuddy_alloc_pages(GFP_KERNEL, info.block_order))) {
		lo = min(lo, page_to_pfn(pages[n]));
		hi = max(hi, page_to_pfn(pages[n]) + (1UL << info.block_order));
		n++;
	}
	for (i = 0; i < n; i++)
		check(pcpbuddy_free_pages(pages[i], info.block_order) == 0, "span free refused\n");
	vfree(pages);
	if (n != info.nr_pages >> info.block_order) {
		pr_err("pcpbuddy_consumer: FAIL the whole pool: %lu of %llu blocks\n", n,
		       info.nr_pages >> info.block_order);
		return -EINVAL;
	}
	span_base = lo;
	span_pages = hi - lo;
	handed_out = bitmap_zalloc(span_pages, GFP_KERNEL);
	return handed_out ? 0 : -ENOMEM;
}

static int run_workers(void)
{
	unsigned int cpu, i = 0;

	cpus_read_lock();
	nr_workers = num_online_cpus();
	workers = kcalloc(nr_workers, sizeof(*workers), GFP_KERNEL);
	if (!workers) {
		cpus_read_unlock();
		return -ENOMEM;
	}
	atomic_set(&running, nr_workers);
	for_each_online_cpu(cpu) {
		workers[i].index = i;
		workers[i].cpu = cpu;
		workers[i].other = cpumask_next_wrap(cpu, cpu_online_mask);
		i++;
	}
	for (i = 0; i < nr_workers; i++) {
		struct task_struct *t = kthread_run_on_cpu(worker_fn, &workers[i], workers[i].cpu,
							   "pcpbuddy_consumer/%u");
		if (IS_ERR(t)) {
			/* Cannot happen at this size; the others would wait for ever. */
			pr_err("pcpbuddy_consumer: FAIL kthread_run_on_cpu: %ld\n", PTR_ERR(t));
			cpus_read_unlock();
			return PTR_ERR(t);
		}
	}
	cpus_read_unlock();
	wait_for_completion(&all_done);
	return 0;
}

/* ------------------------------------------------------------ folios */

/*
 * The compound state of @folio, a pool folio of @order: what folio_alloc() gives,
 * and the same as @ref (a folio from folio_alloc() of that order) if there is one.
 */
static void check_folio(struct folio *folio, unsigned int order, struct folio *ref)
{
	unsigned long i, nr = 1UL << order;

	check(folio_order(folio) == order, "folio order %u, want %u\n", folio_order(folio), order);
	check(folio_nr_pages(folio) == nr, "folio nr_pages %lu\n", folio_nr_pages(folio));
	check(folio_size(folio) == PAGE_SIZE << order, "folio size %zu\n", folio_size(folio));
	check(folio_address(folio) == page_address(&folio->page), "folio address\n");
	check(folio_test_large(folio), "order-%u folio not large\n", order);
	check(folio_ref_count(folio) == 2, "folio refcount %d, want 2\n", folio_ref_count(folio));
	check(folio_large_mapcount(folio) == 0, "large mapcount %d\n", folio_large_mapcount(folio));
	check(folio_entire_mapcount(folio) == 0, "entire mapcount %d\n",
	      folio_entire_mapcount(folio));
	check(atomic_read(&folio->_pincount) == 0, "pincount\n");
	if (order > 1)
		check(list_empty(&folio->_deferred_list), "folio on a deferred list\n");
	if (ref) {
		check(folio_order(ref) == order, "folio_alloc() order\n");
		check((folio->_flags_1 & 0xff) == (ref->_flags_1 & 0xff),
		      "second page's order byte %#lx, folio_alloc() %#lx\n", folio->_flags_1 & 0xff,
		      ref->_flags_1 & 0xff);
		check(folio_test_large_rmappable(folio) == folio_test_large_rmappable(ref),
		      "large_rmappable %d, folio_alloc() %d\n", folio_test_large_rmappable(folio),
		      folio_test_large_rmappable(ref));
		check(!memcmp(&folio->_large_mapcount, &ref->_large_mapcount,
			      sizeof(folio->_large_mapcount)), "large mapcount differs\n");
	}
	for (i = 1; i < nr; i++) {
		struct page *tail = folio_page(folio, i);

		check(PageTail(tail) && compound_head(tail) == &folio->page,
		      "tail %lu has compound head %p, want %p\n", i, compound_head(tail),
		      &folio->page);
		check(page_folio(tail) == folio, "tail %lu folio\n", i);
		check(page_ref_count(tail) == 0, "tail %lu refcount %d\n", i, page_ref_count(tail));
		if (i > 2)
			check(tail->mapping == TAIL_MAPPING, "tail %lu mapping %p\n", i,
			      tail->mapping);
	}
}

static void check_folios(void)
{
	unsigned int orders[] = { 1, 2, 3, pageblock_order };
	unsigned int o, cycle;

	for (o = 0; o < ARRAY_SIZE(orders); o++) {
		unsigned int order = orders[o];
		struct folio *ref = folio_alloc(GFP_KERNEL | __GFP_NOWARN, order);

		for (cycle = 0; cycle < 50; cycle++) {
			struct folio *folio = pcpbuddy_alloc_folio(GFP_KERNEL, order);

			check(folio, "folio of order %u failed\n", order);
			if (!folio)
				break;
			if (cycle % 10 == 0)
				check_folio(folio, order, ref);
			check(pcpbuddy_free_pages(&folio->page, order) == -EINVAL,
			      "folio freed as pages\n");
			check(pcpbuddy_free_folio(folio) == 0, "folio free refused\n");
		}
		if (ref)
			folio_put(ref);
	}
	/* Pages freed as a folio are refused, and stay allocated. */
	{
		struct page *page = pcpbuddy_alloc_pages(GFP_KERNEL, 2);

		if (page) {
			check(pcpbuddy_free_folio(page_folio(page)) == -EINVAL,
			      "pages freed as a folio\n");
			check(pcpbuddy_free_pages(page, 2) == 0, "pages refused after misuse\n");
		}
	}
}

/* An order-0 allocation from a pool of one block must undo a cached folio. */
static int check_split(void)
{
	struct folio *folio = pcpbuddy_alloc_folio(GFP_KERNEL, pageblock_order);
	struct page *page;

	if (!folio) {
		pr_err("pcpbuddy_consumer: FAIL no folio of the pageblock order\n");
		return -EINVAL;
	}
	check(pcpbuddy_free_folio(folio) == 0, "folio free refused\n");
	page = pcpbuddy_alloc_pages(GFP_KERNEL, 0);
	check(page, "order-0 allocation after the folio failed\n");
	if (page) {
		check(!PageTail(page) && !PageHead(page), "order-0 page still compound\n");
		check(pcpbuddy_free_pages(page, 0) == 0, "order-0 free refused\n");
	}
	folio = pcpbuddy_alloc_folio(GFP_KERNEL, pageblock_order);
	check(folio, "folio after the split failed\n");
	if (folio) {
		check(folio_order(folio) == pageblock_order, "folio order after split\n");
		check(pcpbuddy_free_folio(folio) == 0, "folio free refused\n");
	}
	return 0;
}

/* ------------------------------------------------------------ references and misuse */

static void check_references(void)
{
	struct page *page = pcpbuddy_alloc_pages(GFP_KERNEL, 0);

	check(page, "order-0 alloc failed\n");
	if (!page)
		return;
	check(page_ref_count(page) == 2, "refcount %d, want 2\n", page_ref_count(page));
	get_page(page);
	check(pcpbuddy_free_pages(page, 0) == -EBUSY, "free with an extra reference accepted\n");
	put_page(page);
	/* A stray put of the user's reference: the pool's keeps the page out of the kernel's. */
	put_page(page);
	check(page_ref_count(page) == 1, "refcount after put %d\n", page_ref_count(page));
	check(pcpbuddy_free_pages(page, 0) == 0, "free after a stray put refused\n");
}

static void check_misuse(void)
{
	struct page *foreign = alloc_page(GFP_KERNEL), *p;

	if (foreign) {
		check(pcpbuddy_free_pages(foreign, 0) == -EINVAL, "foreign page accepted\n");
		check(pcpbuddy_free_folio(page_folio(foreign)) == -EINVAL,
		      "foreign folio accepted\n");
		__free_page(foreign);
	}
	p = pcpbuddy_alloc_pages(0, 1);
	check(p, "order-1 alloc failed\n");
	if (p) {
		check(pcpbuddy_free_pages(p, 0) == -EINVAL, "wrong (smaller) order accepted\n");
		check(pcpbuddy_free_pages(p, 2) == -EINVAL, "wrong (larger) order accepted\n");
		check(pcpbuddy_free_pages(p + 1, 0) == -EINVAL, "tail page accepted\n");
		check(pcpbuddy_free_pages(p, 1) == 0, "right free refused\n");
		/* Nothing else allocates now, so the run is still free: a true double free. */
		check(pcpbuddy_free_pages(p, 1) == -EINVAL, "double free accepted\n");
	}
	check(pcpbuddy_free_pages(NULL, 0) == -EINVAL, "NULL accepted\n");
	check(pcpbuddy_free_pages((struct page *)((unsigned long)p + 1), 0) == -EINVAL,
	      "misaligned struct page pointer accepted\n");
	check(!pcpbuddy_alloc_pages(0, 64), "order 64 allocated\n");
	check(!pcpbuddy_alloc_folio(0, 64), "folio of order 64 allocated\n");
	check(pcpbuddy_alloc_pages_bulk(0, 0, 4, NULL) == 0, "bulk alloc into NULL\n");
	check(pcpbuddy_get_info(NULL) == -EINVAL, "get_info(NULL) accepted\n");
}

static void get_info_in_irq(void *data)
{
	struct ctx_call *call = data;

	call->info_ret = pcpbuddy_get_info(&call->info);
}

static struct page *leaked;

static int __init pcpbuddy_consumer_init(void)
{
	struct pcpbuddy_info info = {};
	struct ctx_call *call;
	int ret;

	if (batch > MAX_BATCH)
		return -EINVAL;
	ret = pcpbuddy_get_info(&info);
	if (ret || info.abi_version != PCPBUDDY_ABI_VERSION ||
	    info.block_order != pageblock_order || info.page_size != PAGE_SIZE ||
	    info.nr_cpu_ids != nr_cpu_ids) {
		pr_err("pcpbuddy_consumer: FAIL get_info = %d: abi %u order %u page %u cpus %u\n",
		       ret, info.abi_version, info.block_order, info.page_size, info.nr_cpu_ids);
		return -EINVAL;
	}
	if (!strcmp(test, "leak")) {
		leaked = pcpbuddy_alloc_pages(0, 0);
		pr_info("pcpbuddy_consumer: leaking pfn %#lx on purpose\n",
			leaked ? page_to_pfn(leaked) : 0);
		return leaked ? 0 : -ENOMEM;
	}
	if (!strcmp(test, "split")) {
		ret = check_split();
	} else if (!strcmp(test, "all")) {
		call = kzalloc(sizeof(*call), GFP_KERNEL);
		if (!call)
			return -ENOMEM;
		smp_call_function_single(cpumask_any(cpu_online_mask), get_info_in_irq, call, 1);
		check(call->info_ret == 0 && call->info.nr_pages == info.nr_pages,
		      "get_info from hard interrupt context: %d\n", call->info_ret);
		kfree(call);
		ret = span_init();
		if (!ret)
			ret = run_workers();
		check_folios();
		check_references();
		check_misuse();
	} else {
		return -EINVAL;
	}
	pcpbuddy_get_info(&info);
	check(info.outstanding_pages == 0, "%llu pages outstanding at the end\n",
	      info.outstanding_pages);
	if (!ret && atomic_read(&errors))
		ret = -EINVAL;
	if (!ret)
		pr_info("pcpbuddy_consumer: ok: test %s, %u threads x %u rounds x %u runs in %d contexts\n",
			test, nr_workers, rounds, batch, NR_CTX);
	kfree(workers);
	bitmap_free(handed_out);
	return ret;
}

static void __exit pcpbuddy_consumer_exit(void)
{
	/* With test=leak the page stays allocated: pcpbuddy must cope at its unload. */
}

module_init(pcpbuddy_consumer_init);
module_exit(pcpbuddy_consumer_exit);
MODULE_DESCRIPTION("pcpbuddy in-kernel API consumer (selftest)");
MODULE_LICENSE("GPL");
