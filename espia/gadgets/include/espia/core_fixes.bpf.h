/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Differences between kernels, in one place.  Each is chosen before load:
 * espia probes the BPF helper a faster path needs and sets its
 * gadget_helper_<name> flag (GADGET_HELPER in macros.h), so the verifier
 * checks only the path taken; tests force the older path too.
 */
#ifndef __ESPIA_CORE_FIXES_BPF_H
#define __ESPIA_CORE_FIXES_BPF_H

/*
 * The current task's mount namespace.  bpf_get_current_task_btf() (5.11)
 * returns a pointer the verifier trusts, so the walk is plain loads; before
 * it, each step is a bpf_probe_read_kernel() call.  This runs on every
 * traced syscall when container selection filters in the kernel, where the
 * difference shows.
 */
GADGET_HELPER(get_current_task_btf);

static __always_inline __u64 core_current_mntns(void)
{
	struct task_struct *task;

	if (gadget_helper_get_current_task_btf) {
		task = bpf_get_current_task_btf();
		return task->nsproxy->mnt_ns->ns.inum;
	}
	task = (struct task_struct *)bpf_get_current_task();
	return BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
}

/*
 * Whether a syscall's arguments can be read at its exit, from the registers
 * the task entered with: bpf_task_pt_regs() (5.15).  Then a syscall gadget
 * needs one program at exit instead of a pair (entry records the arguments,
 * exit finds them), which halves its cost on every call, dropped ones too.
 */
GADGET_HELPER(task_pt_regs);

/* The registers the current task entered its syscall with (gadget_helper_task_pt_regs). */
static __always_inline struct pt_regs *core_current_syscall_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

#endif /* __ESPIA_CORE_FIXES_BPF_H */
