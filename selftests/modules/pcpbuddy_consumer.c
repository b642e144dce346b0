// SPDX-License-Identifier: GPL-2.0
/*
 * pcpbuddy_consumer: an in-kernel user of pcpbuddy's exported API, loaded by
 * the selftests (selftests/pcpbuddy/test_consumer.sh). At init it:
 *
 *  1. checks pcpbuddy_get_info();
 *  2. runs one kthread per online CPU, together, for @rounds rounds: each
 *     allocates @batch runs (bulk API, orders 0..2, __GFP_ZERO every other
 *     round), checks zeroing, writes a pattern into every page, then frees
 *     the runs of the *next* CPU's thread (remote frees) after checking that
 *     thread's pattern;
 *  3. checks misuse, single-threaded: a foreign page, a wrong order, a double
 *     free, NULL, a too-large order, each refused without harm; and that a call
 *     from hard interrupt context is refused (not supported) without losing the
 *     page;
 *  4. checks that nothing is left outstanding.
 *
 * It fails to load (-EINVAL, with "pcpbuddy_consumer: FAIL ..." in dmesg) if
 * anything is wrong. With leak=1 it keeps one page until it is unloaded and
 * does not free it then: the test of pcpbuddy's unload that withholds blocks
 * still in use.
 */
#include <linux/completion.h>
#include <linux/cpumask.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pcpbuddy.h>
#include <linux/slab.h>
#include <linux/wait.h>

static unsigned int rounds = 20;
module_param(rounds, uint, 0444);
static unsigned int batch = 32;
module_param(batch, uint, 0444);
static bool leak;
module_param(leak, bool, 0444);

struct worker {
	unsigned int index;
	struct page **pages;
	unsigned int order;	/* of the runs in pages[] this round */
	unsigned long nr;	/* runs allocated this round */
};

static struct worker *workers;
static unsigned int nr_workers;
static atomic_t errors;
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

#define check(cond, ...) do {						\
	if (!(cond)) {							\
		pr_err("pcpbuddy_consumer: FAIL " __VA_ARGS__);		\
		atomic_inc(&errors);					\
	}								\
} while (0)

static unsigned long pattern(struct page *page, unsigned int i)
{
	return page_to_pfn(page) * 31 + i;
}

static int worker_fn(void *data)
{
	struct worker *w = data;
	struct worker *next = &workers[(w->index + 1) % nr_workers];

	for (unsigned int r = 0; r < rounds; r++) {
		gfp_t gfp = r & 1 ? __GFP_ZERO : 0;
		unsigned int pages_per_run;

		w->order = r % 3;
		pages_per_run = 1U << w->order;
		w->nr = pcpbuddy_alloc_pages_bulk(gfp, w->order, batch, w->pages);
		check(w->nr == batch, "cpu %d: bulk alloc gave %lu of %u\n",
		      smp_processor_id(), w->nr, batch);
		for (unsigned long i = 0; i < w->nr; i++) {
			unsigned long *mem = page_address(w->pages[i]);

			check(page_ref_count(w->pages[i]) == 1, "refcount %d\n",
			      page_ref_count(w->pages[i]));
			if (gfp & __GFP_ZERO)
				check(!memchr_inv(mem, 0, PAGE_SIZE << w->order),
				      "__GFP_ZERO run not zeroed\n");
			for (unsigned int p = 0; p < pages_per_run; p++)
				mem[p * PAGE_SIZE / sizeof(long)] = pattern(w->pages[i], p);
		}
		barrier_wait();
		/* Free the next worker's runs: most blocks are owned by another CPU. */
		for (unsigned long i = 0; i < next->nr; i++) {
			unsigned long *mem = page_address(next->pages[i]);

			for (unsigned int p = 0; p < (1U << next->order); p++)
				check(mem[p * PAGE_SIZE / sizeof(long)] == pattern(next->pages[i], p),
				      "pattern overwritten: a page was handed out twice\n");
		}
		check(pcpbuddy_free_pages_bulk(next->pages, next->nr, next->order) == 0,
		      "bulk free refused\n");
		barrier_wait();
	}
	if (atomic_dec_and_test(&running))
		complete(&all_done);
	return 0;
}

static void check_misuse(void)
{
	struct page *foreign = alloc_page(GFP_KERNEL), *p;

	if (foreign) {
		check(pcpbuddy_free_pages(foreign, 0) == -EINVAL, "foreign page accepted\n");
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
	check(!pcpbuddy_alloc_pages(0, 64), "order 64 allocated\n");
	check(pcpbuddy_alloc_pages_bulk(0, 0, 4, NULL) == 0, "bulk alloc into NULL\n");
}

struct irq_call {
	struct page *page;
	int free_ret;
	struct page *alloc_ret;
};

/* Runs in hard interrupt context (an IPI to another CPU). */
static void call_from_irq(void *data)
{
	struct irq_call *c = data;

	c->free_ret = pcpbuddy_free_pages(c->page, 0);
	c->alloc_ret = pcpbuddy_alloc_pages(0, 0);
}

/* Interrupt context is not supported: refused, and the page stays allocated. */
static void check_irq_context(void)
{
	struct irq_call c = { .page = pcpbuddy_alloc_pages(0, 0) };
	int cpu = cpumask_any_but(cpu_online_mask, get_cpu());

	put_cpu();
	if (!c.page || cpu >= nr_cpu_ids)
		return;
	smp_call_function_single(cpu, call_from_irq, &c, 1);
	check(c.free_ret == -EINVAL, "free from hard IRQ context returned %d\n", c.free_ret);
	check(!c.alloc_ret, "alloc from hard IRQ context succeeded\n");
	check(pcpbuddy_free_pages(c.page, 0) == 0, "page refused in IRQ context was lost\n");
}

static struct page *leaked;

static int __init pcpbuddy_consumer_init(void)
{
	struct pcpbuddy_info info = {};
	unsigned int cpu, i = 0;
	int ret;

	ret = pcpbuddy_get_info(NULL);
	if (ret != -EINVAL) {
		pr_err("pcpbuddy_consumer: FAIL get_info(NULL) = %d, want -EINVAL\n", ret);
		return -EINVAL;
	}
	ret = pcpbuddy_get_info(&info);
	if (ret || info.abi_version != PCPBUDDY_ABI_VERSION ||
	    info.block_order != pageblock_order || info.page_size != PAGE_SIZE ||
	    info.nr_cpu_ids != nr_cpu_ids) {
		pr_err("pcpbuddy_consumer: FAIL get_info = %d: abi %u order %u page %u cpus %u\n",
		       ret, info.abi_version, info.block_order, info.page_size, info.nr_cpu_ids);
		return -EINVAL;
	}
	if (leak) {
		leaked = pcpbuddy_alloc_pages(0, 0);
		pr_info("pcpbuddy_consumer: leaking pfn %#lx on purpose\n",
			leaked ? page_to_pfn(leaked) : 0);
		return leaked ? 0 : -ENOMEM;
	}

	cpus_read_lock();
	nr_workers = num_online_cpus();
	workers = kcalloc(nr_workers, sizeof(*workers), GFP_KERNEL);
	for (i = 0; workers && i < nr_workers; i++) {
		workers[i].index = i;
		workers[i].pages = kcalloc(batch, sizeof(struct page *), GFP_KERNEL);
		if (!workers[i].pages)
			break;
	}
	if (!workers || i < nr_workers) {
		cpus_read_unlock();
		ret = -ENOMEM;
		goto out;
	}
	atomic_set(&running, nr_workers);
	i = 0;
	for_each_online_cpu(cpu) {
		struct task_struct *t = kthread_run_on_cpu(worker_fn, &workers[i], cpu,
							   "pcpbuddy_consumer/%u");
		if (IS_ERR(t)) {
			/* Cannot happen at this size; the others would wait for ever. */
			pr_err("pcpbuddy_consumer: FAIL kthread_run_on_cpu: %ld\n", PTR_ERR(t));
			cpus_read_unlock();
			return PTR_ERR(t);
		}
		i++;
	}
	cpus_read_unlock();
	wait_for_completion(&all_done);

	check_misuse();
	check_irq_context();
	pcpbuddy_get_info(&info);
	check(info.outstanding_pages == 0, "%llu pages outstanding at the end\n",
	      info.outstanding_pages);
	ret = atomic_read(&errors) ? -EINVAL : 0;
	if (!ret)
		pr_info("pcpbuddy_consumer: ok: %u threads x %u rounds x %u runs, abi %u, pool %llu bytes\n",
			nr_workers, rounds, batch, info.abi_version, info.size_bytes);
out:
	for (i = 0; workers && i < nr_workers; i++)
		kfree(workers[i].pages);
	kfree(workers);
	return ret;
}

static void __exit pcpbuddy_consumer_exit(void)
{
	/* With leak=1 the page stays allocated: pcpbuddy must cope at its unload. */
}

module_init(pcpbuddy_consumer_init);
module_exit(pcpbuddy_consumer_exit);
MODULE_DESCRIPTION("pcpbuddy in-kernel API consumer (selftest)");
MODULE_LICENSE("GPL");
