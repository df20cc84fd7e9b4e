/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Syscall gadgets: a program at a syscall's exit that knows its arguments.
 *
 * Where the kernel has bpf_task_pt_regs() (5.15) the arguments are read at
 * exit from the registers the task entered with: one program per call, which
 * halves the cost of tracing, and of dropping, each one (bench/RESULTS.md,
 * "syscall hooks").  Older kernels record them at entry in
 * gadget_syscall_inflight (the enter_* programs, attached only there:
 * GADGET_FALLBACK).  Either way the in-kernel filters run first, in the
 * first program the call meets.
 *
 *     static void bound(int call, long ret, const struct gadget_syscall_args *args);
 *     GADGET_SYSCALL(bind, 3, bound, 0)
 *
 * attaches sys_exit_bind (and sys_enter_bind where needed) and calls
 * bound(0, ret, args) for each bind the filters keep, args->a[0..2] set.
 */
#ifndef __ESPIA_SYSCALL_BPF_H
#define __ESPIA_SYSCALL_BPF_H

#define GADGET_SYSCALL_INFLIGHT 10240

/* The first five arguments: as many as the calls traced so far take. */
struct gadget_syscall_args {
	unsigned long a[5];
};

/* Used by the fallback only: not preallocated, so it costs nothing elsewhere. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GADGET_SYSCALL_INFLIGHT);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct gadget_syscall_args);
} gadget_syscall_inflight SEC(".maps");

/*
 * Records the `n` arguments of the call entered.  Only those: a tracepoint's
 * record ends after its call's last argument, and the kernel refuses a
 * program that reads past it.  (Constant offsets, too: the verifier refuses
 * a ctx load at a variable one.)
 */
static __always_inline int gadget_syscall_enter(struct trace_event_raw_sys_enter *ctx, int n)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct gadget_syscall_args args = {};

	if (gadget_should_discard_current())
		return 0;
	args.a[0] = ctx->args[0];
	if (n > 1)
		args.a[1] = ctx->args[1];
	if (n > 2)
		args.a[2] = ctx->args[2];
	if (n > 3)
		args.a[3] = ctx->args[3];
	if (n > 4)
		args.a[4] = ctx->args[4];
	/* A full table would drop this call unseen: count it. */
	if (bpf_map_update_elem(&gadget_syscall_inflight, &tid, &args, BPF_ANY))
		gadget_count_lost();
	return 0;
}

/*
 * At exit: the call's first `n` arguments into *args, or false if the filters
 * drop the call.  The registers are a typed kernel pointer: each argument is a
 * plain load (which the verifier makes fault-safe), not a helper call, and
 * only the `n` the handler uses are read (bench/top/kernel.py: a helper read
 * each was a third of a counted call's time in top file).
 */
static __always_inline bool gadget_syscall_exit_args(struct gadget_syscall_args *args, int n)
{
	struct gadget_syscall_args *found;
	struct pt_regs *regs;
	__u32 tid;

	if (gadget_helper_task_pt_regs) {
		if (gadget_should_discard_current())
			return false;
		regs = core_current_syscall_regs();
		args->a[0] = PT_REGS_PARM1_SYSCALL(regs);
		if (n > 1)
			args->a[1] = PT_REGS_PARM2_SYSCALL(regs);
		if (n > 2)
			args->a[2] = PT_REGS_PARM3_SYSCALL(regs);
		if (n > 3)
			args->a[3] = PT_REGS_PARM4_SYSCALL(regs);
		if (n > 4)
			args->a[4] = PT_REGS_PARM5_SYSCALL(regs);
		return true;
	}
	/* Most exits are of calls the filters dropped: find out first. */
	tid = (__u32)bpf_get_current_pid_tgid();
	found = bpf_map_lookup_elem(&gadget_syscall_inflight, &tid);
	if (!found)
		return false;
	*args = *found;
	bpf_map_delete_elem(&gadget_syscall_inflight, &tid);
	return true;
}

#define GADGET_SYSCALL(name, nargs, handler, call)                     \
	SEC("tracepoint/syscalls/sys_enter_" #name)                     \
	int enter_##name(struct trace_event_raw_sys_enter *ctx)         \
	{                                                              \
		return gadget_syscall_enter(ctx, nargs);                \
	}                                                              \
	GADGET_FALLBACK(enter_##name, task_pt_regs);                    \
	SEC("tracepoint/syscalls/sys_exit_" #name)                      \
	int exit_##name(struct trace_event_raw_sys_exit *ctx)           \
	{                                                              \
		struct gadget_syscall_args args = {};                   \
		if (gadget_syscall_exit_args(&args, nargs))                    \
			handler(call, ctx->ret, &args);                 \
		return 0;                                               \
	}

#endif /* __ESPIA_SYSCALL_BPF_H */
