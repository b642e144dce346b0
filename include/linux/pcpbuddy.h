/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pcpbuddy: in-kernel API of the pcpbuddy page pool module.
 *
 * The entry points live in rust/kmod/pcpbuddy_glue.c (the CPU-local section) and
 * rust/kmod/api.rs (what they do). Rust modules call the same functions through
 * `extern "C"`. See Documentation/api.md.
 *
 * Context: every context but NMI: process context (atomic or not), with
 * interrupts or bottom halves disabled, soft and hard interrupt context. The
 * pool never sleeps and never reclaims (GFP_ATOMIC semantics, whatever @gfp
 * says). From NMI every call is refused (NULL, 0 or -EINVAL) and counted.
 *
 * Pages come from the pool reserved at load. A page (or the head of a higher
 * order run, or a folio) is handed out with a reference count of 2: the
 * user's and the pool's. get_page()/put_page() pairs by the user, or by code it
 * lends the page to, work as usual; but the pages must go back with
 * pcpbuddy_free_pages()/pcpbuddy_free_folio(), never with put_page(),
 * __free_pages() or folio_put(). A stray put of the user's reference is
 * harmless (the pool's reference keeps the memory out of the kernel's
 * allocator, and the next pcpbuddy free still works); freeing while someone
 * else still holds a reference is refused with -EBUSY.
 *
 * Misuse (a page that is not the pool's, another order than allocated, a
 * folio freed as pages or the reverse, a tail page, a double free) is refused
 * with -EINVAL, counted in debugfs "stats" and reported once per kind; the
 * pool is never corrupted by it.
 */
#ifndef _LINUX_PCPBUDDY_H
#define _LINUX_PCPBUDDY_H

#include <linux/gfp_types.h>
#include <uapi/linux/pcpbuddy.h>

struct folio;
struct page;

/**
 * pcpbuddy_alloc_pages() - allocate 2^@order contiguous pages from the pool
 * @gfp: __GFP_ZERO zeroes the pages; a caller that may block (__GFP_DIRECT_RECLAIM,
 *       e.g. GFP_KERNEL) lets the pool ask other CPUs to return what they cache
 *       before it fails
 * @order: 0..pageblock_order
 *
 * The pages are not a compound page (like alloc_pages() without __GFP_COMP);
 * page_address() works.
 *
 * Return: the first page, or NULL if the pool is exhausted or @order is too big.
 */
struct page *pcpbuddy_alloc_pages(gfp_t gfp, unsigned int order);

/**
 * pcpbuddy_free_pages() - give back pages from pcpbuddy_alloc_pages()
 * @page: the first page
 * @order: the order it was allocated with
 *
 * Any CPU may free any page: a page whose block another CPU owns goes back to
 * that CPU without taking its lock.
 *
 * Return: 0; -EINVAL for misuse, -EBUSY if the page still has references
 * besides the user's (nothing is changed either way).
 */
int pcpbuddy_free_pages(struct page *page, unsigned int order);

/**
 * pcpbuddy_alloc_folio() - allocate a folio of 2^@order pages from the pool
 * @gfp: as for pcpbuddy_alloc_pages()
 * @order: 0..pageblock_order
 *
 * A real compound page, as folio_alloc() gives: folio_order(), folio_size(),
 * folio_address() and every tail's compound head are set. A folio of the
 * pageblock order stays compound while the pool caches it, so allocating it
 * again does not touch its tail pages.
 *
 * Return: the folio, or NULL.
 */
struct folio *pcpbuddy_alloc_folio(gfp_t gfp, unsigned int order);

/**
 * pcpbuddy_free_folio() - give back a folio from pcpbuddy_alloc_folio()
 * @folio: the folio
 *
 * Return: as pcpbuddy_free_pages().
 */
int pcpbuddy_free_folio(struct folio *folio);

/**
 * pcpbuddy_alloc_pages_bulk() - allocate @nr runs of 2^@order pages
 * @gfp: as for pcpbuddy_alloc_pages()
 * @order: as for pcpbuddy_alloc_pages()
 * @nr: number of runs
 * @pages: filled with the first page of each run
 *
 * Return: the number of runs allocated (pages[0..return value - 1]); fewer
 * than @nr when the pool runs out.
 */
unsigned long pcpbuddy_alloc_pages_bulk(gfp_t gfp, unsigned int order, unsigned long nr,
					struct page **pages);

/**
 * pcpbuddy_free_pages_bulk() - free @nr runs of 2^@order pages
 *
 * Return: 0, or the error of a refused entry (the others are freed).
 */
int pcpbuddy_free_pages_bulk(struct page **pages, unsigned long nr, unsigned int order);

/**
 * pcpbuddy_get_info() - describe the loaded pool
 * @info: filled in on success
 *
 * Context: any context but NMI; takes no lock. The counters it sums (such as
 * outstanding_pages) are read CPU by CPU while other CPUs run, so under
 * traffic they are approximate, never negative.
 * Return: 0, or -EINVAL if @info is NULL.
 */
int pcpbuddy_get_info(struct pcpbuddy_info *info);

#endif /* _LINUX_PCPBUDDY_H */
