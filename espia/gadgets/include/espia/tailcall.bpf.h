/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One program shared by several hooks, reached by a tail call.
 *
 * The verifier checks each program whole, so a gadget whose hooks (one per
 * syscall of a family) run the same long body pays for that body once per
 * hook at every start.  Moved into a program of its own, declared here with
 * a section that names no hook (SEC("tracepoint"): loaded, never attached),
 * the body is checked once; each hook does its own part (the filters, its
 * arguments into a per-CPU scratch) and jumps there.
 *
 *     GADGET_TAIL_CALL(emitter, emit, struct trace_event_raw_sys_exit);
 *     ...
 *     gadget_tail_call(ctx, &emitter);   (in each hook, last)
 *     ...
 *     SEC("tracepoint")
 *     int emit(struct trace_event_raw_sys_exit *ctx) { ... }
 */
#ifndef __ESPIA_TAILCALL_BPF_H
#define __ESPIA_TAILCALL_BPF_H

/* `map`, a program array holding only `program` (libbpf fills it at load). */
#define GADGET_TAIL_CALL(map, program, ctx_type)              \
	int program(ctx_type *ctx);                           \
	struct {                                              \
		__uint(type, BPF_MAP_TYPE_PROG_ARRAY);        \
		__uint(max_entries, 1);                       \
		__type(key, __u32);                           \
		__array(values, int(void *));                 \
	} map SEC(".maps") = {                                \
		.values = { [0] = (void *)&program },         \
	}

/*
 * Jumps to the program of `map`; it does not return.  If the jump cannot be
 * made (never, once loaded), the event is counted as lost, not lost silently.
 */
static __always_inline void gadget_tail_call(void *ctx, void *map)
{
	bpf_tail_call(ctx, map, 0);
	gadget_count_lost();
}

#endif /* __ESPIA_TAILCALL_BPF_H */
