/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pcpbuddy's tracepoints: events/pcpbuddy/ in tracefs. Defined here (TRACE_EVENT
 * has no Rust form), fired from Rust (rust/kmod/trace.rs) behind each tracepoint's
 * static key, so that a disabled one costs a patched-out jump.
 * Documentation/tracing.md has the fields and examples.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM pcpbuddy

#if !defined(_PCPBUDDY_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _PCPBUDDY_TRACE_H

#include <linux/tracepoint.h>

TRACE_EVENT(pcpbuddy_alloc,
	TP_PROTO(unsigned long pfn, unsigned int order, bool folio, bool slow),
	TP_ARGS(pfn, order, folio, slow),
	TP_STRUCT__entry(
		__field(unsigned long, pfn)
		__field(unsigned int, order)
		__field(bool, folio)
		__field(bool, slow)
	),
	TP_fast_assign(
		__entry->pfn = pfn;
		__entry->order = order;
		__entry->folio = folio;
		__entry->slow = slow;
	),
	TP_printk("pfn=0x%lx order=%u folio=%d slow=%d",
		  __entry->pfn, __entry->order, __entry->folio, __entry->slow)
);

TRACE_EVENT(pcpbuddy_free,
	TP_PROTO(unsigned long pfn, unsigned int order, bool folio, bool remote),
	TP_ARGS(pfn, order, folio, remote),
	TP_STRUCT__entry(
		__field(unsigned long, pfn)
		__field(unsigned int, order)
		__field(bool, folio)
		__field(bool, remote)
	),
	TP_fast_assign(
		__entry->pfn = pfn;
		__entry->order = order;
		__entry->folio = folio;
		__entry->remote = remote;
	),
	TP_printk("pfn=0x%lx order=%u folio=%d remote=%d",
		  __entry->pfn, __entry->order, __entry->folio, __entry->remote)
);

/* phase: 0 recover, 1 claim, 2 degrade, 3 fallback (enum RefillPhase in rust/core/src/trace.rs) */
TRACE_EVENT(pcpbuddy_refill,
	TP_PROTO(unsigned int order, unsigned int phase, unsigned int count),
	TP_ARGS(order, phase, count),
	TP_STRUCT__entry(
		__field(unsigned int, order)
		__field(unsigned int, phase)
		__field(unsigned int, count)
	),
	TP_fast_assign(
		__entry->order = order;
		__entry->phase = phase;
		__entry->count = count;
	),
	TP_printk("order=%u phase=%s count=%u", __entry->order,
		  __print_symbolic(__entry->phase, { 0, "recover" }, { 1, "claim" },
				   { 2, "degrade" }, { 3, "fallback" }),
		  __entry->count)
);

/* trim: the cache went over high; else a whole drain */
TRACE_EVENT(pcpbuddy_drain,
	TP_PROTO(unsigned int cpu, bool trim, unsigned long pages),
	TP_ARGS(cpu, trim, pages),
	TP_STRUCT__entry(
		__field(unsigned int, cpu)
		__field(bool, trim)
		__field(unsigned long, pages)
	),
	TP_fast_assign(
		__entry->cpu = cpu;
		__entry->trim = trim;
		__entry->pages = pages;
	),
	TP_printk("cpu=%u kind=%s pages=%lu", __entry->cpu,
		  __entry->trim ? "trim" : "drain", __entry->pages)
);

/* event: 0 created, 1 recovered, 2 freed (enum FragmentEvent) */
TRACE_EVENT(pcpbuddy_fragment,
	TP_PROTO(unsigned long pfn, unsigned int event, unsigned long free_pages),
	TP_ARGS(pfn, event, free_pages),
	TP_STRUCT__entry(
		__field(unsigned long, pfn)
		__field(unsigned int, event)
		__field(unsigned long, free_pages)
	),
	TP_fast_assign(
		__entry->pfn = pfn;
		__entry->event = event;
		__entry->free_pages = free_pages;
	),
	TP_printk("block_pfn=0x%lx event=%s free_pages=%lu", __entry->pfn,
		  __print_symbolic(__entry->event, { 0, "created" }, { 1, "recovered" },
				   { 2, "freed" }),
		  __entry->free_pages)
);

TRACE_EVENT(pcpbuddy_reclaim,
	TP_PROTO(unsigned int order, unsigned int drained, bool satisfied),
	TP_ARGS(order, drained, satisfied),
	TP_STRUCT__entry(
		__field(unsigned int, order)
		__field(unsigned int, drained)
		__field(bool, satisfied)
	),
	TP_fast_assign(
		__entry->order = order;
		__entry->drained = drained;
		__entry->satisfied = satisfied;
	),
	TP_printk("order=%u drained=%u satisfied=%d", __entry->order, __entry->drained,
		  __entry->satisfied)
);

#endif /* _PCPBUDDY_TRACE_H */

/* Out of tree: the header is found relative to the module's rust/ directory (Kbuild). */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE pcpbuddy_trace
#include <trace/define_trace.h>
