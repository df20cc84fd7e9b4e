/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Differences between kernels, in one place, each chosen at load time by
 * CO-RE (libbpf resolves the checks against the running kernel's BTF, and
 * the verifier drops the branch not taken).
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
static __always_inline __u64 core_current_mntns(void)
{
	struct task_struct *task;

	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_current_task_btf)) {
		task = bpf_get_current_task_btf();
		return task->nsproxy->mnt_ns->ns.inum;
	}
	task = (struct task_struct *)bpf_get_current_task();
	return BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
}

#endif /* __ESPIA_CORE_FIXES_BPF_H */
