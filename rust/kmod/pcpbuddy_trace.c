// SPDX-License-Identifier: GPL-2.0
/*
 * Instantiates pcpbuddy's tracepoints (pcpbuddy_trace.h) and, for each, the
 * rust_do_trace_<name>() that rust/kmod/trace.rs calls once the tracepoint's static
 * key says someone listens.
 */
#define CREATE_TRACE_POINTS
#define CREATE_RUST_TRACE_POINTS
#include "pcpbuddy_trace.h"
