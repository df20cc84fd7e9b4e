// SPDX-License-Identifier: Apache-2.0
/*
 * The container tracker: how espia learns, as it happens, which namespaces
 * belong to which cgroup, and so to which container.
 *
 * A container's first program runs through exec in the container's mount
 * namespace and cgroup; a runtime's event stream says so only later, and a
 * container that lives 50 ms may be gone by then.  So the kernel reports:
 *  - each (mount namespace, cgroup) pair the first time a program is exec'd
 *    in it, with the task's network namespace.  The cgroup is in the key
 *    because namespace inode numbers are reused at once: a container that
 *    starts as another ends often gets the same mount namespace number, but
 *    never the same cgroup (cgroup ids only grow);
 *  - each cgroup v2 directory created, with its path (containerd: /NS/ID,
 *    Docker: /docker/ID, systemd: .../docker-ID.scope...).
 * User space joins the two (cgroup id -> path -> container id) and the
 * runtime's API supplies the container's name, image and pod.
 */
#include <espia/gadget.bpf.h>
#include <espia/net.bpf.h>

/*
 * The tracepoint's path is cut by the kernel itself at TRACE_CGROUP_PATH_LEN
 * (1024, NUL included): with as much room here, whatever it carries is kept
 * whole, the container id at its end included.
 */
#define CGROUP_PATH_SIZE 1024
#define SEEN_MAX 16384

enum tracker_kind {
	NEW_MNTNS = 0,
	NEW_CGROUP = 1,
};

struct event {
	gadget_timestamp timestamp;
	enum tracker_kind kind;
	gadget_pid pid;
	gadget_mntns_id mntns;
	gadget_netns_id netns;
	__u64 cgroup_id;
	gadget_comm comm[TASK_COMM_LEN];
	char cgroup[CGROUP_PATH_SIZE];
};

struct seen_key {
	__u64 mntns;
	__u64 cgroup_id;
};

/* (mount namespace, cgroup) pairs already reported. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SEEN_MAX);
	__type(key, struct seen_key);
	__type(value, __u8);
} seen SEC(".maps");

GADGET_TRACER_MAP(events);
GADGET_TRACER(containers, events, event);

/* Reports the current task's (mount namespace, cgroup) pair if it is new. */
static __always_inline int report_namespace(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct seen_key key = {
		.mntns = gadget_current_mntns(),
		.cgroup_id = bpf_get_current_cgroup_id(),
	};
	__u32 netns = BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);
	__u8 yes = 1;
	struct event *e;

	/* The filters its fields promise (no-ops: espia sets none for its own tracker). */
	if (gadget_should_discard_current() || gadget_netns_dropped(netns))
		return 0;
	if (bpf_map_update_elem(&seen, &key, &yes, BPF_NOEXIST))
		return 0; /* known already (or being reported by another CPU) */
	e = gadget_reserve(&events, offsetof(struct event, cgroup));
	if (!e)
		return 0;
	e->timestamp = bpf_ktime_get_boot_ns();
	e->kind = NEW_MNTNS;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->mntns = key.mntns;
	e->netns = netns;
	e->cgroup_id = key.cgroup_id;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	gadget_submit(e);
	return 0;
}

/*
 * Runtimes put the container's first process in its cgroup, then unshare
 * its namespaces: reporting at unshare dates the change before anything
 * runs in the new namespace.  exec covers the other ways in (clone with
 * new namespaces, setns).
 */
SEC("tracepoint/syscalls/sys_exit_unshare")
int on_unshare(struct trace_event_raw_sys_exit *ctx)
{
	return ctx->ret == 0 ? report_namespace() : 0;
}

/*
 * exec and cgroup_mkdir are hooked raw (their arguments as the kernel passes
 * them, no trace record built): a raw tracepoint is cheaper, and detaching
 * one does not wait for a grace period under the kernel's event mutex, as a
 * perf-event tracepoint does, one after the other, at every exit.
 */
SEC("raw_tracepoint/sched_process_exec")
int on_exec(struct bpf_raw_tracepoint_args *ctx)
{
	return report_namespace();
}

/* cgroup_mkdir(struct cgroup *cgrp, const char *path) */
SEC("raw_tracepoint/cgroup_mkdir")
int on_cgroup_mkdir(struct bpf_raw_tracepoint_args *ctx)
{
	struct cgroup *cgrp = (struct cgroup *)ctx->args[0];
	struct event *e;

	if (BPF_CORE_READ(cgrp, root, hierarchy_id) != 0) /* hierarchy 0 is cgroup v2 */
		return 0;
	if (gadget_should_discard_current() || gadget_netns_dropped(0))
		return 0;
	e = gadget_reserve(&events, sizeof(*e));
	if (!e)
		return 0;
	e->timestamp = bpf_ktime_get_boot_ns();
	e->kind = NEW_CGROUP;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->mntns = 0;
	e->netns = 0;
	e->cgroup_id = BPF_CORE_READ(cgrp, kn, id);
	e->comm[0] = '\0';
	bpf_probe_read_kernel_str(e->cgroup, sizeof(e->cgroup), (const char *)ctx->args[1]);
	gadget_submit(e);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
