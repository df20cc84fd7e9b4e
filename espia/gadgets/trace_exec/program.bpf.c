// SPDX-License-Identifier: Apache-2.0
/*
 * trace exec: every execve(2) and execveat(2), successful or not.
 *
 * The arguments are copied at syscall entry, while the caller's memory still
 * holds them, by one program, record(), that both calls' entries reach by a
 * tail call (tailcall.bpf.h: the verifier checks the copies once).  A successful exec is reported from sched_process_exec, where
 * the task already runs the new program (its new comm) and old_pid names the
 * thread that called exec even if it was not the leader; a failed one from
 * the syscall's exit, with the error.
 *
 * EXE is the file the new program runs from, walked in the kernel from the
 * task's mm->exe_file after the exec: right whatever was passed (fexecve()
 * passes an empty name and a descriptor).  FILENAME is the name as passed.
 */
#include <espia/gadget.bpf.h>
#include <espia/path.bpf.h>
#include <espia/tailcall.bpf.h>

#define ARGS_SIZE 4096
#define MAX_ARGS 64
#define EXE_SIZE 512
#define FILENAME_SIZE 512
#define CWD_SIZE 512
#define MAX_INFLIGHT 1024

struct event {
	gadget_timestamp timestamp;
	gadget_mntns_id mntns;
	gadget_pid pid;
	gadget_tid tid;
	gadget_ppid ppid;
	gadget_uid uid;
	gadget_gid gid;
	gadget_syscall_ret ret;
	gadget_comm comm[TASK_COMM_LEN];
	char pcomm[TASK_COMM_LEN];
	__u32 args_size;
	gadget_truncated args_truncated;
	gadget_truncated cwd_truncated;
	gadget_truncated exe_truncated;
	gadget_truncated filename_truncated;
	gadget_path_components exe[EXE_SIZE];
	char filename[FILENAME_SIZE];
	gadget_path_components cwd[CWD_SIZE];
	gadget_string_list args[ARGS_SIZE];
};

/* The event, with room after each bounded copy for the verifier (path.bpf.h). */
struct scratch_event {
	struct event event;
	char slack[ARGS_SIZE];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_INFLIGHT);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct event);
} inflight SEC(".maps");

GADGET_TRACER_MAP(events);
GADGET_SCRATCH(scratch_event, scratch);
GADGET_TRACER(exec, events, event);

/* What an entry hands record(), on its CPU. */
struct exec_args {
	const char *filename;
	const char *const *argv;
};

GADGET_SCRATCH(exec_args, entered);
GADGET_TAIL_CALL(recorder, record, struct trace_event_raw_sys_enter);

static __always_inline void copy_args(struct event *e, const char *const *argv)
{
	__u32 off = 0;
	int i;

	for (i = 0; i < MAX_ARGS; i++) {
		const char *arg = NULL;
		__u64 room; /* 64 bits: the register checked is the one passed */
		long len;

		if (bpf_probe_read_user(&arg, sizeof(arg), &argv[i]) || !arg)
			break;
		if (off >= ARGS_SIZE) {
			e->args_truncated = 1;
			break;
		}
		/* Bounds the verifier can follow: the mask must survive optimisation. */
		asm volatile("" : "+r"(off));
		off &= ARGS_SIZE - 1;
		room = ARGS_SIZE - off;
		asm volatile("" : "+r"(room));
		if (room > ARGS_SIZE)
			break;
		/* An argument that ends exactly at the bound is whole. */
		len = gadget_read_user_str(&e->args[off], room, arg, &e->args_truncated);
		if (len <= 0)
			break;
		off += len;
	}
	if (i == MAX_ARGS) {
		const char *more = NULL;

		bpf_probe_read_user(&more, sizeof(more), &argv[MAX_ARGS]);
		if (more)
			e->args_truncated = 1;
	}
	e->args_size = off < ARGS_SIZE ? off : ARGS_SIZE;
}

static __always_inline int enter(struct trace_event_raw_sys_enter *ctx, const char *filename,
				 const char *const *argv)
{
	struct exec_args *args = gadget_scratch(&entered);

	if (!args)
		return 0;
	args->filename = filename;
	args->argv = argv;
	gadget_tail_call(ctx, &recorder);
	return 0;
}

/* An exec's arguments, kept for its end (a tail call from enter(): loaded, not attached). */
SEC("tracepoint")
int record(struct trace_event_raw_sys_enter *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct exec_args *args = gadget_scratch(&entered);
	struct path pwd;
	struct event *e;

	e = gadget_scratch(&scratch);
	if (!e || !args)
		return 0;
	e->args_truncated = 0;
	e->cwd_truncated = 0;
	e->exe_truncated = 0;
	e->filename_truncated = 0;
	e->exe[0] = e->exe[1] = '\0'; /* no program yet: no path (path.bpf.h) */
	gadget_read_user_str(e->filename, sizeof(e->filename), args->filename,
			     &e->filename_truncated);
	copy_args(e, args->argv);
	pwd = BPF_CORE_READ(task, fs, pwd);
	gadget_path_components_of(&pwd, e->cwd, CWD_SIZE, &e->cwd_truncated);
	/* A full table would drop this exec unseen: count it. */
	if (bpf_map_update_elem(&inflight, &tid, e, BPF_ANY))
		gadget_count_lost();
	return 0;
}

/* Fills what the current task knows and sends the event. */
static __always_inline void emit(struct event *e, int ret)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();
	__u32 size;

	if (gadget_should_discard_current())
		return;
	e->timestamp = bpf_ktime_get_boot_ns();
	e->mntns = gadget_current_mntns();
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->uid = (__u32)uid_gid;
	e->gid = uid_gid >> 32;
	e->ret = ret;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	BPF_CORE_READ_STR_INTO(&e->pcomm, task, real_parent, comm);
	size = e->args_size;
	if (size > ARGS_SIZE)
		size = ARGS_SIZE;
	gadget_output(&events, e, offsetof(struct event, args) + size);
}

static __always_inline int leave(int ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct event *e;

	e = bpf_map_lookup_elem(&inflight, &tid);
	if (!e)
		return 0;
	/* A successful exec was reported by sched_process_exec already. */
	if (ret < 0)
		emit(e, ret);
	bpf_map_delete_elem(&inflight, &tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_execve")
int enter_execve(struct trace_event_raw_sys_enter *ctx)
{
	return enter(ctx, (const char *)ctx->args[0], (const char *const *)ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_enter_execveat")
int enter_execveat(struct trace_event_raw_sys_enter *ctx)
{
	return enter(ctx, (const char *)ctx->args[1], (const char *const *)ctx->args[2]);
}

SEC("tracepoint/sched/sched_process_exec")
int exec_done(struct trace_event_raw_sched_process_exec *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 old_tid = ctx->old_pid;
	struct event *e;

	e = bpf_map_lookup_elem(&inflight, &old_tid);
	if (!e)
		return 0;
	/* The task runs the new program now: its mm is the new one. */
	gadget_file_path_components(BPF_CORE_READ(task, mm, exe_file), e->exe, EXE_SIZE,
				    &e->exe_truncated);
	emit(e, 0);
	bpf_map_delete_elem(&inflight, &old_tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_execve")
int exit_execve(struct trace_event_raw_sys_exit *ctx)
{
	return leave(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_execveat")
int exit_execveat(struct trace_event_raw_sys_exit *ctx)
{
	return leave(ctx->ret);
}

char LICENSE[] SEC("license") = "GPL";
