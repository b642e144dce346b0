// SPDX-License-Identifier: GPL-2.0
/*
 * pcpbuddy_fuzz: throws random, truncated, oversized and misdirected ioctls at
 * /dev/pcpbuddy from many processes and threads at once, together with debugfs
 * reads and policy writes, open/close churn and signals, and checks that every
 * call ends in success or in an errno the ABI (Documentation/ioctl.md) allows
 * for exactly that call.
 *
 * Usage: pcpbuddy_fuzz [-s SEED] [-n CALLS] [-t SECONDS] [-S STRICT] [-c CHAOS]
 *                      [-j THREADS] [-d DEBUGFS_THREADS] [-k 0|1] [-x FILE]...
 *
 *   -s SEED     random seed (default: from the clock); printed first so that a
 *               failing run can be repeated. Each thread draws from its own
 *               stream, so the calls each thread makes are reproducible; their
 *               interleaving is not.
 *   -n CALLS    stop after this many ioctl calls in all (default 100000)
 *   -t SECONDS  stop after this long whatever the count (default 600)
 *   -S, -c, -j  strict and chaos worker processes, threads in each (2, 2, 3)
 *   -d N        threads reading debugfs and writing its policy file (2)
 *   -k 0|1      victims: processes killed by SIGINT/SIGKILL in mid-ioctl (1)
 *   -x FILE     leave this debugfs file alone (to look past a known bug in it)
 *
 * Workers (each a process, so that the fd tables stay apart):
 *
 *   strict  each thread owns its files and knows every handle it holds, so a
 *           free it makes has exactly one right answer; the pages it holds are
 *           marked in a bitmap shared by all strict threads, so a page handed
 *           out twice shows at once.
 *   chaos   threads share a few files, open, dup and close them under each
 *           other (closing files that hold other threads' pages), and use
 *           random handles: their own, other files', never-issued ones.
 *   debugfs reads every file under the traffic, writes text and random bytes
 *           into the writable ones (policy).
 *   victims started one at a time by the supervisor, which sends them SIGINT
 *           or SIGKILL while they are inside PCPBUDDY_IOC_BENCH or allocating.
 *
 * Replays (PCPBUDDY_IOC_REPLAY) of random small traces, mostly valid, some with a
 * field or an operation broken, the operations at good, misaligned, read-only and
 * bad addresses; a replay's expectation follows the order of the checks that
 * ioctl.md documents (header, then reading the operations, then the operations).
 *
 * Benchmark runs on the pool need it idle (EBUSY otherwise), so now and then the
 * supervisor declares a quiet phase: the workers give back every page (strict
 * threads free theirs, chaos threads close their files) and stop allocating,
 * and no victim runs, while all the other traffic goes on. The pool's own runs
 * then race with policy writes, drains, verify and debugfs reads.
 *
 * Every call's result is checked against the set of results the ABI allows for
 * that call with that argument (its "expectation"); anything else, a worker
 * that crashes, or a call that does not return within HANG_SECONDS is a
 * failure. At the end the supervisor (with every other process gone, and so
 * every file closed) checks that no page is outstanding and that
 * PCPBUDDY_IOC_VERIFY is clean, restores the policy it found, and prints per
 * command how many calls ended in which errno. Exit status 0: no failure.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/pcpbuddy.h>

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

#define DEVICE		"/dev/pcpbuddy"
#define DEBUGFS		"/sys/kernel/debug/pcpbuddy"
#define HANG_SECONDS	30	/* a call longer than this hangs (TCG is slow, not that slow) */
#define MAX_FAIL_LINES	40	/* failures printed in full; the rest are only counted */
#define MAX_THREADS	64	/* watchdog slots; the last VICTIM_THREADS are the victims' */
#define VICTIM_THREADS	3
#define MAX_CPUS	1024
#define HELD_MAX	32	/* allocations a strict file holds at most */
#define CHAOS_FILES	6	/* shared file slots of a chaos process */
#define ISSUED_MAX	256	/* handles a chaos process remembers */
#define BENCH_OPS_MAX	64	/* a fuzzer's benchmark run stays this short */
#define REPLAY_OPS	48	/* operations of a fuzzer's replay at most */
#define MAX_DFS_FILES	32

/* What a call was, for the statistics: the ABI's commands, then the refused kinds. */
enum kind {
	K_INFO, K_ALLOC, K_FREE, K_GET_POLICY, K_SET_POLICY, K_VERIFY, K_DRAIN, K_BENCH,
	K_REPLAY,
	K_RESIZED,	/* a command re-encoded with another size or direction */
	K_NEIGHBOUR,	/* magic 0xB7, a number next to the ABI's */
	K_RANDOM_NR,	/* magic 0xB7, any number */
	K_OTHER_MAGIC,	/* another magic */
	K_DEV_RW,	/* read()/write() on the device */
	K_DFS_READ, K_DFS_WRITE,
	NR_KINDS
};

static const char *const kind_name[NR_KINDS] = {
	"INFO", "ALLOC", "FREE", "GET_POLICY", "SET_POLICY", "VERIFY", "DRAIN", "BENCH",
	"REPLAY", "resized", "neighbour", "random-nr", "other-magic", "dev-read/write",
	"debugfs-read", "debugfs-write",
};

/* The valid commands, indexed by kind. */
static const unsigned long cmds[] = {
	PCPBUDDY_IOC_INFO, PCPBUDDY_IOC_ALLOC, PCPBUDDY_IOC_FREE, PCPBUDDY_IOC_GET_POLICY,
	PCPBUDDY_IOC_SET_POLICY, PCPBUDDY_IOC_VERIFY, PCPBUDDY_IOC_DRAIN, PCPBUDDY_IOC_BENCH,
	PCPBUDDY_IOC_REPLAY,
};
#define NR_CMDS ARRAY_SIZE(cmds)

/*
 * Expectations: a set of results, one bit each. An errno outside this table is
 * never expected.
 */
static const int xerr[] = { 0, EFAULT, EINVAL, ENOMEM, ENOTTY, EBUSY, EINTR, EIO, EUCLEAN, EBADF };
enum {
	WANT_OK = 1 << 0, WANT_EFAULT = 1 << 1, WANT_EINVAL = 1 << 2, WANT_ENOMEM = 1 << 3,
	WANT_ENOTTY = 1 << 4, WANT_EBUSY = 1 << 5, WANT_EINTR = 1 << 6, WANT_EIO = 1 << 7,
	WANT_EUCLEAN = 1 << 8, WANT_EBADF = 1 << 9,
};

static unsigned int xbit(int err)
{
	for (unsigned int i = 0; i < ARRAY_SIZE(xerr); i++)
		if (xerr[i] == err)
			return 1U << i;
	return 0;
}

static void xnames(unsigned int expect, char *buf, size_t len)
{
	buf[0] = 0;
	for (unsigned int i = 0; i < ARRAY_SIZE(xerr); i++)
		if (expect & (1U << i))
			snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", buf[0] ? "|" : "",
				 xerr[i] ? strerrorname_np(xerr[i]) : "OK");
}

#define NR_ERRNO 160	/* errno buckets in the statistics; the last one is "other" */

/* A worker thread's state as the watchdog sees it. */
struct slot {
	pid_t tid;
	int kind;		/* enum kind of the call in flight */
	uint64_t start_ns;	/* when the call in flight started, 0: none */
	uint64_t cmd, arg;
	char who[24];
};

/* Everything the processes share (one MAP_SHARED mapping made before the forks). */
struct shared {
	uint64_t seed, budget, deadline_ns;
	uint64_t calls;		/* ioctl calls made */
	int stop;
	int quiet;		/* a quiet phase: no allocations, every page given back */
	uint64_t quiet_phases;
	uint64_t bench_done[PCPBUDDY_BENCH_NR_BACKENDS];	/* runs that completed */
	uint64_t replay_done[PCPBUDDY_BENCH_NR_BACKENDS];	/* replays that completed */
	uint64_t failures;
	uint64_t count[NR_KINDS][NR_ERRNO];
	uint64_t strict_pages_held;
	struct slot slots[MAX_THREADS];
	/* The pool's geometry, for the strict bitmap. */
	unsigned int nr_blocks;
	uint64_t *block_pfn;	/* sorted first pfns of the pool's blocks */
	uint64_t *bitmap;	/* one bit per pool page: held by a strict thread */
};

static struct shared *sh;
static struct pcpbuddy_info info;	/* as found at start */
static struct pcpbuddy_policy start_policy;
static bool cpu_is_online[MAX_CPUS];
static int online_cpus[MAX_CPUS], nr_online;
static uint64_t online_mask;		/* online CPUs below 64, for benchmarks */

/* Where PCPBUDDY_BENCH_PEAK_MAP runs put their map (written, never read back). */
#define PEAK_MAP_LEN	256
static struct pcpbuddy_bench_block peak_map[PEAK_MAP_LEN];

/* Argument memory, mapped before the forks and the same in every process. */
static unsigned char *guard;		/* two read-write pages, then one PROT_NONE page */
static unsigned char *ro;		/* read-only, with prepared contents */
static size_t page;

/* Offsets of the prepared arguments in the read-only area; random bytes from RO_RANDOM on. */
enum {
	RO_ALLOC = 0, RO_FREE = 64, RO_POLICY = 128, RO_DRAIN = 192, RO_BENCH = 256,
	RO_REPLAY = 5632, RO_REPLAY_OPS = 11072, RO_RANDOM = 12288, RO_SIZE = 20480
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* ---- random numbers (xorshift64*, one stream per thread) ---- */

static uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

struct ctx;
static uint64_t rnd(struct ctx *c);

/* ---- a thread's context ---- */

enum worker { W_STRICT, W_CHAOS, W_DEBUGFS, W_VICTIM };
static const char *const worker_name[] = { "strict", "chaos", "debugfs", "victim" };

struct held {
	uint32_t handle, order;
	uint64_t pfn;
	bool filled;
};

/* A file of a strict thread: only that thread uses it, so it knows every handle. */
struct strict_file {
	int fd;
	int n;
	struct held h[HELD_MAX];
};

/* A handle a chaos thread got, for other threads to free (or misuse). */
struct issued {
	uint32_t handle, order;
	int file;	/* chaos file slot it came from */
};

/* What the threads of one chaos process share. */
struct chaos_proc {
	int fds[CHAOS_FILES];	/* -1: closed */
	struct issued issued[ISSUED_MAX];
	unsigned int next_issued;
};

struct ctx {
	enum worker worker;
	int proc, thread;
	uint64_t rng;
	uint64_t ops;
	struct slot *slot;
	unsigned char *buf;	/* a good argument buffer: 3 pages */
	struct strict_file files[2];
	struct chaos_proc *chaos;
	bool signals;		/* a victim: EINTR is expected */
	char *text;		/* debugfs: a file's contents */
};

static uint64_t rnd(struct ctx *c)
{
	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	return c->rng * 0x2545f4914f6cdd1dULL;
}

static uint64_t below(struct ctx *c, uint64_t n)
{
	return n ? rnd(c) % n : 0;
}

static bool chance(struct ctx *c, unsigned int percent)
{
	return below(c, 100) < percent;
}

/* Sets up a thread's context; slot: its watchdog slot, fixed per thread. */
static void ctx_init(struct ctx *c, enum worker w, int proc, int thread, int slot)
{
	memset(c, 0, sizeof(*c));
	c->worker = w;
	c->proc = proc;
	c->thread = thread;
	c->rng = splitmix(sh->seed ^ ((uint64_t)w << 48) ^ ((uint64_t)proc << 24) ^ thread) | 1;
	c->buf = aligned_alloc(page, 3 * page);
	if (!c->buf) {
		perror("aligned_alloc");
		exit(2);
	}
	c->slot = &sh->slots[slot];
	c->slot->tid = gettid();
	snprintf(c->slot->who, sizeof(c->slot->who), "%s %d.%d", worker_name[w], proc, thread);
}

static bool quiet(void)
{
	return __atomic_load_n(&sh->quiet, __ATOMIC_RELAXED);
}

static bool stopping(void)
{
	return __atomic_load_n(&sh->stop, __ATOMIC_RELAXED) ||
	       __atomic_load_n(&sh->calls, __ATOMIC_RELAXED) >= sh->budget ||
	       now_ns() > sh->deadline_ns;
}

/* ---- failures and statistics ---- */

static void __attribute__((format(printf, 2, 3))) failure(struct ctx *c, const char *fmt, ...)
{
	uint64_t n = __atomic_fetch_add(&sh->failures, 1, __ATOMIC_RELAXED);
	char line[512];
	int len = 0;
	va_list ap;

	if (n >= MAX_FAIL_LINES)
		return;
	if (c)
		len = snprintf(line, sizeof(line),
			       "FAIL [seed %" PRIu64 ", %s %d.%d, op %" PRIu64 "] ", sh->seed,
			       worker_name[c->worker], c->proc, c->thread, c->ops);
	else
		len = snprintf(line, sizeof(line), "FAIL [seed %" PRIu64 "] ", sh->seed);
	va_start(ap, fmt);
	len += vsnprintf(line + len, sizeof(line) - len - 1, fmt, ap);
	va_end(ap);
	if (len > (int)sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	/* One write(), so that lines from different processes do not interleave. */
	if (write(STDOUT_FILENO, line, len) < 0)
		exit(2);
}

static void count(enum kind k, int err)
{
	if (err < 0 || err >= NR_ERRNO)
		err = NR_ERRNO - 1;
	__atomic_fetch_add(&sh->count[k][err], 1, __ATOMIC_RELAXED);
}

/* ---- the pool's pages held by strict threads ---- */

/* The page index of pfn in the pool, or -1 if the pool has no such page. */
static long page_index(uint64_t pfn)
{
	unsigned int lo = 0, hi = sh->nr_blocks, block_pages = 1U << info.block_order;

	while (lo < hi) {
		unsigned int mid = (lo + hi) / 2;

		if (pfn < sh->block_pfn[mid])
			hi = mid;
		else if (pfn >= sh->block_pfn[mid] + block_pages)
			lo = mid + 1;
		else
			return (long)mid * block_pages + (long)(pfn - sh->block_pfn[mid]);
	}
	return -1;
}

/*
 * Marks (set) or unmarks the 2^order pages at pfn as held by a strict thread.
 * Returns false if a page to mark was marked already (handed out twice) or to
 * unmark was not. The run is aligned to its size, so for orders below 6 it lies
 * inside one word.
 */
static bool mark_pages(uint64_t pfn, unsigned int order, bool set)
{
	long index = page_index(pfn);
	uint64_t n = 1ULL << order;
	bool ok = true;

	if (!sh->nr_blocks)
		return true;	/* no blocks file: nothing to check against */
	if (index < 0 || page_index(pfn + n - 1) < 0)
		return false;
	for (uint64_t i = index; i < index + n; i += 64) {
		uint64_t mask = n >= 64 ? ~0ULL : ((1ULL << n) - 1) << (i % 64);
		uint64_t old;

		if (set)
			old = __atomic_fetch_or(&sh->bitmap[i / 64], mask, __ATOMIC_RELAXED);
		else
			old = __atomic_fetch_and(&sh->bitmap[i / 64], ~mask, __ATOMIC_RELAXED);
		if ((old & mask) != (set ? 0 : mask))
			ok = false;
	}
	__atomic_fetch_add(&sh->strict_pages_held, set ? n : -n, __ATOMIC_RELAXED);
	return ok;
}

/* ---- arguments: contents and where they live ---- */

enum ptr_kind {
	P_GOOD, P_MISALIGNED, P_READONLY,	/* readable: the kernel sees the contents */
	P_NULL, P_KERNEL, P_NONCANONICAL, P_UNMAPPED, P_LOW, P_PROT_NONE, P_STRADDLE,
	NR_PTR_KINDS
};

static const char *const ptr_name[NR_PTR_KINDS] = {
	"good", "misaligned", "read-only", "NULL", "kernel", "non-canonical", "unmapped",
	"low", "PROT_NONE", "straddling",
};

/* An address with nothing mapped, checked at start (see find_unmapped()). */
static void *unmapped_addr;

static enum ptr_kind pick_ptr_kind(struct ctx *c, bool readonly_ok)
{
	unsigned int r = below(c, 100);

	if (r < 78)
		return P_GOOD;
	if (r < 84)
		return P_MISALIGNED;
	if (r < 88 && readonly_ok)
		return P_READONLY;
	return P_NULL + below(c, NR_PTR_KINDS - P_NULL);
}

/*
 * Places `size` bytes of `content` where the pointer kind says and returns the
 * address to pass. For P_READONLY the contents are those prepared at ro_off in
 * the read-only page; *seen then points at them, else at what the kernel can
 * read (or NULL if it can read nothing).
 */
static void *place(struct ctx *c, enum ptr_kind k, const void *content, size_t size,
		   size_t ro_off, const void **seen)
{
	unsigned char *p;
	size_t cut;

	*seen = NULL;
	switch (k) {
	case P_GOOD:
		memcpy(c->buf, content, size);
		*seen = c->buf;
		return c->buf;
	case P_MISALIGNED:
		p = c->buf + 1 + below(c, 7);
		memcpy(p, content, size);
		*seen = p;
		return p;
	case P_READONLY:
		*seen = ro + ro_off;
		return ro + ro_off;
	case P_NULL:
		return NULL;
	case P_KERNEL:
		return (void *)(0xffff888000000000UL + below(c, 1 << 20) * 8);
	case P_NONCANONICAL:
		return (void *)(0x0000800000000000UL - below(c, 2) * 8 + below(c, 1 << 16));
	case P_UNMAPPED:
		return (unsigned char *)unmapped_addr + below(c, page);
	case P_LOW:
		return (void *)(uintptr_t)(1 + below(c, 0xffff));
	case P_PROT_NONE:
		return guard + 2 * page + below(c, page);
	case P_STRADDLE:
	default:
		/* Starts in the last read-write page, ends in the PROT_NONE one. */
		if (!size)
			return guard + 2 * page;
		cut = 1 + below(c, size < page ? size - 1 : page - 1);
		if (cut >= size)
			cut = size - 1;
		if (!cut)
			cut = 1;
		p = guard + 2 * page - (size - cut);
		memcpy(p, content, size - cut);
		return p;
	}
}

static bool ptr_readable(enum ptr_kind k)
{
	return k <= P_READONLY;
}

/* ---- the oracle: what each command may answer for given contents ---- */

static bool cpu_valid(int32_t cpu)
{
	return cpu == -1 || (cpu >= 0 && cpu < MAX_CPUS && cpu_is_online[cpu]);
}

static int32_t pick_cpu(struct ctx *c, unsigned int invalid_percent)
{
	if (chance(c, invalid_percent)) {
		switch (below(c, 6)) {
		case 0:
			return -2;
		case 1:
			return INT32_MIN;
		case 2:
			return INT32_MAX;
		case 3:
			return info.nr_cpu_ids;
		case 4:
			return info.nr_cpu_ids + below(c, 4096);
		default:
			return -2 - below(c, 1000);
		}
	}
	if (chance(c, 30))
		return -1;
	return online_cpus[below(c, nr_online)];
}

static uint32_t pick_order(struct ctx *c)
{
	unsigned int r = below(c, 100);

	if (r < 60)
		return below(c, 2);
	if (r < 88 || info.block_order < 5)
		return (2 + below(c, 3)) % (info.block_order + 1);
	return 5 + below(c, info.block_order - 4);
}

static unsigned int expect_alloc(const struct pcpbuddy_alloc *a)
{
	if (a->order > info.block_order || (a->flags & ~PCPBUDDY_ALLOC_FILL) || !cpu_valid(a->cpu))
		return WANT_EINVAL;
	return WANT_OK | WANT_ENOMEM;
}

/* Without knowing the handle: a chaos thread's free. */
static unsigned int expect_free_any(const struct pcpbuddy_free *f)
{
	if ((f->flags & ~PCPBUDDY_FREE_CHECK) || !cpu_valid(f->cpu))
		return WANT_EINVAL;
	/* A page not filled at allocation fails the check. */
	return WANT_OK | WANT_EINVAL | (f->flags & PCPBUDDY_FREE_CHECK ? WANT_EIO : 0);
}

static unsigned int expect_policy(const struct pcpbuddy_policy *p)
{
	if (p->ownership > 1 || p->fragment_recovery > 1 || !p->batch)
		return WANT_EINVAL;
	return WANT_OK;
}

static unsigned int expect_drain(int32_t cpu)
{
	return cpu_valid(cpu) ? WANT_OK : WANT_EINVAL;
}

static bool mask_online(uint64_t mask)
{
	return !(mask & ~online_mask);
}

/*
 * Is b certainly valid (1), certainly invalid (0), or can the fuzzer not tell
 * (-1)? Certainly valid: the form bench_valid() builds; certainly invalid: a
 * field the ABI documents as refused.
 */
static int bench_validity(const struct pcpbuddy_bench *b)
{
	if (b->pattern >= PCPBUDDY_BENCH_NR_PATTERNS || b->backend >= PCPBUDDY_BENCH_NR_BACKENDS ||
	    (b->flags & ~PCPBUDDY_BENCH_PEAK_MAP) || b->order > info.block_order ||
	    !b->alloc_cpus || !b->ops || !mask_online(b->alloc_cpus | b->free_cpus))
		return 0;
	if (b->flags & PCPBUDDY_BENCH_PEAK_MAP) {
		/* A map of the pool's blocks during churn, somewhere to put at least one. */
		if (b->pattern != PCPBUDDY_BENCH_CHURN || b->backend > PCPBUDDY_BACKEND_POOL_CLASSIC ||
		    !b->peak_map_len)
			return 0;
		/* Our map buffer, or any address: EFAULT possible. */
		if (b->peak_map != (uintptr_t)peak_map || b->peak_map_len > PEAK_MAP_LEN)
			return -2;
	} else if (b->peak_map || b->peak_map_len) {
		return 0;
	}
	if (b->ops > BENCH_OPS_MAX || b->batch > 8)
		return -1;
	switch (b->pattern) {
	case PCPBUDDY_BENCH_REMOTE:
	case PCPBUDDY_BENCH_SOFTIRQ:
		if (b->free_cpus ? !(b->alloc_cpus & ~b->free_cpus)
				 : __builtin_popcountll(b->alloc_cpus) < 2)
			return -1;
		break;
	case PCPBUDDY_BENCH_REPEAT:
	case PCPBUDDY_BENCH_BULK:
	case PCPBUDDY_BENCH_CHURN:
	case PCPBUDDY_BENCH_FOLIO:
		if (b->free_cpus)
			return -1;
		break;
	}
	/* Memory in flight within half the pool (the ABI refuses more than all of it). */
	if (((uint64_t)b->batch * __builtin_popcountll(b->alloc_cpus)) << b->order >
	    info.nr_pages / 2)
		return -1;
	return 1;
}

/* A benchmark run that may hang the fuzzer for long must never be issued. */
static bool bench_bounded(const struct pcpbuddy_bench *b)
{
	return bench_validity(b) == 0 || b->ops <= BENCH_OPS_MAX;
}

static unsigned int expect_bench(const struct pcpbuddy_bench *b)
{
	switch (bench_validity(b)) {
	case 0:
		return WANT_EINVAL;
	case 1:
		/* EBUSY: another run, or a pool backend while pages are out. */
		return WANT_OK | WANT_EBUSY | WANT_ENOMEM;
	case -2:
		return WANT_OK | WANT_EBUSY | WANT_ENOMEM | WANT_EINVAL | WANT_EFAULT;
	default:
		return WANT_OK | WANT_EBUSY | WANT_ENOMEM | WANT_EINVAL;
	}
}

/* Does the command write its argument back (so a read-only one gives EFAULT)? */
static bool writes_back(enum kind k)
{
	return k == K_INFO || k == K_ALLOC || k == K_GET_POLICY || k == K_BENCH || k == K_REPLAY;
}

/* Adjusts a contents expectation for where the argument is. */
static unsigned int expect_at(unsigned int expect, enum kind k, enum ptr_kind p)
{
	if (_IOC_SIZE(cmds[k]) == 0)
		return expect;
	if (!ptr_readable(p))
		return WANT_EFAULT;
	if (p == P_READONLY && writes_back(k) && (expect & (WANT_OK | WANT_EINTR)))
		expect = (expect & ~(WANT_OK | WANT_EINTR)) | WANT_EFAULT;
	return expect;
}

/* ---- the call ---- */

/* Issues one ioctl, counts it, checks the result against expect; returns 0 or the errno. */
static int call(struct ctx *c, enum kind k, int fd, unsigned long cmd, void *arg,
		unsigned int expect, enum ptr_kind p)
{
	int ret, err;

	c->ops++;
	c->slot->kind = k;
	c->slot->cmd = cmd;
	c->slot->arg = (uintptr_t)arg;
	__atomic_store_n(&c->slot->start_ns, now_ns(), __ATOMIC_RELEASE);
	ret = ioctl(fd, cmd, arg);
	err = ret ? errno : 0;
	__atomic_store_n(&c->slot->start_ns, 0, __ATOMIC_RELEASE);
	__atomic_fetch_add(&sh->calls, 1, __ATOMIC_RELAXED);
	count(k, err);
	if (c->worker == W_CHAOS)
		expect |= WANT_EBADF;	/* another thread may have closed the file */
	if (c->signals)
		expect |= WANT_EINTR;
	if ((ret != 0 && ret != -1) || !(xbit(err) & expect)) {
		char want[128];

		xnames(expect, want, sizeof(want));
		failure(c, "%s: ioctl(%d, %#lx, %p [%s]) = %d (%s), expected %s", kind_name[k], fd,
			cmd, arg, ptr_name[p], ret, err ? strerrorname_np(err) : "OK", want);
	}
	return err;
}

/* ---- contents ---- */

static void random_bytes(struct ctx *c, void *p, size_t n)
{
	unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		b[i] = rnd(c);
}

static struct pcpbuddy_alloc alloc_req(struct ctx *c, bool valid)
{
	struct pcpbuddy_alloc a = {
		.order = pick_order(c),
		.cpu = pick_cpu(c, valid ? 0 : 5),
		.flags = chance(c, 50) ? PCPBUDDY_ALLOC_FILL : 0,
		.handle = rnd(c),	/* out fields: garbage in must not matter */
		.pfn = rnd(c),
	};

	if (!valid && chance(c, 8)) {
		switch (below(c, 3)) {
		case 0:
			a.order = info.block_order + 1 + below(c, 64);
			break;
		case 1:
			a.order = rnd(c);
			break;
		default:
			a.flags |= 1U << (1 + below(c, 31));
			break;
		}
	}
	if (!valid && chance(c, 2))
		random_bytes(c, &a, sizeof(a));
	return a;
}

static struct pcpbuddy_policy policy_req(struct ctx *c)
{
	static const uint32_t values[] = { 0, 1, 2, 63, 64, 512, 2048, 4096, 65535, 1U << 20,
					   UINT32_MAX - 1, UINT32_MAX };
	struct pcpbuddy_policy p = {
		.ownership = chance(c, 80),
		.fragment_recovery = chance(c, 80),
		.high = chance(c, 50) ? start_policy.high : values[below(c, 12)],
		.batch = chance(c, 50) ? start_policy.batch : 1 + below(c, 1024),
	};

	if (chance(c, 10))
		p.batch = values[below(c, 12)];
	if (chance(c, 10)) {
		switch (below(c, 4)) {
		case 0:
			p.ownership = 2 + below(c, 100);
			break;
		case 1:
			p.fragment_recovery = rnd(c) | 2;
			break;
		case 2:
			p.batch = 0;
			break;
		default:
			random_bytes(c, &p, sizeof(p));
			break;
		}
	}
	return p;
}

/* A random non-empty subset of mask. */
static uint64_t subset(struct ctx *c, uint64_t mask)
{
	uint64_t s;

	if (!mask)
		return 0;
	do
		s = rnd(c) & mask;
	while (!s);
	return s;
}

/* A benchmark run bench_validity() calls certainly valid and short. */
static struct pcpbuddy_bench bench_valid(struct ctx *c, uint64_t max_ops)
{
	struct pcpbuddy_bench b;
	int nr_alloc;

	memset(&b, 0, sizeof(b));
	b.pattern = below(c, PCPBUDDY_BENCH_NR_PATTERNS);
	b.backend = below(c, PCPBUDDY_BENCH_NR_BACKENDS);
	b.order = chance(c, 70) ? below(c, 3) : below(c, info.block_order + 1);
	b.alloc_cpus = subset(c, online_mask);
	b.seed = rnd(c);
	if (b.pattern == PCPBUDDY_BENCH_REMOTE || b.pattern == PCPBUDDY_BENCH_SOFTIRQ) {
		if (__builtin_popcountll(online_mask) < 2) {
			b.pattern = PCPBUDDY_BENCH_REPEAT;
		} else if (chance(c, 50)) {
			do
				b.alloc_cpus = subset(c, online_mask);
			while (__builtin_popcountll(b.alloc_cpus) < 2);
		} else {
			do {
				b.free_cpus = subset(c, online_mask);
				b.alloc_cpus = subset(c, online_mask);
			} while (!(b.alloc_cpus & ~b.free_cpus));
		}
	} else if ((b.pattern == PCPBUDDY_BENCH_RAND || b.pattern == PCPBUDDY_BENCH_EXIT) &&
		   chance(c, 50)) {
		b.free_cpus = subset(c, online_mask);
	}
	nr_alloc = __builtin_popcountll(b.alloc_cpus);
	/* Large orders: few operations, so that a run stays short. */
	b.ops = 1 + below(c, b.order > 4 ? 4 : max_ops);
	b.batch = chance(c, 50) ? 0 : 1 + below(c, 8);
	if (((uint64_t)b.batch * nr_alloc) << b.order > info.nr_pages / 2)
		b.batch = 0;
	if (b.pattern == PCPBUDDY_BENCH_CHURN && b.backend <= PCPBUDDY_BACKEND_POOL_CLASSIC &&
	    chance(c, 50)) {
		b.flags = PCPBUDDY_BENCH_PEAK_MAP;
		b.peak_map = (uintptr_t)peak_map;
		b.peak_map_len = 1 + below(c, PEAK_MAP_LEN);
	}
	return b;
}

/* A valid run with one field broken the way the ABI documents as refused. */
static void bench_break(struct ctx *c, struct pcpbuddy_bench *b)
{
	switch (below(c, 9)) {
	case 0:
		b->pattern = PCPBUDDY_BENCH_NR_PATTERNS + below(c, 1000);
		break;
	case 1:
		b->backend = PCPBUDDY_BENCH_NR_BACKENDS + (uint32_t)rnd(c) % 0xfffffff0U;
		break;
	case 2:
		b->order = info.block_order + 1 + below(c, 100);
		break;
	case 3:
		b->ops = 0;
		break;
	case 4:
		b->alloc_cpus = 0;
		break;
	case 5:
		b->flags |= 1U << (1 + below(c, 31));
		break;
	case 6:
		b->alloc_cpus |= ~online_mask ? ~online_mask & -(~online_mask) : 0;
		if (!b->alloc_cpus || mask_online(b->alloc_cpus))
			b->ops = 0;
		break;
	case 7:
		/* A peak map without the flag, or the flag with no room (or on another run). */
		if (b->flags) {
			b->flags = 0;
		} else {
			b->flags = PCPBUDDY_BENCH_PEAK_MAP;
			b->peak_map_len = 0;
		}
		break;
	default:
		b->free_cpus |= 1ULL << 63;
		if (online_mask & (1ULL << 63))
			b->ops = 0;
		break;
	}
}

/* ---- one call of each command ---- */

/* Makes the call k with the contents c (size of the command), from any pointer kind. */
static int call_at(struct ctx *c, enum kind k, int fd, const void *content, size_t ro_off,
		   unsigned int (*oracle)(struct ctx *, const void *), bool readonly_ok,
		   void **where)
{
	enum ptr_kind p = pick_ptr_kind(c, readonly_ok);
	size_t size = _IOC_SIZE(cmds[k]);
	const void *seen;
	void *arg = place(c, p, content, size, ro_off, &seen);
	unsigned int expect = seen ? oracle(c, seen) : WANT_EFAULT;

	if (where)
		*where = ptr_readable(p) && p != P_READONLY ? arg : NULL;
	return call(c, k, fd, cmds[k], arg, expect_at(expect, k, p), p);
}

static unsigned int oracle_ok(struct ctx *c, const void *p)
{
	return WANT_OK;
}

static unsigned int oracle_alloc(struct ctx *c, const void *p)
{
	return expect_alloc(p);
}

static unsigned int oracle_free_any(struct ctx *c, const void *p)
{
	return expect_free_any(p);
}

static unsigned int oracle_policy(struct ctx *c, const void *p)
{
	return expect_policy(p);
}

static unsigned int oracle_drain(struct ctx *c, const void *p)
{
	int32_t cpu;

	memcpy(&cpu, p, sizeof(cpu));
	return expect_drain(cpu);
}

static unsigned int oracle_bench(struct ctx *c, const void *p)
{
	struct pcpbuddy_bench b;

	memcpy(&b, p, sizeof(b));
	return expect_bench(&b);
}

/*
 * The INFO answer must describe the pool found at start. Not outstanding_pages:
 * exact only when the pool is idle (debugfs.md), and seen above nr_pages under
 * traffic.
 */
static void check_info(struct ctx *c, const struct pcpbuddy_info *i)
{
	if (i->abi_version != info.abi_version || i->block_order != info.block_order ||
	    i->page_size != info.page_size || i->nr_pages != info.nr_pages)
		failure(c, "INFO changed: abi %u order %u page %u pages %llu",
			i->abi_version, i->block_order, i->page_size,
			(unsigned long long)i->nr_pages);
}

static void do_info(struct ctx *c, int fd)
{
	struct pcpbuddy_info i;
	void *where;

	random_bytes(c, &i, sizeof(i));
	if (!call_at(c, K_INFO, fd, &i, RO_RANDOM, oracle_ok, true, &where) && where) {
		memcpy(&i, where, sizeof(i));
		check_info(c, &i);
	}
}

static void do_get_policy(struct ctx *c, int fd)
{
	struct pcpbuddy_policy p;
	void *where;

	random_bytes(c, &p, sizeof(p));
	if (!call_at(c, K_GET_POLICY, fd, &p, RO_RANDOM, oracle_ok, true, &where) && where) {
		memcpy(&p, where, sizeof(p));
		/* Fields may come from different writers, but each is valid. */
		if (p.ownership > 1 || p.fragment_recovery > 1 || !p.batch)
			failure(c, "GET_POLICY: ownership %u fragment_recovery %u batch %u",
				p.ownership, p.fragment_recovery, p.batch);
	}
}

static void do_set_policy(struct ctx *c, int fd)
{
	struct pcpbuddy_policy p = policy_req(c);

	call_at(c, K_SET_POLICY, fd, &p, chance(c, 80) ? RO_POLICY : RO_RANDOM, oracle_policy,
		true, NULL);
}

static void do_verify(struct ctx *c, int fd)
{
	/* The accounting check needs an idle pool: EUCLEAN is allowed under traffic. */
	call(c, K_VERIFY, fd, cmds[K_VERIFY], (void *)(uintptr_t)rnd(c), WANT_OK | WANT_EUCLEAN,
	     P_GOOD);
}

static void do_drain(struct ctx *c, int fd)
{
	int32_t cpu = pick_cpu(c, 15);

	call_at(c, K_DRAIN, fd, &cpu, chance(c, 80) ? RO_DRAIN : RO_RANDOM, oracle_drain, true,
		NULL);
}

/* A successful run's results must be well formed. */
static void check_bench(struct ctx *c, const struct pcpbuddy_bench *b, bool complete)
{
	uint64_t allocs = 0, frees = 0;
	uint64_t cpus = b->alloc_cpus | b->free_cpus;

	if (b->nr_cpus < 1 || b->nr_cpus > (unsigned int)__builtin_popcountll(cpus) ||
	    b->nr_samples > PCPBUDDY_BENCH_MAX_SAMPLES) {
		failure(c, "BENCH pattern %u backend %u: nr_cpus %u nr_samples %u", b->pattern,
			b->backend, b->nr_cpus, b->nr_samples);
		return;
	}
	for (unsigned int i = 0; i < b->nr_cpus; i++) {
		const struct pcpbuddy_bench_cpu *r = &b->cpus[i];

		if (r->cpu >= 64 || !(cpus & (1ULL << r->cpu)))
			failure(c, "BENCH: a result for cpu %u, not asked for", r->cpu);
		if (complete && (r->role & PCPBUDDY_BENCH_ROLE_ALLOC) &&
		    b->pattern != PCPBUDDY_BENCH_CHURN && r->allocs + r->failures < b->ops)
			failure(c, "BENCH pattern %u backend %u: cpu %u made %llu of %llu allocs",
				b->pattern, b->backend, r->cpu, (unsigned long long)r->allocs,
				(unsigned long long)b->ops);
		allocs += r->allocs;
		frees += r->frees;
	}
	/*
	 * Every page a run allocated it frees, also when stopped by a signal (churn
	 * counts failed allocations too).
	 */
	if (b->pattern != PCPBUDDY_BENCH_CHURN && allocs != frees)
		failure(c, "BENCH pattern %u backend %u order %u: %llu allocations, %llu frees",
			b->pattern, b->backend, b->order, (unsigned long long)allocs,
			(unsigned long long)frees);
	/* A peak map counts the pool's blocks (0: no sample, or no map asked for). */
	if (b->peak_map_nr && b->peak_map_nr != info.nr_pages >> info.block_order)
		failure(c, "BENCH churn: peak_map_nr %u, the pool has %llu blocks", b->peak_map_nr,
			(unsigned long long)(info.nr_pages >> info.block_order));
	if (!(b->flags & PCPBUDDY_BENCH_PEAK_MAP) && (b->peak_map_nr || b->peak.ns))
		failure(c, "BENCH: a peak map that was not asked for");
}

static void do_bench(struct ctx *c, int fd)
{
	struct pcpbuddy_bench b = bench_valid(c, BENCH_OPS_MAX);
	size_t ro_off = RO_BENCH;
	void *where;
	int err;

	if (chance(c, 30))
		bench_break(c, &b);
	if (chance(c, 5)) {
		/* Anything; the oracle must still be sure it is short. */
		random_bytes(c, &b, 64);
		if (!bench_bounded(&b))
			b.ops = 0;
	}
	if (chance(c, 20))
		ro_off = RO_RANDOM + below(c, RO_SIZE - RO_RANDOM - sizeof(b));
	{
		struct pcpbuddy_bench ro_b;

		memcpy(&ro_b, ro + ro_off, sizeof(ro_b));
		if (!bench_bounded(&ro_b))
			ro_off = RO_BENCH;
	}
	err = call_at(c, K_BENCH, fd, &b, ro_off, oracle_bench, true, &where);
	if (!err && where) {
		memcpy(&b, where, sizeof(b));
		check_bench(c, &b, true);
		if (b.backend < PCPBUDDY_BENCH_NR_BACKENDS)
			__atomic_fetch_add(&sh->bench_done[b.backend], 1, __ATOMIC_RELAXED);
	}
}

/* ---- replays ---- */

/* The operations of the read-only prepared replay: valid, a cross-CPU free, one left live. */
static const struct pcpbuddy_replay_op ro_replay_ops[] = {
	{ .id = 0, .cpu = 0, .order = 0 },
	{ .id = 1, .cpu = 1, .order = 1 },
	{ .id = 0, .cpu = 1, .order = 0, .flags = PCPBUDDY_REPLAY_OP_FREE },
	{ .id = 2, .cpu = 2, .order = 0 },
};

/* The header fields the ABI refuses (before it reads the operations). */
static bool replay_header_valid(const struct pcpbuddy_replay *r)
{
	return r->backend < PCPBUDDY_BENCH_NR_BACKENDS && !r->flags && r->nr_ops &&
	       r->nr_ops <= PCPBUDDY_REPLAY_MAX_OPS && mask_online(r->cpu_mask) &&
	       (r->cpu_mask || online_mask);
}

/* The kernel's validation of the operations (ioctl.md): valid or not. */
static bool replay_ops_valid(const struct pcpbuddy_replay_op *ops, uint64_t n)
{
	uint8_t order[REPLAY_OPS];
	bool freed[REPLAY_OPS] = { false };
	unsigned int allocs = 0;

	if (n > REPLAY_OPS)
		return false;	/* never built so; the callers do not ask */
	for (uint64_t i = 0; i < n; i++) {
		const struct pcpbuddy_replay_op *o = &ops[i];

		if ((o->flags & ~PCPBUDDY_REPLAY_OP_FREE) || o->order > info.block_order)
			return false;
		if (!(o->flags & PCPBUDDY_REPLAY_OP_FREE)) {
			if (o->id != allocs)
				return false;
			order[allocs++] = o->order;
		} else if (o->id >= allocs || freed[o->id] || order[o->id] != o->order) {
			return false;
		} else {
			freed[o->id] = true;
		}
	}
	return true;
}

/*
 * What the current replay call's operations are, for the oracle: the address passed, whether
 * the kernel can read all of them, and whether they are valid. An ops address in the
 * arguments that is none of these (random contents) gets the wide expectation.
 */
struct replay_ops_seen {
	uint64_t addr, n;
	bool readable, valid;
};
static __thread struct replay_ops_seen replay_seen;

static unsigned int expect_replay(const struct pcpbuddy_replay *r)
{
	if (!replay_header_valid(r))
		return WANT_EINVAL;
	if (r->ops == replay_seen.addr && r->nr_ops == replay_seen.n) {
		if (!replay_seen.readable)
			return WANT_EFAULT;
		if (!replay_seen.valid)
			return WANT_EINVAL;
		return WANT_OK | WANT_EBUSY | WANT_ENOMEM;
	}
	if (r->ops == (uintptr_t)(ro + RO_REPLAY_OPS) && r->nr_ops == ARRAY_SIZE(ro_replay_ops))
		return WANT_OK | WANT_EBUSY | WANT_ENOMEM;
	/* Operations the fuzzer did not make: it cannot tell, but a long valid trace is not
	 * possible by chance (allocations must be numbered 0, 1, 2, ...). */
	return WANT_OK | WANT_EBUSY | WANT_ENOMEM | WANT_EINVAL | WANT_EFAULT;
}

static unsigned int oracle_replay(struct ctx *c, const void *p)
{
	struct pcpbuddy_replay r;

	memcpy(&r, p, sizeof(r));
	return expect_replay(&r);
}

/* A replay that completed must be well formed: every allocation freed once. */
static void check_replay(struct ctx *c, const struct pcpbuddy_replay *r)
{
	uint64_t allocs = 0, frees = 0;
	uint64_t mask = r->cpu_mask ? r->cpu_mask : online_mask;

	if (r->nr_cpus < 1 || r->nr_cpus > (unsigned int)__builtin_popcountll(mask) ||
	    r->nr_samples > PCPBUDDY_REPLAY_SAMPLES) {
		failure(c, "REPLAY backend %u: nr_cpus %u nr_samples %u", r->backend, r->nr_cpus,
			r->nr_samples);
		return;
	}
	for (unsigned int i = 0; i < r->nr_cpus; i++) {
		const struct pcpbuddy_replay_cpu *t = &r->cpus[i];

		if (t->cpu >= 64 || !(mask & (1ULL << t->cpu)))
			failure(c, "REPLAY: a thread on cpu %u, not asked for", t->cpu);
		allocs += t->allocs;
		frees += t->frees + t->frees_at_end;
	}
	if (allocs != frees)
		failure(c, "REPLAY backend %u: %llu allocations, %llu frees", r->backend,
			(unsigned long long)allocs, (unsigned long long)frees);
}

/* A random trace: mostly valid (allocations, frees of live ones, on random recorded CPUs). */
static unsigned int replay_ops_build(struct ctx *c, struct pcpbuddy_replay_op *ops)
{
	unsigned int n = 1 + below(c, REPLAY_OPS), allocs = 0, live[REPLAY_OPS], nlive = 0;
	uint8_t order[REPLAY_OPS];

	for (unsigned int i = 0; i < n; i++) {
		uint16_t cpu = chance(c, 10) ? rnd(c) : below(c, 8);

		if (nlive && chance(c, 45)) {
			unsigned int k = below(c, nlive), id = live[k];

			live[k] = live[--nlive];
			ops[i] = (struct pcpbuddy_replay_op){ .id = id, .cpu = cpu, .order = order[id],
							      .flags = PCPBUDDY_REPLAY_OP_FREE };
		} else {
			order[allocs] = chance(c, 80) ? below(c, 2) : below(c, info.block_order + 1);
			ops[i] = (struct pcpbuddy_replay_op){ .id = allocs, .cpu = cpu,
							      .order = order[allocs] };
			live[nlive++] = allocs++;
		}
	}
	if (chance(c, 25)) {
		struct pcpbuddy_replay_op *o = &ops[below(c, n)];

		switch (below(c, 5)) {
		case 0:
			o->flags |= 2U << below(c, 7);
			break;
		case 1:
			o->order = info.block_order + 1 + below(c, 200);
			break;
		case 2:
			o->id += 1 + below(c, 3);
			break;
		case 3:
			o->flags ^= PCPBUDDY_REPLAY_OP_FREE;
			break;
		default:
			o->order ^= 1;
			break;
		}
	}
	return n;
}

static void do_replay(struct ctx *c, int fd)
{
	struct pcpbuddy_replay_op ops[REPLAY_OPS + 1];
	unsigned char misaligned[sizeof(ops) + 8] __attribute__((aligned(8)));
	struct pcpbuddy_replay r;
	enum ptr_kind p = pick_ptr_kind(c, true);
	size_t ro_off = RO_REPLAY;
	unsigned int n = replay_ops_build(c, ops);
	const void *seen;
	void *at, *where;
	int err;

	memset(&r, 0, sizeof(r));
	r.backend = below(c, PCPBUDDY_BENCH_NR_BACKENDS);
	r.cpu_mask = chance(c, 40) ? 0 : subset(c, online_mask);
	r.nr_ops = n;
	/* Where the operations are. */
	replay_seen = (struct replay_ops_seen){ .n = n, .readable = true,
						.valid = replay_ops_valid(ops, n) };
	switch (p) {
	case P_GOOD:
		at = ops;
		break;
	case P_MISALIGNED:
		at = misaligned + 1 + below(c, 7);
		memcpy(at, ops, n * sizeof(*ops));
		break;
	case P_READONLY:
		at = ro + RO_REPLAY_OPS;
		replay_seen.n = r.nr_ops = ARRAY_SIZE(ro_replay_ops);
		replay_seen.valid = true;
		break;
	default:
		at = place(c, p, ops, n * sizeof(*ops), RO_RANDOM, &seen);
		replay_seen.readable = false;
		break;
	}
	r.ops = replay_seen.addr = (uintptr_t)at;
	if (chance(c, 20)) {
		switch (below(c, 5)) {
		case 0:
			r.backend = PCPBUDDY_BENCH_NR_BACKENDS + below(c, 1000);
			break;
		case 1:
			r.flags = 1U << below(c, 32);
			break;
		case 2:
			r.nr_ops = chance(c, 50) ? 0 : PCPBUDDY_REPLAY_MAX_OPS + 1 + below(c, 1000);
			break;
		case 3:
			r.cpu_mask |= ~online_mask ? ~online_mask & -(~online_mask) : 0;
			break;
		default:
			r.cpu_mask |= 1ULL << 63;
			break;
		}
	}
	if (chance(c, 3))
		random_bytes(c, &r, 40);	/* the in fields: anything */
	if (chance(c, 10))
		ro_off = RO_RANDOM + below(c, RO_SIZE - RO_RANDOM - sizeof(r));
	err = call_at(c, K_REPLAY, fd, &r, ro_off, oracle_replay, true, &where);
	if (!err && where) {
		memcpy(&r, where, sizeof(r));
		check_replay(c, &r);
		if (r.backend < PCPBUDDY_BENCH_NR_BACKENDS)
			__atomic_fetch_add(&sh->replay_done[r.backend], 1, __ATOMIC_RELAXED);
	}
}

/* Anything but one of the ABI's commands: ENOTTY, whatever the argument. */
static void do_bad_number(struct ctx *c, int fd)
{
	/* Magics the VFS itself answers (FIONBIO, FIFREEZE, FICLONE, ...): never sent. */
	static const unsigned char vfs_magics[] = { 0x00, 0x15, 'T', 'X', 'f', 0x89, 0x94 };
	enum kind k;
	unsigned long cmd, size, magic;
	unsigned int base = cmds[below(c, NR_CMDS)];
	enum ptr_kind p = pick_ptr_kind(c, true);
	unsigned char junk[64];
	const void *seen;
	void *arg;

	do {
		switch (below(c, 4)) {
		case 0:
			k = K_RESIZED;
			/* Off by a few bytes, or anything. */
			size = _IOC_SIZE(base) + below(c, 9) - 4;
			if (chance(c, 50))
				size = below(c, 1 << 14);
			cmd = _IOC(below(c, 4), PCPBUDDY_IOC_MAGIC, _IOC_NR(base),
				   size & _IOC_SIZEMASK);
			cmd &= 0xffffffffUL;
			break;
		case 1:
			k = K_NEIGHBOUR;
			cmd = _IOC(_IOC_DIR(base), PCPBUDDY_IOC_MAGIC,
				   chance(c, 50) ? NR_CMDS + below(c, 8) : 0xff - below(c, 8),
				   _IOC_SIZE(base));
			break;
		case 2:
			k = K_RANDOM_NR;
			cmd = (rnd(c) & 0xffff00ffUL) | (PCPBUDDY_IOC_MAGIC << _IOC_TYPESHIFT);
			break;
		default:
			k = K_OTHER_MAGIC;
			cmd = rnd(c) & 0xffffffffUL;
			if (chance(c, 50)) {	/* a near miss: one of ours under another magic */
				magic = PCPBUDDY_IOC_MAGIC ^ (1 + below(c, 255));
				cmd = (cmds[below(c, NR_CMDS)] & ~(0xffUL << _IOC_TYPESHIFT)) |
				      magic << _IOC_TYPESHIFT;
			}
			if (memchr(vfs_magics, _IOC_TYPE(cmd), sizeof(vfs_magics)) ||
			    _IOC_TYPE(cmd) == PCPBUDDY_IOC_MAGIC)
				cmd = 0;	/* draw again */
			break;
		}
		for (unsigned int i = 0; i < NR_CMDS; i++)
			if (cmd == cmds[i])
				cmd = 0;
		if (cmd == PCPBUDDY_IOC_BENCH_V1)	/* ABI 1's BENCH, still served */
			cmd = 0;
	} while (!cmd);
	random_bytes(c, junk, sizeof(junk));
	arg = place(c, p, junk, sizeof(junk), RO_RANDOM, &seen);
	call(c, k, fd, cmd, arg, WANT_ENOTTY, p);
}

/* read() and write() on the device: it has neither. */
static void do_dev_rw(struct ctx *c, int fd)
{
	size_t n = below(c, 2 * page);
	ssize_t ret = chance(c, 50) ? read(fd, c->buf, n) : write(fd, c->buf, n);
	int err = ret < 0 ? errno : 0;

	count(K_DEV_RW, err);
	if (ret > 0 || (ret < 0 && err != EINVAL && !(c->worker == W_CHAOS && err == EBADF)))
		failure(c, "read/write of %zu bytes on the device: %zd (%s)", n, ret,
			ret < 0 ? strerrorname_np(err) : "OK");
}

/* ---- strict workers ---- */

static int open_device(struct ctx *c)
{
	int fd = open(DEVICE, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		failure(c, "open %s: %s", DEVICE, strerror(errno));
	return fd;
}

static struct held *strict_find(struct strict_file *f, uint32_t handle)
{
	for (int i = 0; i < f->n; i++)
		if (f->h[i].handle == handle)
			return &f->h[i];
	return NULL;
}

static void strict_alloc(struct ctx *c, struct strict_file *f)
{
	struct pcpbuddy_alloc a = alloc_req(c, !chance(c, 10));
	enum ptr_kind p = pick_ptr_kind(c, false);
	unsigned int expect = expect_alloc(&a);
	const void *seen;
	void *arg;
	struct held *h;

	if (f->n == HELD_MAX && ptr_readable(p) && (expect & WANT_OK))
		return;
	arg = place(c, p, &a, sizeof(a), 0, &seen);
	if (call(c, K_ALLOC, f->fd, cmds[K_ALLOC], arg, expect_at(expect, K_ALLOC, p), p) ||
	    !seen)
		return;
	memcpy(&a, arg, sizeof(a));
	if (a.pfn & ((1ULL << a.order) - 1))
		failure(c, "ALLOC order %u: pfn %#llx misaligned", a.order,
			(unsigned long long)a.pfn);
	if (strict_find(f, a.handle))
		failure(c, "ALLOC: handle %u is already held by this file", a.handle);
	if (!mark_pages(a.pfn, a.order, true))
		failure(c, "ALLOC order %u: pfn %#llx outside the pool or held by another strict thread",
			a.order, (unsigned long long)a.pfn);
	h = &f->h[f->n++];
	*h = (struct held){ .handle = a.handle, .order = a.order, .pfn = a.pfn,
			    .filled = a.flags & PCPBUDDY_ALLOC_FILL };
}

/* Frees held allocation i of f, rightly or (wrong = true) with a field wrong. */
static void strict_free(struct ctx *c, struct strict_file *f, int i, bool wrong)
{
	struct held *h = &f->h[i];
	struct pcpbuddy_free fr = {
		.handle = h->handle,
		.cpu = pick_cpu(c, 0),
		.order = h->order,
		.flags = chance(c, 60) ? PCPBUDDY_FREE_CHECK : 0,
	};
	enum ptr_kind p = chance(c, 90) ? P_GOOD : pick_ptr_kind(c, false);
	unsigned int expect = WANT_OK;
	const void *seen;
	void *arg;
	int err;

	if (wrong) {
		switch (below(c, 3)) {
		case 0:
			/* any other order, up to an invalid one */
			fr.order = (h->order + 1 + below(c, info.block_order)) %
				   (info.block_order + 2);
			break;
		case 1:
			fr.cpu = pick_cpu(c, 100);
			break;
		default:
			fr.flags |= 2U << below(c, 31);
			break;
		}
		expect = WANT_EINVAL;
	}
	/*
	 * The pattern check comes first (ioctl.md), so pages not filled at allocation
	 * fail it even when the order is wrong; unless an earlier user of the pages
	 * left the same pattern in them.
	 */
	if (fr.flags == PCPBUDDY_FREE_CHECK && cpu_valid(fr.cpu) && !h->filled)
		expect |= WANT_EIO;
	expect = expect_at(expect, K_FREE, p);
	/* Unmark first: the moment the kernel has the pages back, another thread may get them. */
	if (expect & WANT_OK)
		mark_pages(h->pfn, h->order, false);
	arg = place(c, p, &fr, sizeof(fr), 0, &seen);
	err = call(c, K_FREE, f->fd, cmds[K_FREE], arg, expect, p);
	if (!err) {
		*h = f->h[--f->n];
	} else if (expect & WANT_OK) {
		if (!mark_pages(h->pfn, h->order, true))
			failure(c, "a refused FREE of handle %u lost its pages to someone else",
				h->handle);
	}
}

/* Frees a handle this file does not hold: never issued, freed already, or another file's. */
static void strict_free_bogus(struct ctx *c, struct strict_file *f, struct strict_file *other)
{
	struct pcpbuddy_free fr = {
		.cpu = pick_cpu(c, 0), .order = pick_order(c),
		.flags = chance(c, 50) ? PCPBUDDY_FREE_CHECK : 0,
	};

	if (other->n && chance(c, 50)) {
		const struct held *h = &other->h[below(c, other->n)];

		fr.handle = h->handle;
		fr.order = h->order;
	} else {
		fr.handle = chance(c, 50) ? below(c, 2 * HELD_MAX) : (uint32_t)rnd(c);
	}
	if (strict_find(f, fr.handle))
		return;
	memcpy(c->buf, &fr, sizeof(fr));
	call(c, K_FREE, f->fd, cmds[K_FREE], c->buf, WANT_EINVAL, P_GOOD);
}

static void strict_close(struct ctx *c, struct strict_file *f)
{
	/* Closing frees whatever the file holds: unmark it before. */
	for (int i = 0; i < f->n; i++)
		mark_pages(f->h[i].pfn, f->h[i].order, false);
	f->n = 0;
	if (f->fd >= 0 && close(f->fd))
		failure(c, "close: %s", strerror(errno));
	f->fd = -1;
}

static void *strict_thread(void *arg)
{
	struct ctx *c = arg;

	for (int i = 0; i < 2; i++)
		c->files[i].fd = open_device(c);
	while (!stopping()) {
		int which = below(c, 2);
		struct strict_file *f = &c->files[which];
		unsigned int r = below(c, 1000);

		if (f->fd < 0)
			f->fd = open_device(c);
		if (f->fd < 0)
			break;
		if (quiet()) {
			/* Give everything back, then anything but allocations. */
			for (int i = 0; i < 2; i++)
				while (c->files[i].n)
					strict_free(c, &c->files[i], 0, false);
			if (r < 370)
				r = 740 + below(c, 260);
		}
		if (r < 370)
			strict_alloc(c, f);
		else if (r < 700 && f->n)
			strict_free(c, f, below(c, f->n), false);
		else if (r < 740 && f->n)
			strict_free(c, f, below(c, f->n), true);
		else if (r < 790)
			strict_free_bogus(c, f, &c->files[!which]);
		else if (r < 830)
			do_info(c, f->fd);
		else if (r < 850)
			do_get_policy(c, f->fd);
		else if (r < 860)
			do_set_policy(c, f->fd);
		else if (r < 880)
			do_drain(c, f->fd);
		else if (r < 890)
			do_verify(c, f->fd);
		else if (r < 900)
			do_bench(c, f->fd);
		else if (r < 910)
			do_replay(c, f->fd);
		else if (r < 960)
			do_bad_number(c, f->fd);
		else if (r < 970)
			do_dev_rw(c, f->fd);
		else if (r < 975)
			strict_close(c, f);
	}
	/* Free half of what is left by hand, leave the rest to close. */
	for (int i = 0; i < 2; i++) {
		while (c->files[i].n > HELD_MAX / 2)
			strict_free(c, &c->files[i], 0, false);
		strict_close(c, &c->files[i]);
	}
	return NULL;
}

/* ---- chaos workers ---- */

/* The file in a slot of the process; opens one if the slot is empty. -1 if that failed. */
static int chaos_fd(struct ctx *c, int slot)
{
	int fd = __atomic_load_n(&c->chaos->fds[slot], __ATOMIC_RELAXED);
	int expected = -1;

	if (fd >= 0)
		return fd;
	fd = open_device(c);
	if (fd < 0)
		return -1;
	if (!__atomic_compare_exchange_n(&c->chaos->fds[slot], &expected, fd, false,
					 __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
		close(fd);
		return expected;
	}
	return fd;
}

/* Closes a file, whatever other threads are doing with it or hold in it. */
static void chaos_close(struct ctx *c)
{
	int fd = __atomic_exchange_n(&c->chaos->fds[below(c, CHAOS_FILES)], -1, __ATOMIC_RELAXED);

	if (fd >= 0 && close(fd))
		failure(c, "close: %s", strerror(errno));
}

/* Puts a dup of one file into an empty slot: a file with two descriptors. */
static void chaos_dup(struct ctx *c)
{
	int fd = chaos_fd(c, below(c, CHAOS_FILES)), dst = below(c, CHAOS_FILES);
	int expected = -1, nfd;

	if (fd < 0 || __atomic_load_n(&c->chaos->fds[dst], __ATOMIC_RELAXED) >= 0)
		return;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (nfd < 0) {
		if (errno != EBADF)
			failure(c, "dup: %s", strerror(errno));
		return;
	}
	if (!__atomic_compare_exchange_n(&c->chaos->fds[dst], &expected, nfd, false,
					 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		close(nfd);
}

static void chaos_alloc(struct ctx *c)
{
	struct pcpbuddy_alloc a = alloc_req(c, false);
	int slot = below(c, CHAOS_FILES), fd = chaos_fd(c, slot);
	void *where;

	/* Mostly small: big ones would empty the pool for everyone. */
	if (a.order > 4 && chance(c, 50))
		a.order = below(c, 3);
	if (fd < 0)
		return;
	if (!call_at(c, K_ALLOC, fd, &a, RO_ALLOC, oracle_alloc, true, &where) && where) {
		unsigned int i = __atomic_fetch_add(&c->chaos->next_issued, 1, __ATOMIC_RELAXED);

		memcpy(&a, where, sizeof(a));
		c->chaos->issued[i % ISSUED_MAX] =
			(struct issued){ .handle = a.handle, .order = a.order, .file = slot };
	}
}

static void chaos_free(struct ctx *c)
{
	struct issued is = c->chaos->issued[below(c, ISSUED_MAX)];
	/* Mostly on the file the handle came from (if still open), else on another one. */
	int slot = chance(c, 60) ? (unsigned int)is.file % CHAOS_FILES : below(c, CHAOS_FILES);
	int fd = chaos_fd(c, slot);
	struct pcpbuddy_free f = {
		.handle = is.handle, .order = is.order, .cpu = pick_cpu(c, 5),
		.flags = chance(c, 30) ? PCPBUDDY_FREE_CHECK : 0,
	};

	if (fd < 0)
		return;
	switch (below(c, 10)) {
	case 0:
		f.handle = below(c, 64);	/* maybe someone's */
		break;
	case 1:
		f.handle = UINT32_MAX - below(c, 4);	/* never issued */
		break;
	case 2:
		f.handle = rnd(c);
		break;
	case 3:
		f.order = below(c, info.block_order + 3);
		break;
	case 4:
		f.flags = rnd(c);
		break;
	default:
		break;	/* as issued */
	}
	call_at(c, K_FREE, fd, &f, RO_FREE, oracle_free_any, true, NULL);
}

static void *chaos_thread(void *arg)
{
	struct ctx *c = arg;
	int quiet_fd = -1;	/* a file of its own, for calls that do not allocate */

	while (!stopping()) {
		unsigned int r = below(c, 1000);
		int fd;

		if (quiet()) {
			/*
			 * Close every shared file, each iteration: another thread may just
			 * have opened one. Their pages go back when the last call on them
			 * returns.
			 */
			for (int i = 0; i < CHAOS_FILES; i++) {
				fd = __atomic_exchange_n(&c->chaos->fds[i], -1, __ATOMIC_RELAXED);
				if (fd >= 0)
					close(fd);
			}
			if (quiet_fd < 0)
				quiet_fd = open_device(c);
			if (quiet_fd < 0)
				break;
			if (r < 60) {
				/*
				 * Frees of whatever, which this file mostly refuses: mostly,
				 * because another thread may still use a number it read from a
				 * slot before that file was closed, and that number may now be
				 * this file's.
				 */
				struct pcpbuddy_free f = { .handle = below(c, 64), .cpu = -1 };

				memcpy(c->buf, &f, sizeof(f));
				call(c, K_FREE, quiet_fd, cmds[K_FREE], c->buf,
				     WANT_OK | WANT_EINVAL, P_GOOD);
				continue;
			}
			if (r < 615)
				r = 615 + below(c, 385);
		} else if (quiet_fd >= 0) {
			close(quiet_fd);
			quiet_fd = -1;
		}
		if (r < 300) {
			chaos_alloc(c);
			continue;
		}
		if (r < 600) {
			chaos_free(c);
			continue;
		}
		if (r < 610) {
			chaos_close(c);
			continue;
		}
		if (r < 615) {
			chaos_dup(c);
			continue;
		}
		fd = quiet_fd >= 0 ? quiet_fd : chaos_fd(c, below(c, CHAOS_FILES));
		if (fd < 0)
			break;
		if (r < 660)
			do_info(c, fd);
		else if (r < 680)
			do_get_policy(c, fd);
		else if (r < 700)
			do_set_policy(c, fd);
		else if (r < 730)
			do_drain(c, fd);
		else if (r < 740)
			do_verify(c, fd);
		else if (r < 760)
			do_bench(c, fd);
		else if (r < 775)
			do_replay(c, fd);
		else if (r < 980)
			do_bad_number(c, fd);
		else
			do_dev_rw(c, fd);
	}
	if (quiet_fd >= 0)
		close(quiet_fd);
	return NULL;
}

/* ---- debugfs workers ---- */

struct dfs_file {
	char path[sizeof(DEBUGFS) + 256];
	const char *name;
	bool writable;
};

static struct dfs_file dfs[MAX_DFS_FILES];
static int nr_dfs;
static const char *dfs_excluded[MAX_DFS_FILES];
static int nr_dfs_excluded;

static bool dfs_is_excluded(const char *name)
{
	for (int i = 0; i < nr_dfs_excluded; i++)
		if (!strcmp(dfs_excluded[i], name))
			return true;
	return false;
}

static void dfs_scan(void)
{
	DIR *d = opendir(DEBUGFS);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)) && nr_dfs < MAX_DFS_FILES) {
		struct dfs_file *f = &dfs[nr_dfs];
		struct stat st;

		if (e->d_name[0] == '.' || dfs_is_excluded(e->d_name))
			continue;
		snprintf(f->path, sizeof(f->path), DEBUGFS "/%s", e->d_name);
		if (stat(f->path, &st) || !S_ISREG(st.st_mode))
			continue;
		f->name = strrchr(f->path, '/') + 1;
		f->writable = st.st_mode & 0222;
		nr_dfs++;
	}
	closedir(d);
}

/* Text for a one-line message: C escapes for what is not printable. */
static void escape(char *out, size_t size, const char *in, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 5 < size; i++) {
		unsigned char ch = in[i];

		if (ch == '\n')
			o += snprintf(out + o, size - o, "\\n");
		else if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
			o += snprintf(out + o, size - o, "\\x%02x", ch);
		else
			out[o++] = ch;
	}
	out[o] = 0;
}

/* Reads a whole file in random pieces (some into bad buffers); checks what it says. */
#define TEXT_MAX (1 << 18)

static void dfs_read(struct ctx *c, const struct dfs_file *f)
{
	char *text = c->text;
	size_t len = 0;
	int fd = open(f->path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		failure(c, "open %s: %s", f->path, strerror(errno));
		return;
	}
	if (chance(c, 10)) {
		/*
		 * Nothing is read into a buffer the kernel cannot write, and the next
		 * read starts where this one failed. Only first: at the end of the file
		 * any read returns 0. (Every file here has contents.)
		 */
		enum ptr_kind p = P_NULL + below(c, P_STRADDLE - P_NULL);
		size_t n = 1 + below(c, 8192);
		const void *seen;
		void *buf = place(c, p, c->buf, 1, 0, &seen);
		ssize_t ret = read(fd, buf, n);
		int err = ret < 0 ? errno : 0;

		count(K_DFS_READ, err);
		if (ret != -1 || err != EFAULT)
			failure(c, "read(%s, %p [%s], %zu) = %zd (%s), expected EFAULT", f->name,
				buf, ptr_name[p], n, ret, ret < 0 ? strerrorname_np(err) : "OK");
	}
	for (;;) {
		size_t n = 1 + below(c, chance(c, 50) ? 64 : 8192);
		ssize_t ret;
		int err;

		if (n > TEXT_MAX - len)
			n = TEXT_MAX - len;
		ret = read(fd, text + len, n);
		err = ret < 0 ? errno : 0;
		count(K_DFS_READ, err);
		if (ret < 0) {
			failure(c, "read(%s, %zu) at %zu: %s", f->name, n, len, strerror(err));
			break;
		}
		if (ret == 0 || len + ret == TEXT_MAX)
			break;
		len += ret;
	}
	close(fd);
	text[len < TEXT_MAX ? len : TEXT_MAX - 1] = 0;
	/* The structure holds under traffic; the accounting only when idle. */
	if ((!strcmp(f->name, "verify") && !strstr(text, "structure: ok\n")) ||
	    (!strcmp(f->name, "policy") &&
	     (!strstr(text, "ownership: ") || !strstr(text, "batch: "))) ||
	    (!strcmp(f->name, "info") && !strstr(text, "outstanding_pages: "))) {
		char shown[256];

		escape(shown, sizeof(shown), text, len);
		failure(c, "debugfs %s under traffic: \"%s\"", f->name, shown);
	}
}

/* Text for the policy file, and whether it is certainly valid (1), invalid (0), or either (-1). */
static int policy_text(struct ctx *c, char *buf, size_t size, size_t *len)
{
	static const char *const keys[] = { "ownership", "fragment_recovery", "high", "batch" };
	static const char *const seps[] = { " ", "=", ": ", "\t", "  " };
	int valid = 1, lines = 1 + below(c, 4);
	int64_t batch = -1;	/* the last batch line's value */

	*len = 0;
	if (chance(c, 15)) {
		/* Random bytes, sometimes more than the file takes. */
		*len = chance(c, 80) ? below(c, 128) : 128 + below(c, size - 128);
		random_bytes(c, buf, *len);
		return -1;
	}
	for (int i = 0; i < lines; i++) {
		int k = below(c, 4);
		uint64_t v;

		if (k < 2)		/* ownership, fragment_recovery */
			v = below(c, 2);
		else if (k == 2)	/* high */
			v = chance(c, 50) ? start_policy.high : rnd(c) % (1ULL << 32);
		else			/* batch */
			v = 1 + below(c, 4096);

		if (chance(c, 8)) {
			switch (below(c, 5)) {
			case 0:
				v = k < 2 ? 2 + below(c, 10) : 1ULL << 32;
				valid = 0;
				break;
			case 1:
				/* batch 0: invalid unless a later line sets it */
				k = 3;
				v = 0;
				break;
			case 2:
				v = 1ULL << 32;
				valid = 0;
				break;
			default:
				k = -1;
				valid = 0;
				break;
			}
		}
		if (k == 3)
			batch = v;
		*len += snprintf(buf + *len, size - *len, "%s%s%s%" PRIu64 "%s",
				 k < 0 ? "nosuchkey" : keys[k], seps[below(c, 5)],
				 chance(c, 20) ? " " : "", v,
				 i + 1 < lines || chance(c, 70) ? "\n" : "");
	}
	/* The lines are applied together: only the resulting batch must not be 0. */
	if (!batch)
		valid = 0;
	/* The file takes at most 128 bytes (not part of the ABI: either answer is fine). */
	if (*len > 128)
		return -1;
	return valid;
}

static void dfs_write(struct ctx *c, const struct dfs_file *f)
{
	char text[512];
	size_t len;
	int valid = policy_text(c, text, sizeof(text), &len);
	enum ptr_kind p = chance(c, 90) ? P_GOOD : P_NULL + below(c, NR_PTR_KINDS - P_NULL);
	const void *seen;
	void *buf = place(c, p, text, len, 0, &seen);
	int fd = open(f->path, O_WRONLY | O_CLOEXEC);
	ssize_t ret;
	int err;
	bool ok;

	if (fd < 0) {
		failure(c, "open %s for writing: %s", f->path, strerror(errno));
		return;
	}
	ret = write(fd, buf, len);
	err = ret < 0 ? errno : 0;
	count(K_DFS_WRITE, err);
	close(fd);
	if (!ptr_readable(p) && ret == -1 && err == EFAULT)
		ok = true;	/* even for 0 bytes: write() checks the address first */
	else if (!ptr_readable(p) && len)
		ok = ret == -1 && err == EINVAL && len > 128;
	else if (valid == 1)
		ok = (size_t)ret == len;
	else if (valid == 0)
		ok = ret == -1 && err == EINVAL;
	else
		ok = (size_t)ret == len || (ret == -1 && err == EINVAL);
	if (!ok) {
		char shown[256];

		escape(shown, sizeof(shown), text, len);
		failure(c, "write(%s, %zu bytes [%s], \"%s\") = %zd (%s), expected %s", f->name,
			len, ptr_name[p], shown, ret, ret < 0 ? strerrorname_np(err) : "OK",
			valid == 1 ? "success" : valid == 0 ? "EINVAL" : "success or EINVAL");
	}
}

static void *debugfs_thread(void *arg)
{
	struct ctx *c = arg;
	int nr_writable = 0;

	c->text = malloc(TEXT_MAX);
	if (!c->text)
		exit(2);
	for (int i = 0; i < nr_dfs; i++)
		nr_writable += dfs[i].writable;
	while (!stopping()) {
		const struct dfs_file *f = &dfs[below(c, nr_dfs)];

		c->ops++;
		if (nr_writable && chance(c, 35)) {
			while (!f->writable)
				f = &dfs[below(c, nr_dfs)];
			dfs_write(c, f);
		} else {
			dfs_read(c, f);
		}
	}
	return NULL;
}

/* ---- processes ---- */

/* Runs nr threads of fn in this process; their watchdog slots start at slot. */
static void run_threads(enum worker w, int proc, int nr, int slot, void *(*fn)(void *))
{
	pthread_t t[nr];
	struct ctx *c = calloc(nr, sizeof(*c));
	struct chaos_proc *chaos = calloc(1, sizeof(*chaos));

	if (!c || !chaos)
		exit(2);
	for (int i = 0; i < CHAOS_FILES; i++)
		chaos->fds[i] = -1;
	for (int i = 0; i < nr; i++) {
		ctx_init(&c[i], w, proc, i, slot + i);
		c[i].chaos = chaos;
		if (pthread_create(&t[i], NULL, fn, &c[i])) {
			perror("pthread_create");
			exit(2);
		}
	}
	for (int i = 0; i < nr; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < CHAOS_FILES; i++)
		if (chaos->fds[i] >= 0)
			close(chaos->fds[i]);
}

static pid_t spawn(enum worker w, int proc, int nr_threads, int slot)
{
	pid_t pid = fork();

	if (pid < 0) {
		perror("fork");
		exit(2);
	}
	if (pid)
		return pid;
	switch (w) {
	case W_STRICT:
		run_threads(w, proc, nr_threads, slot, strict_thread);
		break;
	case W_CHAOS:
		run_threads(w, proc, nr_threads, slot, chaos_thread);
		break;
	default:
		run_threads(w, proc, nr_threads, slot, debugfs_thread);
		break;
	}
	exit(0);
}

/* ---- victims: killed by a signal in the middle of their calls ---- */

enum victim { V_BENCH_HANDLED, V_BENCH_DEFAULT, V_BENCH_KILL, V_ALLOC_INT, V_ALLOC_KILL,
	      NR_VICTIMS };
static const char *const victim_name[] = { "bench+SIGINT(handled)", "bench+SIGINT",
					   "bench+SIGKILL", "alloc+SIGINT", "alloc+SIGKILL" };

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	interrupted = 1;
}

/* Benchmark runs far too long to finish: only the signal ends them. */
static void __attribute__((noreturn)) victim_bench(struct ctx *c, int fd)
{
	c->signals = true;
	while (!interrupted) {
		struct pcpbuddy_bench b = bench_valid(c, 1);
		int err;

		b.ops = 1ULL << 30;
		b.batch = 0;
		/* Pool backends need an idle pool, rare under the fuzzer: mostly others. */
		if (chance(c, 70) && b.backend < PCPBUDDY_BACKEND_KERNEL) {
			b.backend = PCPBUDDY_BACKEND_KERNEL + below(c, 2);
			/* A peak map is the pool's only. */
			b.flags = 0;
			b.peak_map = 0;
			b.peak_map_len = 0;
		}
		memcpy(c->buf, &b, sizeof(b));
		err = call(c, K_BENCH, fd, cmds[K_BENCH], c->buf,
			   WANT_OK | WANT_EBUSY | WANT_ENOMEM, P_GOOD);
		if (!err)
			failure(c, "BENCH of 2^30 operations ended without a signal");
		if (err == EINTR) {
			memcpy(&b, c->buf, sizeof(b));
			check_bench(c, &b, false);
		}
		if (err == EBUSY)
			usleep(1000);
	}
	exit(0);
}

static void *victim_alloc_thread(void *arg)
{
	struct ctx *c = arg;
	int fd = c->files[0].fd;

	c->signals = true;
	for (;;) {
		struct pcpbuddy_alloc a = alloc_req(c, true);
		struct pcpbuddy_free f = { .cpu = -1, .flags = PCPBUDDY_FREE_CHECK };

		a.flags = PCPBUDDY_ALLOC_FILL;
		memcpy(c->buf, &a, sizeof(a));
		if (call(c, K_ALLOC, fd, cmds[K_ALLOC], c->buf, WANT_OK | WANT_ENOMEM, P_GOOD))
			continue;
		memcpy(&a, c->buf, sizeof(a));
		/* Keep most: the kill finds the file full. */
		if (chance(c, 70))
			continue;
		f.handle = a.handle;
		f.order = a.order;
		memcpy(c->buf, &f, sizeof(f));
		call(c, K_FREE, fd, cmds[K_FREE], c->buf, WANT_OK, P_GOOD);
	}
	return NULL;
}

static void __attribute__((noreturn)) victim_main(enum victim v, int n)
{
	struct ctx c[VICTIM_THREADS];
	sigset_t set;
	int fd;

	ctx_init(&c[0], W_VICTIM, n, 0, MAX_THREADS - VICTIM_THREADS);
	if (v == V_BENCH_HANDLED) {
		struct sigaction sa = { .sa_handler = on_sigint };	/* no SA_RESTART */

		sigaction(SIGINT, &sa, NULL);
	}
	/* The supervisor blocked SIGINT across the fork: now the handler is in place. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	fd = open_device(&c[0]);
	if (fd < 0)
		exit(1);
	if (v <= V_BENCH_KILL)
		victim_bench(&c[0], fd);
	for (int i = 1; i < VICTIM_THREADS; i++) {
		pthread_t t;

		ctx_init(&c[i], W_VICTIM, n, i, MAX_THREADS - VICTIM_THREADS + i);
		c[i].files[0].fd = chance(&c[0], 50) ? fd : open_device(&c[0]);
		pthread_create(&t, NULL, victim_alloc_thread, &c[i]);
	}
	c[0].files[0].fd = fd;
	victim_alloc_thread(&c[0]);
	exit(1);
}

/* ---- the supervisor ---- */

struct victim_run {
	pid_t pid;
	enum victim type;
	int sig;
	uint64_t started, kill_at, killed_at;
	struct slot *slot;	/* its main thread's: in a call or not */
};

static void dump_stacks(pid_t pid)
{
	char path[300], line[256];
	DIR *d;
	struct dirent *e;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return;
	while ((e = readdir(d))) {
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/stack", pid, e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		printf("stack of task %s:\n", e->d_name);
		while (fgets(line, sizeof(line), f))
			printf("  %s", line);
		fclose(f);
	}
	closedir(d);
	fflush(stdout);
}

static pid_t spawn_victim(struct victim_run *v, int n, uint64_t rng)
{
	sigset_t set, old;
	pid_t pid;

	v->type = rng % NR_VICTIMS;
	v->sig = v->type == V_BENCH_KILL || v->type == V_ALLOC_KILL ? SIGKILL : SIGINT;
	v->started = now_ns();
	/* In the alloc victims, any time; bench victims are killed once inside the call. */
	v->kill_at = v->started + (2 + (rng >> 8) % 100) * 1000000ULL;
	v->killed_at = 0;
	v->slot = &sh->slots[MAX_THREADS - VICTIM_THREADS];
	memset(v->slot, 0, VICTIM_THREADS * sizeof(*v->slot));
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, &old);
	pid = fork();
	if (pid == 0)
		victim_main(v->type, n);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		perror("fork");
		exit(2);
	}
	v->pid = pid;
	return pid;
}

/* A victim's end: by the signal it was sent, or (SIGINT handled) a clean exit. */
static void victim_ended(struct victim_run *v, int status)
{
	bool ok;

	if (v->type == V_BENCH_HANDLED)
		ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	else
		ok = (WIFSIGNALED(status) && WTERMSIG(status) == v->sig);
	if (!ok)
		failure(NULL, "victim %s: %s %d", victim_name[v->type],
			WIFSIGNALED(status) ? "killed by signal" : "exit status",
			WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	v->pid = 0;
}

static void check_hangs(uint64_t now)
{
	/* Not the victims': their runs are meant to last until the signal. */
	for (int i = 0; i < MAX_THREADS - VICTIM_THREADS; i++) {
		struct slot *s = &sh->slots[i];
		uint64_t start = __atomic_load_n(&s->start_ns, __ATOMIC_ACQUIRE);

		if (!start || start > now || now - start < HANG_SECONDS * 1000000000ULL)
			continue;
		failure(NULL, "hang: %s (tid %d) in %s cmd %#llx arg %#llx for %llu s", s->who,
			s->tid, kind_name[s->kind], (unsigned long long)s->cmd,
			(unsigned long long)s->arg,
			(unsigned long long)((now - start) / 1000000000ULL));
		dump_stacks(s->tid);
		s->start_ns = 0;	/* report once */
		__atomic_store_n(&sh->stop, 1, __ATOMIC_RELAXED);
	}
}

/* Waits for every worker, starting and killing victims meanwhile. */
static void supervise(pid_t *workers, int nr, bool victims, uint64_t seed_rng)
{
	struct victim_run v = {};
	int left = nr, nr_victims = 0;
	uint64_t next_victim = 0, next_phase = now_ns() + 1000000000ULL;
	uint64_t rng = splitmix(seed_rng);
	uint64_t give_up = sh->deadline_ns + 60 * 1000000000ULL;

	while (left || v.pid) {
		uint64_t now = now_ns();
		int status;
		pid_t pid;

		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			if (pid == v.pid) {
				victim_ended(&v, status);
				/* A pause, for the workers' own benchmark runs to get a turn. */
				rng = splitmix(rng);
				next_victim = now + rng % 500 * 1000000ULL;
				continue;
			}
			for (int i = 0; i < nr; i++) {
				if (workers[i] != pid)
					continue;
				workers[i] = 0;
				left--;
				if (WIFSIGNALED(status))
					failure(NULL, "worker process %d killed by signal %d", pid,
						WTERMSIG(status));
				else if (WEXITSTATUS(status))
					failure(NULL, "worker process %d exited with %d", pid,
						WEXITSTATUS(status));
			}
		}
		if (stopping() || !left)
			__atomic_store_n(&sh->stop, 1, __ATOMIC_RELAXED);
		if (now >= next_phase) {
			/* Busy for 1-3 s, then quiet for 0.2-1 s. */
			bool q = !quiet();

			rng = splitmix(rng);
			next_phase = now + (q ? 200 + rng % 800 : 1000 + rng % 2000) * 1000000ULL;
			__atomic_store_n(&sh->quiet, q, __ATOMIC_RELAXED);
			sh->quiet_phases += q;
		}
		if (victims && !v.pid && !sh->stop && !quiet() && now >= next_victim) {
			rng = splitmix(rng);
			spawn_victim(&v, nr_victims++, rng);
		}
		if (v.pid && !v.killed_at) {
			bool in_bench = v.type <= V_BENCH_KILL &&
					__atomic_load_n(&v.slot->start_ns, __ATOMIC_ACQUIRE) &&
					v.slot->kind == K_BENCH;
			/* Bench victims: once inside the call; give up waiting after 2 s. */
			if (sh->stop || quiet() || (v.type > V_BENCH_KILL && now >= v.kill_at) ||
			    (in_bench && now >= v.kill_at) || now >= v.started + 2000000000ULL) {
				kill(v.pid, v.sig);
				v.killed_at = now;
			}
		} else if (v.pid && now > v.killed_at + HANG_SECONDS * 1000000000ULL) {
			failure(NULL, "hang: victim %s did not end %d s after signal %d",
				victim_name[v.type], HANG_SECONDS, v.sig);
			dump_stacks(v.pid);
			kill(v.pid, SIGKILL);
			v.killed_at = now;	/* and wait for it */
			__atomic_store_n(&sh->stop, 1, __ATOMIC_RELAXED);
		}
		check_hangs(now);
		if (now > give_up) {
			failure(NULL, "hang: workers still running 60 s after the time limit");
			for (int i = 0; i < nr; i++)
				if (workers[i]) {
					dump_stacks(workers[i]);
					kill(workers[i], SIGKILL);
				}
			give_up = now + 600 * 1000000000ULL;
		}
		usleep(5000);
	}
	printf("victims: %d (killed in the middle of BENCH or ALLOC/FREE)\n", nr_victims);
}

/* ---- setup ---- */

static void read_cpus(void)
{
	for (unsigned int cpu = 0; cpu < info.nr_cpu_ids && cpu < MAX_CPUS; cpu++) {
		char path[64], ch = '1';
		int fd;

		snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%u/online", cpu);
		fd = open(path, O_RDONLY);
		if (fd >= 0) {
			if (read(fd, &ch, 1) != 1)
				ch = '0';
			close(fd);
		} else if (cpu) {
			/* No file: cpu0 cannot go offline; others do not exist. */
			char dir[64];

			snprintf(dir, sizeof(dir), "/sys/devices/system/cpu/cpu%u", cpu);
			ch = access(dir, F_OK) ? '0' : '1';
		}
		if (ch != '1')
			continue;
		cpu_is_online[cpu] = true;
		online_cpus[nr_online++] = cpu;
		if (cpu < 64)
			online_mask |= 1ULL << cpu;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The pool's blocks from debugfs "blocks" (index, pfn, ...), for the strict bitmap. */
static void read_blocks(void)
{
	FILE *f = fopen(DEBUGFS "/blocks", "r");
	size_t max = info.nr_pages >> info.block_order;
	char line[256];

	sh->block_pfn = mmap(NULL, (max + 1) * 8, PROT_READ | PROT_WRITE,
			     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	sh->bitmap = mmap(NULL, (info.nr_pages / 64 + 1) * 8, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh->block_pfn == MAP_FAILED || sh->bitmap == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	if (!f) {
		printf("no %s/blocks: double allocations are not checked\n", DEBUGFS);
		return;
	}
	while (fgets(line, sizeof(line), f) && sh->nr_blocks < max) {
		unsigned long long pfn;
		unsigned int index;

		if (sscanf(line, "%u %llx", &index, &pfn) == 2)
			sh->block_pfn[sh->nr_blocks++] = pfn;
	}
	fclose(f);
	qsort(sh->block_pfn, sh->nr_blocks, sizeof(uint64_t), cmp_u64);
	if (sh->nr_blocks != max) {
		printf("debugfs blocks lists %u blocks of %zu: double allocations not checked\n",
		       sh->nr_blocks, max);
		sh->nr_blocks = 0;
	}
}

/* An address range with nothing mapped: map a page, unmap it, make sure it stays unmapped. */
static void find_unmapped(void)
{
	/* High in the address space, far from the heap, the stacks and the libraries. */
	for (uintptr_t a = 0x100000000000UL; a < 0x700000000000UL; a += 0x10000000000UL) {
		void *p = mmap((void *)a, page, PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

		if (p == MAP_FAILED)
			continue;
		munmap(p, page);
		unmapped_addr = p;
		return;
	}
	unmapped_addr = (void *)0x100000000000UL;
}

static void map_args(void)
{
	struct pcpbuddy_alloc a = { .order = 0, .cpu = -1, .flags = PCPBUDDY_ALLOC_FILL };
	struct pcpbuddy_free f = { .handle = 0, .cpu = -1, .order = 0 };
	struct pcpbuddy_bench b = {
		.pattern = PCPBUDDY_BENCH_REPEAT, .backend = PCPBUDDY_BACKEND_FLOOR,
		.alloc_cpus = 1ULL << online_cpus[0], .ops = 16,
	};
	int32_t all = -1;
	struct ctx c = { .rng = splitmix(sh->seed) | 1 };

	guard = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ro = mmap(NULL, RO_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (guard == MAP_FAILED || ro == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	mprotect(guard + 2 * page, page, PROT_NONE);
	memcpy(ro + RO_ALLOC, &a, sizeof(a));
	memcpy(ro + RO_FREE, &f, sizeof(f));
	memcpy(ro + RO_POLICY, &start_policy, sizeof(start_policy));
	memcpy(ro + RO_DRAIN, &all, sizeof(all));
	memcpy(ro + RO_BENCH, &b, sizeof(b));
	{
		struct pcpbuddy_replay r = {
			.ops = (uintptr_t)(ro + RO_REPLAY_OPS), .nr_ops = ARRAY_SIZE(ro_replay_ops),
			.backend = PCPBUDDY_BACKEND_FLOOR, .cpu_mask = 1ULL << online_cpus[0],
		};

		memcpy(ro + RO_REPLAY, &r, sizeof(r));
		memcpy(ro + RO_REPLAY_OPS, ro_replay_ops, sizeof(ro_replay_ops));
	}
	random_bytes(&c, ro + RO_RANDOM, RO_SIZE - RO_RANDOM);
	mprotect(ro, RO_SIZE, PROT_READ);
	find_unmapped();
}

static void print_counts(void)
{
	for (int k = 0; k < NR_KINDS; k++) {
		char line[1024];
		uint64_t total = 0;
		int len = 0;

		for (int e = 0; e < NR_ERRNO; e++)
			total += sh->count[k][e];
		len = snprintf(line, sizeof(line), "%-14s %9" PRIu64 ":", kind_name[k], total);
		for (int e = 0; e < NR_ERRNO && len < (int)sizeof(line) - 40; e++) {
			const char *name = e ? strerrorname_np(e) : "OK";

			if (e == NR_ERRNO - 1)
				name = "other";

			if (sh->count[k][e])
				len += snprintf(line + len, sizeof(line) - len, " %s %" PRIu64,
						name ? name : "?", sh->count[k][e]);
		}
		puts(line);
	}
}

/* With every fuzzer process gone, and so every file closed: the pool is idle and consistent. */
static void final_checks(void)
{
	int fd = open(DEVICE, O_RDWR | O_CLOEXEC);
	struct pcpbuddy_info i;

	if (fd < 0) {
		failure(NULL, "open %s at the end: %s", DEVICE, strerror(errno));
		return;
	}
	if (ioctl(fd, PCPBUDDY_IOC_SET_POLICY, &start_policy))
		failure(NULL, "restoring the policy: %s", strerror(errno));
	if (ioctl(fd, PCPBUDDY_IOC_INFO, &i))
		failure(NULL, "INFO at the end: %s", strerror(errno));
	else if (i.outstanding_pages)
		failure(NULL, "%llu pages outstanding with every file closed",
			(unsigned long long)i.outstanding_pages);
	if (ioctl(fd, PCPBUDDY_IOC_VERIFY))
		failure(NULL, "VERIFY at the end: %s", strerror(errno));
	if (sh->strict_pages_held)
		failure(NULL, "fuzzer bug: %llu strict pages still marked",
			(unsigned long long)sh->strict_pages_held);
	close(fd);
}

static void __attribute__((noreturn)) usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-s SEED] [-n CALLS] [-t SECONDS] [-S STRICT_PROCS] "
		"[-c CHAOS_PROCS] [-j THREADS] [-d DEBUGFS_THREADS] [-k 0|1] [-x FILE]...\n", prog);
	exit(2);
}

int main(int argc, char **argv)
{
	uint64_t seed = now_ns() ^ ((uint64_t)getpid() << 32), budget = 100000, seconds = 600;
	int nr_strict = 2, nr_chaos = 2, threads = 3, dfs_threads = 2, victims = 1;
	int opt, fd, n = 0, slot = 0;
	uint64_t start;
	pid_t workers[64];

	while ((opt = getopt(argc, argv, "s:n:t:S:c:j:d:k:x:")) != -1) {
		switch (opt) {
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			budget = strtoull(optarg, NULL, 0);
			break;
		case 't':
			seconds = strtoull(optarg, NULL, 0);
			break;
		case 'S':
			nr_strict = atoi(optarg);
			break;
		case 'c':
			nr_chaos = atoi(optarg);
			break;
		case 'j':
			threads = atoi(optarg);
			break;
		case 'd':
			dfs_threads = atoi(optarg);
			break;
		case 'k':
			victims = atoi(optarg);
			break;
		case 'x':
			if (nr_dfs_excluded < MAX_DFS_FILES)
				dfs_excluded[nr_dfs_excluded++] = optarg;
			break;
		default:
			usage(argv[0]);
		}
	}
	if (nr_strict < 0 || nr_chaos < 0 || threads < 1 || dfs_threads < 0 ||
	    nr_strict + nr_chaos + 1 > 64 ||
	    (nr_strict + nr_chaos) * threads + dfs_threads > MAX_THREADS - VICTIM_THREADS)
		usage(argv[0]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	page = sysconf(_SC_PAGESIZE);
	printf("seed %" PRIu64 " (repeat with: %s -s %" PRIu64 " -n %" PRIu64 " -t %" PRIu64
	       " -S %d -c %d -j %d -d %d -k %d", seed, argv[0], seed, budget, seconds,
	       nr_strict, nr_chaos, threads, dfs_threads, victims);
	for (int i = 0; i < nr_dfs_excluded; i++)
		printf(" -x %s", dfs_excluded[i]);
	printf(")\n");

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	sh->seed = seed;
	sh->budget = budget;
	fd = open(DEVICE, O_RDWR | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, PCPBUDDY_IOC_INFO, &info) ||
	    ioctl(fd, PCPBUDDY_IOC_GET_POLICY, &start_policy)) {
		perror(DEVICE);
		return 2;
	}
	close(fd);
	read_cpus();
	read_blocks();
	dfs_scan();
	map_args();
	printf("pool: %llu pages, block order %u, %d CPUs online; %d debugfs files; "
	       "%d strict + %d chaos processes x %d threads, %d debugfs threads, victims %s\n",
	       (unsigned long long)info.nr_pages, info.block_order, nr_online, nr_dfs, nr_strict,
	       nr_chaos, threads, nr_dfs ? dfs_threads : 0, victims ? "on" : "off");

	start = now_ns();
	sh->deadline_ns = start + seconds * 1000000000ULL;
	for (int i = 0; i < nr_strict; i++, slot += threads)
		workers[n++] = spawn(W_STRICT, i, threads, slot);
	for (int i = 0; i < nr_chaos; i++, slot += threads)
		workers[n++] = spawn(W_CHAOS, i, threads, slot);
	if (nr_dfs && dfs_threads)
		workers[n++] = spawn(W_DEBUGFS, 0, dfs_threads, slot);
	supervise(workers, n, victims, seed);

	printf("ioctl calls: %llu in %.1f s%s\n", (unsigned long long)sh->calls,
	       (now_ns() - start) / 1e9, sh->calls < budget ? " (stopped by the time limit)" : "");
	print_counts();
	printf("benchmark runs completed: pool %llu, pool-classic %llu, kernel %llu, floor %llu "
	       "(%llu quiet phases)\n", (unsigned long long)sh->bench_done[0],
	       (unsigned long long)sh->bench_done[1], (unsigned long long)sh->bench_done[2],
	       (unsigned long long)sh->bench_done[3], (unsigned long long)sh->quiet_phases);
	printf("replays completed: pool %llu, pool-classic %llu, kernel %llu, floor %llu\n",
	       (unsigned long long)sh->replay_done[0], (unsigned long long)sh->replay_done[1],
	       (unsigned long long)sh->replay_done[2], (unsigned long long)sh->replay_done[3]);
	final_checks();
	printf("failures: %llu\n", (unsigned long long)sh->failures);
	return sh->failures ? 1 : 0;
}
