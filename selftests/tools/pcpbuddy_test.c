// SPDX-License-Identifier: GPL-2.0
/*
 * pcpbuddy_test: drives /dev/pcpbuddy from user space for the selftests. It is
 * built against include/uapi/linux/pcpbuddy.h, so the ABI is checked from C.
 *
 * Each subcommand exits 0 on success; on failure one line on stderr says what
 * was wrong. Numbers it measures go to stdout as "key value" lines.
 *
 *   info                  PCPBUDDY_IOC_INFO answers with sane values
 *   enotty | efault       unknown/mis-sized commands, bad pointers
 *   orders                alloc + fill + check + free every order, on every online CPU
 *   badinput              every invalid field gives EINVAL and changes nothing
 *   exhaust CPU ORDER     allocate on CPU until ENOMEM; print "allocated N"; free all
 *   warm CPU N            allocate N order-0 pages on CPU and free them there (fills its cache)
 *   remote ACPU FCPU N    allocate N order-0 pages on ACPU, free them on FCPU
 *   pfns ACPU FCPU N      as remote, and print "pfn P" for each page (its node: test_numa)
 *   fragment CPU          leave two pages allocated in a block, drain CPU, free one, allocate two
 *   hold N                allocate N order-0 pages, print "held", sleep until killed
 *   stress SECONDS        random orders, random CPUs (including remote frees) until time is up
 *   bench P B ORDER OPS ALLOC_MASK FREE_MASK BATCH
 *                         one PCPBUDDY_IOC_BENCH run (P, B: numbers of the uapi enums); checks
 *                         that the results are well formed and the pool idle and clean after
 *   benchbad              invalid benchmark parameters give EINVAL, EFAULT, EBUSY (peak maps too)
 *   benchmap ORDER OPS ALLOC_MASK
 *                         churn on both pool backends with PCPBUDDY_BENCH_PEAK_MAP: the map
 *                         agrees with its sample; a short buffer is filled and counted; ABI 1's
 *                         command still runs and leaves what follows its structure alone
 *   benchcancel           a long run interrupted by a signal returns EINTR, pool clean after
 *   replayhand ACPU BCPU  PCPBUDDY_IOC_REPLAY of small hand-made traces on every backend, on
 *                         the two CPUs: a cross-CPU free, an allocation never freed, a live set
 *                         above the pool; checks every documented count exactly
 *   replaybad             invalid replays give EINVAL, EFAULT, EBUSY and change nothing
 *   replaycancel          a long replay interrupted by a signal returns EINTR, pool clean after
 *   verify                PCPBUDDY_IOC_VERIFY
 *   drain CPU             PCPBUDDY_IOC_DRAIN (-1: all)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/pcpbuddy.h>

#define DEVICE "/dev/pcpbuddy"

static int fd;
static struct pcpbuddy_info info;

#include <stdarg.h>

static void __attribute__((noreturn, format(printf, 1, 2))) fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("pcpbuddy_test: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static int cpu_online(int cpu)
{
	char path[64], c = '0';
	FILE *f;

	if (cpu == 0)
		return 1;
	snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/online", cpu);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fread(&c, 1, 1, f) != 1)
		c = '0';
	fclose(f);
	return c == '1';
}

static int try_alloc(unsigned int order, int cpu, unsigned int flags, struct pcpbuddy_alloc *a)
{
	memset(a, 0, sizeof(*a));
	a->order = order;
	a->cpu = cpu;
	a->flags = flags;
	return ioctl(fd, PCPBUDDY_IOC_ALLOC, a) ? -errno : 0;
}

static struct pcpbuddy_alloc alloc_or_die(unsigned int order, int cpu, unsigned int flags)
{
	struct pcpbuddy_alloc a;
	int ret = try_alloc(order, cpu, flags, &a);

	if (ret)
		fail("alloc order %u cpu %d: %s", order, cpu, strerror(-ret));
	return a;
}

static int try_free(unsigned int handle, int cpu, unsigned int order, unsigned int flags)
{
	struct pcpbuddy_free f = { .handle = handle, .cpu = cpu, .order = order, .flags = flags };

	return ioctl(fd, PCPBUDDY_IOC_FREE, &f) ? -errno : 0;
}

static void free_or_die(unsigned int handle, int cpu, unsigned int order, unsigned int flags)
{
	int ret = try_free(handle, cpu, order, flags);

	if (ret)
		fail("free handle %u cpu %d order %u: %s", handle, cpu, order, strerror(-ret));
}

static void expect(int got, int want, const char *what)
{
	if (got != want)
		fail("%s: got %d (%s), want %d (%s)", what, got, strerror(-got), want, strerror(-want));
}

static void verify_or_die(void)
{
	if (ioctl(fd, PCPBUDDY_IOC_VERIFY))
		fail("PCPBUDDY_IOC_VERIFY: %s", strerror(errno));
}

static void drain(int cpu)
{
	if (ioctl(fd, PCPBUDDY_IOC_DRAIN, &cpu))
		fail("PCPBUDDY_IOC_DRAIN %d: %s", cpu, strerror(errno));
}

static void refresh_info(void)
{
	if (ioctl(fd, PCPBUDDY_IOC_INFO, &info))
		fail("PCPBUDDY_IOC_INFO: %s", strerror(errno));
}

static int cmd_info(void)
{
	printf("abi_version %u\nblock_order %u\npage_size %u\nnr_cpu_ids %u\nsource %u\nnode %d\n"
	       "size_bytes %llu\nnr_pages %llu\noutstanding_pages %llu\nmetadata_bytes %llu\n",
	       info.abi_version, info.block_order, info.page_size, info.nr_cpu_ids, info.source,
	       info.node, (unsigned long long)info.size_bytes, (unsigned long long)info.nr_pages,
	       (unsigned long long)info.outstanding_pages, (unsigned long long)info.metadata_bytes);
	if (info.abi_version != PCPBUDDY_ABI_VERSION)
		fail("abi_version %u, want %u", info.abi_version, PCPBUDDY_ABI_VERSION);
	if (info.block_order < 1 || info.block_order > 10)
		fail("block_order %u out of range", info.block_order);
	if (info.page_size != (unsigned int)getpagesize())
		fail("page_size is not the system page size");
	if (info.nr_cpu_ids < 1 || info.nr_pages != info.size_bytes / info.page_size)
		fail("nr_cpu_ids or nr_pages wrong");
	return 0;
}

static int cmd_orders(void)
{
	for (int cpu = 0; cpu < (int)info.nr_cpu_ids; cpu++) {
		if (!cpu_online(cpu))
			continue;
		for (unsigned int order = 0; order <= info.block_order; order++) {
			struct pcpbuddy_alloc a = alloc_or_die(order, cpu, PCPBUDDY_ALLOC_FILL);

			if (a.pfn & ((1ULL << order) - 1))
				fail("order %u allocation at pfn %#llx is misaligned", order,
				     (unsigned long long)a.pfn);
			free_or_die(a.handle, cpu, order, PCPBUDDY_FREE_CHECK);
		}
	}
	verify_or_die();
	return 0;
}

static int cmd_badinput(void)
{
	struct pcpbuddy_alloc a, b;
	struct pcpbuddy_policy p, saved;
	int minus2 = -2, big = 4096;

	expect(try_alloc(info.block_order + 1, -1, 0, &a), -EINVAL, "order above block_order");
	expect(try_alloc(~0U, -1, 0, &a), -EINVAL, "order ~0");
	expect(try_alloc(0, -2, 0, &a), -EINVAL, "cpu -2");
	expect(try_alloc(0, 4096, 0, &a), -EINVAL, "cpu 4096");
	expect(try_alloc(0, -1, 0x80, &a), -EINVAL, "unknown alloc flag");
	expect(try_free(12345, -1, 0, 0), -EINVAL, "free of a handle never given");

	a = alloc_or_die(1, -1, PCPBUDDY_ALLOC_FILL);
	expect(try_free(a.handle, -1, 0, 0), -EINVAL, "free with a smaller order");
	expect(try_free(a.handle, -1, 2, 0), -EINVAL, "free with a larger order");
	expect(try_free(a.handle, -1, 1, 0x80), -EINVAL, "unknown free flag");
	expect(try_free(a.handle, 4096, 1, 0), -EINVAL, "free on cpu 4096");
	verify_or_die();
	/* The handle survived all of that: the right free still works, once. */
	free_or_die(a.handle, -1, 1, PCPBUDDY_FREE_CHECK);
	expect(try_free(a.handle, -1, 1, 0), -EINVAL, "second free of a handle");
	/* A freed handle's slot is reused; the old number then names the new pages. */
	b = alloc_or_die(0, -1, 0);
	free_or_die(b.handle, -1, 0, 0);

	if (ioctl(fd, PCPBUDDY_IOC_GET_POLICY, &saved))
		fail("GET_POLICY: %s", strerror(errno));
	p = saved;
	p.batch = 0;
	expect(ioctl(fd, PCPBUDDY_IOC_SET_POLICY, &p) ? -errno : 0, -EINVAL, "policy batch 0");
	p = saved;
	p.ownership = 2;
	expect(ioctl(fd, PCPBUDDY_IOC_SET_POLICY, &p) ? -errno : 0, -EINVAL, "policy ownership 2");
	if (ioctl(fd, PCPBUDDY_IOC_GET_POLICY, &p) || memcmp(&p, &saved, sizeof(p)))
		fail("a refused SET_POLICY changed the policy");
	expect(ioctl(fd, PCPBUDDY_IOC_DRAIN, &minus2) ? -errno : 0, -EINVAL, "drain cpu -2");
	expect(ioctl(fd, PCPBUDDY_IOC_DRAIN, &big) ? -errno : 0, -EINVAL, "drain cpu 4096");
	expect(ioctl(fd, PCPBUDDY_IOC_ALLOC, (void *)16) ? -errno : 0, -EFAULT, "alloc to a bad pointer");
	expect(ioctl(fd, PCPBUDDY_IOC_FREE, (void *)16) ? -errno : 0, -EFAULT, "free from a bad pointer");
	verify_or_die();
	return 0;
}

/* Allocates on cpu until ENOMEM; returns the handles (count in *n). */
static unsigned int *alloc_all(int cpu, unsigned int order, unsigned long *n)
{
	unsigned long cap = (info.nr_pages >> order) + 1, i = 0;
	unsigned int *handles = calloc(cap, sizeof(*handles));
	struct pcpbuddy_alloc a;
	int ret;

	if (!handles)
		fail("out of memory");
	while ((ret = try_alloc(order, cpu, 0, &a)) == 0) {
		if (i == cap)
			fail("allocated more than the pool holds");
		handles[i++] = a.handle;
	}
	expect(ret, -ENOMEM, "allocation past the end of the pool");
	*n = i;
	return handles;
}

static int cmd_exhaust(int cpu, unsigned int order)
{
	unsigned long n;
	unsigned int *handles = alloc_all(cpu, order, &n);

	printf("allocated %lu\n", n);
	refresh_info();
	printf("outstanding %llu\n", (unsigned long long)info.outstanding_pages);
	for (unsigned long i = 0; i < n; i++)
		free_or_die(handles[i], cpu, order, 0);
	free(handles);
	verify_or_die();
	if (n << order != info.nr_pages)
		fail("allocated %lu pages of %llu from cpu %d", n << order,
		     (unsigned long long)info.nr_pages, cpu);
	return 0;
}

static int cmd_warm(int cpu, unsigned long n)
{
	unsigned int *handles = calloc(n, sizeof(*handles));

	for (unsigned long i = 0; i < n; i++)
		handles[i] = alloc_or_die(0, cpu, 0).handle;
	for (unsigned long i = 0; i < n; i++)
		free_or_die(handles[i], cpu, 0, 0);
	free(handles);
	return 0;
}

static int cmd_remote(int acpu, int fcpu, unsigned long n)
{
	unsigned int *handles = calloc(n, sizeof(*handles));

	for (unsigned long i = 0; i < n; i++)
		handles[i] = alloc_or_die(0, acpu, PCPBUDDY_ALLOC_FILL).handle;
	for (unsigned long i = 0; i < n; i++)
		free_or_die(handles[i], fcpu, 0, PCPBUDDY_FREE_CHECK);
	free(handles);
	return 0;
}

static int cmd_pfns(int acpu, int fcpu, unsigned long n)
{
	unsigned int *handles = calloc(n, sizeof(*handles));

	for (unsigned long i = 0; i < n; i++) {
		struct pcpbuddy_alloc a = alloc_or_die(0, acpu, PCPBUDDY_ALLOC_FILL);

		handles[i] = a.handle;
		printf("pfn %llu\n", (unsigned long long)a.pfn);
	}
	for (unsigned long i = 0; i < n; i++)
		free_or_die(handles[i], fcpu, 0, PCPBUDDY_FREE_CHECK);
	free(handles);
	return 0;
}

static int cmd_fragment(int cpu)
{
	struct pcpbuddy_alloc a = alloc_or_die(0, cpu, 0);
	struct pcpbuddy_alloc b = alloc_or_die(0, cpu, 0);

	struct pcpbuddy_alloc c;

	drain(cpu);	/* the block, partly used, becomes a fragment */
	/*
	 * Still partly used (b). The page waits in the CPU's magazine, which the drain emptied,
	 * and the next allocation takes it back from there; the one after it finds the magazine
	 * empty, and its refill recovers the fragment first.
	 */
	free_or_die(a.handle, cpu, 0, 0);
	a = alloc_or_die(0, cpu, 0);
	c = alloc_or_die(0, cpu, 0);
	free_or_die(c.handle, cpu, 0, 0);
	free_or_die(a.handle, cpu, 0, 0);
	free_or_die(b.handle, cpu, 0, 0);
	verify_or_die();
	return 0;
}

static int cmd_hold(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		alloc_or_die(0, -1, 0);
	printf("held\n");
	fflush(stdout);
	for (;;)
		pause();
	return 0;
}

static int cmd_stress(int seconds)
{
	enum { SLOTS = 256 };
	struct { unsigned int handle, order; int live; } slot[SLOTS] = {};
	time_t end = time(NULL) + seconds;
	unsigned long ops = 0, enomem = 0;

	srand(getpid());
	while (time(NULL) < end) {
		for (int k = 0; k < 1000; k++, ops++) {
			int s = rand() % SLOTS, cpu = rand() % (int)info.nr_cpu_ids;

			if (!cpu_online(cpu))
				cpu = -1;
			if (slot[s].live) {
				int ret = try_free(slot[s].handle, cpu, slot[s].order, 0);

				/* The chosen CPU may have gone offline since the check. */
				if (ret == -EINVAL && cpu != -1)
					ret = try_free(slot[s].handle, -1, slot[s].order, 0);
				expect(ret, 0, "stress free");
				slot[s].live = 0;
			} else {
				struct pcpbuddy_alloc a;
				unsigned int order = rand() % 4 ? 0 : rand() % (info.block_order + 1);
				int ret = try_alloc(order, cpu, 0, &a);

				if (ret == -EINVAL && cpu != -1)
					ret = try_alloc(order, -1, 0, &a);
				if (ret == -ENOMEM) {
					enomem++;
					continue;
				}
				expect(ret, 0, "stress alloc");
				slot[s].handle = a.handle;
				slot[s].order = order;
				slot[s].live = 1;
			}
		}
	}
	for (int s = 0; s < SLOTS; s++)
		if (slot[s].live)
			free_or_die(slot[s].handle, -1, slot[s].order, 0);
	printf("ops %lu\nenomem %lu\n", ops, enomem);
	return 0;
}

static int bench(struct pcpbuddy_bench *b)
{
	return ioctl(fd, PCPBUDDY_IOC_BENCH, b) ? -errno : 0;
}

static struct pcpbuddy_bench bench_req(unsigned int p, unsigned int be, unsigned int order,
				       unsigned long long ops, unsigned long long amask,
				       unsigned long long fmask, unsigned int batch)
{
	struct pcpbuddy_bench b;

	memset(&b, 0, sizeof(b));
	b.pattern = p;
	b.backend = be;
	b.order = order;
	b.ops = ops;
	b.alloc_cpus = amask;
	b.free_cpus = fmask;
	b.batch = batch;
	b.seed = 42;
	return b;
}

static int cmd_bench(struct pcpbuddy_bench b)
{
	unsigned long long allocs = 0, frees = 0;
	int ret = bench(&b);

	if (ret)
		fail("bench pattern %u backend %u order %u: %s", b.pattern, b.backend, b.order,
		     strerror(-ret));
	printf("elapsed_ns %llu nr_cpus %u nr_samples %u global_locks %llu frees_remote %llu\n",
	       (unsigned long long)b.elapsed_ns, b.nr_cpus, b.nr_samples,
	       (unsigned long long)b.counters.global_locks,
	       (unsigned long long)b.counters.frees_remote);
	if (b.nr_cpus < 1 || b.nr_cpus > PCPBUDDY_BENCH_MAX_CPUS || b.elapsed_ns == 0)
		fail("nr_cpus %u or elapsed_ns %llu out of range", b.nr_cpus,
		     (unsigned long long)b.elapsed_ns);
	for (unsigned int i = 0; i < b.nr_cpus; i++) {
		struct pcpbuddy_bench_cpu *c = &b.cpus[i];

		printf("cpu %u role %u allocs %llu frees %llu alloc_ns %llu free_ns %llu total_ns %llu failures %llu\n",
		       c->cpu, c->role, (unsigned long long)c->allocs, (unsigned long long)c->frees,
		       (unsigned long long)c->alloc_ns, (unsigned long long)c->free_ns,
		       (unsigned long long)c->total_ns, (unsigned long long)c->failures);
		if (!(b.alloc_cpus & (1ULL << c->cpu)) && !(b.free_cpus & (1ULL << c->cpu)))
			fail("result for cpu %u, which was not asked for", c->cpu);
		if ((c->role & PCPBUDDY_BENCH_ROLE_ALLOC) && b.pattern != PCPBUDDY_BENCH_CHURN &&
		    c->allocs + c->failures < b.ops)
			fail("cpu %u did %llu allocations of %llu", c->cpu,
			     (unsigned long long)c->allocs, (unsigned long long)b.ops);
		if (c->alloc_ns + c->free_ns > c->total_ns && c->total_ns)
			fail("cpu %u: phases longer than the whole", c->cpu);
		allocs += c->allocs;
		frees += c->frees;
	}
	for (unsigned int i = 0; i < b.nr_samples; i++)
		printf("sample %llu free_pages %u free_blocks %u owned %u fragment %u shared %u unusable %u\n",
		       (unsigned long long)b.samples[i].ns, b.samples[i].free_pages,
		       b.samples[i].free_blocks, b.samples[i].owned_blocks,
		       b.samples[i].fragment_blocks, b.samples[i].shared_blocks,
		       b.samples[i].unusable_max_milli);
	if (b.pattern != PCPBUDDY_BENCH_CHURN && allocs != frees)
		fail("%llu allocations but %llu frees", allocs, frees);
	refresh_info();
	if (info.outstanding_pages)
		fail("%llu pages outstanding after the run", (unsigned long long)info.outstanding_pages);
	verify_or_die();
	return 0;
}

/* A churn request with a peak map of len entries at map. */
static struct pcpbuddy_bench map_req(unsigned int be, void *map, unsigned int len)
{
	struct pcpbuddy_bench b = bench_req(PCPBUDDY_BENCH_CHURN, be, 2, 200, 1, 0, 0);

	b.flags = PCPBUDDY_BENCH_PEAK_MAP;
	b.peak_map = (unsigned long)map;
	b.peak_map_len = len;
	return b;
}

static unsigned int pool_blocks(void)
{
	return info.nr_pages >> info.block_order;
}

/* Bad peak map requests: EINVAL for the fields, EFAULT for the memory; never a crash. */
static void benchbad_peak_map(void)
{
	unsigned int n = pool_blocks();
	size_t bytes = ((n * sizeof(struct pcpbuddy_bench_block)) | 4095) + 1;
	struct pcpbuddy_bench_block map[4];
	struct pcpbuddy_bench b;
	void *ro;

	b = map_req(PCPBUDDY_BACKEND_POOL, map, 4);
	b.pattern = PCPBUDDY_BENCH_REPEAT;
	expect(bench(&b), -EINVAL, "peak map on repeat");
	b = map_req(PCPBUDDY_BACKEND_KERNEL, map, 4);
	expect(bench(&b), -EINVAL, "peak map on the kernel backend");
	b = map_req(PCPBUDDY_BACKEND_FLOOR, map, 4);
	expect(bench(&b), -EINVAL, "peak map on the floor backend");
	b = map_req(PCPBUDDY_BACKEND_POOL, map, 0);
	expect(bench(&b), -EINVAL, "peak map of 0 entries");
	b = map_req(PCPBUDDY_BACKEND_POOL, map, 4);
	b.flags = 0;
	expect(bench(&b), -EINVAL, "peak map without the flag");
	b = map_req(PCPBUDDY_BACKEND_POOL, NULL, 4);
	b.flags = 0;
	expect(bench(&b), -EINVAL, "peak_map_len without the flag");
	b = map_req(PCPBUDDY_BACKEND_POOL, NULL, 4);
	expect(bench(&b), -EFAULT, "peak map at NULL");
	b = map_req(PCPBUDDY_BACKEND_POOL, (void *)16, 4);
	expect(bench(&b), -EFAULT, "peak map at a bad pointer");
	b = map_req(PCPBUDDY_BACKEND_POOL, (void *)-4096L, 4);
	expect(bench(&b), -EFAULT, "peak map at a kernel address");
	ro = mmap(NULL, bytes, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ro == MAP_FAILED)
		fail("mmap: %s", strerror(errno));
	b = map_req(PCPBUDDY_BACKEND_POOL, ro, n);
	expect(bench(&b), -EFAULT, "peak map in read-only memory");
	munmap(ro, bytes);
	if (n > 1) {
		/* Room claimed for every block, but the memory ends after the first. */
		char *two = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (two == MAP_FAILED)
			fail("mmap: %s", strerror(errno));
		munmap(two + 4096, 4096);
		b = map_req(PCPBUDDY_BACKEND_POOL,
			    two + 4096 - sizeof(struct pcpbuddy_bench_block), 0xffffffffU);
		expect(bench(&b), -EFAULT, "peak map of 2^32-1 entries in 1 entry of memory");
		munmap(two, 4096);
	}
}

static int cmd_benchbad(void)
{
	struct pcpbuddy_bench b;

	b = bench_req(PCPBUDDY_BENCH_NR_PATTERNS, 0, 0, 100, 1, 0, 0);
	expect(bench(&b), -EINVAL, "pattern past the last");
	b = bench_req(0, 4, 0, 100, 1, 0, 0);
	expect(bench(&b), -EINVAL, "backend 4");
	b = bench_req(0, 0, info.block_order + 1, 100, 1, 0, 0);
	expect(bench(&b), -EINVAL, "order above block_order");
	b = bench_req(0, 0, 0, 0, 1, 0, 0);
	expect(bench(&b), -EINVAL, "ops 0");
	b = bench_req(0, 0, 0, 100, 0, 0, 0);
	expect(bench(&b), -EINVAL, "no CPU");
	b = bench_req(0, 0, 0, 100, 1ULL << 63, 0, 0);
	expect(bench(&b), -EINVAL, "offline CPU 63");
	b = bench_req(0, 0, 0, 100, 1, 2, 0);
	expect(bench(&b), -EINVAL, "free CPUs for repeat");
	b = bench_req(1, 0, info.block_order, 100, 1, 0, 60000);
	expect(bench(&b), -EINVAL, "batch larger than the pool");
	b = bench_req(0, 0, 0, 100, 1, 0, 0);
	b.flags = 2;
	expect(bench(&b), -EINVAL, "unknown flag");
	benchbad_peak_map();
	expect(ioctl(fd, PCPBUDDY_IOC_BENCH, (void *)16) ? -errno : 0, -EFAULT, "bench at a bad pointer");
	/* The pool must be idle: a held page makes the pool backends busy. */
	{
		struct pcpbuddy_alloc a = alloc_or_die(0, -1, 0);

		b = bench_req(0, 0, 0, 100, 1, 0, 0);
		expect(bench(&b), -EBUSY, "pool backend with pages outstanding");
		free_or_die(a.handle, -1, 0, 0);
	}
	verify_or_die();
	return 0;
}

/* Checks one peak map run of cap entries; returns the entries written. */
static unsigned int check_peak_map(const struct pcpbuddy_bench *b,
				   const struct pcpbuddy_bench_block *map, unsigned int cap)
{
	unsigned int n = pool_blocks(), written = b->peak_map_nr < cap ? b->peak_map_nr : cap;
	unsigned int count[PCPBUDDY_BLOCK_NR_STATES] = { 0 };
	unsigned long long free_pages = 0;

	if (b->peak_map_nr != n)
		fail("peak_map_nr %u, the pool has %u blocks", b->peak_map_nr, n);
	for (unsigned int i = 0; i < written; i++) {
		const struct pcpbuddy_bench_block *e = &map[i];

		if (e->state >= PCPBUDDY_BLOCK_NR_STATES || e->reserved ||
		    e->free_pages > 1U << info.block_order)
			fail("peak map block %u: state %u reserved %u free_pages %u", i, e->state,
			     e->reserved, e->free_pages);
		if ((e->state == PCPBUDDY_BLOCK_OWNED) != (e->owner != PCPBUDDY_BLOCK_NO_OWNER) ||
		    (e->owner != PCPBUDDY_BLOCK_NO_OWNER && e->owner >= info.nr_cpu_ids))
			fail("peak map block %u: state %u owner %u", i, e->state, e->owner);
		if (e->state == PCPBUDDY_BLOCK_FREE && e->free_pages != 1U << info.block_order)
			fail("peak map block %u: free with %u free pages", i, e->free_pages);
		count[e->state]++;
		free_pages += e->free_pages;
	}
	for (unsigned int i = 0; i + 2 < b->nr_samples; i++)
		if (b->samples[i].free_blocks < b->peak.free_blocks)
			fail("sample %u has %u free blocks, fewer than the peak's %u", i,
			     b->samples[i].free_blocks, b->peak.free_blocks);
	/* A whole map is its sample, block by block (both come from one read). */
	if (written == n && (count[PCPBUDDY_BLOCK_FREE] != b->peak.free_blocks ||
			     count[PCPBUDDY_BLOCK_OWNED] != b->peak.owned_blocks ||
			     count[PCPBUDDY_BLOCK_FRAGMENT] != b->peak.fragment_blocks ||
			     count[PCPBUDDY_BLOCK_SHARED] != b->peak.shared_blocks ||
			     free_pages != b->peak.free_pages))
		fail("peak map %u/%u/%u/%u blocks %llu free pages, its sample %u/%u/%u/%u %u",
		     count[0], count[1], count[2], count[3], free_pages, b->peak.free_blocks,
		     b->peak.owned_blocks, b->peak.fragment_blocks, b->peak.shared_blocks,
		     b->peak.free_pages);
	printf("peak %llu free_blocks %u owned %u fragment %u shared %u free_pages %u\n",
	       (unsigned long long)b->peak.ns, b->peak.free_blocks, b->peak.owned_blocks,
	       b->peak.fragment_blocks, b->peak.shared_blocks, b->peak.free_pages);
	return written;
}

static int cmd_benchmap(unsigned int order, unsigned long long ops, unsigned long long amask)
{
	unsigned int n = pool_blocks();
	struct pcpbuddy_bench_block *map = calloc(n + 8, sizeof(*map));
	struct pcpbuddy_bench b;
	unsigned char *v1;

	if (!map)
		fail("out of memory");
	for (unsigned int be = PCPBUDDY_BACKEND_POOL; be <= PCPBUDDY_BACKEND_POOL_CLASSIC; be++) {
		/* Room for more than the pool's blocks: only the blocks are written. */
		memset(map, 0xa5, (n + 8) * sizeof(*map));
		b = bench_req(PCPBUDDY_BENCH_CHURN, be, order, ops, amask, 0, 0);
		b.flags = PCPBUDDY_BENCH_PEAK_MAP;
		b.peak_map = (unsigned long)map;
		b.peak_map_len = n + 8;
		if (bench(&b))
			fail("churn with a peak map on backend %u: %s", be, strerror(errno));
		if (check_peak_map(&b, map, n + 8) != n)
			fail("backend %u: a whole map not written", be);
		for (unsigned int i = n; i < n + 8; i++)
			if (map[i].free_pages != 0xa5a5a5a5)
				fail("peak map entry %u past the pool's %u blocks written", i, n);
		/* Room for half: the first half written and the whole counted. */
		memset(map, 0xa5, (n + 8) * sizeof(*map));
		b.peak_map_len = (n + 1) / 2;
		if (bench(&b))
			fail("churn with a short peak map on backend %u: %s", be, strerror(errno));
		check_peak_map(&b, map, (n + 1) / 2);
		if (map[(n + 1) / 2].free_pages != 0xa5a5a5a5)
			fail("a short peak map written past its end");
	}
	/* ABI 1's command: no map, nothing written past its structure. */
	v1 = malloc(sizeof(b));
	if (!v1)
		fail("out of memory");
	memset(v1, 0x5a, sizeof(b));
	b = bench_req(PCPBUDDY_BENCH_CHURN, PCPBUDDY_BACKEND_POOL, order, ops, amask, 0, 0);
	memcpy(v1, &b, PCPBUDDY_BENCH_V1_SIZE);
	if (ioctl(fd, PCPBUDDY_IOC_BENCH_V1, v1))
		fail("PCPBUDDY_IOC_BENCH_V1: %s", strerror(errno));
	memcpy(&b, v1, PCPBUDDY_BENCH_V1_SIZE);
	if (!b.nr_cpus || !b.elapsed_ns || !b.nr_samples)
		fail("PCPBUDDY_IOC_BENCH_V1: no results");
	for (size_t i = PCPBUDDY_BENCH_V1_SIZE; i < sizeof(b); i++)
		if (v1[i] != 0x5a)
			fail("PCPBUDDY_IOC_BENCH_V1 wrote byte %zu, past its structure", i);
	free(v1);
	free(map);
	refresh_info();
	if (info.outstanding_pages)
		fail("%llu pages outstanding", (unsigned long long)info.outstanding_pages);
	verify_or_die();
	return 0;
}

static void on_alarm(int sig)
{
	(void)sig;
}

static int cmd_benchcancel(void)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct pcpbuddy_bench b = bench_req(PCPBUDDY_BENCH_REMOTE, PCPBUDDY_BACKEND_POOL, 0,
					    1ULL << 30, 3, 0, 0);
	int ret;

	sigaction(SIGALRM, &sa, NULL);
	alarm(2);
	ret = bench(&b);
	expect(ret, -EINTR, "interrupted benchmark");
	refresh_info();
	if (info.outstanding_pages)
		fail("%llu pages outstanding after the interrupted run",
		     (unsigned long long)info.outstanding_pages);
	verify_or_die();
	printf("interrupted after %llu allocations on cpu %u\n",
	       (unsigned long long)b.cpus[1].allocs, b.cpus[1].cpu);
	return 0;
}


/* ---- replays ---- */

static int replay(struct pcpbuddy_replay *r)
{
	return ioctl(fd, PCPBUDDY_IOC_REPLAY, r) ? -errno : 0;
}

static struct pcpbuddy_replay replay_req(struct pcpbuddy_replay_op *ops, unsigned long long n,
					 unsigned int backend, unsigned long long mask)
{
	struct pcpbuddy_replay r;

	memset(&r, 0, sizeof(r));
	r.ops = (unsigned long long)(unsigned long)ops;
	r.nr_ops = n;
	r.backend = backend;
	r.cpu_mask = mask;
	return r;
}

static struct pcpbuddy_replay_op op_alloc(unsigned int id, unsigned int cpu, unsigned int order)
{
	return (struct pcpbuddy_replay_op){ .id = id, .cpu = cpu, .order = order };
}

static struct pcpbuddy_replay_op op_free(unsigned int id, unsigned int cpu, unsigned int order)
{
	return (struct pcpbuddy_replay_op){ .id = id, .cpu = cpu, .order = order,
					    .flags = PCPBUDDY_REPLAY_OP_FREE };
}

/* Sums of a replay's per-thread results. */
struct replay_sums {
	unsigned long long ops, allocs, frees, remote, failures, skipped, at_end;
};

static struct replay_sums replay_check(const struct pcpbuddy_replay *r, unsigned long long mask)
{
	struct replay_sums s = { 0 };

	if (r->nr_cpus < 1 || r->nr_cpus > PCPBUDDY_BENCH_MAX_CPUS)
		fail("replay: nr_cpus %u", r->nr_cpus);
	for (unsigned int i = 0; i < r->nr_cpus; i++) {
		const struct pcpbuddy_replay_cpu *c = &r->cpus[i];

		printf("replay backend %u cpu %u recorded %u ops %llu allocs %llu frees %llu remote %llu failures %llu skipped %llu at_end %llu total_ns %llu wait_ns %llu\n",
		       r->backend, c->cpu, c->recorded_cpus, (unsigned long long)c->ops,
		       (unsigned long long)c->allocs, (unsigned long long)c->frees,
		       (unsigned long long)c->remote_frees, (unsigned long long)c->failures,
		       (unsigned long long)c->skipped_frees, (unsigned long long)c->frees_at_end,
		       (unsigned long long)c->total_ns, (unsigned long long)c->wait_ns);
		if (c->cpu >= 64 || (mask && !(mask & (1ULL << c->cpu))))
			fail("replay: a thread on cpu %u, not asked for", c->cpu);
		if (c->allocs + c->failures + c->frees + c->skipped_frees > c->ops)
			fail("replay: cpu %u made more operations than its stream holds", c->cpu);
		s.ops += c->ops;
		s.allocs += c->allocs;
		s.frees += c->frees;
		s.remote += c->remote_frees;
		s.failures += c->failures;
		s.skipped += c->skipped_frees;
		s.at_end += c->frees_at_end;
	}
	/* Every allocation made is freed once: in the timed part or at the end. */
	if (s.frees + s.at_end != s.allocs)
		fail("replay backend %u: %llu allocations, %llu + %llu frees", r->backend, s.allocs,
		     s.frees, s.at_end);
	if (s.skipped > s.failures || s.remote > s.frees)
		fail("replay backend %u: %llu skipped frees for %llu failures, %llu remote of %llu",
		     r->backend, s.skipped, s.failures, s.remote, s.frees);
	if (s.allocs + s.failures + r->over_budget > r->nr_allocs)
		fail("replay: more allocations than the trace holds");
	if (r->backend <= PCPBUDDY_BACKEND_POOL_CLASSIC && r->nr_samples != PCPBUDDY_REPLAY_SAMPLES)
		fail("replay: %u samples on a pool backend", r->nr_samples);
	refresh_info();
	if (info.outstanding_pages)
		fail("%llu pages outstanding after the replay",
		     (unsigned long long)info.outstanding_pages);
	verify_or_die();
	return s;
}

static void want_count(const char *what, unsigned long long got, unsigned long long want,
		       unsigned int backend)
{
	if (got != want)
		fail("replay backend %u: %s %llu, want %llu", backend, what, got, want);
}

static int cmd_replayhand(int a, int b)
{
	unsigned long long mask = (1ULL << a) | (1ULL << b);
	unsigned int lo = a < b ? 0 : 1;	/* recorded CPU that maps onto CPU a */
	/* Recorded CPUs lo and !lo run on CPUs a and b (recorded cpu % 2, CPUs in order). */
	struct pcpbuddy_replay_op hand[] = {
		op_alloc(0, lo, 0),
		op_alloc(1, !lo, 3),
		op_free(0, !lo, 0),		/* on b, of a's allocation: waits for it if need be */
		op_alloc(2, lo, info.block_order),	/* never freed: freed at the end */
		op_free(1, !lo, 3),
	};
	unsigned int blocks = info.nr_pages >> info.block_order;
	struct pcpbuddy_replay_op *big = calloc(blocks + 2, sizeof(*big));

	if (a == b || !cpu_online(a) || !cpu_online(b) || !big)
		fail("replayhand needs two online CPUs");
	for (unsigned int be = 0; be < PCPBUDDY_BENCH_NR_BACKENDS; be++) {
		struct pcpbuddy_replay r = replay_req(hand, 5, be, mask);
		struct replay_sums s;
		int ret = replay(&r);

		if (ret)
			fail("replay of the hand-made trace, backend %u: %s", be, strerror(-ret));
		s = replay_check(&r, mask);
		want_count("threads", r.nr_cpus, 2, be);
		want_count("allocations in the trace", r.nr_allocs, 3, be);
		want_count("peak live pages", r.peak_live_pages, 8 + (1ULL << info.block_order), be);
		want_count("over budget", r.over_budget, 0, be);
		want_count("allocations", s.allocs, 3, be);
		want_count("timed frees", s.frees, 2, be);
		want_count("remote frees", s.remote, 1, be);
		want_count("frees at the end", s.at_end, 1, be);
		for (unsigned int i = 0; i < 2; i++) {
			const struct pcpbuddy_replay_cpu *c = &r.cpus[i];

			/* a: allocations 0 and 2; b: allocation 1 and both frees. */
			want_count("ops of the thread", c->ops, c->cpu == (unsigned int)a ? 2 : 3, be);
			want_count("recorded CPUs per thread", c->recorded_cpus, 1, be);
		}
		if (be <= PCPBUDDY_BACKEND_POOL_CLASSIC && r.counters.frees_remote + r.counters.frees_local == 0)
			fail("replay backend %u: the pool counted no free", be);
	}
	/*
	 * A live set above the pool: every block allocated on one CPU and never freed, plus one
	 * more; the last is left out (over budget) on every backend, the others freed at the end.
	 */
	for (unsigned int i = 0; i <= blocks; i++)
		big[i] = op_alloc(i, 0, info.block_order);
	for (unsigned int be = 0; be < PCPBUDDY_BENCH_NR_BACKENDS; be++) {
		struct pcpbuddy_replay r = replay_req(big, blocks + 1, be, 1ULL << a);
		struct replay_sums s;
		int ret = replay(&r);

		if (ret)
			fail("replay of %u blocks, backend %u: %s", blocks + 1, be, strerror(-ret));
		s = replay_check(&r, 1ULL << a);
		want_count("over budget", r.over_budget, 1, be);
		want_count("peak live pages", r.peak_live_pages, info.nr_pages, be);
		want_count("allocations and failures", s.allocs + s.failures, blocks, be);
		want_count("frees at the end", s.at_end, s.allocs, be);
	}
	free(big);
	printf("ok\n");
	return 0;
}

static int cmd_replaybad(void)
{
	struct pcpbuddy_replay_op ops[4] = { op_alloc(0, 0, 0), op_free(0, 0, 0) };
	struct pcpbuddy_replay r;

	r = replay_req(ops, 2, PCPBUDDY_BENCH_NR_BACKENDS, 0);
	expect(replay(&r), -EINVAL, "backend past the last");
	r = replay_req(ops, 2, 0, 0);
	r.flags = 1;
	expect(replay(&r), -EINVAL, "unknown flag");
	r = replay_req(ops, 0, 0, 0);
	expect(replay(&r), -EINVAL, "no operations");
	r = replay_req(ops, PCPBUDDY_REPLAY_MAX_OPS + 1ULL, 0, 0);
	expect(replay(&r), -EINVAL, "more than PCPBUDDY_REPLAY_MAX_OPS");
	r = replay_req(ops, 2, 0, 1ULL << 63);
	expect(replay(&r), -EINVAL, "offline CPU 63");
	r = replay_req((void *)16, 2, 0, 0);
	expect(replay(&r), -EFAULT, "operations at a bad pointer");
	r = replay_req(ops, 1ULL << 20, 0, 0);
	expect(replay(&r), -EFAULT, "more operations than mapped");
	expect(ioctl(fd, PCPBUDDY_IOC_REPLAY, (void *)16) ? -errno : 0, -EFAULT,
	       "replay at a bad pointer");
	/* Each operation field. */
	ops[1].flags = 2 | PCPBUDDY_REPLAY_OP_FREE;
	r = replay_req(ops, 2, 0, 0);
	expect(replay(&r), -EINVAL, "an unknown operation flag");
	ops[1] = op_free(0, 0, 0);
	ops[0].order = info.block_order + 1;
	ops[1].order = info.block_order + 1;
	expect(replay(&r), -EINVAL, "an order above block_order");
	ops[0] = op_alloc(1, 0, 0);
	ops[1] = op_free(1, 0, 0);
	expect(replay(&r), -EINVAL, "allocations not numbered from 0");
	ops[0] = op_free(0, 0, 0);
	ops[1] = op_alloc(0, 0, 0);
	expect(replay(&r), -EINVAL, "a free before its allocation");
	ops[0] = op_alloc(0, 0, 0);
	ops[1] = op_free(0, 1, 1);
	expect(replay(&r), -EINVAL, "a free with another order");
	ops[1] = op_free(0, 1, 0);
	ops[2] = op_free(0, 0, 0);
	r = replay_req(ops, 3, 0, 0);
	expect(replay(&r), -EINVAL, "a double free");
	ops[2] = op_free(7, 0, 0);
	expect(replay(&r), -EINVAL, "a free of an allocation that does not exist");
	/* The pool must be idle: a held page makes the pool backends busy, not the kernel's. */
	{
		struct pcpbuddy_alloc a = alloc_or_die(0, -1, 0);

		r = replay_req(ops, 2, PCPBUDDY_BACKEND_POOL, 0);
		expect(replay(&r), -EBUSY, "pool backend with pages outstanding");
		r = replay_req(ops, 2, PCPBUDDY_BACKEND_KERNEL, 0);
		expect(replay(&r), 0, "kernel backend with pages outstanding");
		free_or_die(a.handle, -1, 0, 0);
	}
	refresh_info();
	if (info.outstanding_pages)
		fail("%llu pages outstanding after refused replays",
		     (unsigned long long)info.outstanding_pages);
	verify_or_die();
	printf("ok\n");
	return 0;
}

/* The pool's total.allocs from debugfs stats, or -1. */
static long long pool_allocs(void)
{
	FILE *f = fopen("/sys/kernel/debug/pcpbuddy/stats", "r");
	char key[64];
	long long v, found = -1;

	if (!f)
		return -1;
	while (fscanf(f, "%63s %lld", key, &v) == 2)
		if (!strcmp(key, "total.allocs:"))
			found = v;
	fclose(f);
	return found;
}

static int cmd_replaycancel(void)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	unsigned long long n = PCPBUDDY_REPLAY_MAX_OPS, i, id = 0, next_free = 0;
	struct pcpbuddy_replay_op *ops = calloc(n, sizeof(*ops));
	struct pcpbuddy_replay r;
	struct replay_sums s;
	long long before = pool_allocs();
	pid_t parent = getpid(), child;
	int ret;

	if (!ops)
		fail("calloc");
	if (before < 0)
		fail("no total.allocs in debugfs stats (is debugfs mounted?)");
	/* Recorded CPU 0 allocates, CPU 1 frees, 8 allocations behind: remote frees. */
	for (i = 0; i < n; i++) {
		if (i < 8 || i % 2 == 0)
			ops[i] = op_alloc(id++, 0, 0);
		else
			ops[i] = op_free(next_free++, 1, 0);
	}
	sigaction(SIGALRM, &sa, NULL);
	/*
	 * The signal comes in the middle of the run, wherever the copy and the validation of the
	 * 4 million operations end: a child watches the pool's allocation counter and signals
	 * once the threads have made a few thousand allocations (or after 60 s).
	 */
	child = fork();
	if (child == 0) {
		for (int t = 0; t < 60000; t++) {
			long long now = pool_allocs();

			if (now >= 0 && now - before >= 4096)
				break;
			usleep(1000);
		}
		kill(parent, SIGALRM);
		_exit(0);
	}
	r = replay_req(ops, n, PCPBUDDY_BACKEND_POOL, 0);
	ret = replay(&r);
	waitpid(child, NULL, 0);
	expect(ret, -EINTR, "interrupted replay");
	s = replay_check(&r, 0);
	printf("interrupted after %llu allocations (%llu freed at the end)\n", s.allocs, s.at_end);
	if (s.allocs < 1000)
		fail("the signal came before the run had made 1000 allocations");
	free(ops);
	return 0;
}

static int argc_;
static char **argv_;

/* The i-th command-line argument as a number. */
static long long arg(int i)
{
	if (i >= argc_)
		fail("%s: missing argument %d", argv_[1], i - 1);
	return strtoll(argv_[i], NULL, 0);
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	argc_ = argc;
	argv_ = argv;
	fd = open(DEVICE, O_RDWR);
	if (fd < 0)
		fail("open " DEVICE ": %s", strerror(errno));
	refresh_info();
	if (!strcmp(cmd, "info"))
		return cmd_info();
	if (!strcmp(cmd, "enotty")) {
		expect(ioctl(fd, _IO(PCPBUDDY_IOC_MAGIC, 0x7f)) ? -errno : 0, -ENOTTY, "unknown command");
		expect(ioctl(fd, _IOR(PCPBUDDY_IOC_MAGIC, 0x00, int), &info) ? -errno : 0, -ENOTTY,
		       "INFO with a wrong size");
		return 0;
	}
	if (!strcmp(cmd, "efault")) {
		expect(ioctl(fd, PCPBUDDY_IOC_INFO, (void *)16) ? -errno : 0, -EFAULT, "INFO to a bad pointer");
		return 0;
	}
	if (!strcmp(cmd, "orders"))
		return cmd_orders();
	if (!strcmp(cmd, "badinput"))
		return cmd_badinput();
	if (!strcmp(cmd, "exhaust"))
		return cmd_exhaust(arg(2), arg(3));
	if (!strcmp(cmd, "warm"))
		return cmd_warm(arg(2), arg(3));
	if (!strcmp(cmd, "remote"))
		return cmd_remote(arg(2), arg(3), arg(4));
	if (!strcmp(cmd, "pfns"))
		return cmd_pfns(arg(2), arg(3), arg(4));
	if (!strcmp(cmd, "fragment"))
		return cmd_fragment(arg(2));
	if (!strcmp(cmd, "hold"))
		return cmd_hold(arg(2));
	if (!strcmp(cmd, "stress"))
		return cmd_stress(arg(2));
	if (!strcmp(cmd, "bench"))
		return cmd_bench(bench_req(arg(2), arg(3), arg(4), arg(5), arg(6), arg(7), arg(8)));
	if (!strcmp(cmd, "benchbad"))
		return cmd_benchbad();
	if (!strcmp(cmd, "benchmap"))
		return cmd_benchmap(arg(2), arg(3), arg(4));
	if (!strcmp(cmd, "benchcancel"))
		return cmd_benchcancel();
	if (!strcmp(cmd, "replayhand"))
		return cmd_replayhand(arg(2), arg(3));
	if (!strcmp(cmd, "replaybad"))
		return cmd_replaybad();
	if (!strcmp(cmd, "replaycancel"))
		return cmd_replaycancel();
	if (!strcmp(cmd, "verify")) {
		verify_or_die();
		return 0;
	}
	if (!strcmp(cmd, "drain")) {
		drain(arg(2));
		return 0;
	}
	fail("unknown subcommand '%s' (see the comment at the top of pcpbuddy_test.c)", cmd);
}
