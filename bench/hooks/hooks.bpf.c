// SPDX-License-Identifier: Apache-2.0
/*
 * The cost of the hooks a syscall gadget can use, with the work trace open
 * does when its filter drops everything: check the task at entry and look
 * up the (absent) entry at exit, or check the task at exit only.
 * bench/hooks/bench.py attaches one set at a time.
 */
#include <espia/gadget.bpf.h>

#define NR_OPENAT 257 /* x86_64 */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, __u64);
} inflight SEC(".maps");

static __always_inline int lookup(void)
{
	__u32 tid = bpf_get_current_pid_tgid();

	return bpf_map_lookup_elem(&inflight, &tid) != 0;
}

/* Per-syscall tracepoints: the kernel calls them for openat only. */
SEC("tracepoint/syscalls/sys_enter_openat")
int tp_enter(void *ctx)
{
	return gadget_should_discard_current();
}

SEC("tracepoint/syscalls/sys_exit_openat")
int tp_exit(void *ctx)
{
	return lookup();
}

/* Raw syscall tracepoints: called for every syscall, the program picks. */
SEC("raw_tracepoint/sys_enter")
int raw_enter(struct bpf_raw_tracepoint_args *ctx)
{
	if (ctx->args[1] != NR_OPENAT)
		return 0;
	return gadget_should_discard_current();
}

SEC("raw_tracepoint/sys_exit")
int raw_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];

	if (BPF_CORE_READ(regs, orig_ax) != NR_OPENAT)
		return 0;
	return lookup();
}

/* The raw one at exit alone, arguments from the task's registers: one link for every call. */
SEC("raw_tracepoint/sys_exit")
int raw_exit_only(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];

	if (BPF_CORE_READ(regs, orig_ax) != NR_OPENAT)
		return 0;
	if (gadget_should_discard_current())
		return 0;
	return PT_REGS_PARM2_CORE(regs) == 0;
}

/* One tracepoint at exit, arguments from the task's registers (what trace open does). */
SEC("tracepoint/syscalls/sys_exit_openat")
int exit_only(void *ctx)
{
	struct pt_regs *regs;

	if (gadget_should_discard_current())
		return 0;
	regs = core_current_syscall_regs();
	return PT_REGS_PARM2_CORE_SYSCALL(regs) == 0;
}

char LICENSE[] SEC("license") = "GPL";
