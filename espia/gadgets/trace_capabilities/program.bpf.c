// SPDX-License-Identifier: Apache-2.0
/*
 * trace capabilities: every capability check, allowed or denied.
 *
 * capability/cap_capable runs in cap_capable(), which every capable(),
 * ns_capable() and has_capability() call reaches, with the capability and
 * the verdict.  Whether the check is audited is not known here: the
 * caller's choice (ns_capable() or ns_capable_noaudit(), the CAP_OPT_NOAUDIT
 * bit of security_capable()'s opts) reaches cap_capable() as an argument
 * that the tracepoint (its 5 arguments: cred, target_ns, capable_ns, cap,
 * ret) does not pass on, and a raw tracepoint sees those same 5.  Only a
 * kprobe or fentry program on cap_capable, or an LSM capable hook, reads
 * opts: absent or refused on this kernel, so there is no AUDIT field.  The
 * syscall the task is in, where bpf_task_pt_regs() (5.15) gives its registers, tells
 * what the check was for; a kernel thread is in none.
 */
#include <espia/gadget.bpf.h>
#include <espia/process.bpf.h>
#include <espia/syscall.bpf.h>

#define PF_KTHREAD 0x00200000 /* include/linux/sched.h */
#define EEXIST 17

struct event {
	GADGET_PROCESS_MEMBERS;
	__u32 cap;
	gadget_capability capname;
	gadget_cap_verdict verdict;
	gadget_syscall_ret ret;
	gadget_syscall_nr syscall;
	__u32 userns;
};

GADGET_TRACER_MAP(events);
GADGET_TRACER(capabilities, events, event);

/* --unique: a capability once per process and container, at its first check. */
const volatile bool unique = false;
GADGET_PARAM(unique);

struct unique_key {
	__u64 mntns;
	__u32 pid;
	__u32 cap;
};

/*
 * The (container, process, capability) already sent, for --unique.  Not
 * preallocated, so it costs nothing without the option; when it is full a
 * new check is sent anyway: a repeat is better than a loss.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct unique_key);
	__type(value, __u8);
} sent_caps SEC(".maps");

/* Whether this check was sent before for this process (and records it if not). */
static __always_inline bool already_sent(int cap)
{
	struct unique_key key = {
		.mntns = gadget_current_mntns(),
		.pid = bpf_get_current_pid_tgid() >> 32,
		.cap = cap,
	};
	__u8 one = 1;

	return bpf_map_update_elem(&sent_caps, &key, &one, BPF_NOEXIST) == -EEXIST;
}

/* The syscall the current task is in, or -1 (a kernel thread, or no way to know). */
static __always_inline __s32 current_syscall(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct pt_regs *regs;

	if (!gadget_helper_task_pt_regs || (BPF_CORE_READ(task, flags) & PF_KTHREAD))
		return -1;
	regs = core_current_syscall_regs();
#if defined(__TARGET_ARCH_x86)
	return BPF_CORE_READ(regs, orig_ax);
#elif defined(__TARGET_ARCH_arm64)
	return BPF_CORE_READ(regs, syscallno);
#else
	return -1;
#endif
}

/*
 * cap_capable(const struct cred *cred, struct user_namespace *target_ns,
 *             const struct user_namespace *capable_ns, int cap, int ret),
 * in its raw form: no trace record is built, and this runs on every check.
 */
SEC("raw_tracepoint/cap_capable")
int cap_capable(struct bpf_raw_tracepoint_args *ctx)
{
	struct user_namespace *target_ns = (struct user_namespace *)ctx->args[1];
	int ret = ctx->args[4];
	struct event *e;

	if (gadget_should_discard_current())
		return 0;
	if (unique && already_sent(ctx->args[3]))
		return 0;
	e = gadget_current_event(&events, event);
	if (!e)
		return 0;
	e->cap = ctx->args[3];
	e->capname = ctx->args[3];
	e->ret = ret;
	e->verdict = ret != 0;
	e->syscall = current_syscall();
	e->userns = BPF_CORE_READ(target_ns, ns.inum);
	gadget_submit(e);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
