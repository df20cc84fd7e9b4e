/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A stack sample: the interrupted task and its kernel and user stacks, as
 * espia's stack sampler (espia/engine/sampler.py) reads it from the ring
 * buffer.  The layout is fixed here and mirrored there (checked against this
 * object's BTF at start): the stacks are arrays of addresses, which no event
 * field describes, so the sampler decodes the record itself.
 *
 * User stacks are walked by frame pointers (bpf_get_stack without DWARF):
 * code built without them shows its caller chain cut at the first such frame.
 */
#ifndef __ESPIA_STACK_BPF_H
#define __ESPIA_STACK_BPF_H

/* The kernel's default perf_event_max_stack. */
#define GADGET_STACK_DEPTH 127

struct gadget_stack_sample {
	__u64 timestamp;
	__u64 mntns;
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__u32 gid;
	__u32 cpu;
	/* Bytes bpf_get_stack wrote, or its negative errno (the stack is then lost). */
	__s32 kernel_size;
	__s32 user_size;
	__u32 pad;
	char comm[TASK_COMM_LEN];
	/*
	 * Which program image of the process the stacks are addresses in: its
	 * start (the thread group leader's start_time, so a reused pid is another
	 * process) and the count of its execs (self_exec_id).  An exec replaces
	 * the whole map at the same pid, and a non-PIE program loads at the very
	 * addresses of the one before it: user space names each image's addresses
	 * with that image's map only.
	 */
	__u64 start_time;
	__u64 exec_id;
	__u64 kernel[GADGET_STACK_DEPTH];
	__u64 user[GADGET_STACK_DEPTH];
};

/* A program image of a process: the sample's start_time and exec_id. */
struct gadget_stack_image {
	__u64 start_time;
	__u64 exec_id;
};

/*
 * The images whose memory map user space has read, by pid (it writes each
 * one it reads).  A sample of any other wakes the reader at once: a process
 * that lives a fraction of a second (a build's compiler, a cron job) has
 * ended before a quarter-second wake-up, and its map with it, so its stacks
 * could not be named.  Least recently used entries make room for new ones.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct gadget_stack_image);
} gadget_stack_images SEC(".maps");

/* Marker: the sampler finds the record's layout under this name. */
#define GADGET_STACK_SAMPLER(map) \
	const struct gadget_stack_sample *const volatile gadget_sampler__##map SEC(".rodata") = 0

/*
 * Whether a sample wakes the reader.  Samples are counted, not shown one by
 * one, and the sampler reads the ring at least every quarter second anyway
 * (its idle wake-up): waking it for each sample cost a wake-up and a pass
 * through the pipeline per sample (bench/profile).  Only a ring a quarter
 * full wakes it early, so that a high rate on many CPUs is not lost, and so
 * does a sample of a process image whose map it has not read yet (above).
 */
static __always_inline __u64 gadget_sample_wakeup(void *map, struct gadget_stack_sample *s)
{
	__u64 size = bpf_ringbuf_query(map, BPF_RB_RING_SIZE);
	struct gadget_stack_image *known;

	if (s->user_size > 0) {
		known = bpf_map_lookup_elem(&gadget_stack_images, &s->pid);
		if (!known || known->start_time != s->start_time || known->exec_id != s->exec_id)
			return BPF_RB_FORCE_WAKEUP;
	}

	return bpf_ringbuf_query(map, BPF_RB_AVAIL_DATA) > size / 4 ? BPF_RB_FORCE_WAKEUP
								      : BPF_RB_NO_WAKEUP;
}

/*
 * Sends one sample of the current task to `map`: the interrupted context's
 * registers are `ctx`'s.  Counted as lost when the ring buffer is full.
 */
static __always_inline void gadget_sample_current(void *ctx, void *map)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct gadget_stack_sample *s;

	s = gadget_reserve(map, sizeof(*s));
	if (!s)
		return;
	s->timestamp = bpf_ktime_get_boot_ns();
	s->mntns = gadget_current_mntns();
	s->pid = pid_tgid >> 32;
	s->tid = (__u32)pid_tgid;
	s->uid = (__u32)uid_gid;
	s->gid = uid_gid >> 32;
	s->cpu = bpf_get_smp_processor_id();
	s->pad = 0;
	bpf_get_current_comm(s->comm, sizeof(s->comm));
	s->start_time = BPF_CORE_READ(task, group_leader, start_time);
	s->exec_id = BPF_CORE_READ(task, self_exec_id);
	s->kernel_size = bpf_get_stack(ctx, s->kernel, sizeof(s->kernel), 0);
	s->user_size = bpf_get_stack(ctx, s->user, sizeof(s->user), BPF_F_USER_STACK);
	bpf_ringbuf_submit(s, gadget_sample_wakeup(map, s));
}

#endif /* __ESPIA_STACK_BPF_H */
