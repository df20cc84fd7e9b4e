/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The process an event is about, when it is the current task: the members
 * such an event starts with, and the one place that fills them.
 *
 *     struct event {
 *             GADGET_PROCESS_MEMBERS;
 *             gadget_signal sig;
 *     };
 *     e = gadget_current_event(&events, event);
 *
 * (The members are spelled out, not a nested struct, so that their fields
 * keep their own names: PID, not PROC.PID.)
 */
#ifndef __ESPIA_PROCESS_BPF_H
#define __ESPIA_PROCESS_BPF_H

#define GADGET_PROCESS_MEMBERS            \
	gadget_timestamp timestamp;       \
	gadget_mntns_id mntns;            \
	gadget_pid pid;                   \
	gadget_tid tid;                   \
	gadget_uid uid;                   \
	gadget_gid gid;                   \
	gadget_comm comm[TASK_COMM_LEN]

/* Fills the GADGET_PROCESS_MEMBERS of `e` from the current task. */
#define gadget_fill_current(e)                                          \
	do {                                                            \
		__u64 __pid_tgid = bpf_get_current_pid_tgid();          \
		__u64 __uid_gid = bpf_get_current_uid_gid();            \
		(e)->timestamp = bpf_ktime_get_boot_ns();               \
		(e)->mntns = gadget_current_mntns();                    \
		(e)->pid = __pid_tgid >> 32;                            \
		(e)->tid = (__u32)__pid_tgid;                           \
		(e)->uid = (__u32)__uid_gid;                            \
		(e)->gid = __uid_gid >> 32;                             \
		bpf_get_current_comm((e)->comm, sizeof((e)->comm));     \
	} while (0)

/*
 * A `struct type` reserved in the ring buffer `map`, its process members
 * filled; NULL (and counted as lost) if the buffer is full.
 */
#define gadget_current_event(map, type)                                 \
	({                                                              \
		struct type *__e = gadget_reserve(map, sizeof(*__e));   \
		if (__e)                                                \
			gadget_fill_current(__e);                       \
		__e;                                                    \
	})

#endif /* __ESPIA_PROCESS_BPF_H */
