/* SPDX-License-Identifier: Apache-2.0 */
/*
 * In-kernel selection of the current task.  User space turns filter terms
 * (pid:N, tid:N, uid:N, gid:N, comm:NAME) and container selectors (a set of
 * mount namespaces) into these read-only globals and this map before load;
 * the verifier then removes the checks that are not in use.
 *
 * A gadget calls gadget_should_discard_current() once, early, where the
 * current task is the one its event describes; a gadget whose event belongs
 * to another task (a packet received in softirq belongs to its socket's
 * owner) calls gadget_should_discard_task() with that task's ids instead.
 * espia checks at load that a gadget whose fields promise an in-kernel filter
 * (a gadget_pid, gadget_comm... member) reads that filter's variable: one of
 * these calls is not optional.
 */
#ifndef __ESPIA_FILTER_BPF_H
#define __ESPIA_FILTER_BPF_H

const volatile __u32 gadget_filter_pid = 0;       /* 0: any */
/* The espia process itself, whose own work (attaching, reading /proc) is noise. */
const volatile __u32 gadget_filter_not_pid = 0;   /* 0: none */
const volatile __u32 gadget_filter_tid = 0;       /* 0: any */
const volatile bool gadget_filter_by_uid = false;
const volatile __u32 gadget_filter_uid = 0;
const volatile bool gadget_filter_by_gid = false;
const volatile __u32 gadget_filter_gid = 0;
const volatile char gadget_filter_comm[TASK_COMM_LEN] = {}; /* "": any */
const volatile bool gadget_filter_by_mntns = false;

/* Values of gadget_mntns_filter: what to do with a mount namespace's events. */
#define GADGET_MNTNS_DROP 0
#define GADGET_MNTNS_KEEP 1

/*
 * Mount namespaces user space has classified.  A namespace that is not in
 * the map yet (a container that started a moment ago) is let through, so
 * that user space can classify it: nothing is dropped before it is known.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} gadget_mntns_filter SEC(".maps");

static __always_inline __u64 gadget_current_mntns(void)
{
	return core_current_mntns();
}

static __always_inline bool gadget_mntns_dropped(__u64 mntns)
{
	__u8 *verdict;

	if (!gadget_filter_by_mntns)
		return false;
	verdict = bpf_map_lookup_elem(&gadget_mntns_filter, &mntns);
	return verdict && *verdict == GADGET_MNTNS_DROP;
}

static __always_inline bool gadget_comm_differs_from(const char *comm)
{
	for (int i = 0; i < TASK_COMM_LEN; i++) {
		if (comm[i] != gadget_filter_comm[i])
			return true;
		if (!comm[i])
			break;
	}
	return false;
}

static __always_inline bool gadget_comm_differs(void)
{
	char comm[TASK_COMM_LEN];

	if (!gadget_filter_comm[0])
		return false;
	bpf_get_current_comm(comm, sizeof(comm));
	return gadget_comm_differs_from(comm);
}

static __always_inline bool gadget_ids_discarded(__u32 pid, __u32 tid)
{
	if (gadget_filter_pid && pid != gadget_filter_pid)
		return true;
	if (gadget_filter_not_pid && pid == gadget_filter_not_pid)
		return true;
	return gadget_filter_tid && tid != gadget_filter_tid;
}

/*
 * The pid, tid and comm filters, for a task that is not the current one
 * (uid and gid are not known of it: such a gadget declares no gadget_uid or
 * gadget_gid member).  Mount namespace selection is the caller's to apply.
 */
static __always_inline bool gadget_should_discard_task(__u32 pid, __u32 tid, const char *comm)
{
	if (gadget_ids_discarded(pid, tid))
		return true;
	return gadget_filter_comm[0] && gadget_comm_differs_from(comm);
}

static __always_inline bool gadget_should_discard_current(void)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid;

	if (gadget_ids_discarded(pid_tgid >> 32, (__u32)pid_tgid))
		return true;
	if (gadget_filter_by_uid || gadget_filter_by_gid) {
		uid_gid = bpf_get_current_uid_gid();
		if (gadget_filter_by_uid && (__u32)uid_gid != gadget_filter_uid)
			return true;
		if (gadget_filter_by_gid && (__u32)(uid_gid >> 32) != gadget_filter_gid)
			return true;
	}
	if (gadget_comm_differs())
		return true;
	/* Test the flag first: reading the namespace is the costly part. */
	return gadget_filter_by_mntns && gadget_mntns_dropped(gadget_current_mntns());
}

#endif /* __ESPIA_FILTER_BPF_H */
