// SPDX-License-Identifier: Apache-2.0
/*
 * trace open: every open(2), openat(2), openat2(2) and creat(2).
 *
 * The arguments are remembered at syscall entry and the event is sent at
 * exit, when the descriptor or the error is known.  The path is read at exit
 * (the user buffer is still there) and the record is cut to its length, so a
 * short path costs a short record in the ring buffer.
 */
#include <espia/gadget.bpf.h>

#define PATH_MAX 4096
#define MAX_INFLIGHT 10240

struct event {
	gadget_timestamp timestamp;
	gadget_mntns_id mntns;
	gadget_pid pid;
	gadget_tid tid;
	gadget_uid uid;
	gadget_gid gid;
	gadget_comm comm[TASK_COMM_LEN];
	__s32 fd;
	gadget_errno err;
	gadget_file_flags flags;
	gadget_file_mode mode;
	char path[PATH_MAX];
};

struct open_args {
	const char *path;
	__u32 flags;
	__u16 mode;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_INFLIGHT);
	__type(key, __u32);
	__type(value, struct open_args);
} inflight SEC(".maps");

GADGET_TRACER_MAP(events);
GADGET_SCRATCH(event, scratch);
GADGET_TRACER(open, events, event);

static __always_inline int enter(const char *path, __u32 flags, __u16 mode)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct open_args args = { .path = path, .flags = flags, .mode = mode };

	if (gadget_should_discard_current())
		return 0;
	/* A full table would drop this open unseen: count it. */
	if (bpf_map_update_elem(&inflight, &tid, &args, BPF_ANY))
		gadget_count_lost();
	return 0;
}

static __always_inline int leave(long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	__u64 uid_gid = bpf_get_current_uid_gid();
	struct open_args *args;
	struct event *e;
	long len;

	args = bpf_map_lookup_elem(&inflight, &tid);
	if (!args)
		return 0;
	e = gadget_scratch(&scratch);
	if (!e)
		goto out;
	e->timestamp = bpf_ktime_get_boot_ns();
	e->mntns = gadget_current_mntns();
	e->pid = pid_tgid >> 32;
	e->tid = tid;
	e->uid = (__u32)uid_gid;
	e->gid = uid_gid >> 32;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->fd = ret >= 0 ? ret : -1;
	e->err = ret >= 0 ? 0 : -ret;
	e->flags = args->flags;
	e->mode = args->mode;
	len = bpf_probe_read_user_str(e->path, sizeof(e->path), args->path);
	if (len < 1)
		len = 1, e->path[0] = '\0';
	gadget_output(&events, e, offsetof(struct event, path) + (len & (PATH_MAX - 1)));
out:
	bpf_map_delete_elem(&inflight, &tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_open")
int enter_open(struct trace_event_raw_sys_enter *ctx)
{
	return enter((const char *)ctx->args[0], ctx->args[1], ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_enter_creat")
int enter_creat(struct trace_event_raw_sys_enter *ctx)
{
	/* creat(path, mode) is open(path, O_CREAT|O_WRONLY|O_TRUNC, mode). */
	return enter((const char *)ctx->args[0], 0x241, ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_enter_openat")
int enter_openat(struct trace_event_raw_sys_enter *ctx)
{
	return enter((const char *)ctx->args[1], ctx->args[2], ctx->args[3]);
}

SEC("tracepoint/syscalls/sys_enter_openat2")
int enter_openat2(struct trace_event_raw_sys_enter *ctx)
{
	struct open_how how = {};

	bpf_probe_read_user(&how, sizeof(how), (void *)ctx->args[2]);
	return enter((const char *)ctx->args[1], how.flags, how.mode);
}

SEC("tracepoint/syscalls/sys_exit_open")
int exit_open(struct trace_event_raw_sys_exit *ctx)
{
	return leave(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_creat")
int exit_creat(struct trace_event_raw_sys_exit *ctx)
{
	return leave(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_openat")
int exit_openat(struct trace_event_raw_sys_exit *ctx)
{
	return leave(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int exit_openat2(struct trace_event_raw_sys_exit *ctx)
{
	return leave(ctx->ret);
}

char LICENSE[] SEC("license") = "GPL";
