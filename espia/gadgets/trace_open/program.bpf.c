// SPDX-License-Identifier: Apache-2.0
/*
 * trace open: every open(2), openat(2), openat2(2) and creat(2).
 *
 * The event is sent at the syscall's exit, when the descriptor or the error
 * is known.  Where the kernel has bpf_task_pt_regs() (5.15), the arguments
 * are read there too, from the registers the task entered with: one program
 * per call, which halves the cost of tracing, and of dropping, each open.
 * Older kernels record them at entry in `inflight` (the enter_* programs,
 * attached only there: GADGET_FALLBACK).  The path is read at exit (the user
 * buffer is still there) and the record is cut to its length, so a short
 * path costs a short record in the ring buffer.
 *
 * The work of a kept open (FULLPATH's walk, the bounded copy of the path) is
 * one program, emit(), that each call's exit program reaches by a tail call
 * (tailcall.bpf.h) once the filters have kept the open: the verifier checks
 * it once instead of once per call, and a dropped open never gets there.
 *
 * That path is what the task's memory holds at exit, which another thread
 * may have rewritten after the kernel read it.  So a successful open also
 * carries FULLPATH, the path of the file the kernel actually opened, walked
 * in the kernel from the descriptor it returned: that one is authoritative.
 */
#include <espia/gadget.bpf.h>
#include <espia/file.bpf.h>
#include <espia/path.bpf.h>
#include <espia/tailcall.bpf.h>

#define PATH_MAX 4096
/* Room for FULLPATH's components: deeper or longer paths are cut visibly. */
#define FULLPATH_SIZE 1024
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
	gadget_truncated fullpath_truncated;
	gadget_truncated path_truncated;
	/*
	 * FULLPATH is packed (types.h): the record holds its fullpath_size used
	 * bytes, then PATH, so that a failed open (no file: 0 bytes) or a short
	 * path costs a short record.
	 */
	__u16 fullpath_size;
	gadget_path_components fullpath[FULLPATH_SIZE];
	char path[PATH_MAX];
};

struct open_args {
	const char *path;
	__u32 flags;
	__u16 mode;
};

enum open_call {
	OPEN,
	CREAT,
	OPENAT,
	OPENAT2,
};

/* Used by the fallback only: not preallocated, so it costs nothing elsewhere. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_INFLIGHT);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct open_args);
} inflight SEC(".maps");

GADGET_TRACER_MAP(events);
GADGET_SCRATCH(event, scratch);
GADGET_SCRATCH(open_args, kept); /* what an exit hands emit(), on its CPU */
GADGET_TRACER(open, events, event);

GADGET_TAIL_CALL(emitter, emit, struct trace_event_raw_sys_exit);

/* What the syscall's raw arguments a[0..3] mean for each call. */
static __always_inline void decode_args(enum open_call call, const unsigned long a[4],
					struct open_args *args)
{
	struct open_how how = {};

	switch (call) {
	case OPEN:
		args->path = (const char *)a[0];
		args->flags = a[1];
		args->mode = a[2];
		break;
	case CREAT: /* creat(path, mode) is open(path, O_CREAT|O_WRONLY|O_TRUNC, mode) */
		args->path = (const char *)a[0];
		args->flags = 0x241;
		args->mode = a[1];
		break;
	case OPENAT:
		args->path = (const char *)a[1];
		args->flags = a[2];
		args->mode = a[3];
		break;
	case OPENAT2:
		bpf_probe_read_user(&how, sizeof(how), (void *)a[2]);
		args->path = (const char *)a[1];
		args->flags = how.flags;
		args->mode = how.mode;
		break;
	}
}

/* Fallback: record the arguments at entry, for leave() to find. */
static __always_inline int enter(enum open_call call, struct trace_event_raw_sys_enter *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	unsigned long a[4] = { ctx->args[0], ctx->args[1], ctx->args[2], ctx->args[3] };
	struct open_args args = {};

	if (gadget_should_discard_current())
		return 0;
	decode_args(call, a, &args);
	/* A full table would drop this open unseen: count it. */
	if (bpf_map_update_elem(&inflight, &tid, &args, BPF_ANY))
		gadget_count_lost();
	return 0;
}

/*
 * The exit of an open: the filters first (from the arguments' record, in the
 * fallback), then, for a kept open only, its arguments to emit().
 */
static __always_inline int leave(enum open_call call, struct trace_event_raw_sys_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct open_args *args, *recorded;
	struct pt_regs *regs;

	if (gadget_helper_task_pt_regs) {
		if (gadget_should_discard_current())
			return 0;
		args = gadget_scratch(&kept);
		if (!args)
			return 0;
		regs = core_current_syscall_regs();
		unsigned long a[4] = {
			PT_REGS_PARM1_CORE_SYSCALL(regs),
			PT_REGS_PARM2_CORE_SYSCALL(regs),
			PT_REGS_PARM3_CORE_SYSCALL(regs),
			PT_REGS_PARM4_CORE_SYSCALL(regs),
		};
		decode_args(call, a, args);
	} else {
		/* Most exits are of opens the filters dropped: find out first. */
		recorded = bpf_map_lookup_elem(&inflight, &tid);
		if (!recorded)
			return 0;
		args = gadget_scratch(&kept);
		if (args)
			*args = *recorded;
		bpf_map_delete_elem(&inflight, &tid);
		if (!args)
			return 0;
	}
	gadget_tail_call(ctx, &emitter);
	return 0;
}

/* A kept open's event, from the arguments leave() kept (a tail call: loaded, not attached). */
SEC("tracepoint")
int emit(struct trace_event_raw_sys_exit *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid, size, packed; /* 64 bits: the register checked is the one passed */
	long ret = ctx->ret, len;
	struct open_args *args;
	struct event *e;
	char *path;

	args = gadget_scratch(&kept);
	e = gadget_scratch(&scratch);
	if (!args || !e)
		return 0;
	uid_gid = bpf_get_current_uid_gid();
	e->timestamp = bpf_ktime_get_boot_ns();
	e->mntns = gadget_current_mntns();
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->uid = (__u32)uid_gid;
	e->gid = uid_gid >> 32;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->fd = ret >= 0 ? ret : -1;
	e->err = ret >= 0 ? 0 : -ret;
	e->flags = args->flags;
	e->mode = args->mode;
	e->fullpath_truncated = 0;
	e->path_truncated = 0;
	packed = 0;
	if (ret >= 0)
		packed = gadget_file_path_components(gadget_fd_file(ret), e->fullpath,
						     FULLPATH_SIZE, &e->fullpath_truncated);
	/* Bounds the verifier can follow, on the very registers passed on. */
	asm volatile("" : "+r"(packed));
	if (packed > FULLPATH_SIZE)
		packed = FULLPATH_SIZE;
	e->fullpath_size = packed;
	/* Whole up to 4095 bytes, the longest path the kernel accepts; cut beyond. */
	path = e->fullpath + packed;
	len = gadget_read_user_str(path, PATH_MAX, args->path, &e->path_truncated);
	if (len < 1) {
		len = 1;
		path[0] = '\0';
	}
	size = len;
	asm volatile("" : "+r"(size));
	if (size > PATH_MAX)
		size = PATH_MAX;
	gadget_output(&events, e, offsetof(struct event, fullpath) + packed + size);
	return 0;
}

#define OPEN_CALL(call, name)                                       \
	SEC("tracepoint/syscalls/sys_enter_" #name)                  \
	int enter_##name(struct trace_event_raw_sys_enter *ctx)      \
	{                                                           \
		return enter(call, ctx);                            \
	}                                                           \
	GADGET_FALLBACK(enter_##name, task_pt_regs);                 \
	SEC("tracepoint/syscalls/sys_exit_" #name)                   \
	int exit_##name(struct trace_event_raw_sys_exit *ctx)        \
	{                                                           \
		return leave(call, ctx);                            \
	}

OPEN_CALL(OPEN, open)
OPEN_CALL(CREAT, creat)
OPEN_CALL(OPENAT, openat)
OPEN_CALL(OPENAT2, openat2)

char LICENSE[] SEC("license") = "GPL";
