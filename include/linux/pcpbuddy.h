/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pcpbuddy: in-kernel API of the pcpbuddy page pool module.
 *
 * The functions are implemented in Rust (rust/api.rs) and exported with
 * EXPORT_SYMBOL_GPL from rust/pcpbuddy_glue.c. Rust modules call the same
 * functions through `extern "C"`. See Documentation/api.md.
 */
#ifndef _LINUX_PCPBUDDY_H
#define _LINUX_PCPBUDDY_H

#include <uapi/linux/pcpbuddy.h>

/**
 * pcpbuddy_get_info() - describe the loaded pool
 * @info: filled in on success
 *
 * Context: any context.
 * Return: 0, or -EINVAL if @info is NULL.
 */
int pcpbuddy_get_info(struct pcpbuddy_info *info);

#endif /* _LINUX_PCPBUDDY_H */
