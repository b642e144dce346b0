/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pcpbuddy: in-kernel API of the pcpbuddy page pool module.
 *
 * The functions are implemented in Rust (rust/api.rs) and exported with
 * EXPORT_SYMBOL_GPL from rust/pcpbuddy_glue.c. Rust modules call the same
 * functions through `extern "C"`. See Documentation/api.md.
 *
 * Context: process context, atomic or not: nothing here sleeps. Not from hard
 * or soft interrupt context (refused: NULL, 0 or -EINVAL, reported once).
 *
 * Pages come from the pool reserved at load; each has refcount 1 and is used
 * like a page from alloc_pages() without __GFP_COMP (page_address() works).
 * Freeing a page that is not the pool's, with another order than it was
 * allocated with, or twice, is refused with -EINVAL, counted in debugfs
 * "stats" and reported once per kind; the pool is never corrupted by it.
 */
#ifndef _LINUX_PCPBUDDY_H
#define _LINUX_PCPBUDDY_H

#include <linux/gfp_types.h>
#include <uapi/linux/pcpbuddy.h>

struct page;

/**
 * pcpbuddy_alloc_pages() - allocate 2^@order contiguous pages from the pool
 * @gfp: only __GFP_ZERO is honoured (zero the pages); the pool never reclaims
 * @order: 0..pageblock_order
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
 * Return: 0, or -EINVAL for misuse (nothing is changed).
 */
int pcpbuddy_free_pages(struct page *page, unsigned int order);

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
 * Return: 0, or -EINVAL if any entry was refused (the others are freed).
 */
int pcpbuddy_free_pages_bulk(struct page **pages, unsigned long nr, unsigned int order);

/**
 * pcpbuddy_get_info() - describe the loaded pool
 * @info: filled in on success
 *
 * Context: any context.
 * Return: 0, or -EINVAL if @info is NULL.
 */
int pcpbuddy_get_info(struct pcpbuddy_info *info);

#endif /* _LINUX_PCPBUDDY_H */
