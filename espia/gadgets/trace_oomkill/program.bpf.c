// SPDX-License-Identifier: Apache-2.0
/*
 * trace oomkill: every process the OOM killer picks, and the process whose
 * allocation made it do so.
 *
 * oom/mark_victim runs in the task that ran out of memory (the allocating
 * one, which is the trigger) once the victim is chosen.  Its raw form gives
 * the victim's task_struct, so the event carries the victim's mount
 * namespace (the container shown is the victim's) and its pages as the
 * kernel counted them for the kill (the same counters its log line reads).
 * The in-kernel filters (pid, comm, uid, container selection) are the
 * trigger's, the current task: in a container with a memory limit it is in
 * the victim's container, since that cgroup's own charge ran out.
 */
#include <espia/gadget.bpf.h>

struct event {
	gadget_timestamp timestamp;
	gadget_mntns_id mntns;
	gadget_pid fpid;
	gadget_tid ftid;
	gadget_uid fuid;
	gadget_comm fcomm[TASK_COMM_LEN];
	gadget_mntns_id fmntns; /* the trigger's; containers are joined by the victim's (gadget.yaml) */
	__u32 tpid;
	__u32 tuid;
	char tcomm[TASK_COMM_LEN]; /* not a gadget_comm: the in-kernel comm filter is the trigger's */
	__u64 pages;
	__u64 anon_pages;
	__u64 file_pages;
	__u64 shmem_pages;
	__u64 total_vm;
	__s16 oom_score_adj;
};

GADGET_TRACER_MAP(events);
GADGET_TRACER(oomkill, events, event);

/* get_mm_counter(): the global part of the per-CPU counter, as the OOM killer reads it. */
static __always_inline __u64 mm_pages(struct mm_struct *mm, int member)
{
	__s64 count = BPF_CORE_READ(mm, rss_stat[member].count);

	return count > 0 ? count : 0;
}

/* mark_victim(struct task_struct *victim, uid_t uid) */
SEC("raw_tracepoint/mark_victim")
int oom_victim(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *victim = (struct task_struct *)ctx->args[0];
	struct mm_struct *mm;
	struct event *e;
	__u64 pid_tgid;

	if (gadget_should_discard_current())
		return 0;
	e = gadget_reserve(&events, sizeof(*e));
	if (!e)
		return 0;
	pid_tgid = bpf_get_current_pid_tgid();
	e->timestamp = bpf_ktime_get_boot_ns();
	e->mntns = BPF_CORE_READ(victim, nsproxy, mnt_ns, ns.inum);
	e->fpid = pid_tgid >> 32;
	e->ftid = (__u32)pid_tgid;
	e->fuid = (__u32)bpf_get_current_uid_gid();
	bpf_get_current_comm(e->fcomm, sizeof(e->fcomm));
	e->fmntns = gadget_current_mntns();
	e->tpid = BPF_CORE_READ(victim, tgid);
	e->tuid = ctx->args[1];
	BPF_CORE_READ_STR_INTO(&e->tcomm, victim, comm);
	mm = BPF_CORE_READ(victim, mm);
	e->anon_pages = mm_pages(mm, MM_ANONPAGES);
	e->file_pages = mm_pages(mm, MM_FILEPAGES);
	e->shmem_pages = mm_pages(mm, MM_SHMEMPAGES);
	e->pages = e->anon_pages + e->file_pages + e->shmem_pages;
	e->total_vm = BPF_CORE_READ(mm, total_vm);
	e->oom_score_adj = BPF_CORE_READ(victim, signal, oom_score_adj);
	gadget_submit(e);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
